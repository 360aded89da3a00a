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
"""The Prometheus and Aetos collectors must agree on queries and points."""
import copy
import datetime

import testscenarios
import voluptuous

from cloudkitty.collector import aetos
from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import prometheus
from cloudkitty.collector import prometheus_base
from cloudkitty.common import aetos_setup
from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors
from cloudkitty import dataframe
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

SCOPE = '5a1e0d7e9c3b4f0c8e2d6b1a0f9e8d7c'

# Each case: a metric definition, what the server answers (labels,
# value), the PromQL expected for SCOPE and the expected points as
# (quantity, groupby without the scope and time keys, metadata).
CASES = [
    ('defaults', dict(
        name='instance_up',
        metric={'unit': 'instance', 'groupby': ['flavor'],
                'metadata': ['vcpus']},
        samples=[({'flavor': 'm1.small', 'vcpus': '1'}, '1'),
                 ({'flavor': 'm1.large', 'vcpus': '4'}, '1')],
        query='max(max_over_time(instance_up{project_id="%s"}[3600s])) '
              'by (flavor, project_id, vcpus)',
        points=[('1', {'flavor': 'm1.small'}, {'vcpus': '1'}),
                ('1', {'flavor': 'm1.large'}, {'vcpus': '4'})],
    )),
    ('avg_and_rate', dict(
        name='net_bytes_total',
        metric={'unit': 'B/s', 'groupby': ['iface'],
                'extra_args': {'aggregation_method': 'avg',
                               'range_function': 'rate'}},
        samples=[({'iface': 'eth0'}, '1234.5678912345')],
        query='avg(rate(net_bytes_total{project_id="%s"}[3600s])) '
              'by (iface, project_id)',
        points=[('1234.56789', {'iface': 'eth0'}, {})],
    )),
    ('sum_and_ceil', dict(
        name='volume_gib',
        metric={'unit': 'GiB', 'metadata': ['type'],
                'extra_args': {'aggregation_method': 'sum',
                               'query_function': 'ceil'}},
        samples=[({'type': 'ssd'}, '21')],
        query='sum(ceil(sum_over_time(volume_gib{project_id="%s"}'
              '[3600s]))) by (project_id, type)',
        points=[('21', {}, {'type': 'ssd'})],
    )),
    ('every_extra_arg', dict(
        name='cpu_seconds',
        metric={'unit': 's', 'groupby': ['host'],
                'extra_args': {'aggregation_method': 'min',
                               'range_function': 'delta',
                               'query_function': 'abs',
                               'query_prefix': '3600 *',
                               'query_suffix': '> 0'}},
        samples=[({'host': 'cmp1'}, '7')],
        query='3600 * min(abs(delta(cpu_seconds{project_id="%s"}'
              '[3600s]))) by (host, project_id) > 0',
        points=[('7', {'host': 'cmp1'}, {})],
    )),
    ('factor_and_offset', dict(
        name='ram_bytes',
        metric={'unit': 'MiB', 'factor': '1/1048576', 'offset': 2},
        samples=[({}, '3145728')],
        query='max(max_over_time(ram_bytes{project_id="%s"}[3600s])) '
              'by (project_id)',
        points=[('5', {}, {})],
    )),
    ('mutate_numbool', dict(
        name='floating_ip',
        metric={'unit': 'ip', 'mutate': 'NUMBOOL', 'groupby': ['ip'],
                'description': 'Floating IPs held'},
        samples=[({'ip': '203.0.113.7'}, '0.25'),
                 ({'ip': '203.0.113.8'}, '0')],
        query='max(max_over_time(floating_ip{project_id="%s"}[3600s])) '
              'by (ip, project_id)',
        points=[('1', {'ip': '203.0.113.7'}, {}),
                ('0', {'ip': '203.0.113.8'}, {})],
    )),
    ('mutate_map', dict(
        name='instance_state',
        metric={'unit': 'instance', 'mutate': 'MAP',
                'mutate_map': {1: 1.0, 2: 0.5}},
        samples=[({}, '2')],
        query='max(max_over_time(instance_state{project_id="%s"}'
              '[3600s])) by (project_id)',
        points=[('0.5', {}, {})],
    )),
    ('factor_then_ceil', dict(
        name='object_bytes',
        metric={'unit': 'KiB', 'factor': '1/1024', 'mutate': 'CEIL'},
        samples=[({}, '1025')],
        query='max(max_over_time(object_bytes{project_id="%s"}[3600s])) '
              'by (project_id)',
        points=[('2', {}, {})],
    )),
    ('empty_result', dict(
        name='instance_up',
        metric={'unit': 'instance'},
        samples=[],
        query='max(max_over_time(instance_up{project_id="%s"}[3600s])) '
              'by (project_id)',
        points=[],
    )),
]


