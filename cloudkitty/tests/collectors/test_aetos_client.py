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
import threading
from urllib import parse

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import http_basic
from keystoneauth1 import session as ks_session
import requests

from cloudkitty.common import aetos_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes as fakes

QUERY = 'sum(instance_up) by (project_id)'
AETOS = fakes.AETOS_PUBLIC
AETOS_QUERY = fakes.AETOS_QUERY_URL
BODY = fakes.vector([({'project_id': 'p1'}, '3')])
INTERVAL = 300
UNAUTHORIZED = {'status_code': 401, 'json': {'error': {
    'code': 401, 'message': 'The request you have made requires '
                            'authentication.'}}}


class AetosClientTestBase(tests.TestCase):

    real_http = False
    """Whether unregistered URLs (a loopback server's) are reached."""

    def setUp(self):
        super(AetosClientTestBase, self).setUp()
        self.network = fakes.use_fake_network(self, real_http=self.real_http)
        self.clock = fakes.FakeClock()

    def client(self, auth=None, auth_url=fakes.KEYSTONE_URL, **settings):
        """An AetosClient as aetos_setup builds it, with these settings.

        :param auth: the keystoneauth plugin; fakes.CREDENTIALS by default
        :param settings: keystoneauth Session arguments, or AetosClient
            ones (``group``, ``all_projects_roles``)
        """
        options = {name: settings.pop(name)
                   for name in ('group', 'all_projects_roles')
                   if name in settings}
        options.setdefault('group', fakes.GROUP)
        settings.setdefault('timeout', 30)
        session = ks_session.Session(
            auth=auth or fakes.password_auth(auth_url), **settings)
        adapter = ks_adapter.Adapter(session, service_type='metric-storage',
                                     interface='public')
        return aetos_client.AetosClient(adapter, retry_interval=INTERVAL,
                                        clock=self.clock, **options)

    def gets(self, url=AETOS_QUERY):
        return fakes.aetos_queries(self.network, url)

    def token_requests(self, auth_url=fakes.KEYSTONE_URL):
        return fakes.token_requests(self.network, auth_url)

    def answer_tokens(self, *answers):
        """Keystone gives these answers in turn, the last one from then on.

        :param answers: fakes.token_answer() dicts
        """
        self.network.post(fakes.TOKEN_URL, list(answers))


