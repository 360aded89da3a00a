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
"""PromQL building and result handling shared by Prometheus-like collectors.

The Prometheus and Aetos collectors differ only in how they reach the
API: each builds a PrometheusClientBase and hands it to this base, and
everything else is shared here, so the same metric configuration yields
the same points through either. A collector that pins its queries adds
``@ <period end>`` to its selector, so that the query itself says when it
is evaluated.
"""
import calendar
import decimal

from oslo_config import cfg
from oslo_log import log
import voluptuous

from cloudkitty import collector
from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import promql
from cloudkitty.collector import samples as samples_mod
from cloudkitty.collector import scope_batch
from cloudkitty.common import prometheus_errors
from cloudkitty import utils as ck_utils
from cloudkitty.utils import tz as tzutils

LOG = log.getLogger(__name__)

CONF = cfg.CONF

AGGREGATION_METHODS = ('avg', 'count', 'max', 'min', 'stddev', 'stdvar',
                       'sum')
# Functions applied to the instant vector built over the period.
QUERY_FUNCTIONS = ('abs', 'ceil', 'exp', 'floor', 'ln', 'log2', 'log10',
                   'round', 'sqrt')
# Functions applied to the range vector instead of <aggregation>_over_time.
RANGE_FUNCTIONS = ('changes', 'delta', 'deriv', 'idelta', 'irange', 'irate',
                   'rate')

_EXTRA_ARGS_SCHEMA = {
    voluptuous.Required('aggregation_method', default='max'):
        voluptuous.In(list(AGGREGATION_METHODS)),
    voluptuous.Optional('query_function'):
        voluptuous.In(list(QUERY_FUNCTIONS)),
    voluptuous.Optional('range_function'):
        voluptuous.In(list(RANGE_FUNCTIONS)),
    voluptuous.Optional('query_prefix', default=''): voluptuous.All(str),
    voluptuous.Optional('query_suffix', default=''): voluptuous.All(str),
}

PROMETHEUS_EXTRA_SCHEMA = {
    voluptuous.Required('extra_args', default={}): _EXTRA_ARGS_SCHEMA,
}


def _check_names(metric_name, metric):
    """Refuse at start-up the names a query would carry and PromQL refuse.

    Metrics declared twice carry their alt_name after '@#'.
    """
    where = 'Metric %s of the metrics configuration' % metric_name
    promql.check_metric_name(metric_name.split('@#')[0], where)
    for label in list(metric['groupby']) + list(metric['metadata']):
        promql.check_label_name(label, where)


def unix_seconds(moment):
    """Whole Unix seconds of a datetime; a naive one is UTC."""
    return calendar.timegm(moment.utctimetuple())


