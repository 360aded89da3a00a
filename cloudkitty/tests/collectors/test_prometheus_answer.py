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
"""Every answer a Prometheus or Aetos server can give, read and judged once.

read() is shown through PrometheusClient, on requests-mock where the
bytes are enough and on a loopback server where time matters.
"""
import gzip
import json
import time
import tracemalloc
import zlib

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import session as ks_session
from requests_mock.contrib import fixture as rm_fixture

from cloudkitty.common import aetos_client
from cloudkitty.common import prometheus_answer
from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes as fakes

PROMETHEUS_URL = fakes.PROMETHEUS_URL
AETOS_URL = fakes.AETOS_PUBLIC
AT = fakes.END_UNIX
# keystonemiddleware's refusal of a token, formatted by webob.
MIDDLEWARE_401 = {
    'code': '401 Unauthorized', 'title': 'Unauthorized',
    'message': 'This server could not verify that you are authorized to '
               'access the document you requested.<br /><br />\nThe '
               'request you have made requires authentication.\n\n'}


def answer(status=200, json=None, text=None):
    """The Reply of an answer read whole: ``json=`` or ``text=``."""
    return prometheus_answer.Reply(
        status, text if text is not None else _json_dumps(json))


_json_dumps = json.dumps


def success(result_type, result):
    return {'status': 'success',
            'data': {'resultType': result_type, 'result': result}}


class CheckAnswerTestBase(tests.TestCase):

    def setUp(self):
        super(CheckAnswerTestBase, self).setUp()
        self.prometheus = prometheus_client.PrometheusClient(PROMETHEUS_URL)
        # check_answer only reads the wording attributes of the client:
        # nothing is sent; the URL is the one found at the first query.
        self.aetos = aetos_client.AetosClient(ks_adapter.Adapter(
            ks_session.Session(auth=fakes.password_auth())))
        self.aetos.url = AETOS_URL

    def refused(self, kind, response, client=None):
        return self.assertRaises(kind, prometheus_answer.check_answer,
                                 response, client or self.prometheus)


class HTTPStatusTest(CheckAnswerTestBase):

    def test_prometheus_error_body(self):
        error = self.refused(errors.HTTPError, answer(400, json={
            'status': 'error', 'errorType': 'bad_data',
            'error': 'invalid parameter "query": 1:4: parse error'}))
        self.assertNotIsInstance(error, errors.TimeNotSupported)
        self.assertEqual((PROMETHEUS_URL, 400), (error.url, error.status))
        self.assertEqual('bad_data: invalid parameter "query": 1:4: parse '
                         'error', error.detail)
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 answered HTTP '
            '400 (bad_data: invalid parameter "query": 1:4: parse error): '
            'check the metric definition (extra_args, query_prefix, '
            'query_suffix)', str(error))

    def test_hint_follows_the_status(self):
        for status in (422, 503, 404, 302):
            error = self.refused(errors.HTTPError, answer(status, json={
                'status': 'error', 'errorType': 'x', 'error': 'y'}))
            self.assertEqual(status, error.status)
            self.assertIn(self.prometheus.hint(status), str(error))

    def test_aetos_wording(self):
        for status in (401, 403, 404, 500):
            error = self.refused(errors.HTTPError, answer(status, text=''),
                                 self.aetos)
            self.assertEqual((AETOS_URL, status), (error.url, error.status))
            self.assertTrue(str(error).startswith('Aetos at ' + AETOS_URL))
            self.assertIn(self.aetos.hint(status), str(error))

    def test_aetos_fault(self):
        error = self.refused(errors.HTTPError, answer(500, json={
            'faultcode': 'Server', 'debuginfo': None,
            'faultstring': 'Prometheus at http://localhost:9090 refused '
                           'the connection'}), self.aetos)
        self.assertEqual('Prometheus at http://localhost:9090 refused the '
                         'connection', error.detail)

    def test_aetos_fault_in_error_message(self):
        fault = {'faultcode': 'Client', 'debuginfo': None,
                 'faultstring': 'bad_data: parse error'}
        error = self.refused(errors.HTTPError,
                             answer(400, json={'error_message': fault}),
                             self.aetos)
        self.assertEqual((400, 'bad_data: parse error'),
                         (error.status, error.detail))

    def test_keystonemiddleware_message_without_html(self):
        error = self.refused(errors.HTTPError,
                             answer(401, json=MIDDLEWARE_401), self.aetos)
        self.assertEqual(401, error.status)
        self.assertNotIn('<', error.detail)
        self.assertNotIn('\n', error.detail)
        self.assertTrue(error.detail.endswith(
            'The request you have made requires authentication.'))

    def test_keystone_error_message(self):
        error = self.refused(errors.HTTPError, answer(403, json={'error': {
            'code': 403, 'title': 'Forbidden',
            'message': 'You are not authorized to perform the requested '
                       'action: identity:list_projects.'}}), self.aetos)
        self.assertEqual('You are not authorized to perform the requested '
                         'action: identity:list_projects.', error.detail)

    def test_other_bodies_quoted_as_text(self):
        for body, detail in ((dict(text='Bad Gateway'), 'Bad Gateway'),
                             (dict(json={'oops': 1}), '{"oops": 1}'),
                             (dict(json=['a', 'b']), '["a", "b"]'),
                             (dict(json={'error_message': 'down'}),
                              '{"error_message": "down"}'),
                             (dict(text=''), '')):
            error = self.refused(errors.HTTPError, answer(502, **body))
            self.assertEqual((502, detail), (error.status, error.detail))

    def test_long_bodies_cut(self):
        for body in (dict(text='<html>' + 'z' * 5000),
                     dict(json={'faultstring': 'f' * 5000}),
                     dict(json={'status': 'error', 'errorType': 'internal',
                                'error': 'e' * 5000})):
            error = self.refused(errors.HTTPError, answer(500, **body))
            self.assertEqual(errors.EXCERPT_LENGTH, len(error.detail))
            self.assertTrue(error.detail.endswith('...'))
            self.assertIn(error.detail, str(error))
            self.assertLess(len(str(error)), 2 * errors.EXCERPT_LENGTH)

    def test_any_2xx_is_read(self):
        body = success('vector', [])
        for status in (200, 203):
            self.assertEqual(body, prometheus_answer.check_answer(
                answer(status, json=body), self.prometheus))