class QueryTest(AetosClientTestBase):

    def test_nothing_asked_before_the_first_query(self):
        client = self.client()
        self.assertIsInstance(client,
                              prometheus_client_base.PrometheusClientBase)
        self.assertEqual(('Aetos', '', fakes.GROUP),
                         (client.server, client.url, client.group))
        self.assertIsInstance(client.session, ks_session.Session)
        self.assertEqual(fakes.KEYSTONE_URL, client.session.auth.auth_url)
        self.assertEqual([], self.network.request_history)

    def test_token_fetched_once_and_sent(self):
        self.network.get(AETOS_QUERY, json=BODY)
        client = self.client()
        self.assertEqual(BODY, client.get_instant(QUERY, fakes.AT, '20s'))
        client.get_instant('count(up)')
        self.assertEqual(AETOS, client.url)
        self.assertEqual(1, len(self.token_requests()))
        first, second = self.gets()
        self.assertEqual({'query': QUERY, 'time': fakes.AT,
                          'timeout': '20s'}, fakes.query_params(first))
        for request in (first, second):
            self.assertEqual(fakes.TOKEN_ID, request.headers['X-Auth-Token'])
            self.assertEqual(30, request.timeout)
            # Aetos then answers its errors in JSON, whose words the
            # messages quote, not as an HTML page.
            self.assertEqual('application/json', request.headers['Accept'])
            self.assertEqual('gzip, deflate',
                             request.headers['Accept-Encoding'])

    def test_root_url_with_port_and_no_path(self):
        url = 'http://[2001:db8::5]:3180'
        self.network.post(fakes.TOKEN_URL,
                          **fakes.token_answer(aetos_url=url + '/'))
        self.network.get(url + '/api/v1/query', json=BODY)
        client = self.client()
        client.get_instant(QUERY)
        self.assertEqual(url, client.url)
        self.assertEqual(1, len(self.gets(url + '/api/v1/query')))

    def test_tls_settings_of_the_session_kept(self):
        url = 'https://aetos.test/prom'
        self.network.post(fakes.TOKEN_URL, **fakes.token_answer(aetos_url=url))
        self.network.get(url + '/api/v1/query', json=BODY)
        cert = ('/etc/ssl/ck.pem', '/etc/ssl/ck.key')
        self.client(verify='/etc/ssl/ca.pem', cert=cert).get_instant(QUERY)
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
        logs = fakes.hear(self, level=logging.DEBUG, name=None)
        self.answer_tokens(fakes.token_answer(),
                           fakes.token_answer(fakes.SECOND_TOKEN))
        self.network.get(AETOS_QUERY, [
            UNAUTHORIZED, {'json': BODY},
            {'status_code': 403, 'text': 'refused'}])
        client = self.client()
        client.get_instant(QUERY, fakes.AT)
        self.assertRaises(errors.HTTPError, client.get_instant, QUERY)
        # The capture works: keystoneauth logged the token requests.
        self.assertIn(fakes.TOKEN_URL, logs.output)
        self.assertIn('querying Aetos at %s' % AETOS, logs.output)
        for secret in (fakes.TOKEN_ID, fakes.SECOND_TOKEN, fakes.PASSWORD):
            self.assertNotIn(secret, logs.output)


class TimeRefusalTest(AetosClientTestBase):
    """Aetos 1.0.0 refuses ``time``: the client stops sending it, once."""

    def setUp(self):
        super(TimeRefusalTest, self).setUp()
        self.logs = fakes.hear(self, aetos_client)
        self.client = self.client()

    def sent(self):
        return fakes.query_params(self.network.last_request)

    def test_refused_time_is_not_sent_again(self):
        fakes.act_as_aetos_1(self.network, BODY)
        error = self.assertRaises(errors.TimeNotSupported,
                                  self.client.get_instant, 'up', fakes.AT,
                                  '20s')
        self.assertEqual((AETOS, 400), (error.url, error.status))
        self.assertEqual(
            'Aetos at http://aetos.test/metric-storage answered HTTP 400 '
            '(Unknown argument: "time"): it refuses the time parameter: '
            'queries must pin their evaluation time with @', str(error))
        self.assertFalse(self.client.sends_time)
        self.assertEqual({'query': 'up', 'time': fakes.AT, 'timeout': '20s'},
                         self.sent())
        self.assertEqual(BODY, self.client.get_instant('up', fakes.AT, '20s'))
        self.assertEqual({'query': 'up'}, self.sent())
        self.client.get_instant('sum(up)', time=fakes.AT)
        self.assertEqual({'query': 'sum(up)'}, self.sent())
        self.assertEqual(3, len(self.gets()))

    def test_one_warning(self):
        fakes.act_as_aetos_1(self.network, BODY)
        self.assertRaises(errors.TimeNotSupported, self.client.get_instant,
                          'up', fakes.AT)
        for _ in range(3):
            self.client.get_instant('up', fakes.AT)
        self.assertEqual(
            ['WARNING cloudkitty.common.aetos_client Aetos at '
             'http://aetos.test/metric-storage refuses the time parameter '
             '(Aetos before 2.0.0): queries are sent without time and timeout '
             'from now on, and only queries that pin their evaluation time '
             'with @ are sent'], fakes.log_lines(self.logs))

    def test_refused_timeout_alone(self):
        self.network.get(AETOS_QUERY, status_code=400, json=dict(
            fakes.TIME_REFUSED, error_message=dict(
                fakes.UNKNOWN_TIME, faultstring='Unknown argument: '
                                                '"timeout"')))
        self.assertRaises(errors.TimeNotSupported, self.client.get_instant,
                          'up', timeout='20s')
        self.assertFalse(self.client.sends_time)

    def test_bare_wsme_fault(self):
        fakes.act_as_aetos_1(self.network, BODY, refusal=fakes.UNKNOWN_TIME)
        self.assertRaises(errors.TimeNotSupported, self.client.get_instant,
                          'up', fakes.AT)

    def test_other_refusals_keep_time(self):
        for status, body in (
                (400, dict(fakes.UNKNOWN_TIME,
                           faultstring='Unknown argument: "step"')),
                (500, fakes.UNKNOWN_TIME),
                # Prometheus refusing the value, not the parameter.
                (400, {'status': 'error', 'errorType': 'bad_data',
                       'error': 'invalid parameter "time": cannot parse '
                                '"yesterday" to a valid timestamp'})):
            self.network.get(AETOS_QUERY, status_code=status, json=body)
            error = self.assertRaises(errors.HTTPError,
                                      self.client.get_instant, 'up', fakes.AT)
            self.assertNotIsInstance(error, errors.TimeNotSupported)
            self.assertTrue(self.client.sends_time)
        self.assertEqual(fakes.AT, self.sent()['time'])
        self.assertEqual([], fakes.log_lines(self.logs))


