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

import testscenarios

from cloudkitty.collector import aetos
from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import prometheus
from cloudkitty.collector import prometheus_base
from cloudkitty.common import prometheus_client_base
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


class SameQueriesAndPointsTest(tests.TestCase):
    """One metric definition, one server answer, two collectors."""

    scenarios = testscenarios.multiply_scenarios(
        tests.TestCase.scenarios, CASES)

    def setUp(self):
        super(SameQueriesAndPointsTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        samples = [(dict(labels, project_id=SCOPE), value)
                   for labels, value in self.samples]
        body = aetos_fakes.vector(samples)
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json=body)
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=body)
        aetos_fakes.answer_time_checks(self.network)

    def _fetch(self, collector_class, query_url):
        collector = _collector(collector_class, self.name, self.metric)
        points = collector.fetch_all(self.name, aetos_fakes.START,
                                     aetos_fakes.END, SCOPE)
        sent = [r for r in self.network.request_history
                if r.url.startswith(query_url)]
        # Only the Aetos client checks when an empty result was evaluated.
        checks = [r for r in sent if aetos_fakes.is_time_check(r)]
        checked = query_url == aetos_fakes.AETOS_QUERY_URL and not self.samples
        self.assertEqual(1 if checked else 0, len(checks))
        sent = [r for r in sent if r not in checks]
        self.assertEqual(1, len(sent))
        return aetos_fakes.query_params(sent[0]), points

    def test_same_query_and_points(self):
        prom_params, prom_points = self._fetch(
            prometheus.PrometheusCollector, aetos_fakes.PROMETHEUS_QUERY_URL)
        aetos_params, aetos_points = self._fetch(
            aetos.AetosCollector, aetos_fakes.AETOS_QUERY_URL)

        self.assertEqual({'query': self.query % SCOPE,
                          'time': aetos_fakes.END.isoformat()}, prom_params)
        self.assertEqual(prom_params, aetos_params)

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


class LabelValueEscapingTest(tests.TestCase):
    """A scope id must stay a value whatever characters it holds."""

    METRIC = {'unit': 'instance'}

    def setUp(self):
        super(LabelValueEscapingTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        body = aetos_fakes.vector([])
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json=body)
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=body)
        aetos_fakes.answer_time_checks(self.network)

    def test_escape_label_value(self):
        self.assertEqual('plain-id', prometheus_base.escape_label_value(
            'plain-id'))
        self.assertEqual('a\\"b', prometheus_base.escape_label_value('a"b'))
        self.assertEqual('a\\\\b', prometheus_base.escape_label_value(
            'a\\b'))
        self.assertEqual('a\\nb', prometheus_base.escape_label_value('a\nb'))

    def _sent_query(self, collector_class, query_url, scope_id):
        collector = _collector(collector_class, 'instance_up', self.METRIC)
        collector.fetch_all('instance_up', aetos_fakes.START,
                            aetos_fakes.END, scope_id)
        sent = [aetos_fakes.query_params(r)['query']
                for r in self.network.request_history
                if r.url.startswith(query_url)]
        # The Aetos client's time check of the empty result embeds the
        # query as sent, escaped scope id included.
        if collector_class is aetos.AetosCollector:
            self.assertEqual(['scalar(count((%s)))' % sent[0]], sent[1:])
            sent = sent[:1]
        return sent[-1]

    def test_both_collectors_escape_scope_id(self):
        hostile = 'x"} or vector(1) or up{a="\\'
        expected = ('max(max_over_time(instance_up{project_id='
                    '"x\\"} or vector(1) or up{a=\\"\\\\"}[3600s])) '
                    'by (project_id)')
        for collector_class, query_url in (
                (prometheus.PrometheusCollector,
                 aetos_fakes.PROMETHEUS_QUERY_URL),
                (aetos.AetosCollector, aetos_fakes.AETOS_QUERY_URL)):
            self.assertEqual(expected, self._sent_query(
                collector_class, query_url, hostile))


class PrometheusCollectorShapeTest(tests.TestCase):

    def test_prometheus_collector_only_adds_its_client(self):
        self.assertTrue(issubclass(prometheus.PrometheusCollector,
                                   prometheus_base.PrometheusCollectorBase))
        self.assertIs(prometheus_base.PROMETHEUS_EXTRA_SCHEMA,
                      prometheus.PROMETHEUS_EXTRA_SCHEMA)
        self.assertEqual('prometheus',
                         prometheus.PrometheusCollector.collector_name)
        # Besides what Python and abc add to every class.
        self.assertEqual(
            ['__init__', 'collector_name'],
            sorted(name for name in vars(prometheus.PrometheusCollector)
                   if name == '__init__' or not name.startswith('_')))


class _FixedClient(prometheus_client_base.PrometheusClientBase):
    """Answers every query with the same document."""

    def __init__(self, answer):
        self.answer = answer

    def _get(self, endpoint, params):
        return self.answer

    def get_instant(self, query, time=None, timeout=None):
        return self.answer


