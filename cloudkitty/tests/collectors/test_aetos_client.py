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
"""AetosClient on a real keystoneauth session; only the network is fake."""
import logging
import ssl

import fixtures
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import http_basic
from keystoneauth1.identity import v3 as ks_v3
from keystoneauth1 import session as ks_session
import requests
from urllib3 import exceptions as urllib3_exc

from cloudkitty.common import aetos_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

QUERY = 'sum(instance_up) by (project_id)'
AT = '2026-03-01T11:00:00+00:00'
KEYSTONE = aetos_fakes.KEYSTONE_URL
AETOS = aetos_fakes.AETOS_PUBLIC
AETOS_QUERY = aetos_fakes.AETOS_QUERY_URL
BODY = aetos_fakes.vector([({'project_id': 'p1'}, '3')])
SECOND_TOKEN = 'fake-token-second-91c4'


def tls_refusal(host, reason, verify_message=None):
    """requests' SSLError for a failed handshake, chain included.

    The chain is built as requests, urllib3 and ssl build it. The ssl
    module sets ``reason`` (and ``verify_message`` for a refused
    certificate) from OpenSSL when it raises; they are set by hand here.
    """
    text = '[SSL: %s] %s (_ssl.c:1006)' % (reason, verify_message or reason)
    if verify_message:
        refusal = ssl.SSLCertVerificationError(1, text)
        refusal.verify_message = verify_message
        refusal.verify_code = 19
    else:
        refusal = ssl.SSLError(1, text)
    refusal.reason = reason
    refusal.library = 'SSL'
    retries = urllib3_exc.MaxRetryError(
        None, 'https://%s/' % host, reason=urllib3_exc.SSLError(refusal))
    return requests.exceptions.SSLError(retries)


def token_answer(token=aetos_fakes.TOKEN_ID):
    return {'json': aetos_fakes.token_body(), 'status_code': 201,
            'headers': {'X-Subject-Token': token}}


class AetosClientTestBase(tests.TestCase):

    def setUp(self):
        super(AetosClientTestBase, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)

    def client(self, url=AETOS, auth_url=KEYSTONE, auth=None, **settings):
        """An AetosClient as aetos_setup builds it, with these settings."""
        if auth is None:
            auth = ks_v3.Password(
                auth_url=auth_url, username='cloudkitty',
                password=aetos_fakes.PASSWORD, user_domain_id='default',
                project_name='service', project_domain_id='default')
        group = settings.pop('group', 'collector_aetos')
        settings.setdefault('timeout', 30)
        session = ks_session.Session(auth=auth, **settings)
        adapter = ks_adapter.Adapter(session, service_type='metric-storage')
        return aetos_client.AetosClient(adapter, url, group=group)

    def gets(self, url=AETOS_QUERY):
        return [r for r in self.network.request_history
                if r.method == 'GET' and r.url.split('?')[0] == url]

    def token_requests(self, auth_url=KEYSTONE):
        return [r for r in self.network.request_history
                if r.url == auth_url + '/auth/tokens']


