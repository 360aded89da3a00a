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
import datetime

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1.identity import v3 as ks_v3
from keystoneauth1 import session as ks_session

from cloudkitty.common import aetos_client
from cloudkitty.common import prometheus_client_base
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

QUERY = 'sum(instance_up) by (project_id)'


class AetosClientTest(tests.TestCase):
    """AetosClient on a real keystoneauth session, network faked."""

    def setUp(self):
        super(AetosClientTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)

    def _client(self, url=aetos_fakes.AETOS_PUBLIC, verify=True,
                auth_url=aetos_fakes.KEYSTONE_URL):
        auth = ks_v3.Password(
            auth_url=auth_url, username='cloudkitty',
            password=aetos_fakes.PASSWORD, user_domain_id='default',
            project_name='service', project_domain_id='default')
        self.ks_session = ks_session.Session(auth=auth, verify=verify,
                                             timeout=30)
        adapter = ks_adapter.Adapter(self.ks_session,
                                     service_type='metric-storage')
        return aetos_client.AetosClient(adapter, url)

    def test_is_a_prometheus_client(self):
        self.assertIsInstance(self._client(),
                              prometheus_client_base.PrometheusClientBase)

    def test_get_instant_returns_the_decoded_answer(self):
        body = aetos_fakes.vector([({'project_id': 'p1'}, '3')])
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=body)

        answer = self._client().get_instant(QUERY, '2026-03-01T11:00:00Z',
                                            timeout='20s')

        self.assertEqual(body, answer)
        request = self.network.last_request
        self.assertEqual({'query': QUERY, 'time': '2026-03-01T11:00:00Z',
                          'timeout': '20s'},
                         aetos_fakes.query_params(request))
        self.assertEqual('GET', request.method)
        self.assertEqual(aetos_fakes.TOKEN_ID, request.headers['X-Auth-Token'])
        self.assertEqual(30, request.timeout)

    def test_no_time_no_check(self):
        body = aetos_fakes.vector([({}, '3')], at=1)
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=body)

        self.assertEqual(body, self._client().get_instant(QUERY))
        self.assertEqual({'query': QUERY},
                         aetos_fakes.query_params(self.network.last_request))

    def test_time_forms(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([({}, '1')]))
        client = self._client()
        for moment in (aetos_fakes.END, aetos_fakes.END.isoformat(),
                       '2026-03-01T12:00:00+01:00', aetos_fakes.END_UNIX,
                       str(aetos_fakes.END_UNIX),
                       aetos_fakes.END.replace(tzinfo=datetime.timezone.utc)):
            client.get_instant(QUERY, moment)
        self.assertRaises(aetos_client.PrometheusResponseError,
                          client.get_instant, QUERY,
                          '2026-03-01T11:00:01+00:00')

    def test_scalar_time_checked(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json={
            'status': 'success',
            'data': {'resultType': 'scalar', 'result': [1.0, '1']}})
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  self._client().get_instant, 'vector(1)',
                                  aetos_fakes.END_UNIX)
        self.assertIn('Aetos 2.0.0 or newer is required', str(error))

    def test_empty_result_checked_by_a_second_query(self):
        body = aetos_fakes.vector([])
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=body)
        aetos_fakes.answer_time_checks(self.network)

        self.assertEqual(body, self._client().get_instant(
            QUERY, '2026-03-01T11:00:00Z', timeout='20s'))

        first, check = [r for r in self.network.request_history
                        if r.url.startswith(aetos_fakes.AETOS_QUERY_URL)]
        self.assertEqual({'query': QUERY, 'time': '2026-03-01T11:00:00Z',
                          'timeout': '20s'},
                         aetos_fakes.query_params(first))
        self.assertEqual({'query': 'scalar(count((%s)))' % QUERY,
                          'time': '2026-03-01T11:00:00Z'},
                         aetos_fakes.query_params(check))
        self.assertEqual(aetos_fakes.TOKEN_ID, check.headers['X-Auth-Token'])

    def test_empty_result_evaluated_at_another_time(self):
        # A proxy dropping "time": a past period is empty at "now".
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        aetos_fakes.answer_time_checks(self.network,
                                       at=aetos_fakes.END_UNIX + 86400.25)
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  self._client().get_instant, QUERY,
                                  aetos_fakes.END_UNIX)
        self.assertEqual(
            'Aetos at http://aetos.test/metric-storage evaluated the query '
            'at Unix time 1772449200.25, not at the requested 1772362800: '
            'Aetos 2.0.0 or newer is required', str(error))

    def test_time_check_answered_without_time(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  self._client().get_instant, QUERY,
                                  aetos_fakes.END_UNIX)
        self.assertEqual(
            "Aetos at http://aetos.test/metric-storage answered a query for "
            "its evaluation time without one ({'status': 'success', 'data': "
            "{'resultType': 'vector', 'result': []}}): the empty result "
            "cannot be trusted to be for the requested 1772362800",
            str(error))

    def test_time_check_failure_is_reported(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         additional_matcher=aetos_fakes.is_time_check,
                         status_code=503, text='busy')
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  self._client().get_instant, QUERY,
                                  aetos_fakes.END_UNIX)
        self.assertIn('answered HTTP 503', str(error))

    def _time_checks(self):
        return [r for r in self.network.request_history
                if aetos_fakes.is_time_check(r)]

    def test_each_time_checked_once(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         additional_matcher=aetos_fakes.is_time_check,
                         json=_scalar_at_requested_time)
        client = self._client()
        # Two metrics of one pass, in any of the forms of that time.
        client.get_instant(QUERY, aetos_fakes.END.isoformat())
        client.get_instant('count(up)', aetos_fakes.END_UNIX)
        self.assertEqual(1, len(self._time_checks()))
        # The next pass.
        client.get_instant(QUERY, aetos_fakes.END_UNIX + 3600)
        client.get_instant('count(up)', aetos_fakes.END_UNIX + 3600)
        self.assertEqual(['2026-03-01T11:00:00', '1772366400'],
                         [aetos_fakes.query_params(r)['time']
                          for r in self._time_checks()])

    def test_samples_at_the_right_time_need_no_check_later(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL, [
            {'json': aetos_fakes.vector([({}, '1')])},
            {'json': aetos_fakes.vector([])}])
        client = self._client()
        client.get_instant(QUERY, aetos_fakes.END_UNIX)
        client.get_instant(QUERY, aetos_fakes.END_UNIX)
        self.assertEqual([], self._time_checks())

    def test_checked_time_still_compared_with_samples(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL, [
            {'json': aetos_fakes.vector([])},
            {'json': aetos_fakes.vector([({}, '1')],
                                        at=aetos_fakes.END_UNIX + 60)}])
        aetos_fakes.answer_time_checks(self.network)
        client = self._client()
        client.get_instant(QUERY, aetos_fakes.END_UNIX)
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  client.get_instant, QUERY,
                                  aetos_fakes.END_UNIX)
        self.assertEqual(
            'Aetos at http://aetos.test/metric-storage evaluated the query '
            'at Unix time 1772362860, not at the requested 1772362800: '
            'Aetos 2.0.0 or newer is required', str(error))

    def test_failed_check_is_not_remembered(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        aetos_fakes.answer_time_checks(self.network,
                                       at=aetos_fakes.END_UNIX + 5)
        client = self._client()
        for _ in range(2):
            self.assertRaises(aetos_client.PrometheusResponseError,
                              client.get_instant, QUERY,
                              aetos_fakes.END_UNIX)
        self.assertEqual(2, len(self._time_checks()))

    def test_remembered_times_are_bounded(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         additional_matcher=aetos_fakes.is_time_check,
                         json=_scalar_at_requested_time)
        client = self._client()
        kept = aetos_client.VERIFIED_TIMES_KEPT
        times = [aetos_fakes.END_UNIX + 3600 * n for n in range(kept + 1)]
        for moment in times:
            client.get_instant(QUERY, moment)
        # The newest are remembered, the oldest is checked again.
        client.get_instant(QUERY, times[-1])
        client.get_instant(QUERY, times[1])
        self.assertEqual(kept + 1, len(self._time_checks()))
        client.get_instant(QUERY, times[0])
        self.assertEqual(kept + 2, len(self._time_checks()))

    def _malformed(self, data):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json={'status': 'success', 'data': data})
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  self._client().get_instant, QUERY,
                                  aetos_fakes.END_UNIX)
        return str(error)

    def test_sample_without_value(self):
        self.assertEqual(
            "Aetos at http://aetos.test/metric-storage answered JSON that is "
            "not a Prometheus result ({'status': 'success', 'data': "
            "{'resultType': 'vector', 'result': [{'metric': {}}]}}): the "
            "metric-storage endpoint must be the root URL of Aetos",
            self._malformed({'resultType': 'vector',
                             'result': [{'metric': {}}]}))

    def test_sample_time_not_a_number(self):
        self.assertEqual(
            "Aetos at http://aetos.test/metric-storage answered JSON that is "
            "not a Prometheus result ({'status': 'success', 'data': "
            "{'resultType': 'vector', 'result': [{'metric': {}, 'value': "
            "['yesterday', '1']}]}}): the metric-storage endpoint must be "
            "the root URL of Aetos",
            self._malformed({'resultType': 'vector', 'result': [
                {'metric': {}, 'value': ['yesterday', '1']}]}))

    def test_result_not_a_list(self):
        self.assertEqual(
            "Aetos at http://aetos.test/metric-storage answered JSON that is "
            "not a Prometheus result ({'status': 'success', 'data': "
            "{'resultType': 'vector', 'result': {'metric': {}}}}): the "
            "metric-storage endpoint must be the root URL of Aetos",
            self._malformed({'resultType': 'vector',
                             'result': {'metric': {}}}))

    def test_scalar_without_time(self):
        self.assertEqual(
            "Aetos at http://aetos.test/metric-storage answered JSON that is "
            "not a Prometheus result ({'status': 'success', 'data': "
            "{'resultType': 'scalar', 'result': '1'}}): the metric-storage "
            "endpoint must be the root URL of Aetos",
            self._malformed({'resultType': 'scalar', 'result': '1'}))

    def test_time_check_answer_malformed(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         additional_matcher=aetos_fakes.is_time_check,
                         json={'status': 'success', 'data': {
                             'resultType': 'scalar', 'result': None}})
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  self._client().get_instant, QUERY,
                                  aetos_fakes.END_UNIX)
        self.assertEqual(
            "Aetos at http://aetos.test/metric-storage answered JSON that is "
            "not a Prometheus result ({'status': 'success', 'data': "
            "{'resultType': 'scalar', 'result': None}}): the metric-storage "
            "endpoint must be the root URL of Aetos", str(error))

    def test_keystone_under_the_url_of_aetos(self):
        # Aetos at the root of a host, Keystone below it: Keystone's
        # refusal of a new token after Aetos refused the first is
        # Keystone's.
        keystone = 'http://cloud.test/identity/v3'
        self.network.post(keystone + '/auth/tokens', [
            {'json': aetos_fakes.token_body(), 'status_code': 201,
             'headers': {'X-Subject-Token': aetos_fakes.TOKEN_ID}},
            {'status_code': 401, 'json': {'error': {
                'code': 401, 'message': 'The password is expired.'}}}])
        self.network.get('http://cloud.test/api/v1/query', status_code=401,
                         json={'error': {'code': 401,
                                         'message': 'Token revoked'}})
        client = self._client('http://cloud.test', auth_url=keystone)
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  client.get_instant, QUERY)
        self.assertEqual(
            'Keystone at http://cloud.test/identity/v3 refused the '
            '[collector_aetos] credentials (HTTP 401): check the user, '
            'password, domains and project, and that the password has not '
            'expired', str(error))

    def test_aetos_under_the_url_of_keystone(self):
        keystone = 'http://cloud.test'
        # keystoneauth's v3 plugins add the version to a bare root.
        self.network.post(keystone + '/v3/auth/tokens', status_code=201,
                          json=aetos_fakes.token_body(),
                          headers={'X-Subject-Token': aetos_fakes.TOKEN_ID})
        self.network.get('http://cloud.test/metric/api/v1/query',
                         status_code=502, text='Bad Gateway')
        client = self._client('http://cloud.test/metric', auth_url=keystone)
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  client.get_instant, QUERY)
        self.assertEqual(
            'Aetos at http://cloud.test/metric answered HTTP 502 (Bad '
            'Gateway): check that Aetos is running and can reach Keystone '
            'and Prometheus', str(error))

    def test_empty_result_without_time_not_checked(self):
        body = aetos_fakes.vector([])
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=body)
        self.assertEqual(body, self._client().get_instant(QUERY))
        self.assertEqual(1, len([
            r for r in self.network.request_history
            if r.url.startswith(aetos_fakes.AETOS_QUERY_URL)]))

    def test_url_with_port_and_no_path(self):
        self.network.get('http://[2001:db8::5]:3180/api/v1/query',
                         json=aetos_fakes.vector([]))
        self._client('http://[2001:db8::5]:3180/').get_instant(QUERY)
        self.assertEqual('http://[2001:db8::5]:3180/api/v1/query',
                         self.network.last_request.url.split('?')[0])

    def test_https_endpoint_keeps_session_tls_settings(self):
        self.network.get('https://aetos.test/prom/api/v1/query',
                         json=aetos_fakes.vector([]))
        self._client('https://aetos.test/prom',
                     verify='/etc/ssl/ca.pem').get_instant(QUERY)
        self.assertEqual('/etc/ssl/ca.pem', self.ks_session.verify)
        self.assertEqual('/etc/ssl/ca.pem', self.network.last_request.verify)

    def test_plain_http_endpoint_keeps_session_tls_settings(self):
        # The same session also talks to Keystone, maybe over https.
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        self._client(verify='/etc/ssl/ca.pem').get_instant(QUERY)
        self.assertEqual('/etc/ssl/ca.pem', self.ks_session.verify)
        [token_request] = aetos_fakes.token_requests(self.network)
        self.assertEqual('/etc/ssl/ca.pem', token_request.verify)
        self.assertEqual(aetos_fakes.AETOS_QUERY_URL,
                         self.network.last_request.url.split('?')[0])

    def test_status_code_other_than_200(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL, status_code=203,
                         json=aetos_fakes.vector([]))
        error = self.assertRaises(aetos_client.PrometheusResponseError,
                                  self._client().get_instant, QUERY)
        self.assertEqual('Aetos at http://aetos.test/metric-storage answered '
                         'HTTP 203 where 200 was expected', str(error))


def _scalar_at_requested_time(request, context):
    """A time check's answer, stamped with the time it asked for."""
    wanted = aetos_fakes.query_params(request)['time']
    try:
        at = float(wanted)
    except ValueError:
        at = datetime.datetime.fromisoformat(wanted).replace(
            tzinfo=datetime.timezone.utc).timestamp()
    return {'status': 'success',
            'data': {'resultType': 'scalar', 'result': [at, 'NaN']}}


class ExcerptTest(tests.TestCase):

    def test_short_text_kept_on_one_line(self):
        self.assertEqual('a b c', prometheus_client_base.excerpt('a\n b\tc'))

    def test_long_text_cut(self):
        cut = prometheus_client_base.excerpt('y' * 1000)
        self.assertEqual(200, len(cut))
        self.assertTrue(cut.endswith('...'))