class BodyTest(CheckAnswerTestBase):

    def test_not_json(self):
        error = self.refused(errors.NotAPrometheusAnswer, answer(
            text='<html><body>It works!</body></html>'))
        self.assertEqual(PROMETHEUS_URL, error.url)
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 answered HTTP '
            '200 with a body that is not JSON (<html><body>It works!</body>'
            '</html>): check the configured Prometheus URL: it ends with '
            '/api/v1', str(error))

    def test_long_body_cut(self):
        text = '<html>' + 'z' * 5000
        error = self.refused(errors.NotAPrometheusAnswer, answer(text=text))
        self.assertIn(errors.excerpt(text), str(error))
        self.assertLess(len(str(error)), 2 * errors.EXCERPT_LENGTH)

    def test_json_that_is_not_a_result(self):
        for body in ({'versions': [{'id': 'v1', 'status': 'CURRENT'}]},
                     ['success'], 'success', None,
                     {'status': 'success'},
                     {'status': 'ok', 'data': success('vector', [])['data']},
                     {'data': success('vector', [])['data']}):
            error = self.refused(errors.NotAPrometheusAnswer,
                                 answer(json=body), self.aetos)
            self.assertEqual(AETOS_URL, error.url, body)
            self.assertIn(self.aetos.OTHER_STATUS_HINT, str(error))

    def test_nested_json(self):
        self.refused(errors.NotAPrometheusAnswer,
                     answer(text='[' * 100000 + ']' * 100000))

    def test_prometheus_error_status(self):
        error = self.refused(errors.QueryError, answer(json={
            'status': 'error', 'errorType': 'execution',
            'error': 'query processing would load too many samples'}))
        self.assertEqual((PROMETHEUS_URL, 'execution'),
                         (error.url, error.error_type))
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 answered a '
            'Prometheus error (execution: query processing would load too '
            'many samples): check the metric definition (extra_args, '
            'query_prefix, query_suffix)', str(error))

    def test_prometheus_error_status_without_type(self):
        error = self.refused(errors.QueryError,
                             answer(json={'status': 'error'}), self.aetos)
        self.assertEqual((AETOS_URL, None), (error.url, error.error_type))


VALID = {
    'empty vector': ('vector', []),
    'vector': ('vector', [
        {'metric': {'project_id': 'p1'}, 'value': [AT, '1']},
        {'metric': {}, 'value': [AT + 0.25, '2.5e3']}]),
    'special values': ('vector', [
        {'metric': {'v': v}, 'value': [AT, v]}
        for v in ('NaN', '+Inf', '-Inf', '0')]),
    'numbers as JSON numbers': ('vector', [{'metric': {}, 'value': [AT, 3]}]),
}