class ConcurrentRefusalTest(AetosClientTestBase):
    """Threads that all sent ``time`` before the first refusal came back.

    requests-mock serialises every request under one lock, so its answers
    cannot be held back until all threads have asked: a loopback server
    stands in for Aetos 1.0.0 here.
    """

    THREADS = 4
    real_http = True

    def test_one_flip_one_warning(self):
        logs = fakes.hear(self, aetos_client)
        seen = []
        barrier = threading.Barrier(self.THREADS, timeout=20)

        class Refusing(fakes.Handler):
            def do_GET(self):
                seen.append(dict(parse.parse_qsl(
                    parse.urlsplit(self.path).query)))
                # No answer before every thread has sent its query.
                barrier.wait()
                self.send_json(400, fakes.TIME_REFUSED)

        _server, url = fakes.serve(self, Refusing)
        self.network.post(fakes.TOKEN_URL, **fakes.token_answer(
            aetos_url=url[:-len('/api/v1')]))
        client = self.client()
        outcomes = fakes.run_in_threads(
            self.THREADS, lambda: client.get_instant('up', fakes.AT))
        self.assertEqual([errors.TimeNotSupported] * self.THREADS,
                         [type(outcome) for outcome in outcomes])
        self.assertEqual([{'query': 'up', 'time': fakes.AT}] * self.THREADS,
                         seen)
        self.assertFalse(client.sends_time)
        self.assertEqual(1, len(fakes.warning_lines(logs)))


class RedirectTest(AetosClientTestBase):
    """The token goes to Aetos only."""

    real_http = True

    def test_redirect_not_followed(self):
        # requests-mock cannot show it: requests reads the body of a
        # redirect it does not follow, which a mocked body does not allow.
        server, url = fakes.serve(self, fakes.Redirecting)
        aetos = url[:-len('/api/v1')]
        self.network.post(fakes.TOKEN_URL,
                          **fakes.token_answer(aetos_url=aetos))
        client = self.client()
        error = self.assertRaises(errors.HTTPError, client.get_instant,
                                  QUERY)
        self.assertEqual((aetos, 302), (error.url, error.status))
        self.assertEqual('Moved to /elsewhere', error.detail)
        self.assertIn(client.OTHER_STATUS_HINT, str(error))
        # The token went to Aetos only.
        self.assertEqual([], server.followed)


