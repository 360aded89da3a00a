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
"""get_instant, and how a client stops sending a refused ``time``.

PrometheusClient carries the requests; only the network is faked.
"""
import logging
import threading
from urllib import parse

import fixtures
from requests_mock.contrib import fixture as rm_fixture

from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes as fakes

URL = 'http://prometheus.test:9090/api/v1'
QUERY_URL = URL + '/query'
AT = '2026-03-01T11:00:00+00:00'
BODY = {'status': 'success', 'data': {'resultType': 'vector', 'result': [
    {'metric': {'project_id': 'p1'}, 'value': [1772362800, '1']}]}}
# Aetos 1.0.0 (WSME) refusing the parameter.
UNKNOWN_TIME = {'faultcode': 'Client', 'debuginfo': None,
                'faultstring': 'Unknown argument: "time"'}


def params(request):
    return dict(parse.parse_qsl(parse.urlsplit(request.url).query))


def listen(test):
    """The module's log records, as ``LEVEL message`` lines.

    The alembic run of TestCase.setUp disables the loggers that exist by
    then: the module's is enabled again for the test.
    """
    name = prometheus_client_base.__name__
    test.useFixture(fixtures.MockPatchObject(logging.getLogger(name),
                                             'disabled', False))
    return test.useFixture(fixtures.FakeLogger(
        name=name, level=logging.DEBUG, format='%(levelname)s %(message)s'))


def warnings(logs):
    return [line for line in logs.output.splitlines()
            if line.startswith('WARNING')]


class Offline(prometheus_client_base.PrometheusClientBase):
    """The smallest complete client; its transport is never used."""

    def _get(self, endpoint, params):
        raise AssertionError('no request expected')