class PrometheusCollectorBase(collector.BaseCollector):
    """Collector logic for any server speaking the Prometheus query API.

    The base owns the collector's start: it checks the metric
    definitions, then has the subclass's ``connect`` build the client
    (without network I/O), then sets up pinning and batching.

    :param connect: ``connect(conf, group, pool_size)`` giving the
        PrometheusClientBase every query goes through, from the options
        of ``group``
    :param kwargs: the arguments of BaseCollector (``period``, ``conf``)
    :raises ConfigurationError: when the options cannot work
    """

    pins_queries = False
    """Whether the collector's selector carries ``@ <period end>``."""

    @property
    def options_group(self):
        """The collector's option group, ``collector_<name>``."""
        return 'collector_%s' % self.collector_name

    def __init__(self, connect, **kwargs):
        # The metric definitions first, so that a bad metrics file is
        # reported before any server is asked anything.
        super(PrometheusCollectorBase, self).__init__(**kwargs)
        CONF.import_opt('max_threads', 'cloudkitty.orchestrator',
                        'orchestrator')
        # Every metric of a scope is queried from its own thread.
        self.client = connect(CONF, self.options_group,
                              CONF.orchestrator.max_threads)
        self._unpinnable = self.metrics_where(promql.unpinnable_reason)
        if self.pins_queries and self._unpinnable:
            LOG.warning(
                '%s collector: %s cannot be pinned to the period end with '
                '@; they can only be collected from a server that accepts '
                'the time parameter (Aetos 2.0.0 or newer)',
                self.collector_name, '; '.join(
                    '%s (%s)' % item for item in self._unpinnable.items()))
        self._batcher, self._per_scope = self._make_batcher(
            CONF[self.options_group] if self.options_group else None)

    @property
    def unpinnable(self):
        """``{metric: why}`` for the metrics ``@`` cannot pin.

        Such a metric is collected only from a server that accepts the
        ``time`` parameter; empty for a collector that does not pin.
        """
        return dict(self._unpinnable) if self.pins_queries else {}

    def metrics_where(self, test):
        """``{metric: test(extra_args)}`` where the test gives a truth."""
        found = ((name, test(metric['extra_args']))
                 for name, metric in sorted(self.conf.items()))
        return {name: value for name, value in found if value}

    def _make_batcher(self, settings):
        """The scope batching the collector's options ask for.

        :param settings: the collector's option group (``CONF[group]``),
            or None for a collector without one
        :returns: ``(batcher, per_scope)``: the ScopeBatcher, or None when
            batching is off, and the metrics still asked one scope at a
            time (see ``promql.scope_safe``)
        """
        if settings is None or not settings.scope_batching:
            return None, {}
        per_scope = self.metrics_where(
            lambda args: not promql.scope_safe(args))
        if per_scope:
            LOG.info('%s collector: %s are collected per scope: their '
                     'query_prefix or query_suffix could mix scopes if '
                     'grouped by the scope label', self.collector_name,
                     ', '.join(per_scope))
        batcher = scope_batch.ScopeBatcher(
            settings.scope_batch_entries, settings.scope_batch_max_samples,
            settings.scope_batch_max_age,
            self.client.answer_timeout)
        LOG.info('%s collector: scope batching is on: one query per metric '
                 'and period for every scope; this worker process keeps at '
                 'most %d answers holding %d samples, each served for %d s; '
                 'a scope waits at most %s s for another\'s query',
                 self.collector_name, batcher.entries, batcher.max_samples,
                 batcher.max_age, batcher.wait_timeout)
        return batcher, per_scope

    @staticmethod
    def check_configuration(conf):
        """The checked metric definitions, their names PromQL's own.

        :raises ConfigurationError: for a scope key, metric, groupby or
            metadata name that PromQL would refuse at every period
        """
        # Every metric's groupby gets the scope key: named first.
        promql.check_label_name(CONF.collect.scope_key, '[collect] scope_key')
        conf = collector.BaseCollector.check_configuration(conf)
        schema = voluptuous.Schema(collector.METRIC_BASE_SCHEMA).extend(
            PROMETHEUS_EXTRA_SCHEMA)
        checked = {name: schema(metric) for name, metric in conf.items()}
        for name, metric in sorted(checked.items()):
            _check_names(name, metric)
        return checked

    @staticmethod
    def build_query(conf, metric_name, start, end, scope_key, scope_id,
                    groupby, metadata, pin=False):
        """PromQL giving one value per group for the scope and period.

        :param scope_id: the scope to match, or None for every scope
        :param pin: add ``@ <end>`` to the selector, so that the query
            is evaluated at the period end whatever time it is sent with
        """
        # Metrics declared twice carry their alt_name after '@#'.
        return promql.period_query(
            conf[metric_name]['extra_args'], metric_name.split('@#')[0],
            {} if scope_id is None else {scope_key: scope_id},
            tzutils.diff_seconds(end, start),
            list(groupby) + list(metadata),
            at=unix_seconds(end) if pin else None)

    def _format_data(self, metric_name, scope_key, scope_id, start, end,
                     data):
        """Split one result sample into (metadata, groupby, quantity).

        :raises CollectError: the value cannot go through the metric's
            factor, offset and mutate
        """
        metric_conf = self.conf[metric_name]
        labels = data['metric']
        metadata = {key: labels.get(key, '')
                    for key in metric_conf['metadata']}
        groupby = {scope_key: scope_id}
        groupby.update((key, labels.get(key, ''))
                       for key in metric_conf['groupby'])

        # Nine significant digits, halves rounded up, as CloudKitty's
        # rated data is computed.
        try:
            with decimal.localcontext() as ctx:
                ctx.prec = 9
                ctx.rounding = decimal.ROUND_HALF_UP
                raw = +decimal.Decimal(data['value'][1])
                qty = ck_utils.convert_unit(raw, metric_conf['factor'],
                                            metric_conf['offset'])
                qty = ck_utils.mutate(
                    qty, metric_conf['mutate'],
                    mutate_map=metric_conf.get('mutate_map'))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise collect_exc.CollectError(
                'Metric %s, scope %s: the value %s cannot be converted '
                'with factor %s, offset %s and mutate %s (%s): check them '
                'in the metrics configuration' % (
                    metric_name, prometheus_errors.excerpt(scope_id, 100),
                    prometheus_errors.excerpt(data['value'][1], 40),
                    metric_conf['factor'], metric_conf['offset'],
                    metric_conf['mutate'], type(exc).__name__)) from exc
        return metadata, groupby, qty

    def _refuse_unpinned(self, metric_name):
        """Refuse what a server without ``time`` would rate wrong."""
        if self.client.sends_time:
            return
        reason = (self._unpinnable.get(metric_name) if self.pins_queries
                  else 'the %s collector does not pin its queries'
                  % self.collector_name)
        if reason:
            raise prometheus_errors.MetricNotPinned(
                'Metric %s cannot be collected from %s at %s, which '
                'evaluates every query at "now": %s. Use Aetos 2.0.0 or '
                'newer, or remove what reads the evaluation time from the '
                'metric definition' % (metric_name, self.client.server,
                                       self.client.url, reason))

    def _ask(self, metric_name, query, end):
        """The checked answer to ``query``, evaluated at ``end``.

        :raises PrometheusResponseError: (a subclass) saying why not
        """
        try:
            self._refuse_unpinned(metric_name)
            return self.client.get_instant(query, end.isoformat())
        except prometheus_errors.TimeNotSupported:
            # The client sends no time from now on: ask again if the
            # query pins itself.
            self._refuse_unpinned(metric_name)
            return self.client.get_instant(query, end.isoformat())

    def _samples(self, metric_name, start, end, scope_key, scope_id):
        """The result samples of one query; every scope's for None.

        :returns: ``(samples, warnings)``, the answer's ``warnings`` (a
            list, empty when it has none)
        """
        metric_conf = self.conf[metric_name]
        groupby = list(metric_conf.get('groupby', []))
        if scope_id is None and scope_key not in groupby:
            groupby.append(scope_key)
        query = self.build_query(
            self.conf, metric_name, start, end, scope_key, scope_id,
            groupby, metric_conf.get('metadata', []), pin=self.pins_queries)
        LOG.debug("Running PromQL query [%s] through the %s collector",
                  query, self.collector_name)
        answer = self._ask(metric_name, query, end)
        return answer['data']['result'], answer.get('warnings') or []

    def _batched(self, metric_name, start, end, scope_key, scope_id):
        """The scope's samples from the batch answer; None for its own.

        :raises PathError: the whole query could not reach the server;
            an AnswerError, or an answer with warnings, makes the scope
            ask for its own instead
        """
        if self._batcher is None or metric_name in self._per_scope:
            return None

        def every_scope():
            try:
                result, warnings = self._samples(metric_name, start, end,
                                                 scope_key, None)
            except prometheus_errors.AnswerError as exc:
                raise scope_batch.FallBack(exc) from exc
            if warnings:
                # Partial data must not be served to every scope.
                raise scope_batch.FallBack(
                    'the answer carries warnings: %s' % _warned(warnings))
            return samples_mod.by_scope(result, metric_name, scope_key)

        return self._batcher.samples(
            metric_name, (unix_seconds(start), unix_seconds(end)), scope_id,
            every_scope)

    def fetch_all(self, metric_name, start, end, scope_id, q_filter=None):
        scope_key = CONF.collect.scope_key
        try:
            samples = self._batched(metric_name, start, end, scope_key,
                                    scope_id)
            if samples is None:
                result, warnings = self._samples(
                    metric_name, start, end, scope_key, scope_id)
                if warnings:
                    LOG.warning(
                        '%s collector: the answer for metric %s, scope %s '
                        'carries warnings, which may mean partial data; it '
                        'is rated as answered: %s. Check the storage the '
                        'server reads from', self.collector_name,
                        metric_name, prometheus_errors.excerpt(scope_id, 100),
                        _warned(warnings))
                samples = samples_mod.rateable(result, metric_name,
                                               scope_key, scope_id)
        except prometheus_errors.PrometheusResponseError as exc:
            # The one place a failure becomes CloudKitty's: the period
            # stays unprocessed and is retried.
            raise collect_exc.CollectError(*exc.args) from exc
        metric_conf = self.conf[metric_name]
        points = []
        for sample in samples:
            metadata, groupby, qty = self._format_data(
                metric_name, scope_key, scope_id, start, end, sample)
            points.append(self._create_data_point(
                metric_conf, qty, 0, groupby, metadata, start))
        return points


def _warned(warnings):
    """Prometheus' ``warnings``, untrusted, on one bounded line."""
    if not isinstance(warnings, list):
        warnings = [warnings]
    return prometheus_errors.excerpt('; '.join(str(w) for w in warnings))