class UnauthorizedRetryTest(AetosClientTestBase):
    """A 401 of Aetos renews the token once per retry interval."""

    def setUp(self):
        super(UnauthorizedRetryTest, self).setUp()
        self.answer_tokens(fakes.token_answer(),
                           fakes.token_answer(fakes.SECOND_TOKEN))

    def test_one_new_token_one_retry(self):
        self.network.get(AETOS_QUERY, [UNAUTHORIZED, {'json': BODY}])
        client = self.client()
        self.assertEqual(BODY, client.get_instant(QUERY, fakes.AT))
        self.assertEqual([fakes.TOKEN_ID, fakes.SECOND_TOKEN],
                         [r.headers['X-Auth-Token'] for r in self.gets()])
        self.assertEqual(2, len(self.token_requests()))
        self.assertEqual(fakes.query_params(self.gets()[0]),
                         fakes.query_params(self.gets()[1]))
        # The new token is kept for the next queries.
        client.get_instant(QUERY, fakes.AT)
        self.assertEqual(fakes.SECOND_TOKEN,
                         self.gets()[-1].headers['X-Auth-Token'])
        self.assertEqual(2, len(self.token_requests()))

    def test_second_401_is_an_http_error(self):
        self.network.get(AETOS_QUERY, **UNAUTHORIZED)
        client = self.client()
        error = self.assertRaises(errors.HTTPError, client.get_instant,
                                  QUERY)
        self.assertEqual((AETOS, 401), (error.url, error.status))
        self.assertEqual(
            'Aetos at http://aetos.test/metric-storage answered HTTP 401 '
            '(The request you have made requires authentication.): Aetos '
            'did not accept a fresh Keystone token: its keystone_authtoken '
            'section must point to the Keystone that CloudKitty uses',
            str(error))
        self.assertEqual(2, len(self.gets()))
        self.assertEqual(2, len(self.token_requests()))

    def test_no_renewal_within_the_interval(self):
        self.network.get(AETOS_QUERY, **UNAUTHORIZED)
        client = self.client()
        self.assertRaises(errors.HTTPError, client.get_instant, QUERY)
        self.clock.advance(INTERVAL - 1)
        error = self.assertRaises(errors.HTTPError, client.get_instant,
                                  QUERY)
        self.assertEqual(401, error.status)
        self.assertIn(client.hint(401), str(error))
        self.assertEqual(3, len(self.gets()))
        self.assertEqual(2, len(self.token_requests()))
        # Once the interval has passed, one renewal again.
        self.clock.advance(1)
        self.assertRaises(errors.HTTPError, client.get_instant, QUERY)
        self.assertEqual(5, len(self.gets()))
        self.assertEqual(3, len(self.token_requests()))


class RolesTest(AetosClientTestBase):
    """Aetos narrows the queries of a token without an all-projects role."""

    def weak(self, roles, **settings):
        self.network.post(fakes.TOKEN_URL,
                          **fakes.token_answer(roles=roles))
        error = self.assertRaises(errors.RoleTooWeak,
                                  self.client(**settings).get_instant, QUERY)
        self.assertEqual([], self.gets())
        return error

    def test_member_and_reader(self):
        error = self.weak(('reader', 'member'))
        self.assertEqual(['member', 'reader'], error.roles)
        self.assertEqual(fakes.KEYSTONE_URL, error.url)
        self.assertEqual(
            'The [collector_aetos] user has none of the roles admin, service '
            'on its project (its roles: member, reader): Aetos would narrow '
            'every query to that project and all others would look idle. '
            'Give it the service (or admin) role on its project, or list the '
            "role Aetos' telemetry:query:all_projects policy accepts in "
            '[collector_aetos] all_projects_roles', str(error))

    def test_no_role(self):
        self.assertIn('(its roles: none)', str(self.weak(())))

    def test_admin_and_service_see_every_project(self):
        self.network.get(AETOS_QUERY, json=BODY)
        for roles in (('admin', 'member', 'reader'), ('service',),
                      ('Admin',), ('SERVICE', 'reader')):
            self.network.post(fakes.TOKEN_URL,
                              **fakes.token_answer(roles=roles))
            self.assertEqual(BODY, self.client().get_instant(QUERY), roles)

    def test_own_all_projects_roles(self):
        error = self.weak(('admin',), all_projects_roles=['Telemetry'])
        self.assertIn('none of the roles telemetry ', str(error))
        self.network.post(fakes.TOKEN_URL,
                          **fakes.token_answer(roles=('telemetry',)))
        self.network.get(AETOS_QUERY, json=BODY)
        self.assertEqual(BODY, self.client(
            all_projects_roles=['Telemetry']).get_instant(QUERY))

    def test_renewed_token_checked_again(self):
        self.answer_tokens(
            fakes.token_answer(),
            fakes.token_answer(fakes.SECOND_TOKEN, roles=('member',)))
        self.network.get(AETOS_QUERY, [{'json': BODY}, UNAUTHORIZED])
        client = self.client()
        self.assertEqual(BODY, client.get_instant(QUERY))
        error = self.assertRaises(errors.RoleTooWeak, client.get_instant,
                                  QUERY)
        self.assertEqual(['member'], error.roles)
        # The weak token never reached Aetos.
        self.assertEqual([fakes.TOKEN_ID] * 2,
                         [r.headers['X-Auth-Token'] for r in self.gets()])


