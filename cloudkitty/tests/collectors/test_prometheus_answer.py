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
"""Every answer a Prometheus or Aetos server can give, judged once."""
import requests
import requests_mock

from cloudkitty.common import aetos_client
from cloudkitty.common import prometheus_answer
from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import tests

PROMETHEUS_URL = 'http://prometheus.test:9090/api/v1'
AETOS_URL = 'http://aetos.test/metric-storage'
AT = 1772362800

# What Aetos 1.0.0 (WSME) answers to a parameter it does not know.
UNKNOWN_TIME = {'faultcode': 'Client', 'debuginfo': None,
                'faultstring': 'Unknown argument: "time"'}
# keystonemiddleware's refusal of a token, formatted by webob.
MIDDLEWARE_401 = {
    'code': '401 Unauthorized', 'title': 'Unauthorized',
    'message': 'This server could not verify that you are authorized to '
               'access the document you requested.<br /><br />\nThe '
               'request you have made requires authentication.\n\n'}


def answer(status=200, **body):
    """A requests.Response as a server would send it: json= or text=."""
    request = requests.Request('GET', PROMETHEUS_URL + '/query',
                               params={'query': 'up'}).prepare()
    return requests_mock.create_response(request, status_code=status,
                                         **body)


def success(result_type, result):
    return {'status': 'success',
            'data': {'resultType': result_type, 'result': result}}


class CheckAnswerTestBase(tests.TestCase):

    def setUp(self):
        super(CheckAnswerTestBase, self).setUp()
        self.prometheus = prometheus_client.PrometheusClient(PROMETHEUS_URL)
        # check_answer only reads the wording attributes of the client:
        # no transport is needed.
        self.aetos = aetos_client.AetosClient(None, AETOS_URL)

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


class TimeNotSupportedTest(CheckAnswerTestBase):

    def test_unknown_argument_time(self):
        error = self.refused(errors.TimeNotSupported,
                             answer(400, json=UNKNOWN_TIME), self.aetos)
        self.assertEqual((AETOS_URL, 400, 'Unknown argument: "time"'),
                         (error.url, error.status, error.detail))
        self.assertIn(self.aetos.TIME_HINT, str(error))

    def test_unknown_argument_timeout(self):
        error = self.refused(errors.TimeNotSupported, answer(400, json=dict(
            UNKNOWN_TIME, faultstring='Unknown argument: "timeout"')))
        self.assertEqual('Unknown argument: "timeout"', error.detail)

    def test_in_error_message(self):
        self.refused(errors.TimeNotSupported,
                     answer(400, json={'error_message': UNKNOWN_TIME}))

    def test_other_refusals_are_plain_http_errors(self):
        for status, body in (
                (400, dict(UNKNOWN_TIME,
                           faultstring='Unknown argument: "step"')),
                (500, UNKNOWN_TIME),
                # Prometheus refusing the value, not the parameter.
                (400, {'status': 'error', 'errorType': 'bad_data',
                       'error': 'invalid parameter "time": cannot parse '
                                '"yesterday" to a valid timestamp'})):
            error = self.refused(errors.HTTPError, answer(status, json=body))
            self.assertNotIsInstance(error, errors.TimeNotSupported)
            self.assertEqual(status, error.status)


class BodyTest(CheckAnswerTestBase):

    def test_not_json(self):
        error = self.refused(errors.NotAPrometheusAnswer, answer(
            text='<html><body>It works!</body></html>'))
        self.assertEqual(PROMETHEUS_URL, error.url)
        self.assertIsInstance(error.__cause__, ValueError)
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
            self.assertIn(self.aetos.ROOT_HINT, str(error))

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