# Well-formed answers to a query that does not give an instant vector.
NOT_VECTORS = {
    'empty matrix': ('matrix', []),
    'matrix': ('matrix', [
        {'metric': {'a': 'b'}, 'values': [[AT, '1'], [AT + 60, '2']]},
        {'metric': {}, 'values': []}]),
    'scalar': ('scalar', [AT, '1']),
    'NaN scalar': ('scalar', [AT, 'NaN']),
    'string': ('string', [AT, 'some text']),
}

INVALID = {
    'sample without value': ('vector', [{'metric': {}}]),
    'sample without metric': ('vector', [{'value': [AT, '1']}]),
    'labels not a dict': ('vector', [{'metric': [], 'value': [AT, '1']}]),
    'value not a number': ('vector', [{'metric': {}, 'value': [AT, 'x']}]),
    'value missing': ('vector', [{'metric': {}, 'value': [AT]}]),
    'value a boolean': ('vector', [{'metric': {}, 'value': [AT, True]}]),
    'value null': ('vector', [{'metric': {}, 'value': [AT, None]}]),
    'time not a number': ('vector', [
        {'metric': {}, 'value': ['yesterday', '1']}]),
    'time null': ('vector', [{'metric': {}, 'value': [None, '1']}]),
    'point too long': ('vector', [{'metric': {}, 'value': [AT, '1', '2']}]),
    'point not a list': ('vector', [
        {'metric': {}, 'value': {'time': AT, 'value': '1'}}]),
    'vector not a list': ('vector', {'metric': {}, 'value': [AT, '1']}),
    'vector null': ('vector', None),
    'matrix not a list': ('matrix', {'metric': {}, 'values': []}),
    'matrix values not a list': ('matrix', [
        {'metric': {}, 'values': [AT, '1']}]),
    'matrix bad point': ('matrix', [
        {'metric': {}, 'values': [[AT, '1'], ['later', '2']]}]),
    'matrix sample with value': ('matrix', [
        {'metric': {}, 'value': [AT, '1']}]),
    'scalar not a list': ('scalar', '1'),
    'scalar without time': ('scalar', ['1']),
    'scalar value not a number': ('scalar', [AT, 'one']),
    'string not text': ('string', [AT, 5]),
    'string time not a number': ('string', ['now', 'text']),
    'missing resultType': (None, []),
    'unknown resultType': ('table', []),
}


class ResultShapeTest(CheckAnswerTestBase):

    def test_valid_results_returned(self):
        for name, (result_type, result) in VALID.items():
            body = success(result_type, result)
            self.assertEqual(body, prometheus_answer.check_answer(
                answer(json=body), self.prometheus), name)

    def test_other_results_than_a_vector_refused(self):
        for name, (result_type, result) in NOT_VECTORS.items():
            error = self.refused(errors.NotAPrometheusAnswer,
                                 answer(json=success(result_type, result)))
            self.assertIn('answered a %s to a query that must give an '
                          'instant vector' % result_type, str(error), name)
        self.assertEqual(
            'Aetos at http://aetos.test/metric-storage answered a scalar to '
            'a query that must give an instant vector: check the metric '
            'definition (query_prefix, query_suffix)', str(self.refused(
                errors.NotAPrometheusAnswer,
                answer(json=success('scalar', [AT, '1'])), self.aetos)))

    def test_invalid_results_refused(self):
        for name, (result_type, result) in INVALID.items():
            body = success(result_type, result)
            if result_type is None:
                del body['data']['resultType']
            try:
                prometheus_answer.check_answer(answer(json=body),
                                               self.prometheus)
            except errors.NotAPrometheusAnswer as error:
                self.assertEqual(PROMETHEUS_URL, error.url, name)
            else:
                self.fail('%s was accepted' % name)

    def test_data_not_an_object(self):
        for data in (None, [], 'vector'):
            self.refused(errors.NotAPrometheusAnswer,
                         answer(json={'status': 'success', 'data': data}))