def _collector(collector_class, name, metric):
    return collector_class(period=3600,
                           conf={'metrics': {name: copy.deepcopy(metric)}})


def _pinned(query):
    """``query`` with its one selector pinned to the period end."""
    return query.replace('[3600s]', '[3600s] @ %d' % aetos_fakes.END_UNIX)


class _NetworkTest(tests.TestCase):
    """Fake Prometheus, Keystone and Aetos; both servers answer alike."""

    def _serve(self, body):
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json=body)
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=body)

    def _sent(self, query_url):
        return [aetos_fakes.query_params(r)
                for r in self.network.request_history
                if r.url.startswith(query_url)]


class SameQueriesAndPointsTest(_NetworkTest):
    """One metric definition, one server answer, two collectors."""

    scenarios = testscenarios.multiply_scenarios(
        tests.TestCase.scenarios, CASES)

    def setUp(self):
        super(SameQueriesAndPointsTest, self).setUp()
        self._serve(aetos_fakes.vector(
            [(dict(labels, project_id=SCOPE), value)
             for labels, value in self.samples]))

    def _fetch(self, collector_class, query_url):
        collector = _collector(collector_class, self.name, self.metric)
        points = collector.fetch_all(self.name, aetos_fakes.START,
                                     aetos_fakes.END, SCOPE)
        [params] = self._sent(query_url)
        return params, points

    def test_same_query_and_points(self):
        prom_params, prom_points = self._fetch(
            prometheus.PrometheusCollector, aetos_fakes.PROMETHEUS_QUERY_URL)
        aetos_params, aetos_points = self._fetch(
            aetos.AetosCollector, aetos_fakes.AETOS_QUERY_URL)

        query = self.query % SCOPE
        at = aetos_fakes.END.isoformat()
        self.assertEqual({'query': query, 'time': at}, prom_params)
        # The same query, its selector pinned with "@ <period end>".
        self.assertEqual(1, query.count('[3600s]'))
        self.assertEqual({'query': _pinned(query), 'time': at},
                         aetos_params)

        expected = [
            dataframe.DataPoint(
                self.metric['unit'], qty, 0,
                dict(groupby, project_id=SCOPE, **aetos_fakes.TIME_GROUPBY),
                metadata, self.metric.get('description'))
            for qty, groupby, metadata in self.points]
        self.assertEqual(expected, prom_points)
        self.assertEqual(expected, aetos_points)
        # Decimal('5') == Decimal('5.00'): compare the digits too.
        self.assertEqual([str(p.qty) for p in prom_points],
                         [str(p.qty) for p in aetos_points])


class BuildQueryTest(tests.TestCase):

    METRICS = {'metrics': {
        'instance_up': {'unit': 'instance'},
        # Declared as cpu, with alt_name: the key is cpu@#cpu_hours.
        'cpu': {'unit': 'h', 'alt_name': 'cpu_hours',
                'extra_args': {'aggregation_method': 'sum',
                               'range_function': 'rate',
                               'query_function': 'abs',
                               'query_prefix': '3600 *',
                               'query_suffix': '> 0'}}}}

    def _build(self, name, pin, end=aetos_fakes.END, scope_id=SCOPE):
        base = prometheus_base.PrometheusCollectorBase
        return base.build_query(
            base.check_configuration(copy.deepcopy(self.METRICS)), name,
            aetos_fakes.START, end, 'project_id', scope_id, ['flavor'],
            ['vcpus'], pin=pin)

    def test_not_pinned(self):
        self.assertEqual(
            'max(max_over_time(instance_up{project_id="%s"}[3600s])) '
            'by (flavor, vcpus)' % SCOPE, self._build('instance_up', False))

    def test_pinned(self):
        self.assertEqual(
            'max(max_over_time(instance_up{project_id="%s"}[3600s] @ %d)) '
            'by (flavor, vcpus)' % (SCOPE, aetos_fakes.END_UNIX),
            self._build('instance_up', True))

    def test_pinned_with_every_extra_arg(self):
        # The series name before '@#', prefix and suffix around.
        self.assertEqual(
            '3600 * sum(abs(rate(cpu{project_id="%s"}[3600s] @ %d))) '
            'by (flavor, vcpus) > 0' % (SCOPE, aetos_fakes.END_UNIX),
            self._build('cpu@#cpu_hours', True))

    def test_pinned_to_an_aware_end(self):
        end = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=(
            datetime.timezone(datetime.timedelta(hours=1))))
        self.assertIn('[3600s] @ %d)' % aetos_fakes.END_UNIX,
                      self._build('instance_up', True, end=end))

    def test_scope_id_escaped(self):
        hostile = 'x"} or vector(1) or up{a="\\'
        self.assertIn('{project_id="x\\"} or vector(1) or up{a=\\"\\\\"}'
                      '[3600s]', self._build('instance_up', False,
                                             scope_id=hostile))


