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
"""The transport of the direct Prometheus client, network faked."""
import threading
import time

import requests
from requests_mock.contrib import fixture as rm_fixture

from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors as errors
from cloudkitty.fetcher import prometheus as prometheus_fetcher
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes as fakes

URL = fakes.PROMETHEUS_URL
QUERY_URL = fakes.PROMETHEUS_QUERY_URL
AT = fakes.AT
BODY = fakes.vector([({'project_id': 'p1'}, '2')])


class PrometheusClientTest(tests.TestCase):

    def setUp(self):
        super(PrometheusClientTest, self).setUp()
        self.network = self.useFixture(rm_fixture.Fixture())

    def test_is_a_prometheus_client(self):
        client = prometheus_client.PrometheusClient(URL)
        self.assertIsInstance(client,
                              prometheus_client_base.PrometheusClientBase)
        self.assertEqual('Prometheus', client.server)

    def test_request(self):
        self.network.get(QUERY_URL, json=BODY)
        client = prometheus_client.PrometheusClient(
            URL + '/', auth=('ck', 'pw'), verify='/etc/ca.pem', timeout=12)

        self.assertEqual(BODY, client.get_instant('up', AT, '10s'))

        request = self.network.last_request
        self.assertEqual(('GET', QUERY_URL),
                         (request.method, request.url.split('?')[0]))
        self.assertEqual({'query': 'up', 'time': AT, 'timeout': '10s'},
                         fakes.query_params(request))
        self.assertEqual('Basic Y2s6cHc=', request.headers['Authorization'])
        self.assertEqual('/etc/ca.pem', request.verify)
        self.assertEqual(12, request.timeout)

    def test_defaults(self):
        self.network.get(QUERY_URL, json=BODY)
        prometheus_client.PrometheusClient(URL).get_instant('up')
        request = self.network.last_request
        self.assertNotIn('Authorization', request.headers)
        # True, or the CA bundle requests takes from the environment.
        self.assertTrue(request.verify)
        self.assertEqual(60, request.timeout)

    def test_insecure(self):
        self.network.get(QUERY_URL, json=BODY)
        prometheus_client.PrometheusClient(URL, verify=False).get_instant(
            'up')
        self.assertIs(False, self.network.last_request.verify)

    def test_query_encoded(self):
        self.network.get(QUERY_URL, json=BODY)
        query = 'sum(rate(x{project_id="a b&c"}[1h])) by (project_id)'
        prometheus_client.PrometheusClient(URL).get_instant(query)
        self.assertEqual({'query': query},
                         fakes.query_params(self.network.last_request))

    def test_any_status_reaches_the_check(self):
        self.network.get(QUERY_URL, status_code=503, text='busy')
        client = prometheus_client.PrometheusClient(URL)
        error = self.assertRaises(errors.HTTPError, client.get_instant, 'up')
        self.assertEqual((URL, 503, 'busy'),
                         (error.url, error.status, error.detail))

    def unreachable(self, exc, timeout=60):
        self.network.get(QUERY_URL, exc=exc)
        client = prometheus_client.PrometheusClient(URL, timeout=timeout)
        error = self.assertRaises(errors.UnreachableError,
                                  client.get_instant, 'up')
        self.assertEqual(URL, error.url)
        self.assertIsInstance(error.__cause__, exc)
        return error

    def test_connection_refused(self):
        error = self.unreachable(requests.exceptions.ConnectionError)
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 could not be '
            'queried (ConnectionError): check the configured Prometheus URL '
            'and that the server is up', str(error))

    def test_connect_timeout_names_the_timeout(self):
        error = self.unreachable(requests.exceptions.ConnectTimeout,
                                 timeout=7.5)
        self.assertIn('no connection within 7.5 s', str(error))

    def test_read_timeout_is_too_slow(self):
        self.network.get(QUERY_URL, exc=requests.exceptions.ReadTimeout)
        client = prometheus_client.PrometheusClient(
            URL, timeout=7.5, group='collector_prometheus')
        error = self.assertRaises(errors.AnswerTooSlow, client.get_instant,
                                  'up')
        self.assertEqual((URL, 7.5), (error.url, error.limit))
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 did not start '
            'its answer within 7.5 s: make the query lighter or raise '
            '[collector_prometheus] timeout', str(error))

    def test_other_request_failures(self):
        for exc in (requests.exceptions.TooManyRedirects,
                    requests.exceptions.ChunkedEncodingError):
            error = self.unreachable(exc)
            self.assertIn(exc.__name__, str(error))

    def test_url_none_accepted(self):
        # requests refuses a URL without scheme before sending anything.
        client = prometheus_client.PrometheusClient(None)
        self.assertEqual('', client.url)
        error = self.assertRaises(errors.UnreachableError,
                                  client.get_instant, 'up')
        self.assertIsInstance(error.__cause__,
                              requests.exceptions.MissingSchema)
        self.assertEqual(0, self.network.call_count)

    def test_from_options(self):
        group = 'collector_prometheus'
        for name, value in (('prometheus_url', URL),
                            ('prometheus_user', 'ck'),
                            ('prometheus_password', 'pw'),
                            ('cafile', '/etc/ca.pem'), ('insecure', True),
                            ('timeout', 12), ('answer_timeout', 30),
                            ('max_answer_size', 4096)):
            self.conf.set_override(name, value, group)
        client = prometheus_client.PrometheusClient.from_options(
            self.conf, group, pool_size=30)
        self.assertEqual(
            (URL, ('ck', 'pw'), '/etc/ca.pem', 12, 30, 4096, group),
            (client.url, client.auth, client.verify, client.timeout,
             client.answer_timeout, client.max_answer_size, client.group))
        self.assertEqual({30}, fakes.pool_sizes(client._http))
        self.assertEqual([], self.network.request_history)

    def test_fetcher_builds_it_without_url(self):
        # [fetcher_prometheus] prometheus_url has no default.
        fetcher = prometheus_fetcher.PrometheusFetcher()
        self.assertIsInstance(fetcher._conn,
                              prometheus_client.PrometheusClient)
        self.assertEqual('', fetcher._conn.url)