class ReadTest(tests.TestCase):
    """read(): the body within its size, decoded as the server says."""

    LIMIT = 64 * 1024

    def setUp(self):
        super(ReadTest, self).setUp()
        self.network = self.useFixture(rm_fixture.Fixture())
        self.client = prometheus_client.PrometheusClient(
            PROMETHEUS_URL, max_answer_size=self.LIMIT,
            group='collector_prometheus')

    def serve(self, content, encoding=None):
        headers = {'Content-Encoding': encoding} if encoding else {}
        self.network.get(fakes.PROMETHEUS_QUERY_URL, content=content,
                         headers=headers)

    def ask(self, kind=None):
        if kind is None:
            return self.client.get_instant('up')
        return self.assertRaises(kind, self.client.get_instant, 'up')

    def test_compressed_answers_inflated(self):
        body = fakes.vector([({'project_id': 'p1'}, '1')])
        raw = json.dumps(body).encode()
        deflater = zlib.compressobj()
        for encoding, content in (
                ('gzip', gzip.compress(raw)),
                ('deflate', deflater.compress(raw) + deflater.flush()),
                ('identity', raw)):
            self.serve(content, encoding)
            self.assertEqual(body, self.ask(), encoding)

    def test_asks_for_what_it_can_inflate(self):
        self.serve(json.dumps(fakes.vector([])).encode())
        self.ask()
        self.assertEqual('gzip, deflate', self.network.last_request.headers[
            'Accept-Encoding'])

    def test_too_large(self):
        self.serve(b' ' * (self.LIMIT + 1))
        error = self.ask(errors.AnswerTooLarge)
        self.assertEqual((PROMETHEUS_URL, self.LIMIT),
                         (error.url, error.limit))
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 sent an answer '
            'larger than 65536 bytes: make the query lighter (fewer series) '
            'or raise [collector_prometheus] max_answer_size', str(error))

    def test_at_the_limit_read(self):
        body = json.dumps(fakes.vector([])).encode()
        self.serve(body + b' ' * (self.LIMIT - len(body)))
        self.assertEqual(fakes.vector([]), self.ask())

    def test_small_gzip_that_inflates_past_the_limit(self):
        inflated = 64 * 1024 * 1024
        bomb = gzip.compress(b' ' * inflated, compresslevel=9)
        self.assertLess(len(bomb), self.LIMIT * 8)
        self.serve(bomb, 'gzip')
        tracemalloc.start()
        try:
            error = self.ask(errors.AnswerTooLarge)
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(self.LIMIT, error.limit)
        # A few times the limit in memory at the most, far from all.
        print('gzip bomb of %d bytes (%d inflated): peak %d bytes while '
              'read' % (len(bomb), inflated, peak))
        self.assertLess(peak, inflated // 8)

    def test_unknown_encoding(self):
        self.serve(b'\x00\x01', 'br')
        error = self.ask(errors.NotAPrometheusAnswer)
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 answered in '
            'the br encoding, which was not asked for: check what stands '
            'between CloudKitty and Prometheus', str(error))

    def test_gzip_that_does_not_inflate(self):
        self.serve(b'not gzip at all', 'gzip')
        error = self.ask(errors.NotAPrometheusAnswer)
        self.assertIn('sent a compressed answer that does not inflate',
                      str(error))

    def test_not_utf8(self):
        self.serve(b'{"status": "success", "x": "\xff\xfe"}')
        error = self.ask(errors.NotAPrometheusAnswer)
        self.assertEqual(
            'Prometheus at http://prometheus.test:9090/api/v1 answered HTTP '
            '200 with a body that is not UTF-8: check the configured '
            'Prometheus URL: it ends with /api/v1', str(error))


class SlowAnswerTest(tests.TestCase):
    """A body that trickles or stalls is given up within answer_timeout."""

    ANSWER_TIMEOUT = 1.0
    READ_TIMEOUT = 0.5
    # Far above the bound: only a reading that ignores it comes near.
    CEILING = 8.0

    def serve(self, pause):
        class Trickle(fakes.Trickling):
            pass

        Trickle.pause = pause
        _server, url = fakes.serve(self, Trickle)
        return prometheus_client.PrometheusClient(
            url, timeout=self.READ_TIMEOUT,
            answer_timeout=self.ANSWER_TIMEOUT, group='collector_prometheus')

    def too_slow(self, client, at_least):
        started = time.monotonic()
        error = self.assertRaises(errors.AnswerTooSlow, client.get_instant,
                                  'up')
        elapsed = time.monotonic() - started
        print('given up after %.2f s (answer_timeout %g s, timeout %g s)'
              % (elapsed, self.ANSWER_TIMEOUT, self.READ_TIMEOUT))
        self.assertGreaterEqual(elapsed, at_least)
        self.assertLess(elapsed, self.CEILING)
        self.assertEqual(self.ANSWER_TIMEOUT, error.limit)
        return error

    def test_trickle(self):
        # Each byte comes well within the read timeout.
        client = self.serve(0.05)
        error = self.too_slow(client, self.ANSWER_TIMEOUT)
        self.assertEqual(
            'Prometheus at %s did not send the whole answer within 1 s: '
            'make the query lighter or raise [collector_prometheus] '
            'answer_timeout' % client.url, str(error))

    def test_stall(self):
        # Bytes stop coming: the read timeout ends the wait.
        self.too_slow(self.serve(60), self.READ_TIMEOUT)