class LabelValueEscapingTest(_NetworkTest):
    """A scope id must stay a value whatever characters it holds."""

    def test_both_collectors_escape_scope_id(self):
        self._serve(aetos_fakes.vector([]))
        hostile = 'x"} or vector(1) or up{a="\\'
        expected = ('max(max_over_time(instance_up{project_id='
                    '"x\\"} or vector(1) or up{a=\\"\\\\"}[3600s])) '
                    'by (project_id)')
        for collector_class, query_url, query in (
                (prometheus.PrometheusCollector,
                 aetos_fakes.PROMETHEUS_QUERY_URL, expected),
                (aetos.AetosCollector, aetos_fakes.AETOS_QUERY_URL,
                 _pinned(expected))):
            collector = _collector(collector_class, 'instance_up',
                                   {'unit': 'instance'})
            collector.fetch_all('instance_up', aetos_fakes.START,
                                aetos_fakes.END, hostile)
            [params] = self._sent(query_url)
            self.assertEqual(query, params['query'])


class Recorder(object):
    """A connect callable that records its calls and gives ``client``."""

    def __init__(self, client):
        self.client = client
        self.calls = []

    def __call__(self, conf, group, pool_size):
        self.calls.append((conf, group, pool_size))
        return self.client


class _Thin(prometheus_base.PrometheusCollectorBase):
    """A collector that says only how it connects, as the real ones do."""

    collector_name = 'prometheus'


class ContractTest(_NetworkTest):
    """The base owns the start: metrics first, then the client."""

    def test_metrics_checked_before_connecting(self):
        connect = Recorder(None)
        self.assertRaises(
            voluptuous.Invalid, _Thin, connect, period=3600,
            conf={'metrics': {'up': {'unit': 'u', 'extra_args': {
                'aggregation_method': 'median'}}}})
        self.assertEqual([], connect.calls)

    def test_names_checked_before_connecting(self):
        for metric, kind in (('up-time', 'metric name'),
                             ('up', 'label name')):
            connect = Recorder(None)
            error = self.assertRaises(
                prometheus_errors.ConfigurationError, _Thin, connect,
                period=3600, conf={'metrics': {metric: {
                    'unit': 'u', 'groupby': ['flavor-name']}}})
            self.assertIn('Metric %s of the metrics configuration' % metric,
                          str(error))
            self.assertIn('not a valid Prometheus %s' % kind, str(error))
            self.assertEqual([], connect.calls)

    def test_scope_key_checked_before_connecting(self):
        self.conf.set_override('scope_key', 'project id', 'collect')
        connect = Recorder(None)
        error = self.assertRaises(
            prometheus_errors.ConfigurationError, _Thin, connect,
            period=3600, conf={'metrics': {'up': {'unit': 'u'}}})
        self.assertIn("[collect] scope_key: 'project id'", str(error))
        self.assertEqual([], connect.calls)

    def test_connect_gets_the_group_and_the_threads(self):
        self.conf.import_opt('max_threads', 'cloudkitty.orchestrator',
                             'orchestrator')
        self.conf.set_override('max_threads', 17, 'orchestrator')
        client = prometheus_client.PrometheusClient(aetos_fakes.PROMETHEUS_URL)
        connect = Recorder(client)
        collector = _Thin(connect, period=3600,
                          conf={'metrics': {'up': {'unit': 'u'}}})
        [(_conf, group, pool_size)] = connect.calls
        self.assertEqual(('collector_prometheus', 17), (group, pool_size))
        self.assertEqual('collector_prometheus', collector.options_group)
        self.assertIs(client, collector.client)

    def test_any_client_is_used(self):
        self._serve(aetos_fakes.vector([({}, '3')]))
        client = prometheus_client.PrometheusClient(aetos_fakes.PROMETHEUS_URL)
        collector = _Thin(Recorder(client), period=3600,
                          conf={'metrics': {'up': {'unit': 'u'}}})
        [point] = collector.fetch_all('up', aetos_fakes.START,
                                      aetos_fakes.END, SCOPE)
        self.assertEqual('3', str(point.qty))

    def test_both_collectors_hand_their_client(self):
        self._serve(aetos_fakes.vector([]))
        for collector_class, pins in ((prometheus.PrometheusCollector, False),
                                      (aetos.AetosCollector, True)):
            collector = _collector(collector_class, 'up', {'unit': 'u'})
            self.assertIsInstance(collector.client,
                                  prometheus_client_base.PrometheusClientBase)
            self.assertIs(pins, collector.pins_queries)
            self.assertEqual('collector_' + collector.collector_name,
                             collector.options_group)


