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
"""What every client shares: the contract, hints, parameters, warnings.

PrometheusClient carries the requests; only the network is faked. How
Aetos stops sending a refused ``time`` is AetosClient's own
(test_aetos_client).
"""
from requests_mock.contrib import fixture as rm_fixture

from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes as fakes

URL = fakes.PROMETHEUS_URL
QUERY_URL = fakes.PROMETHEUS_QUERY_URL
AT = fakes.AT
BODY = fakes.vector([({'project_id': 'p1'}, '1')])


class Offline(prometheus_client_base.PrometheusClientBase):
    """The smallest complete client; its transport is never used."""

    def _get(self, endpoint, params):
        raise AssertionError('no request expected')

    def get_instant(self, query, time=None, timeout=None):
        return self._instant(self._params(query, time=time))


class ContractTest(tests.TestCase):

    def test_base_and_partial_clients_are_abstract(self):
        class NoTransport(prometheus_client_base.PrometheusClientBase):
            def get_instant(self, query, time=None, timeout=None):
                pass

        class NoQuery(prometheus_client_base.PrometheusClientBase):
            def _get(self, endpoint, params):
                pass

        for abstract in (prometheus_client_base.PrometheusClientBase,
                         NoTransport, NoQuery):
            self.assertRaises(TypeError, abstract, URL)

    def test_url(self):
        self.assertEqual(URL, Offline(URL + '/').url)
        self.assertEqual('', Offline(None).url)

    def test_sends_time(self):
        self.assertTrue(Offline(URL).sends_time)

    def test_endpoint(self):
        self.assertEqual('query', Offline.INSTANT_QUERY_ENDPOINT)

    def test_answer_bounds(self):
        client = Offline(URL)
        self.assertEqual((120.0, 64 * 1024 * 1024),
                         (client.answer_timeout, client.max_answer_size))

    def test_option_named_with_its_group(self):
        self.assertEqual('[collector_x] timeout',
                         Offline(URL, group='collector_x').option('timeout'))
        self.assertEqual('timeout', Offline(URL).option('timeout'))


class HintTest(tests.TestCase):

    def test_status_hints(self):
        client = Offline(URL)
        for status in (400, 422):
            self.assertEqual(Offline.STATUS_HINTS[status],
                             client.hint(status))
        self.assertNotEqual(client.hint(400), client.hint(422))

    def test_server_errors(self):
        for status in (500, 502, 503, 504, 599):
            self.assertEqual(Offline.SERVER_ERROR_HINT,
                             Offline(URL).hint(status))

    def test_other_statuses(self):
        for status in (301, 401, 403, 404, 405, 418):
            self.assertEqual(Offline.OTHER_STATUS_HINT,
                             Offline(URL).hint(status))

    def test_subclass_hints_win(self):
        class Picky(Offline):
            STATUS_HINTS = {404: 'mind the path', 503: 'wait'}
            SERVER_ERROR_HINT = 'restart it'
            OTHER_STATUS_HINT = 'read the docs'

        client = Picky(URL)
        self.assertEqual(['mind the path', 'wait', 'restart it',
                          'read the docs'],
                         [client.hint(s) for s in (404, 503, 500, 400)])


class GetInstantTest(tests.TestCase):

    def setUp(self):
        super(GetInstantTest, self).setUp()
        self.network = self.useFixture(rm_fixture.Fixture())
        self.client = prometheus_client.PrometheusClient(URL)

    def sent(self):
        return fakes.query_params(self.network.last_request)

    def test_time_and_timeout_sent(self):
        self.network.get(QUERY_URL, json=BODY)
        self.assertEqual(BODY, self.client.get_instant('up', AT, '20s'))
        self.assertEqual({'query': 'up', 'time': AT, 'timeout': '20s'},
                         self.sent())

    def test_none_omitted(self):
        self.network.get(QUERY_URL, json=BODY)
        self.client.get_instant('up')
        self.assertEqual({'query': 'up'}, self.sent())
        self.client.get_instant('up', time=1772362800)
        self.assertEqual({'query': 'up', 'time': '1772362800'}, self.sent())
        self.client.get_instant('up', timeout='5s')
        self.assertEqual({'query': 'up', 'timeout': '5s'}, self.sent())

    def test_answer_is_checked(self):
        self.network.get(QUERY_URL, status_code=503, text='busy')
        error = self.assertRaises(errors.HTTPError, self.client.get_instant,
                                  'up', AT)
        self.assertEqual((URL, 503), (error.url, error.status))

    def test_other_errors_keep_time(self):
        self.network.get(QUERY_URL, status_code=400, json={
            'status': 'error', 'errorType': 'bad_data',
            'error': 'invalid parameter "time": cannot parse "x"'})
        self.assertRaises(errors.HTTPError, self.client.get_instant, 'up',
                          'x')
        self.assertTrue(self.client.sends_time)
        self.assertRaises(errors.HTTPError, self.client.get_instant, 'up',
                          AT)
        self.assertEqual(AT, self.sent()['time'])


class UnprotectedWarningTest(tests.TestCase):
    """PrometheusClient.from_options says what leaves its way open."""

    def setUp(self):
        super(UnprotectedWarningTest, self).setUp()
        self.logs = fakes.hear(self, prometheus_client_base)

    def _warnings(self, url, **settings):
        group = 'collector_prometheus'
        self.conf.set_override('prometheus_url', url, group)
        for name, value in settings.items():
            self.conf.set_override(name, value, group)
        prometheus_client.PrometheusClient.from_options(self.conf, group)
        return fakes.log_lines(self.logs)

    def test_plain_http(self):
        self.assertEqual([
            'WARNING cloudkitty.common.prometheus_client_base Prometheus at '
            'http://prometheus.test:9090/api/v1 is reached over plain HTTP: '
            'credentials and usage cross the network unencrypted; use '
            'https'], self._warnings(URL))

    def test_insecure(self):
        self.assertEqual([
            'WARNING cloudkitty.common.prometheus_client_base Prometheus at '
            'https://prometheus.test/api/v1: its TLS certificate is not '
            'verified ([collector_prometheus] insecure is true), so anyone '
            'on the way can read the credentials and the answers: set the '
            'CA bundle in [collector_prometheus] cafile instead'],
            self._warnings('https://prometheus.test/api/v1', insecure=True))

    def test_cafile_wins_over_insecure(self):
        self.assertEqual([], self._warnings(
            'https://prometheus.test/api/v1', insecure=True,
            cafile='/etc/ssl/ca.pem'))
