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
discovered until its last periods are rated.
"""
import re

from oslo_config import cfg
from oslo_log import log

from cloudkitty.collector import promql
from cloudkitty.common import aetos_setup
from cloudkitty.common import prometheus_errors
from cloudkitty import fetcher

LOG = log.getLogger(__name__)

FETCHER_AETOS_OPTS = 'fetcher_aetos'

# Periods the default window adds to [collect] wait_periods: see
# default_lookback().
EXTRA_PERIODS = 3

_LABEL_NAME = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')
_METRIC_NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
_NAME_RULES = {
    'label name': 'ASCII letters, digits and _, not starting with a digit',
    'metric name': 'ASCII letters, digits, _ and :, not starting with a '
                   'digit',
}

fetcher_aetos_opts = [
    cfg.StrOpt(
        'metric',
        help='Name of the metric whose series tell which scopes exist, '
             'such as a per-instance metric labelled with the project.',
    ),
    cfg.StrOpt(
        'scope_attribute',
        default='project_id',
        help='Label of that metric holding the scope ID.',
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
]

cfg.CONF.register_opts(fetcher_aetos_opts, FETCHER_AETOS_OPTS)
aetos_setup.register_opts(cfg.CONF, FETCHER_AETOS_OPTS)

CONF = cfg.CONF

AetosSetupError = prometheus_errors.ConfigurationError


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


def _check_name(pattern, value, option, what):
    if not value or not pattern.match(value):
        raise AetosSetupError(
            '[%s] %s: %r is not a valid Prometheus %s (%s)'
            % (FETCHER_AETOS_OPTS, option, value, what, _NAME_RULES[what]))


def build_query(settings, lookback):
    """The PromQL text giving one sample per scope seen in the window.

    ``count`` stays a plain number whatever the metric's values (NaN
    included), and ``last_over_time`` is the cheapest way to say "any
    sample in the window".

    :raises AetosSetupError: for a metric or label name PromQL rejects
    """
    if not settings.metric:
        raise AetosSetupError(
            '[%s] metric is not set: name the metric whose series show '
            'which scopes exist' % FETCHER_AETOS_OPTS)
    _check_name(_METRIC_NAME, settings.metric, 'metric', 'metric name')
    _check_name(_LABEL_NAME, settings.scope_attribute, 'scope_attribute',
                'label name')
    for name in sorted(settings.filters):
        _check_name(_LABEL_NAME, name, 'filters', 'label name')
    selected = promql.selector(settings.metric,
                               dict(sorted(settings.filters.items())))
    return 'count by (%s) (last_over_time(%s[%ds]))' % (
        settings.scope_attribute, selected, lookback)


class AetosFetcher(fetcher.BaseFetcher):
    """Scopes to rate: the scope label values of a metric, through Aetos.

    :raises AetosSetupError: at start-up when the [fetcher_aetos]
        settings cannot work, saying why
    """

    name = 'aetos'

    def __init__(self):
        super(AetosFetcher, self).__init__()
        CONF.import_opt('period', 'cloudkitty.collector', 'collect')
        self._period = CONF.collect.period
        settings = CONF[FETCHER_AETOS_OPTS]
        self._scope_attribute = settings.scope_attribute
        lookback = settings.lookback or default_lookback()
        # Checked before Keystone is asked anything.
        self._query = build_query(settings, lookback)
        self._client = aetos_setup.client(CONF, FETCHER_AETOS_OPTS)
        LOG.info('[%s]: scopes are the %s values of %s seen in the last '
                 '%d s', FETCHER_AETOS_OPTS, self._scope_attribute,
                 settings.metric, lookback)

    @property
    def query(self):
        """The PromQL text sent on each discovery."""
        return self._query

    def get_tenants(self):
        """The scope IDs seen in the window, sorted; [] when that failed.

        The orchestrator does not catch what this raises: its worker
        would die, be forked again within seconds and log in to Keystone
        anew, over and over. An empty list instead makes the processor rate
        nothing in this pass and ask again after its usual sleep of one
        period; no state moves, so no period is lost.
        """
        try:
            answer = self._client.get_instant(self._query)
            return self._scopes(answer)
        except prometheus_errors.PrometheusResponseError as exc:
            LOG.error('Scope discovery through Aetos failed (%s), so this '
                      'pass rates no scope; the next pass, in %d s, tries '
                      'again: %s', type(exc).__name__, self._period, exc)
            return []

    def _scopes(self, answer):
        data = answer['data']
        if data['resultType'] != 'vector':
            raise prometheus_errors.NotAPrometheusAnswer(
                'Aetos at %s answered a %s to an instant query that gives '
                'a vector: the metric-storage endpoint must be the root '
                'URL of Aetos' % (self._client.url, data['resultType']),
                url=self._client.url)
        scopes = {sample['metric'].get(self._scope_attribute)
                  for sample in data['result']}
        scopes.discard(None)
        scopes.discard('')
        LOG.debug('[%s]: %d scopes found', FETCHER_AETOS_OPTS, len(scopes))
        return sorted(scopes)
