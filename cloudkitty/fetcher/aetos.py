#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
#
"""Scope discovery from the metrics themselves, through Aetos.

With the ``aetos`` collector, this fetcher lets a deployment keep
Prometheus behind Aetos entirely: the scopes to rate are the values of
one label of one metric, read with a Keystone token like the usage.

A scope is looked for over a window reaching back several periods, not
at "now" only: a project whose last resource went away must still be
discovered until its last periods are rated. A scope CloudKitty's state
already holds, whose next period starts before that window (after an
outage), is checked over a window reaching back to that period instead.
"""
import datetime
import math
import re
import threading

from oslo_config import cfg
from oslo_log import log

from cloudkitty.collector import promql
from cloudkitty.common import aetos_setup
from cloudkitty.common import prometheus_errors
from cloudkitty import fetcher
from cloudkitty.fetcher import scope_ids
from cloudkitty import storage_state
from cloudkitty import utils as ck_utils
from cloudkitty.utils import tz as tzutils

LOG = log.getLogger(__name__)

FETCHER_AETOS_OPTS = 'fetcher_aetos'

# Periods the default window adds to [collect] wait_periods: see
# default_lookback().
EXTRA_PERIODS = 3
# Prometheus' default retention (--storage.tsdb.retention.time 15d).
DEFAULT_CATCH_UP_WINDOW = 15 * 86400
# State rows read per request.
STATE_PAGE = 500
# Seconds a catch-up window reaches further back than needed, for a
# clock of Aetos' ahead of this host's.
CLOCK_MARGIN = 60

fetcher_aetos_opts = [
    cfg.StrOpt(
        'metric',
        help='Name of the metric whose series tell which scopes exist, '
             'such as a per-instance metric labelled with the project.',
    ),
    cfg.StrOpt(
        'scope_attribute',
        default='project_id',
        help='Label of that metric holding the scope ID. Normally the '
             'same as [collect] scope_key.',
    ),
    cfg.DictOpt(
        'filters',
        default={},
        help='Only series having these label values count, written '
             'label1:value1,label2:value2.',
    ),
    cfg.IntOpt(
        'lookback',
        min=1,
        help='Seconds back from now in which a series of the metric makes '
             'its scope discovered. Unset, it is ([collect] wait_periods '
             '+ %d) * [collect] period, which keeps a scope whose series '
             'stopped discovered until its last period is rated.'
             % EXTRA_PERIODS,
    ),
    cfg.StrOpt(
        'scope_id_pattern',
        help='Regular expression a whole label value must match to be a '
             'scope ID, for example ^[0-9a-f]{32}$ for Keystone project '
             'IDs. Values that do not match are dropped, named in one '
             'warning per pass. Unset, any printable ASCII value of 1 to '
             '%d characters is a scope ID.' % scope_ids.MAX_LENGTH,
    ),
    cfg.IntOpt(
        'catch_up_window',
        default=DEFAULT_CATCH_UP_WINDOW,
        min=1,
        help='Seconds back from now that the fetcher looks for samples of '
             'a scope that CloudKitty already rates, which is active and '
             'whose next period starts before the lookback window (after '
             'an outage of Aetos, Keystone or the processor). Such a '
             'scope is rated if it has a sample since that period. The '
             'default is the default retention of Prometheus: an outage '
             'longer than this loses the samples older than it.',
    ),
]

cfg.CONF.register_opts(fetcher_aetos_opts, FETCHER_AETOS_OPTS)
aetos_setup.register_opts(cfg.CONF, FETCHER_AETOS_OPTS)

CONF = cfg.CONF


def list_opts():
    """The [fetcher_aetos] options, for oslo-config-generator."""
    [(group, options)] = aetos_setup.list_opts(FETCHER_AETOS_OPTS)
    return [(group, fetcher_aetos_opts + options)]


def default_lookback():
    """The window that keeps a stopped scope until it is rated.

    A scope's last period becomes ratable ``wait_periods`` periods after
    its last sample at most; the next pass starts within one period and
    the length of a pass; one more period allows for a failed pass.
    """
    CONF.import_opt('period', 'cloudkitty.collector', 'collect')
    CONF.import_opt('wait_periods', 'cloudkitty.collector', 'collect')
    return (CONF.collect.wait_periods + EXTRA_PERIODS) * CONF.collect.period