class ContractTest(tests.TestCase):

    def test_base_is_abstract(self):
        self.assertRaises(TypeError,
                          prometheus_client_base.PrometheusClientBase, URL)

    def test_transport_is_required(self):
        class NoTransport(prometheus_client_base.PrometheusClientBase):
            pass

        self.assertRaises(TypeError, NoTransport, URL)

    def test_url(self):
        self.assertEqual(URL, Offline(URL + '/').url)
        self.assertEqual('', Offline(None).url)

    def test_sends_time_at_first(self):
        self.assertTrue(Offline(URL).sends_time)

    def test_endpoints(self):
        self.assertEqual(('query', 'query_range'),
                         (Offline.INSTANT_QUERY_ENDPOINT,
                          Offline.RANGE_QUERY_ENDPOINT))


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
        self.logs = listen(self)

    def refuse_time(self):
        """Answer like Aetos 1.0.0: 400 whenever time or timeout is sent."""
        def answer(request, context):
            if {'time', 'timeout'} & set(params(request)):
                context.status_code = 400
                return UNKNOWN_TIME
            return BODY
        self.network.get(QUERY_URL, json=answer)

    def test_time_and_timeout_sent(self):
        self.network.get(QUERY_URL, json=BODY)
        self.assertEqual(BODY, self.client.get_instant('up', AT, '20s'))
        self.assertEqual({'query': 'up', 'time': AT, 'timeout': '20s'},
                         params(self.network.last_request))

    def test_none_omitted(self):
        self.network.get(QUERY_URL, json=BODY)
        self.client.get_instant('up')
        self.assertEqual({'query': 'up'}, params(self.network.last_request))
        self.client.get_instant('up', time=1772362800)
        self.assertEqual({'query': 'up', 'time': '1772362800'},
                         params(self.network.last_request))
        self.client.get_instant('up', timeout='5s')
        self.assertEqual({'query': 'up', 'timeout': '5s'},
                         params(self.network.last_request))

    def test_answer_is_checked(self):
        self.network.get(QUERY_URL, status_code=503, text='busy')
        error = self.assertRaises(errors.HTTPError, self.client.get_instant,
                                  'up', AT)
        self.assertEqual((URL, 503), (error.url, error.status))

    def test_refused_time_is_not_sent_again(self):
        self.refuse_time()
        error = self.assertRaises(errors.TimeNotSupported,
                                  self.client.get_instant, 'up', AT, '20s')
        self.assertEqual((URL, 400), (error.url, error.status))
        self.assertFalse(self.client.sends_time)
        self.assertEqual({'query': 'up', 'time': AT, 'timeout': '20s'},
                         params(self.network.last_request))

        self.assertEqual(BODY, self.client.get_instant('up', AT, '20s'))
        self.assertEqual({'query': 'up'}, params(self.network.last_request))
        self.client.get_instant('sum(up)', time=AT)
        self.assertEqual({'query': 'sum(up)'},
                         params(self.network.last_request))
        self.assertEqual(3, self.network.call_count)

    def test_one_warning(self):
        self.refuse_time()
        self.assertRaises(errors.TimeNotSupported, self.client.get_instant,
                          'up', AT)
        for _ in range(3):
            self.client.get_instant('up', AT)
        self.assertEqual(
            ['WARNING Prometheus at http://prometheus.test:9090/api/v1 '
             'refuses the time parameter (Aetos before 2.0.0): queries are '
             'sent without time and timeout from now on, and only queries '
             'that pin their evaluation time with @ are sent'],
            warnings(self.logs))

    def test_refused_timeout_alone(self):
        self.refuse_time()
        self.assertRaises(errors.TimeNotSupported, self.client.get_instant,
                          'up', timeout='20s')
        self.assertFalse(self.client.sends_time)

    def test_later_refusal_reraised_without_new_warning(self):
        # A server that refuses time even when none is sent.
        self.network.get(QUERY_URL, status_code=400, json=UNKNOWN_TIME)
        for _ in range(2):
            self.assertRaises(errors.TimeNotSupported,
                              self.client.get_instant, 'up', AT)
        self.assertEqual({'query': 'up'}, params(self.network.last_request))
        self.assertEqual(1, len(warnings(self.logs)))

    def test_other_errors_keep_time(self):
        self.network.get(QUERY_URL, status_code=400, json={
            'status': 'error', 'errorType': 'bad_data',
            'error': 'invalid parameter "time": cannot parse "x"'})
        self.assertRaises(errors.HTTPError, self.client.get_instant, 'up',
                          'x')
        self.assertTrue(self.client.sends_time)
        self.assertRaises(errors.HTTPError, self.client.get_instant, 'up',
                          AT)
        self.assertEqual(AT, params(self.network.last_request)['time'])
        self.assertEqual([], warnings(self.logs))


class ConcurrentRefusalTest(tests.TestCase):
    """Threads that all sent ``time`` before the first refusal came back.

    requests-mock serialises every request under one lock, so its answers
    cannot be held back until all threads have asked: a loopback HTTP
    server stands in for Aetos 1.0.0 here.
    """

    THREADS = 4

    def setUp(self):
        super(ConcurrentRefusalTest, self).setUp()
        self.logs = listen(self)
        self.seen = []
        barrier = threading.Barrier(self.THREADS, timeout=20)
        seen = self.seen

        class Handler(fakes.Handler):
            def do_GET(self):
                seen.append(dict(parse.parse_qsl(
                    parse.urlsplit(self.path).query)))
                # No answer before every thread has sent its query.
                barrier.wait()
                self.send_json(400, UNKNOWN_TIME)

        _server, self.url = fakes.serve(self, Handler)

    def test_one_flip_one_warning(self):
        client = prometheus_client.PrometheusClient(self.url, timeout=30)
        outcomes = []

        def query():
            try:
                client.get_instant('up', AT)
            except Exception as exc:
                outcomes.append(type(exc))
            else:
                outcomes.append(None)

        threads = [threading.Thread(target=query)
                   for _ in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual([errors.TimeNotSupported] * self.THREADS, outcomes)
        self.assertEqual([{'query': 'up', 'time': AT}] * self.THREADS,
                         self.seen)
        self.assertFalse(client.sends_time)
        self.assertEqual(1, len(warnings(self.logs)))