class _FixedCollector(prometheus_base.PrometheusCollectorBase):
    collector_name = 'fixed'

    def __init__(self, client, **kwargs):
        super(_FixedCollector, self).__init__(client, **kwargs)


class CollectorBaseContractTest(tests.TestCase):
    """The base takes its client as an argument, and only a client."""

    def test_client_is_used(self):
        client = _FixedClient(aetos_fakes.vector([({}, '3')]))
        collector = _FixedCollector(
            client, period=3600, conf={'metrics': {'up': {'unit': 'u'}}})
        self.assertIs(client, collector._conn)
        [point] = collector.fetch_all('up', aetos_fakes.START,
                                      aetos_fakes.END, SCOPE)
        self.assertEqual('3', str(point.qty))

    def test_not_a_client(self):
        error = self.assertRaises(
            TypeError, _FixedCollector, 'http://prometheus.test',
            period=3600, conf={'metrics': {'up': {'unit': 'u'}}})
        self.assertEqual('_FixedCollector needs a PrometheusClientBase, not '
                         'str', str(error))

    def test_both_collectors_hand_their_client(self):
        aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        for collector_class in (prometheus.PrometheusCollector,
                                aetos.AetosCollector):
            collector = _collector(collector_class, 'up', {'unit': 'u'})
            self.assertIsInstance(collector._conn,
                                  prometheus_client_base.PrometheusClientBase)


class MalformedSamplesTest(tests.TestCase):
    """A result that is not a list of samples is a CollectError."""

    QUERY = ('max(max_over_time(up{project_id="%s"}[3600s])) by '
             '(project_id)' % SCOPE)

    def _fail(self, answer):
        collector = _FixedCollector(_FixedClient(answer), period=3600,
                                    conf={'metrics': {'up': {'unit': 'u'}}})
        error = self.assertRaises(
            collect_exc.CollectError, collector.fetch_all, 'up',
            aetos_fakes.START, aetos_fakes.END, SCOPE)
        return str(error)

    def _result(self, result):
        return {'status': 'success',
                'data': {'resultType': 'vector', 'result': result}}

    def test_result_not_a_list(self):
        for result in ({'metric': {}, 'value': [1, '1']}, 'samples', 3,
                       None):
            answer = self._result(result)
            self.assertEqual(
                'Answer to [%s] is not a Prometheus result: %s'
                % (self.QUERY, answer), self._fail(answer))

    def test_sample_without_value(self):
        answer = self._result([{'metric': {}}])
        self.assertEqual('Answer to [%s] is not a Prometheus result: %s'
                         % (self.QUERY, answer), self._fail(answer))

    def test_sample_without_labels(self):
        answer = self._result([{'value': [1, '1']}])
        self.assertEqual('Answer to [%s] is not a Prometheus result: %s'
                         % (self.QUERY, answer), self._fail(answer))

    def test_value_not_a_number(self):
        for value in (['1'], [1, 'many'], [1, None], '1', None):
            answer = self._result([{'metric': {}, 'value': value}])
            self.assertEqual('Answer to [%s] is not a Prometheus result: %s'
                             % (self.QUERY, answer), self._fail(answer))

    def test_format_data_refuses_a_malformed_sample(self):
        collector = _FixedCollector(_FixedClient({}), period=3600,
                                    conf={'metrics': {'up': {'unit': 'u'}}})
        error = self.assertRaises(
            collect_exc.CollectError, collector._format_data, 'up',
            'project_id', SCOPE, aetos_fakes.START, aetos_fakes.END,
            {'metric': {}, 'value': 7})
        self.assertEqual("Not a Prometheus sample: {'metric': {}, 'value': 7}",
                         str(error))


class StatusErrorTest(tests.TestCase):
    """A Prometheus error answer is a CollectError, not data."""

    def test_prometheus_error_answer(self):
        network = aetos_fakes.use_fake_network(self)
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        network.get(aetos_fakes.PROMETHEUS_QUERY_URL, status_code=400,
                    json={'status': 'error', 'errorType': 'bad_data',
                          'error': 'parse error at char 4'})
        collector = _collector(prometheus.PrometheusCollector, 'instance_up',
                               {'unit': 'instance'})
        error = self.assertRaises(
            collect_exc.CollectError, collector.fetch_all, 'instance_up',
            aetos_fakes.START, aetos_fakes.END, SCOPE)
        self.assertEqual('bad_data: parse error at char 4', str(error))

    def test_answer_that_is_not_a_result(self):
        network = aetos_fakes.use_fake_network(self)
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json={'status': 'ok'})
        collector = _collector(prometheus.PrometheusCollector, 'instance_up',
                               {'unit': 'instance'})
        error = self.assertRaises(
            collect_exc.CollectError, collector.fetch_all, 'instance_up',
            aetos_fakes.START, aetos_fakes.END, SCOPE)
        self.assertIn("is not a Prometheus result: {'status': 'ok'}",
                      str(error))