class QueryTest(AetosClientTestBase):

    def test_client(self):
        client = self.client()
        self.assertIsInstance(client,
                              prometheus_client_base.PrometheusClientBase)
        self.assertEqual(('Aetos', AETOS, 'collector_aetos'),
                         (client.server, client.url, client.group))
        self.assertIsInstance(client.session, ks_session.Session)
        self.assertEqual(KEYSTONE, client.session.auth.auth_url)

    def test_token_fetched_once_and_sent(self):
        self.network.get(AETOS_QUERY, json=BODY)
        client = self.client()
        self.assertEqual(BODY, client.get_instant(QUERY, AT, '20s'))
        client.get_instant('count(up)')
        self.assertEqual(1, len(self.token_requests()))
        first, second = self.gets()
        self.assertEqual({'query': QUERY, 'time': AT, 'timeout': '20s'},
                         aetos_fakes.query_params(first))
        for request in (first, second):
            self.assertEqual(aetos_fakes.TOKEN_ID,
                             request.headers['X-Auth-Token'])
            self.assertEqual(30, request.timeout)
            # Aetos then answers its errors in JSON, whose words the
            # messages quote, not as an HTML page.
            self.assertEqual('application/json', request.headers['Accept'])

    def test_root_url_with_port_and_no_path(self):
        url = 'http://[2001:db8::5]:3180'
        self.network.get(url + '/api/v1/query', json=BODY)
        self.client(url + '/').get_instant(QUERY)
        self.assertEqual(1, len(self.gets(url + '/api/v1/query')))

    def test_tls_settings_of_the_session_kept(self):
        url = 'https://aetos.test/prom'
        self.network.get(url + '/api/v1/query', json=BODY)
        cert = ('/etc/ssl/ck.pem', '/etc/ssl/ck.key')
        self.client(url, verify='/etc/ssl/ca.pem', cert=cert).get_instant(
            QUERY)
        [query] = self.gets(url + '/api/v1/query')
        [token_request] = self.token_requests()
        for request in (query, token_request):
            self.assertEqual('/etc/ssl/ca.pem', request.verify)
            self.assertEqual(cert, request.cert)

    def test_http_errors_of_aetos(self):
        client = self.client()
        for status in (403, 404, 502):
            self.network.get(AETOS_QUERY, status_code=status, text='no')
            error = self.assertRaises(errors.HTTPError, client.get_instant,
                                      QUERY)
            self.assertEqual((AETOS, status), (error.url, error.status))
            self.assertIn(client.hint(status), str(error))
        # Only a 401 is worth a new token and a second try.
        self.assertEqual(3, len(self.gets()))
        self.assertEqual(1, len(self.token_requests()))

    def test_token_never_logged(self):
        # Every logger the alembic run of setUp disabled speaks again.
        for logger in list(logging.root.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and logger.disabled:
                self.useFixture(fixtures.MockPatchObject(logger, 'disabled',
                                                         False))
        logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        self.network.post(aetos_fakes.TOKEN_URL, [
            token_answer(), token_answer(SECOND_TOKEN)])
        self.network.get(AETOS_QUERY, [
            {'status_code': 401, 'json': {'error': {
                'code': 401, 'message': 'The request you have made requires '
                                        'authentication.'}}},
            {'json': BODY}, {'status_code': 403, 'text': 'refused'}])
        client = self.client()
        client.get_instant(QUERY, AT)
        self.assertRaises(errors.HTTPError, client.get_instant, QUERY)
        # The capture works: keystoneauth logged the queries.
        self.assertIn(AETOS_QUERY, logs.output)
        for secret in (aetos_fakes.TOKEN_ID, SECOND_TOKEN,
                       aetos_fakes.PASSWORD):
            self.assertNotIn(secret, logs.output)


class UnauthorizedRetryTest(AetosClientTestBase):

    def setUp(self):
        super(UnauthorizedRetryTest, self).setUp()
        self.network.post(aetos_fakes.TOKEN_URL, [
            token_answer(), token_answer(SECOND_TOKEN)])

    def test_one_new_token_one_retry(self):
        self.network.get(AETOS_QUERY, [{'status_code': 401, 'text': ''},
                                       {'json': BODY}])
        client = self.client()
        self.assertEqual(BODY, client.get_instant(QUERY, AT))
        self.assertEqual([aetos_fakes.TOKEN_ID, SECOND_TOKEN],
                         [r.headers['X-Auth-Token'] for r in self.gets()])
        self.assertEqual(2, len(self.token_requests()))
        self.assertEqual(aetos_fakes.query_params(self.gets()[0]),
                         aetos_fakes.query_params(self.gets()[1]))
        # The new token is kept for the next queries.
        client.get_instant(QUERY, AT)
        self.assertEqual(SECOND_TOKEN, self.gets()[-1].headers['X-Auth-Token'])
        self.assertEqual(2, len(self.token_requests()))

    def test_second_401_is_an_http_error(self):
        self.network.get(AETOS_QUERY, status_code=401, json={'error': {
            'code': 401, 'message': 'The request you have made requires '
                                    'authentication.'}})
        client = self.client()
        error = self.assertRaises(errors.HTTPError, client.get_instant,
                                  QUERY)
        self.assertEqual((AETOS, 401), (error.url, error.status))
        self.assertIn(client.hint(401), str(error))
        self.assertEqual(2, len(self.gets()))
        self.assertEqual(2, len(self.token_requests()))


class KeystoneFailureTest(AetosClientTestBase):
    """Step one: no token, no query to Aetos."""

    def refused(self, client=None, auth_url=KEYSTONE):
        client = client or self.client()
        error = self.assertRaises(errors.KeystoneError, client.get_instant,
                                  QUERY)
        self.assertEqual(auth_url, error.url)
        self.assertEqual([], self.gets())
        return error

    def test_credentials_refused(self):
        self.network.post(aetos_fakes.TOKEN_URL, status_code=401, json={
            'error': {'code': 401, 'message': 'The password is expired.'}})
        error = self.refused()
        self.assertIsInstance(error.__cause__, ks_exc.Unauthorized)
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 refused the '
            '[collector_aetos] credentials (HTTP 401): check the user, '
            'password, domains and project, and that the password has not '
            'expired', str(error))

    def test_group_named(self):
        self.network.post(aetos_fakes.TOKEN_URL, status_code=401)
        error = self.refused(self.client(group='collector_other'))
        self.assertIn('[collector_other]', str(error))

    def test_server_errors(self):
        for status in (500, 503):
            self.network.post(aetos_fakes.TOKEN_URL, status_code=status)
            error = self.refused()
            self.assertIsInstance(error.__cause__, ks_exc.HttpError)
            self.assertEqual(status, error.__cause__.http_status)
            self.assertIn('HTTP %d' % status, str(error))
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 answered HTTP 503 when '
            'asked for a token: check Keystone and its logs', str(error))

    def test_connection_refused(self):
        self.network.post(aetos_fakes.TOKEN_URL,
                          exc=requests.exceptions.ConnectionError)
        error = self.refused()
        self.assertIsInstance(error.__cause__, ks_exc.ConnectFailure)
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 could not be reached '
            'for a token (ConnectFailure): check [collector_aetos] auth_url '
            'and that Keystone is running', str(error))

    def test_tls(self):
        self.network.post(aetos_fakes.TOKEN_URL, exc=tls_refusal(
            'keystone.test', 'CERTIFICATE_VERIFY_FAILED',
            "Hostname mismatch, certificate is not valid for "
            "'keystone.test'."))
        error = self.refused()
        self.assertIsInstance(error.__cause__, ks_exc.SSLError)
        self.assertEqual(
            "TLS with Keystone at http://keystone.test:5000/v3 failed "
            "(Hostname mismatch, certificate is not valid for "
            "'keystone.test'.): check [collector_aetos] cafile, certfile, "
            "keyfile and insecure", str(error))

    def test_tls_without_certificate_check(self):
        self.network.post(aetos_fakes.TOKEN_URL, exc=tls_refusal(
            'keystone.test', 'WRONG_VERSION_NUMBER'))
        error = self.refused()
        self.assertIn('(WRONG_VERSION_NUMBER)', str(error))

    def test_not_a_keystone_answer(self):
        self.network.post(aetos_fakes.TOKEN_URL, status_code=201,
                          text='<html>It works!</html>',
                          headers={'X-Subject-Token': 'x'})
        error = self.refused()
        self.assertIsInstance(error.__cause__, ks_exc.ClientException)
        self.assertEqual(
            'Authentication with Keystone at http://keystone.test:5000/v3 '
            'failed (InvalidResponse): check the [collector_aetos] auth '
            'options', str(error))

    def test_no_token(self):
        # A plugin that gives no token, as http_basic without a user.
        error = self.refused(self.client(
            auth=http_basic.HTTPBasicAuth(endpoint=AETOS)), auth_url=None)
        self.assertEqual(
            'Keystone at None gave no token: check the [collector_aetos] '
            'auth options', str(error))