class RedirectTest(tests.TestCase):

    def test_redirect_not_followed(self):
        # requests-mock cannot show it: requests reads the body of a
        # redirect it does not follow, which a mocked body does not allow.
        server, url = fakes.serve(self, fakes.Redirecting)
        client = prometheus_client.PrometheusClient(url, auth=('ck', 'pw'))
        error = self.assertRaises(errors.HTTPError, client.get_instant, 'up')
        self.assertEqual((url, 302), (error.url, error.status))
        self.assertIn(client.OTHER_STATUS_HINT, str(error))
        # The credentials went to Prometheus only.
        self.assertEqual([], server.followed)


class _CountingHandler(fakes.Handler):
    """Answer BODY over HTTP/1.1 keep-alive, counting connections."""

    protocol_version = 'HTTP/1.1'

    def setup(self):
        super(_CountingHandler, self).setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self):
        # Long enough for the queries of all threads to overlap.
        time.sleep(self.server.delay)
        self.send_json(200, BODY)


class KeepAliveTest(tests.TestCase):
    """A real loopback server: queries reuse their connections."""

    def setUp(self):
        super(KeepAliveTest, self).setUp()
        self.server, self.url = fakes.serve(self, _CountingHandler)
        self.server.lock = threading.Lock()
        self.server.connections = 0
        self.server.delay = 0

    def test_one_connection_for_many_queries(self):
        client = prometheus_client.PrometheusClient(self.url)
        for _ in range(5):
            self.assertEqual(BODY, client.get_instant('up', AT))
        self.assertEqual(1, self.server.connections)

    def test_one_connection_per_thread_up_to_the_pool_size(self):
        client = prometheus_client.PrometheusClient(self.url, pool_size=12)
        self.server.delay = 0.2
        barrier = threading.Barrier(12)

        def query():
            for _ in range(3):
                barrier.wait(10)
                client.get_instant('up', AT)

        self.assertEqual([None] * 12, fakes.run_in_threads(12, query))
        # With requests' default pool of 10, two connections of every
        # round would be dropped and reopened: 16 in all.
        self.assertEqual(12, self.server.connections)