def check_settings(settings):
    """The [fetcher_aetos] names PromQL takes, checked without a server.

    :param settings: the [fetcher_aetos] group
    :returns: the compiled scope_id_pattern, or None
    :raises ConfigurationError: for a missing metric, a name PromQL
        rejects or a pattern that is not a regular expression
    """
    if not settings.metric:
        raise prometheus_errors.ConfigurationError(
            '[%s] metric is not set: name the metric whose series show '
            'which scopes exist' % FETCHER_AETOS_OPTS)
    promql.check_metric_name(settings.metric,
                             '[%s] metric' % FETCHER_AETOS_OPTS)
    promql.check_label_name(settings.scope_attribute,
                            '[%s] scope_attribute' % FETCHER_AETOS_OPTS)
    for name in sorted(settings.filters):
        promql.check_label_name(name, '[%s] filters' % FETCHER_AETOS_OPTS)
    if settings.scope_id_pattern is None:
        return None
    try:
        return re.compile(settings.scope_id_pattern)
    except re.error as exc:
        raise prometheus_errors.ConfigurationError(
            '[%s] scope_id_pattern: %r is not a regular expression (%s)'
            % (FETCHER_AETOS_OPTS, settings.scope_id_pattern, exc)) from exc


class AetosFetcher(fetcher.BaseFetcher):
    """Scopes to rate: the scope label values of a metric, through Aetos.

    :raises ConfigurationError: at start-up when the [fetcher_aetos]
        settings cannot work, saying why
    """

    name = 'aetos'

    def __init__(self):
        super(AetosFetcher, self).__init__()
        CONF.import_opt('period', 'cloudkitty.collector', 'collect')
        CONF.import_opt('wait_periods', 'cloudkitty.collector', 'collect')
        CONF.import_opt('collector', 'cloudkitty.collector', 'collect')
        CONF.import_opt('scope_key', 'cloudkitty.collector', 'collect')
        self._period = CONF.collect.period
        settings = CONF[FETCHER_AETOS_OPTS]
        # Checked before Keystone is asked anything.
        self._pattern = check_settings(settings)
        self._metric = settings.metric
        self._filters = dict(sorted(settings.filters.items()))
        self._scope_attribute = settings.scope_attribute
        self._lookback = settings.lookback or default_lookback()
        self._catch_up_window = settings.catch_up_window
        self._query = promql.presence_query(
            self._metric, self._filters, self._scope_attribute,
            self._lookback)
        CONF.import_opt('backend', 'cloudkitty.fetcher', 'fetcher')
        self._state = storage_state.StateManager()
        # One pass at a time; what a pass learns is kept for the next.
        self._lock = threading.Lock()
        self._found_last = 0
        # {scope: (start of its next period, time up to which it was
        # seen to have no sample since then)}, for known scopes behind
        # the window; rebuilt from the state table every pass.
        self._absent = {}
        if settings.scope_attribute != CONF.collect.scope_key:
            LOG.warning(
                '[%s] scope_attribute is %s but [collect] scope_key is %s: '
                'the collector selects each scope\'s usage by its %s '
                'label, so a scope found by its %s label may get none; '
                'set both to the same label unless their values are the '
                'same', FETCHER_AETOS_OPTS, settings.scope_attribute,
                CONF.collect.scope_key, CONF.collect.scope_key,
                settings.scope_attribute)
        self._client = aetos_setup.client(CONF, FETCHER_AETOS_OPTS)
        LOG.info('[%s]: scopes are the %s values of %s seen in the last '
                 '%d s', FETCHER_AETOS_OPTS, self._scope_attribute,
                 self._metric, self._lookback)

    @property
    def query(self):
        """The PromQL text sent on each discovery."""
        return self._query

    def get_tenants(self):
        """The scope IDs to rate this pass, sorted; [] when that failed.

        The orchestrator does not catch what this raises: its worker
        would die, be forked again within seconds and log in to Keystone
        anew, over and over. An empty list instead makes the processor rate
        nothing in this pass and ask again after its usual sleep of one
        period; no state moves, so no period is lost.
        """
        try:
            with self._lock:
                return self._pass()
        except Exception as exc:
            # Whatever the answer held (nesting deep enough for a
            # RecursionError included), the worker must live.
            LOG.error('Scope discovery through Aetos failed (%s), so this '
                      'pass rates no scope; the next pass, in %d s, tries '
                      'again: %s', type(exc).__name__, self._period, exc)
            return []

    def _pass(self):
        now = tzutils.localized_now()
        values = self._label_values(self._client.get_instant(self._query))
        found, dropped = scope_ids.sort_out(values, self._pattern)
        behind = self._behind(set(found), now)
        caught_up = []
        if behind:
            since = max(min(behind.values()), now - datetime.timedelta(
                seconds=self._catch_up_window))
            seconds = int(math.ceil((now - since).total_seconds()))
            answer = self._client.get_instant(promql.presence_query(
                self._metric, self._filters, self._scope_attribute,
                seconds + CLOCK_MARGIN))
            recent, more = scope_ids.sort_out(self._label_values(answer),
                                              self._pattern)
            dropped += [pair for pair in more if pair not in dropped]
            recent = set(recent)
            caught_up = sorted(scope for scope in behind if scope in recent)
            for scope in behind:
                if scope not in recent:
                    self._absent[scope] = (self._absent[scope][0], now)
        self._report(found, dropped, caught_up)
        return sorted(set(found).union(caught_up))

    def _label_values(self, answer):
        return [sample['metric'].get(self._scope_attribute, '')
                for sample in answer['data']['result']]

    def _known_states(self):
        """Active state rows of this fetcher, collector and scope key."""
        offset = 0
        while True:
            page = self._state.get_all(
                fetcher=[CONF.fetcher.backend],
                collector=[CONF.collect.collector],
                scope_key=[CONF.collect.scope_key], active=1,
                limit=STATE_PAGE, offset=offset)
            for row in page:
                yield row
            if len(page) < STATE_PAGE:
                return
            offset += STATE_PAGE

    def _behind(self, found, now):
        """Known scopes that the window may miss: {scope: unseen since}.

        A scope is behind when CloudKitty would rate its next period now
        (the base's own rule) and samples since that period's start may
        lie before the window. Samples after the window's start are seen
        by discovery itself, so a scope seen empty up to some time needs
        no new look until the window has moved past that time.
        """
        window_start = now - datetime.timedelta(seconds=self._lookback)
        absent, behind = {}, {}
        for row in self._known_states():
            scope = row.identifier
            if scope in found or scope_ids.refusal(scope, self._pattern):
                continue
            due = ck_utils.check_time_state(row.last_processed_timestamp,
                                            self._period,
                                            CONF.collect.wait_periods)
            if due is None:
                continue
            next_start, seen_until = self._absent.get(scope, (due, due))
            if next_start != due:
                seen_until = due
            absent[scope] = (due, seen_until)
            if seen_until < window_start:
                behind[scope] = seen_until
        # Only scopes still behind are remembered: bounded by the state.
        self._absent = absent
        return behind

    def _report(self, found, dropped, caught_up):
        if dropped:
            LOG.warning(
                '[%s]: %d values of the %s label of %s cannot be scope IDs '
                'and are not rated: %s. A scope ID is a printable ASCII '
                'string of 1 to %d characters (what CloudKitty\'s locks '
                'and state table hold) matching scope_id_pattern when it '
                'is set: fix the label at its source, or leave such series '
                'out with [%s] filters', FETCHER_AETOS_OPTS, len(dropped),
                self._scope_attribute, self._metric, '; '.join(
                    '%s (%s)' % (scope_ids.shown(value), reason)
                    for value, reason in dropped[:scope_ids.EXAMPLES]) + (
                    '; ...' if len(dropped) > scope_ids.EXAMPLES else ''),
                scope_ids.MAX_LENGTH, FETCHER_AETOS_OPTS)
        if caught_up:
            LOG.info('[%s]: %d scopes with samples since their next period '
                     'are rated though the %d s window misses them: %s',
                     FETCHER_AETOS_OPTS, len(caught_up), self._lookback,
                     ', '.join(caught_up[:scope_ids.EXAMPLES]))
        if not found and self._found_last:
            LOG.warning(
                '[%s]: discovery found no scope, where the previous pass '
                'found %d: no series of %s with a %s label in the last %d s '
                'matches [%s] filters; check that the metric is still '
                'collected and that Aetos reaches the right Prometheus',
                FETCHER_AETOS_OPTS, self._found_last, self._metric,
                self._scope_attribute, self._lookback, FETCHER_AETOS_OPTS)
        self._found_last = len(found)
        LOG.debug('[%s]: %d scopes found', FETCHER_AETOS_OPTS, len(found))