class AetosUnreachableTest(AetosClientTestBase):
    """Step two: the token came, Aetos did not answer."""

    def unreachable(self, exc, **settings):
        self.network.get(AETOS_QUERY, exc=exc)
        error = self.assertRaises(errors.UnreachableError,
                                  self.client(**settings).get_instant,
                                  QUERY)
        self.assertEqual(AETOS, error.url)
        self.assertEqual(1, len(self.token_requests()))
        return error

    def test_connection_refused(self):
        error = self.unreachable(requests.exceptions.ConnectionError)
        self.assertIsInstance(error.__cause__, ks_exc.ConnectFailure)
        self.assertEqual(
            "Aetos at http://aetos.test/metric-storage could not be "
            "connected to (ConnectFailure): check that Aetos is running and "
            "that the 'metric-storage' endpoint in the Keystone catalog is "
            "right", str(error))

    def test_connect_timeout_names_the_session_timeout(self):
        error = self.unreachable(requests.exceptions.ConnectTimeout,
                                 timeout=45)
        self.assertIsInstance(error.__cause__, ks_exc.ConnectTimeout)
        self.assertIn('45 s', str(error))

    def test_read_timeout_names_the_session_timeout(self):
        error = self.unreachable(requests.exceptions.ReadTimeout)
        self.assertEqual(
            'Aetos at http://aetos.test/metric-storage did not answer within '
            '30 s: check the load of Aetos and Prometheus or raise '
            '[collector_aetos] timeout', str(error))

    def test_timeout_without_session_timeout(self):
        error = self.unreachable(requests.exceptions.ReadTimeout,
                                 timeout=None)
        self.assertNotIn('None', str(error))

    def test_tls(self):
        error = self.unreachable(tls_refusal(
            'aetos.test', 'CERTIFICATE_VERIFY_FAILED',
            'self-signed certificate in certificate chain'))
        self.assertIsInstance(error.__cause__, ks_exc.SSLError)
        self.assertIn('(self-signed certificate in certificate chain)',
                      str(error))
        self.assertIn('Aetos at ' + AETOS, str(error))