class ResultKindTest(_NetworkTest):
    """Only an instant vector gives points."""

    ANSWERS = {
        'matrix': [{'metric': {}, 'values': [[1, '1'], [2, '2']]}],
        'scalar': [1, '1'],
        'string': [1, 'one'],
    }

    def _fail(self, kind):
        self._serve({'status': 'success',
                     'data': {'resultType': kind,
                              'result': self.ANSWERS[kind]}})
        collector = _collector(prometheus.PrometheusCollector, 'up',
                               {'unit': 'u'})
        error = self.assertRaises(
            collect_exc.CollectError, collector.fetch_all, 'up',
            aetos_fakes.START, aetos_fakes.END, SCOPE)
        self.assertIsInstance(error.__cause__,
                              prometheus_errors.NotAPrometheusAnswer)
        return error

    def test_matrix(self):
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 answered a '
            'matrix to a query that must give an instant vector: check the '
            'metric definition (query_prefix, query_suffix)',
            str(self._fail('matrix')))

    def test_scalar_and_string(self):
        for kind in ('scalar', 'string'):
            self.assertIn('answered a %s to a query that must give an '
                          'instant vector' % kind, str(self._fail(kind)))


class _UnpinnedAetos(prometheus_base.PrometheusCollectorBase):
    """Aetos without ``@``: what an Aetos 1.0.0 cannot serve."""

    collector_name = 'aetos'

    def __init__(self, **kwargs):
        super(_UnpinnedAetos, self).__init__(aetos_setup.client, **kwargs)


class TimeRefusedTest(tests.TestCase):
    """A server refusing ``time`` cannot serve an unpinned collector."""

    def setUp(self):
        super(TimeRefusedTest, self).setUp()
        self.logs = aetos_fakes.hear(self, prometheus_base)
        self.network = aetos_fakes.use_fake_network(self)

    def test_metric_not_pinned(self):
        aetos_fakes.configure_keystone(self)
        aetos_fakes.act_as_aetos_1(self.network,
                                   aetos_fakes.vector([({}, '1')]))
        # A prefix @ could not pin; yet no start-up warning, since this
        # collector pins nothing.
        collector = _collector(_UnpinnedAetos, 'up', {
            'unit': 'u', 'extra_args': {'query_prefix': 'time() -'}})
        self.assertEqual([], aetos_fakes.log_lines(self.logs))
        for _ in range(2):
            error = self.assertRaises(
                collect_exc.CollectError, collector.fetch_all, 'up',
                aetos_fakes.START, aetos_fakes.END, SCOPE)
            self.assertIsInstance(error.__cause__,
                                  prometheus_errors.MetricNotPinned)
            self.assertIn('Metric up ', str(error))
            self.assertIn('the aetos collector does not pin its queries',
                          str(error))
            self.assertIn(aetos_fakes.AETOS_PUBLIC, str(error))
        self.assertFalse(collector.client.sends_time)
        # The refusal of time only; nothing is asked without it.
        [request] = aetos_fakes.aetos_queries(self.network)
        self.assertTrue(aetos_fakes.carries_time(request))

    def test_prometheus_keeps_sending_time(self):
        # Only Aetos 1.0.0 refuses time: from Prometheus such an answer
        # is an HTTP error like any other.
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        aetos_fakes.act_as_aetos_1(self.network,
                                   aetos_fakes.vector([({}, '1')]),
                                   url=aetos_fakes.PROMETHEUS_QUERY_URL)
        collector = _collector(prometheus.PrometheusCollector, 'up',
                               {'unit': 'u'})
        for _ in range(2):
            error = self.assertRaises(
                collect_exc.CollectError, collector.fetch_all, 'up',
                aetos_fakes.START, aetos_fakes.END, SCOPE)
            self.assertIsInstance(error.__cause__,
                                  prometheus_errors.HTTPError)
            self.assertNotIsInstance(error.__cause__,
                                     prometheus_errors.TimeNotSupported)
        self.assertTrue(collector.client.sends_time)
        self.assertEqual([True, True], [
            aetos_fakes.carries_time(request) for request in
            aetos_fakes.requests_to(self.network,
                                    aetos_fakes.PROMETHEUS_QUERY_URL)])