class LoginBoundTest(AetosClientTestBase):
    """A refused login is not tried again for the retry interval."""

    def setUp(self):
        super(LoginBoundTest, self).setUp()
        self.network.post(fakes.TOKEN_URL, [
            {'status_code': 401, 'json': {'error': {
                'code': 401, 'message': 'The password is expired.'}}},
            fakes.token_answer()])
        self.network.get(AETOS_QUERY, json=BODY)

    def test_refusal_remembered_for_the_interval(self):
        client = self.client()
        first = self.assertRaises(errors.KeystoneError, client.get_instant,
                                  QUERY)
        self.clock.advance(INTERVAL - 1)
        again = self.assertRaises(errors.KeystoneError, client.get_instant,
                                  QUERY)
        self.assertEqual(str(first), str(again))
        self.assertIsInstance(again.__cause__, ks_exc.Unauthorized)
        self.assertEqual(1, len(self.token_requests()))
        self.clock.advance(1)
        self.assertEqual(BODY, client.get_instant(QUERY))
        self.assertEqual(2, len(self.token_requests()))
        self.assertEqual(1, len(self.gets()))

    def test_threads_at_once_one_login(self):
        client = self.client()
        outcomes = fakes.run_in_threads(8, lambda: client.get_instant(QUERY))
        self.assertEqual([errors.KeystoneError] * 8,
                         [type(outcome) for outcome in outcomes])
        self.assertEqual(1, len(self.token_requests()))
        self.clock.advance(INTERVAL)
        outcomes = fakes.run_in_threads(8, lambda: client.get_instant(QUERY))
        self.assertEqual([BODY] * 8, outcomes)
        self.assertEqual(2, len(self.token_requests()))
        self.assertEqual(8, len(self.gets()))