class NestedURLTest(AetosClientTestBase):
    """Which server failed follows the step, not the URLs."""

    def test_keystone_under_the_url_of_aetos(self):
        keystone = 'http://cloud.test/identity/v3'
        self.network.post(keystone + '/auth/tokens', [
            token_answer(),
            {'status_code': 401, 'json': {'error': {
                'code': 401, 'message': 'The password is expired.'}}}])
        self.network.get('http://cloud.test/api/v1/query', status_code=401,
                         text='Token revoked')
        client = self.client('http://cloud.test', auth_url=keystone)
        error = self.assertRaises(errors.KeystoneError, client.get_instant,
                                  QUERY)
        self.assertEqual(keystone, error.url)
        self.assertIsInstance(error.__cause__, ks_exc.Unauthorized)

    def test_keystone_under_the_url_of_aetos_unreachable(self):
        keystone = 'http://cloud.test/identity/v3'
        self.network.post(keystone + '/auth/tokens',
                          exc=requests.exceptions.ConnectionError)
        client = self.client('http://cloud.test', auth_url=keystone)
        error = self.assertRaises(errors.KeystoneError, client.get_instant,
                                  QUERY)
        self.assertEqual(keystone, error.url)

    def test_aetos_under_the_url_of_keystone(self):
        # keystoneauth's v3 plugins add the version to a bare root.
        self.network.post('http://cloud.test/v3/auth/tokens',
                          **token_answer())
        self.network.get('http://cloud.test/metric/api/v1/query',
                         status_code=502, text='Bad Gateway')
        client = self.client('http://cloud.test/metric',
                             auth_url='http://cloud.test')
        error = self.assertRaises(errors.HTTPError, client.get_instant,
                                  QUERY)
        self.assertEqual(('http://cloud.test/metric', 502, 'Bad Gateway'),
                         (error.url, error.status, error.detail))

    def test_aetos_under_the_url_of_keystone_unreachable(self):
        self.network.post('http://cloud.test/v3/auth/tokens',
                          **token_answer())
        self.network.get('http://cloud.test/metric/api/v1/query',
                         exc=requests.exceptions.ConnectionError)
        client = self.client('http://cloud.test/metric',
                             auth_url='http://cloud.test')
        error = self.assertRaises(errors.UnreachableError,
                                  client.get_instant, QUERY)
        self.assertEqual('http://cloud.test/metric', error.url)
