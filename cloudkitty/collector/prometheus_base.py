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
the same queries and the same data points through either.
"""
import decimal

from oslo_config import cfg
from oslo_log import log
import voluptuous

from cloudkitty import collector
from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.common import prometheus_client_base
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

# Inside a double-quoted PromQL string these characters must be escaped,
# or a label value could close the string and rewrite the query.
_LABEL_VALUE_ESCAPES = str.maketrans({'\\': '\\\\', '"': '\\"',
                                      '\n': '\\n'})


def escape_label_value(value):
    """Quote-safe form of ``value`` for a ``label="..."`` matcher."""
    return str(value).translate(_LABEL_VALUE_ESCAPES)


class _MalformedSample(collect_exc.CollectError):
    """A result sample without the labels and value Prometheus gives."""


def _sample_labels_and_value(sample):
    """The labels and the exact value of an instant-vector sample.

    The time stamped on the sample plays no part in the data point.

    :raises _MalformedSample: when ``sample`` is not shaped like
        ``{"metric": {...}, "value": [<time>, "<number>"]}``
    """
    try:
        labels = sample['metric']
        _stamp, value = sample['value']
        if isinstance(labels, dict):
            return labels, decimal.Decimal(value)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        pass
    raise _MalformedSample('Not a Prometheus sample: %s'
                           % prometheus_client_base.excerpt(sample))


class PrometheusCollectorBase(collector.BaseCollector):
    """Collector logic for any server speaking the Prometheus query API.

    :param client: the PrometheusClientBase every query goes through
    :param kwargs: the arguments of BaseCollector (``period``, ``conf``)
    """

    def __init__(self, client, **kwargs):
        if not isinstance(client, prometheus_client_base.PrometheusClientBase):
            raise TypeError('%s needs a PrometheusClientBase, not %s'
                            % (type(self).__name__, type(client).__name__))
        super(PrometheusCollectorBase, self).__init__(**kwargs)
        self._conn = client

    @staticmethod
    def check_configuration(conf):
        conf = collector.BaseCollector.check_configuration(conf)
        schema = voluptuous.Schema(collector.METRIC_BASE_SCHEMA).extend(
            PROMETHEUS_EXTRA_SCHEMA)
        return {name: schema(metric) for name, metric in conf.items()}

    @staticmethod
    def build_query(conf, metric_name, start, end, scope_key, scope_id,
                    groupby, metadata):
        """PromQL giving one value per group for the scope and period."""
        args = conf[metric_name]['extra_args']
        method = args['aggregation_method']
        # Metrics declared twice carry their alt_name after '@#'.
        series = metric_name.split('@#')[0]
        selector = '%s{%s="%s"}[%ss]' % (
            series, scope_key, escape_label_value(scope_id),
            tzutils.diff_seconds(end, start))

        over_period = args.get('range_function') or method + '_over_time'
        expr = '%s(%s)' % (over_period, selector)
        if args.get('query_function'):
            expr = '%s(%s)' % (args['query_function'], expr)
        expr = '%s(%s) by (%s)' % (method, expr,
                                   ', '.join(list(groupby) + list(metadata)))

        pieces = [args['query_prefix'], expr, args['query_suffix']]
        return ' '.join(piece for piece in pieces if piece)

    def _format_data(self, metric_name, scope_key, scope_id, start, end,
                     data):
        """Split one result sample into (metadata, groupby, quantity)."""
        metric_conf = self.conf[metric_name]
        labels, value = _sample_labels_and_value(data)
        metadata = {key: labels.get(key, '')
                    for key in metric_conf['metadata']}
        groupby = {scope_key: scope_id}
        groupby.update((key, labels.get(key, ''))
                       for key in metric_conf['groupby'])

        # Nine significant digits, halves rounded up: what rated data
        # has always been computed with.
        with decimal.localcontext() as ctx:
            ctx.prec = 9
            ctx.rounding = decimal.ROUND_HALF_UP
            raw = +value
            qty = ck_utils.convert_unit(raw, metric_conf['factor'],
                                        metric_conf['offset'])
            qty = ck_utils.mutate(qty, metric_conf['mutate'],
                                  mutate_map=metric_conf.get('mutate_map'))
        return metadata, groupby, qty

    def fetch_all(self, metric_name, start, end, scope_id, q_filter=None):
        metric_conf = self.conf[metric_name]
        scope_key = CONF.collect.scope_key
        query = self.build_query(
            self.conf, metric_name, start, end, scope_key, scope_id,
            metric_conf.get('groupby', []), metric_conf.get('metadata', []))
        LOG.debug("Running PromQL query [%s] through the %s collector",
                  query, self.collector_name)

        try:
            answer = self._conn.get_instant(query, end.isoformat())
        except prometheus_client_base.PrometheusResponseError as exc:
            raise collect_exc.CollectError(*exc.args) from exc

        def not_a_result():
            return collect_exc.CollectError(
                'Answer to [%s] is not a Prometheus result: %s' % (
                    query, prometheus_client_base.excerpt(answer)))

        try:
            if answer['status'] == 'error':
                raise collect_exc.CollectError(
                    '%s: %s' % (answer['errorType'], answer['error']))
            samples = answer['data']['result']
        except (KeyError, TypeError) as exc:
            raise not_a_result() from exc
        # Of the values decoded JSON holds, only an array lists samples.
        if isinstance(samples, (dict, str, int, float)) or samples is None:
            raise not_a_result()

        points = []
        for sample in samples:
            try:
                metadata, groupby, qty = self._format_data(
                    metric_name, scope_key, scope_id, start, end, sample)
            except _MalformedSample as exc:
                raise not_a_result() from exc
            points.append(self._create_data_point(
                metric_conf, qty, 0, groupby, metadata, start))
        return points