class KeystoneFailureTest(AetosClientTestBase):
    """Step one: no token, no query to Aetos."""

    def refused(self, client=None, auth_url=fakes.KEYSTONE_URL):
        client = client or self.client()
        error = self.assertRaises(errors.KeystoneError, client.get_instant,
                                  QUERY)
        self.assertEqual(auth_url, error.url)
        self.assertEqual([], self.gets())
        return error

    def test_credentials_refused(self):
        self.network.post(fakes.TOKEN_URL, status_code=401, json={
            'error': {'code': 401, 'message': 'The password is expired.'}})
        error = self.refused()
        self.assertIsInstance(error.__cause__, ks_exc.Unauthorized)
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 refused the '
            '[collector_aetos] credentials (HTTP 401): check the user, '
            'password, domains and project, and that the password has not '
            'expired', str(error))

    def test_group_named(self):
        self.network.post(fakes.TOKEN_URL, status_code=401)
        error = self.refused(self.client(group='collector_other'))
        self.assertIn('[collector_other]', str(error))

    def test_server_errors(self):
        for status in (500, 503):
            self.network.post(fakes.TOKEN_URL, status_code=status)
            error = self.refused()
            self.assertIsInstance(error.__cause__, ks_exc.HttpError)
            self.assertEqual(status, error.__cause__.http_status)
            self.assertIn('HTTP %d' % status, str(error))
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 answered HTTP 503 when '
            'asked for a token: check Keystone and its logs', str(error))

    def test_connection_refused(self):
        self.network.post(fakes.TOKEN_URL,
                          exc=requests.exceptions.ConnectionError)
        error = self.refused()
        self.assertIsInstance(error.__cause__, ks_exc.ConnectFailure)
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 could not be reached '
            'for a token (ConnectFailure): check [collector_aetos] auth_url '
            'and that Keystone is running', str(error))

    def test_tls(self):
        self.network.post(fakes.TOKEN_URL, exc=fakes.tls_refusal(
            'keystone.test', verify_message="Hostname mismatch, certificate "
            "is not valid for 'keystone.test'."))
        error = self.refused()
        self.assertIsInstance(error.__cause__, ks_exc.SSLError)
        self.assertEqual(
            "TLS with Keystone at http://keystone.test:5000/v3 failed "
            "(Hostname mismatch, certificate is not valid for "
            "'keystone.test'.): check [collector_aetos] cafile, certfile, "
            "keyfile and insecure", str(error))

    def test_tls_without_certificate_check(self):
        self.network.post(fakes.TOKEN_URL, exc=fakes.tls_refusal(
            'keystone.test', 'WRONG_VERSION_NUMBER', verify_message=None))
        error = self.refused()
        self.assertIn('(WRONG_VERSION_NUMBER)', str(error))

    def test_not_a_keystone_answer(self):
        self.network.post(fakes.TOKEN_URL, status_code=201,
                          text='<html>It works!</html>',
                          headers={'X-Subject-Token': 'x'})
        error = self.refused()
        self.assertIsInstance(error.__cause__, ks_exc.ClientException)
        self.assertEqual(
            'Authentication with Keystone at http://keystone.test:5000/v3 '
            'failed (InvalidResponse): check the [collector_aetos] auth '
            'options', str(error))

    def test_token_for_no_project(self):
        # Keystone's answer to credentials without a project: a token for
        # no project, without catalog.
        self.network.post(fakes.TOKEN_URL, status_code=201,
                          json=ks_fixture.V3Token(user_name='cloudkitty'),
                          headers={'X-Subject-Token': fakes.TOKEN_ID})
        error = self.refused()
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 gave an unscoped token '
            'for the [collector_aetos] credentials, where Aetos needs a '
            'project-scoped one: set project_id, or project_name with '
            'project_domain_name or project_domain_id, and no system_scope '
            'or domain', str(error))

    def test_plugin_without_token(self):
        # A plugin that gives no token at all, as http_basic: refused
        # before anything is sent.
        error = self.assertRaises(
            errors.ConfigurationError, self.client,
            auth=http_basic.HTTPBasicAuth(endpoint=AETOS))
        self.assertEqual(
            'The [collector_aetos] auth_type gives no Keystone token, which '
            'Aetos needs: use a Keystone identity plugin such as password or '
            'v3applicationcredential', str(error))
        self.assertEqual([], self.network.request_history)

    def test_no_aetos_in_the_catalog(self):
        self.network.post(fakes.TOKEN_URL,
                          **fakes.token_answer(with_aetos=False))
        error = self.refused()
        self.assertEqual(
            "No 'metric-storage' endpoint with interface 'public' in any "
            "region in the Keystone catalog: register Aetos there or fix "
            "[collector_aetos] interface and region_name", str(error))


