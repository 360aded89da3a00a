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
import requests

from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import prometheus
from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.fetcher import prometheus as prometheus_fetcher
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes


class PrometheusClientBaseTest(tests.TestCase):

    def test_base_cannot_be_instantiated(self):
        self.assertRaises(TypeError,
                          prometheus_client_base.PrometheusClientBase)

    def test_subclass_without_get(self):
        class NoGet(prometheus_client_base.PrometheusClientBase):
            def get_instant(self, query, time=None, timeout=None):
                return {}

        self.assertRaises(TypeError, NoGet)

    def test_subclass_without_get_instant(self):
        class NoInstant(prometheus_client_base.PrometheusClientBase):
            def _get(self, endpoint, params):
                return {}

        self.assertRaises(TypeError, NoInstant)

    def test_complete_subclass(self):
        class Complete(prometheus_client_base.PrometheusClientBase):
            def _get(self, endpoint, params):
                return endpoint, params

            def get_instant(self, query, time=None, timeout=None):
                return self._get(self.INSTANT_QUERY_ENDPOINT, {'q': query})

        self.assertEqual(('query', {'q': 'up'}), Complete().get_instant('up'))
        self.assertEqual('query_range', Complete.RANGE_QUERY_ENDPOINT)

    def test_error_is_shared(self):
        self.assertIs(prometheus_client_base.PrometheusResponseError,
                      prometheus_client.PrometheusResponseError)
        self.assertIs(prometheus_client.PrometheusResponseError,
                      prometheus.PrometheusResponseError)


class PrometheusClientTest(tests.TestCase):

    def setUp(self):
        super(PrometheusClientTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)

    def test_get_instant(self):
        body = aetos_fakes.vector([({'project_id': 'p'}, '2')])
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json=body)
        client = prometheus_client.PrometheusClient(
            aetos_fakes.PROMETHEUS_URL, auth=('ck', 'pw'),
            verify='/etc/ca.pem', timeout=12)

        self.assertEqual(body, client.get_instant('up', '2026-03-01T11:00:00'))

        request = self.network.last_request
        self.assertEqual({'query': 'up', 'time': '2026-03-01T11:00:00'},
                         aetos_fakes.query_params(request))
        self.assertEqual('Basic Y2s6cHc=', request.headers['Authorization'])
        self.assertEqual('/etc/ca.pem', request.verify)
        self.assertEqual(12, request.timeout)

    def test_defaults(self):
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json={})
        client = prometheus_client.PrometheusClient(
            aetos_fakes.PROMETHEUS_URL)
        client.get_instant('up')
        request = self.network.last_request
        self.assertNotIn('Authorization', request.headers)
        # True, or the CA bundle that requests takes from the environment.
        self.assertTrue(request.verify)
        self.assertEqual(60, request.timeout)

    def test_error_answer_is_returned_for_the_collector(self):
        body = {'status': 'error', 'errorType': 'bad_data', 'error': 'oops'}
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, status_code=400,
                         json=body)
        client = prometheus_client.PrometheusClient(
            aetos_fakes.PROMETHEUS_URL)
        self.assertEqual(body, client.get_instant('up('))

    def test_not_json(self):
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL,
                         text='<html>' + 'z' * 400)
        client = prometheus_client.PrometheusClient(
            aetos_fakes.PROMETHEUS_URL)
        error = self.assertRaises(prometheus_client.PrometheusResponseError,
                                  client.get_instant, 'up')
        self.assertEqual(
            'Prometheus answered %s?query=up with a body that is not JSON: '
            '<html>%s...' % (aetos_fakes.PROMETHEUS_QUERY_URL, 'z' * 191),
            str(error))

    def test_unreachable(self):
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL,
                         exc=requests.exceptions.ConnectionError)
        client = prometheus_client.PrometheusClient(
            aetos_fakes.PROMETHEUS_URL)
        error = self.assertRaises(prometheus_client.PrometheusResponseError,
                                  client.get_instant, 'up')
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 could not be '
            'queried (ConnectionError): check the configured Prometheus URL '
            'and that the server is up', str(error))

    def test_fetcher_unreachable(self):
        # The scope fetcher has its own [fetcher_prometheus] options.
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'fetcher_prometheus')
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL,
                         exc=requests.exceptions.ConnectionError)
        fetcher = prometheus_fetcher.PrometheusFetcher()
        error = self.assertRaises(prometheus_fetcher.PrometheusFetcherError,
                                  fetcher.get_tenants)
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 could not be '
            'queried (ConnectionError): check the configured Prometheus URL '
            'and that the server is up', str(error))

    def test_collector_turns_failure_into_collect_error(self):
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL,
                         exc=requests.exceptions.ReadTimeout)
        collector = prometheus.PrometheusCollector(
            period=3600, conf={'metrics': {'up': {'unit': 'instance'}}})
        error = self.assertRaises(collect_exc.CollectError,
                                  collector.fetch_all, 'up',
                                  aetos_fakes.START, aetos_fakes.END, 'p')
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 could not be '
            'queried (ReadTimeout): check the configured Prometheus URL and '
            'that the server is up', str(error))

    def test_collector_options(self):
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        self.conf.set_override('prometheus_user', 'ck',
                               'collector_prometheus')
        self.conf.set_override('prometheus_password', 'pw',
                               'collector_prometheus')
        self.conf.set_override('insecure', True, 'collector_prometheus')
        self.conf.set_override('timeout', 5, 'collector_prometheus')
        collector = prometheus.PrometheusCollector(
            period=3600, conf={'metrics': {'up': {'unit': 'instance'}}})
        client = collector._conn
        self.assertIsInstance(client, prometheus_client.PrometheusClient)
        self.assertEqual((aetos_fakes.PROMETHEUS_URL, ('ck', 'pw'), False, 5),
                         (client.url, client.auth, client.verify,
                          client.timeout))
        self.conf.set_override('cafile', '/etc/ca.pem',
                               'collector_prometheus')
        self.conf.clear_override('prometheus_password',
                                 'collector_prometheus')
        client = prometheus.PrometheusCollector(
            period=3600, conf={'metrics': {'up': {'unit': 'instance'}}})._conn
        self.assertEqual((None, '/etc/ca.pem'), (client.auth, client.verify))