class AetosUnreachableTest(AetosClientTestBase):
    """Step two: the token came, Aetos did not answer."""

    def unreachable(self, exc, kind=errors.UnreachableError, **settings):
        self.network.get(AETOS_QUERY, exc=exc)
        error = self.assertRaises(kind, self.client(**settings).get_instant,
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
        self.assertEqual(
            'Aetos at http://aetos.test/metric-storage could not be '
            'connected to within 45 s: check that Aetos is running or raise '
            '[collector_aetos] timeout', str(error))

    def test_connect_timeout_without_session_timeout(self):
        error = self.unreachable(requests.exceptions.ConnectTimeout,
                                 timeout=None)
        self.assertIn('connected to in time', str(error))

    def test_read_timeout_is_too_slow(self):
        error = self.unreachable(requests.exceptions.ReadTimeout,
                                 errors.AnswerTooSlow)
        self.assertEqual(30, error.limit)
        self.assertEqual(
            'Aetos at http://aetos.test/metric-storage did not start its '
            'answer within 30 s: make the query lighter or raise '
            '[collector_aetos] timeout', str(error))

    def test_tls(self):
        error = self.unreachable(fakes.tls_refusal(
            'aetos.test',
            verify_message='self-signed certificate in certificate chain'))
        self.assertIsInstance(error.__cause__, ks_exc.SSLError)
        self.assertIn('(self-signed certificate in certificate chain)',
                      str(error))
        self.assertIn('Aetos at ' + AETOS, str(error))


class NestedURLTest(AetosClientTestBase):
    """Which server failed follows the step, not the URLs."""

    def test_keystone_under_the_url_of_aetos(self):
        keystone = 'http://cloud.test/identity/v3'
        self.network.post(keystone + '/auth/tokens', [
            fakes.token_answer(aetos_url='http://cloud.test'),
            {'status_code': 401, 'json': {'error': {
                'code': 401, 'message': 'The password is expired.'}}}])
        self.network.get('http://cloud.test/api/v1/query', status_code=401,
                         text='Token revoked')
        client = self.client(auth_url=keystone)
        error = self.assertRaises(errors.KeystoneError, client.get_instant,
                                  QUERY)
        self.assertEqual(keystone, error.url)
        self.assertIsInstance(error.__cause__, ks_exc.Unauthorized)

    def test_keystone_under_the_url_of_aetos_unreachable(self):
        keystone = 'http://cloud.test/identity/v3'
        self.network.post(keystone + '/auth/tokens',
                          exc=requests.exceptions.ConnectionError)
        client = self.client(auth_url=keystone)
        error = self.assertRaises(errors.KeystoneError, client.get_instant,
                                  QUERY)
        self.assertEqual(keystone, error.url)

    def test_aetos_under_the_url_of_keystone(self):
        # keystoneauth's v3 plugins add the version to a bare root.
        self.network.post('http://cloud.test/v3/auth/tokens',
                          **fakes.token_answer(
                              aetos_url='http://cloud.test/metric'))
        self.network.get('http://cloud.test/metric/api/v1/query',
                         status_code=502, text='Bad Gateway')
        client = self.client(auth_url='http://cloud.test')
        error = self.assertRaises(errors.HTTPError, client.get_instant,
                                  QUERY)
        self.assertEqual(('http://cloud.test/metric', 502, 'Bad Gateway'),
                         (error.url, error.status, error.detail))

    def test_aetos_under_the_url_of_keystone_unreachable(self):
        self.network.post('http://cloud.test/v3/auth/tokens',
                          **fakes.token_answer(
                              aetos_url='http://cloud.test/metric'))
        self.network.get('http://cloud.test/metric/api/v1/query',
                         exc=requests.exceptions.ConnectionError)
        client = self.client(auth_url='http://cloud.test')
        error = self.assertRaises(errors.UnreachableError,
                                  client.get_instant, QUERY)
        self.assertEqual('http://cloud.test/metric', error.url)
