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
import logging
import os
import re
import threading

import fixtures
from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import session as ks_session
import requests

from cloudkitty import collector
from cloudkitty.collector import aetos
from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import prometheus_base
from cloudkitty.common import aetos_client
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

SCOPE = 'd4c0ffee7e5b4c2a9f3e1b0a8c7d6e5f'
METRICS = {'metrics': {'instance_up': {'unit': 'instance',
                                       'groupby': ['flavor']}}}
AETOS = 'Aetos at ' + aetos_fakes.AETOS_PUBLIC


def _new_collector():
    return aetos.AetosCollector(period=3600, conf=METRICS)


class AetosOptionsTest(tests.TestCase):

    def test_defaults(self):
        group = self.conf.collector_aetos
        self.assertEqual('public', group.interface)
        self.assertIsNone(group.region_name)
        self.assertEqual(60, group.timeout)
        self.assertIsNone(group.auth_type)
        self.assertIsNone(group.connect_retries)

    def test_interface_choices(self):
        self.assertRaises(ValueError, self.conf.set_override,
                          'interface', 'internalURL', 'collector_aetos')

    def test_list_opts(self):
        [(group, opts)] = aetos.list_opts()
        self.assertEqual('collector_aetos', group)
        by_name = {opt.dest: opt for opt in opts}
        for name in ('interface', 'region_name', 'cafile', 'certfile',
                     'keyfile', 'insecure', 'timeout', 'connect_retries',
                     'status_code_retries', 'auth_type', 'auth_section',
                     'auth_url', 'username', 'password', 'project_name'):
            self.assertIn(name, by_name)
        self.assertEqual(60, by_name['timeout'].default)
        self.assertTrue(by_name['password'].secret)
        self.assertEqual(len(opts), len(by_name))


class AetosCollectorSetupTest(tests.TestCase):

    def _start(self, roles=('admin',), with_aetos=True, **settings):
        self.network = aetos_fakes.use_fake_network(self, roles, with_aetos)
        aetos_fakes.configure_keystone(self)
        for name, value in settings.items():
            self.conf.set_override(name, value, 'collector_aetos')
        return _new_collector()

    def test_get_collector_loads_aetos(self):
        metrics_file = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                    'metrics.yml')
        with open(metrics_file, 'w') as out:
            out.write('metrics:\n  instance_up:\n    unit: instance\n')
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self.conf.set_override('collector', 'aetos', 'collect')
        self.conf.set_override('metrics_conf', metrics_file, 'collect')

        loaded = collector.get_collector()

        self.assertIsInstance(loaded, aetos.AetosCollector)
        self.assertIsInstance(loaded, prometheus_base.PrometheusCollectorBase)
        self.assertIsInstance(loaded._conn, aetos_client.AetosClient)
        self.assertEqual(aetos_fakes.AETOS_PUBLIC, loaded._conn.url)
        self.assertEqual(['instance_up'], list(loaded.conf))

    def test_get_collector_from_a_config_file(self):
        """What cloudkitty-processor does: options from cloudkitty.conf.

        keystoneauth's password options do not exist until the plugin is
        loaded, so only a file (not set_override) shows that a deployer's
        configuration is read as written.
        """
        workdir = self.useFixture(fixtures.TempDir()).path
        metrics_file = os.path.join(workdir, 'metrics.yml')
        with open(metrics_file, 'w') as out:
            out.write('metrics:\n  instance_up:\n    unit: instance\n')
        conf_file = os.path.join(workdir, 'cloudkitty.conf')
        with open(conf_file, 'w') as out:
            out.write(
                '[collect]\n'
                'collector = aetos\n'
                'metrics_conf = %s\n'
                '[collector_aetos]\n'
                'auth_type = v3password\n'
                'auth_url = %s\n'
                'username = cloudkitty\n'
                'password = %s\n'
                'user_domain_id = default\n'
                'project_name = service\n'
                'project_domain_id = default\n'
                'interface = internal\n'
                'region_name = RegionOne\n' % (
                    metrics_file, aetos_fakes.KEYSTONE_URL,
                    aetos_fakes.PASSWORD))
        self.network = aetos_fakes.use_fake_network(self)
        self.auth.stop()
        self.session.stop()
        self.conf(args=['--config-file', conf_file], project='cloudkitty',
                  default_config_files=[])

        loaded = collector.get_collector()

        self.assertIsInstance(loaded, aetos.AetosCollector)
        self.assertEqual(aetos_fakes.AETOS_INTERNAL, loaded._conn.url)
        self.assertEqual(['instance_up'], list(loaded.conf))
        token_request = aetos_fakes.token_requests(self.network)[0].json()
        self.assertEqual(
            {'name': 'cloudkitty', 'password': aetos_fakes.PASSWORD,
             'domain': {'id': 'default'}},
            token_request['auth']['identity']['password']['user'])

    def _queried_url(self, **settings):
        found = self._start(**settings)
        self.network.get(re.compile('/api/v1/query'),
                         json=aetos_fakes.vector([]))
        aetos_fakes.answer_time_checks(self.network)
        found.fetch_all('instance_up', aetos_fakes.START, aetos_fakes.END,
                        SCOPE)
        return self.network.last_request.url.split('?')[0]

    def test_public_endpoint_by_default(self):
        self.assertEqual(aetos_fakes.AETOS_QUERY_URL, self._queried_url())

    def test_internal_endpoint(self):
        self.assertEqual(aetos_fakes.AETOS_INTERNAL + '/api/v1/query',
                         self._queried_url(interface='internal'))

    def test_region_endpoint_keeps_https(self):
        self.assertEqual(aetos_fakes.AETOS_REGION_TWO + '/api/v1/query',
                         self._queried_url(region_name='RegionTwo'))

    def test_no_endpoint_for_region(self):
        error = self.assertRaises(aetos.AetosSetupError, self._start,
                                  region_name='RegionThree')
        self.assertEqual(
            "No 'metric-storage' endpoint with interface 'public' in region "
            "'RegionThree' in the Keystone catalog: register Aetos there or "
            "fix [collector_aetos] interface and region_name", str(error))

    def test_no_endpoint_for_interface(self):
        error = self.assertRaises(aetos.AetosSetupError, self._start,
                                  interface='admin')
        self.assertEqual(
            "No 'metric-storage' endpoint with interface 'admin' in any "
            "region in the Keystone catalog: register Aetos there or fix "
            "[collector_aetos] interface and region_name", str(error))

    def test_no_aetos_in_catalog(self):
        error = self.assertRaises(aetos.AetosSetupError, self._start,
                                  with_aetos=False)
        self.assertIn("No 'metric-storage' endpoint with interface 'public'",
                      str(error))

    def test_keystone_refuses_credentials_at_start(self):
        network = aetos_fakes.use_fake_network(self)
        network.post(aetos_fakes.TOKEN_URL, status_code=401,
                     json={'error': {'code': 401, 'title': 'Unauthorized',
                                     'message': 'The request you have made '
                                                'requires authentication.'}})
        aetos_fakes.configure_keystone(self)
        error = self.assertRaises(aetos.AetosSetupError, _new_collector)
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 refused the '
            '[collector_aetos] credentials (HTTP 401): check the user, '
            'password, domains and project, and that the password has not '
            'expired', str(error))
        self.assertNotIn(aetos_fakes.PASSWORD, str(error))

    def test_keystone_down_at_start(self):
        network = aetos_fakes.use_fake_network(self)
        network.post(aetos_fakes.TOKEN_URL,
                     exc=requests.exceptions.ConnectionError)
        aetos_fakes.configure_keystone(self)
        error = self.assertRaises(aetos.AetosSetupError, _new_collector)
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 could not be reached '
            'for a token (ConnectFailure): check [collector_aetos] auth_url '
            'and that Keystone is running', str(error))

    def test_keystone_tls_failure_at_start(self):
        network = aetos_fakes.use_fake_network(self)
        network.post(aetos_fakes.TOKEN_URL,
                     exc=requests.exceptions.SSLError(aetos_fakes.TLS_FAILURE))
        aetos_fakes.configure_keystone(self)
        error = self.assertRaises(aetos.AetosSetupError, _new_collector)
        self.assertEqual(
            'TLS with Keystone at http://keystone.test:5000/v3 failed '
            '(certificate verify failed: self-signed certificate): check '
            '[collector_aetos] cafile, certfile, keyfile and insecure',
            str(error))

    def test_credentials_without_project(self):
        # Keystone's answer to credentials without a project: a token for
        # no project, without catalog.
        network = aetos_fakes.use_fake_network(self)
        network.post(aetos_fakes.TOKEN_URL,
                     json=ks_fixture.V3Token(user_name='cloudkitty'),
                     headers={'X-Subject-Token': aetos_fakes.TOKEN_ID},
                     status_code=201)
        aetos_fakes.configure_keystone(self, project_name=None,
                                       project_domain_id=None)
        error = self.assertRaises(aetos.AetosSetupError, _new_collector)
        self.assertEqual(
            'The [collector_aetos] credentials are not project-scoped '
            '(Keystone at http://keystone.test:5000/v3 gave a token for no '
            'project): set project_id, or project_name with '
            'project_domain_name or project_domain_id', str(error))
        [token_request] = aetos_fakes.token_requests(network)
        self.assertNotIn('scope', token_request.json()['auth'])

    def test_no_auth_type(self):
        aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self, auth_type=None)
        error = self.assertRaises(aetos.AetosSetupError, _new_collector)
        self.assertEqual('[collector_aetos] auth_type is not set: the Aetos '
                         'collector needs Keystone credentials', str(error))

    def test_session_settings_reach_requests(self):
        found = self._start(timeout=7, insecure=True)
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        aetos_fakes.answer_time_checks(self.network)
        found.fetch_all('instance_up', aetos_fakes.START, aetos_fakes.END,
                        SCOPE)
        self.assertEqual(7, self.network.last_request.timeout)
        self.assertFalse(self.network.last_request.verify)

    def test_retry_options_reach_the_adapter(self):
        found = self._start(connect_retries=1, connect_retry_delay=0,
                            status_code_retries=1, status_code_retry_delay=0)
        self.network.get(aetos_fakes.AETOS_QUERY_URL, [
            {'exc': requests.exceptions.ConnectionError},
            {'status_code': 503, 'text': 'busy'},
            {'json': aetos_fakes.vector([])}])
        aetos_fakes.answer_time_checks(self.network)
        self.assertEqual([], found.fetch_all(
            'instance_up', aetos_fakes.START, aetos_fakes.END, SCOPE))
        self.assertEqual(3, len([
            r for r in self.network.request_history
            if r.url.startswith(aetos_fakes.AETOS_QUERY_URL) and
            not aetos_fakes.is_time_check(r)]))

    def test_no_retry_by_default(self):
        found = self._start()
        self.network.get(aetos_fakes.AETOS_QUERY_URL, [
            {'status_code': 503, 'text': 'busy'},
            {'json': aetos_fakes.vector([])}])
        self.assertRaises(collect_exc.CollectError, found.fetch_all,
                          'instance_up', aetos_fakes.START, aetos_fakes.END,
                          SCOPE)

    def _pools(self, found):
        requests_session = found._conn._adapter.session.session
        return {scheme: requests_session.adapters[scheme]
                for scheme in ('http://', 'https://')}

    def test_a_pooled_connection_for_each_thread(self):
        # keystoneauth's own pools hold 10 connections; the orchestrator
        # queries from 16 threads by default.
        for adapter in self._pools(self._start()).values():
            self.assertIsInstance(adapter, ks_session.TCPKeepAliveAdapter)
            self.assertEqual(
                16, adapter.poolmanager.connection_pool_kw['maxsize'])

    def test_pool_follows_max_threads(self):
        self.conf.import_opt('max_threads', 'cloudkitty.orchestrator',
                             'orchestrator')
        self.conf.set_override('max_threads', 40, 'orchestrator')
        for adapter in self._pools(self._start()).values():
            self.assertEqual(
                40, adapter.poolmanager.connection_pool_kw['maxsize'])
        # Never below what keystoneauth would have used.
        self.conf.set_override('max_threads', 2, 'orchestrator')
        for adapter in self._pools(self._start()).values():
            self.assertEqual(
                10, adapter.poolmanager.connection_pool_kw['maxsize'])

    def test_default_timeout_and_cafile_reach_requests(self):
        found = self._start(cafile='/etc/ssl/aetos-ca.pem')
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        aetos_fakes.answer_time_checks(self.network)
        found.fetch_all('instance_up', aetos_fakes.START, aetos_fakes.END,
                        SCOPE)
        self.assertEqual(60, self.network.last_request.timeout)
        self.assertEqual('/etc/ssl/aetos-ca.pem',
                         self.network.last_request.verify)


class AetosRoleWarningTest(tests.TestCase):

    def _warnings(self, roles):
        # The alembic run of TestCase.setUp disables the loggers that
        # exist by then; this one must be heard.
        self.useFixture(fixtures.MockPatchObject(
            logging.getLogger(aetos.__name__), 'disabled', False))
        logs = self.useFixture(fixtures.FakeLogger(
            name=aetos.__name__, level=logging.WARNING))
        aetos_fakes.use_fake_network(self, roles=roles)
        aetos_fakes.configure_keystone(self)
        _new_collector()
        return [line for line in logs.output.splitlines() if line]

    def test_member_gets_one_project_warning(self):
        self.assertEqual([
            "Aetos collector: the [collector_aetos] user has neither the "
            "admin nor the service role on its project (its roles: member, "
            "reader). Aetos will narrow every query to that user's own "
            "project, so the usage of all other projects would be rated as "
            "zero. Give the user the service (or admin) role on its project "
            "(Aetos policy telemetry:query:all_projects)."],
            self._warnings(('reader', 'member')))

    def test_admin_sees_every_project(self):
        self.assertEqual([], self._warnings(('admin', 'member', 'reader')))

    def test_service_sees_every_project(self):
        self.assertEqual([], self._warnings(('service',)))

    def test_role_names_are_case_insensitive(self):
        self.assertEqual([], self._warnings(('Admin',)))


class AetosFetchErrorTest(tests.TestCase):
    """Every way a query can fail ends as a CollectError saying why."""

    def setUp(self):
        super(AetosFetchErrorTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self.collector = _new_collector()

    def _fail(self, **answer):
        self.network.get(aetos_fakes.AETOS_QUERY_URL, **answer)
        error = self.assertRaises(
            collect_exc.CollectError, self.collector.fetch_all,
            'instance_up', aetos_fakes.START, aetos_fakes.END, SCOPE)
        message = str(error)
        self.assertNotIn(aetos_fakes.PASSWORD, message)
        self.assertNotIn(aetos_fakes.TOKEN_ID, message)
        self.assertNotIn('\n', message)
        self.assertIsInstance(error.__cause__,
                              aetos_client.PrometheusResponseError)
        return message

    @staticmethod
    def _fault(status, text):
        # The body real Aetos (2.0.0) sends: WSME's fault inside an
        # "error_message" object.
        return {'status_code': status,
                'json': {'error_message': {'faultcode': 'Client',
                                           'faultstring': text,
                                           'debuginfo': None}}}

    def test_401(self):
        self.assertEqual(
            AETOS + ' answered HTTP 401 (Authentication required): Aetos did '
            'not accept the Keystone token: its keystone_authtoken section '
            'must point to the Keystone that CloudKitty uses',
            self._fail(status_code=401,
                       json={'error': {'code': 401,
                                       'message': 'Authentication required',
                                       'title': 'Unauthorized'}}))

    def test_403(self):
        # Aetos lets a reader query its own project: a 403 means the user
        # lacks even that.
        self.assertEqual(
            AETOS + ' answered HTTP 403 (RBAC Authorization Failed): the '
            '[collector_aetos] user has no role Aetos accepts on its project: '
            'give it the service (or admin) role there so that it sees every '
            'project',
            self._fail(**self._fault(403, 'RBAC Authorization Failed')))

    def test_404(self):
        self.assertEqual(
            AETOS + " answered HTTP 404 (<html><body>Not Found</body></html>)"
            ": the 'metric-storage' endpoint in the Keystone catalog must be "
            "the root URL of Aetos",
            self._fail(status_code=404,
                       text='<html><body>Not Found</body></html>',
                       headers={'Content-Type': 'text/html'}))

    def test_400_bad_promql(self):
        # Aetos does not pass Prometheus' errorType on.
        self.assertEqual(
            AETOS + ' answered HTTP 400 ([400] invalid parameter "query": '
            '1:9: parse error: unexpected "}"): Prometheus or Aetos rejected '
            'the query: check the metric definition (extra_args, '
            'query_prefix, query_suffix)',
            self._fail(**self._fault(
                400, '[400] invalid parameter "query": 1:9: parse error: '
                     'unexpected "}"')))

    def test_400_bad_data_from_prometheus(self):
        # Prometheus' own answer, passed on by a plain proxy.
        self.assertEqual(
            AETOS + ' answered HTTP 400 (bad_data: invalid parameter "query": '
            '1:9: parse error: unexpected "}"): Prometheus rejected the query '
            '(bad_data): check the metric definition (extra_args, '
            'query_prefix, query_suffix)',
            self._fail(status_code=400, json={
                'status': 'error', 'errorType': 'bad_data',
                'error': 'invalid parameter "query": 1:9: parse error: '
                         'unexpected "}"'}))

    def test_400_bare_wsme_fault(self):
        self.assertEqual(
            AETOS + ' answered HTTP 400 ([400] invalid parameter "query": '
            '1:9: parse error: unexpected "}"): Prometheus or Aetos rejected '
            'the query: check the metric definition (extra_args, '
            'query_prefix, query_suffix)',
            self._fail(status_code=400, json={
                'faultcode': 'Client', 'debuginfo': None,
                'faultstring': '[400] invalid parameter "query": 1:9: parse '
                               'error: unexpected "}"'}))

    def test_400_from_aetos_1(self):
        self.assertEqual(
            AETOS + ' answered HTTP 400 (Unknown argument: "time"): Aetos '
            '2.0.0 or newer is required; older releases cannot evaluate a '
            'query at a given time',
            self._fail(**self._fault(400, 'Unknown argument: "time"')))

    def test_422(self):
        self.assertEqual(
            AETOS + ' answered HTTP 422 ([422] query processing would load '
            'too many samples into memory): Prometheus could not execute the '
            'query (execution): check the metric definition',
            self._fail(**self._fault(
                422, '[422] query processing would load too many samples '
                     'into memory')))

    def test_500(self):
        self.assertEqual(
            AETOS + " answered HTTP 500 (HTTPConnectionPool(host='localhost', "
            "port=9090): Max retries exceeded): check that Aetos is running "
            "and can reach Keystone and Prometheus",
            self._fail(**self._fault(
                500, "HTTPConnectionPool(host='localhost', port=9090): Max "
                     "retries exceeded")))

    def test_503_keystone_unavailable_to_aetos(self):
        # keystonemiddleware's answer when Aetos cannot validate a token.
        self.assertEqual(
            AETOS + ' answered HTTP 503 (The server is currently unavailable. '
            'Please try again at a later time. The Keystone service is '
            'temporarily unavailable.): check that Aetos is running and can '
            'reach Keystone and Prometheus',
            self._fail(status_code=503, json={
                'message': 'The server is currently unavailable. Please try '
                           'again at a later time.<br /><br />\nThe '
                           'Keystone service is temporarily unavailable.\n\n',
                'code': '503 Service Unavailable',
                'title': 'Service Unavailable'}))

    def test_long_body_is_cut(self):
        message = self._fail(status_code=502, text='x' * 5000)
        self.assertEqual(
            AETOS + ' answered HTTP 502 (' + 'x' * 197 + '...): check that '
            'Aetos is running and can reach Keystone and Prometheus', message)

    def test_connection_refused(self):
        self.assertEqual(
            AETOS + " could not be connected to: check that Aetos is running "
            "and that the 'metric-storage' endpoint in the Keystone catalog "
            "is right",
            self._fail(exc=requests.exceptions.ConnectionError))

    def test_read_timeout(self):
        self.assertEqual(
            AETOS + ' did not answer within 60 s: check the load of Aetos and '
            'Prometheus or raise [collector_aetos] timeout',
            self._fail(exc=requests.exceptions.ReadTimeout))

    def test_connect_timeout(self):
        self.assertEqual(
            AETOS + ' did not answer within 60 s: check the load of Aetos and '
            'Prometheus or raise [collector_aetos] timeout',
            self._fail(exc=requests.exceptions.ConnectTimeout))

    def test_tls_failure(self):
        self.assertEqual(
            'TLS with ' + AETOS + ' failed: check [collector_aetos] cafile, '
            'certfile, keyfile and insecure',
            self._fail(exc=requests.exceptions.SSLError))

    def test_tls_failure_quotes_openssl(self):
        self.assertEqual(
            'TLS with ' + AETOS + ' failed (certificate verify failed: '
            'self-signed certificate): check [collector_aetos] cafile, '
            'certfile, keyfile and insecure',
            self._fail(exc=requests.exceptions.SSLError(
                aetos_fakes.TLS_FAILURE)))

    def test_body_not_json(self):
        self.assertEqual(
            AETOS + ' answered HTTP 200 with a body that is not JSON '
            '(<html> <p>Welcome</p></html>): the metric-storage endpoint must '
            'be the root URL of Aetos',
            self._fail(text='<html>\n<p>Welcome</p></html>'))

    def test_json_not_prometheus(self):
        self.assertEqual(
            AETOS + ' answered JSON that is not a Prometheus result '
            '({"versions": []}): the metric-storage endpoint must be the root '
            'URL of Aetos',
            self._fail(json={'versions': []}))

    def test_json_with_another_status(self):
        # A health check URL, for instance.
        self.assertEqual(
            AETOS + ' answered JSON that is not a Prometheus result '
            '({"status": "ok"}): the metric-storage endpoint must be the root '
            'URL of Aetos',
            self._fail(json={'status': 'ok'}))

    def test_json_list(self):
        self.assertEqual(
            AETOS + ' answered JSON that is not a Prometheus result '
            '(["success"]): the metric-storage endpoint must be the root URL '
            'of Aetos',
            self._fail(json=['success']))

    def test_sample_without_value(self):
        self.assertEqual(
            AETOS + " answered JSON that is not a Prometheus result "
            "({'status': 'success', 'data': {'resultType': 'vector', "
            "'result': [{'metric': {'flavor': 'm1'}}]}}): the metric-storage "
            "endpoint must be the root URL of Aetos",
            self._fail(json={'status': 'success', 'data': {
                'resultType': 'vector',
                'result': [{'metric': {'flavor': 'm1'}}]}}))

    def test_sample_value_not_a_number(self):
        # Its time is right: the check shared with the Prometheus
        # collector finds it.
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=aetos_fakes.vector(
            [({'flavor': 'm1'}, 'many')]))
        error = self.assertRaises(
            collect_exc.CollectError, self.collector.fetch_all,
            'instance_up', aetos_fakes.START, aetos_fakes.END, SCOPE)
        self.assertEqual(
            'Answer to [max(max_over_time(instance_up{project_id="%s"}'
            '[3600s])) by (flavor, project_id)] is not a Prometheus result: '
            "{'status': 'success', 'data': {'resultType': 'vector', "
            "'result': [{'metric': {'flavor': 'm1'}, 'value': [1772362800, "
            "'many']}]}}" % SCOPE, str(error))

    def test_success_without_result(self):
        self.assertEqual(
            AETOS + " answered without a query result: {'status': "
            "'success', 'data': 'none'}",
            self._fail(json={'status': 'success', 'data': 'none'}))

    def test_status_error(self):
        self.assertEqual(
            AETOS + ' passed on a Prometheus error: execution: query timed '
            'out in expression evaluation',
            self._fail(json={'status': 'error', 'errorType': 'execution',
                             'error': 'query timed out in expression '
                                      'evaluation'}))

    def test_time_ignored(self):
        late = aetos_fakes.vector([({'flavor': 'm1'}, '1')],
                                  at=aetos_fakes.END_UNIX + 1234.5)
        self.assertEqual(
            AETOS + ' evaluated the query at Unix time 1772364034.5, not at '
            'the requested 2026-03-01T11:00:00: Aetos 2.0.0 or newer is '
            'required',
            self._fail(json=late))

    def test_keystone_refuses_renewal(self):
        # The token of the first fetch expires; Keystone refuses the next.
        self.network.post(aetos_fakes.TOKEN_URL, status_code=401, json={
            'error': {'code': 401, 'title': 'Unauthorized',
                      'message': 'The password is expired.'}})
        self.collector._conn._adapter.session.auth.invalidate()
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 refused the '
            '[collector_aetos] credentials (HTTP 401): check the user, '
            'password, domains and project, and that the password has not '
            'expired', self._fail(json=aetos_fakes.vector([])))

    def test_keystone_unreachable_on_renewal(self):
        self.network.post(aetos_fakes.TOKEN_URL,
                          exc=requests.exceptions.ConnectTimeout)
        self.collector._conn._adapter.session.auth.invalidate()
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 could not be reached '
            'for a token (ConnectTimeout): check [collector_aetos] auth_url '
            'and that Keystone is running',
            self._fail(json=aetos_fakes.vector([])))

    def test_keystone_unreachable_after_aetos_refused_the_token(self):
        # keystoneauth asks Keystone for a new token within the request.
        self.network.post(aetos_fakes.TOKEN_URL,
                          exc=requests.exceptions.ConnectionError)
        self.assertEqual(
            'Keystone at http://keystone.test:5000/v3 could not be reached '
            'for a token (ConnectFailure): check [collector_aetos] auth_url '
            'and that Keystone is running',
            self._fail(status_code=401, json={'error': {
                'code': 401, 'message': 'Authentication required'}}))
        self.assertEqual(2, len(aetos_fakes.token_requests(self.network)))

    def test_keystone_tls_failure_on_renewal(self):
        self.network.post(aetos_fakes.TOKEN_URL,
                          exc=requests.exceptions.SSLError(
                              aetos_fakes.TLS_FAILURE))
        self.collector._conn._adapter.session.auth.invalidate()
        self.assertEqual(
            'TLS with Keystone at http://keystone.test:5000/v3 failed '
            '(certificate verify failed: self-signed certificate): check '
            '[collector_aetos] cafile, certfile, keyfile and insecure',
            self._fail(json=aetos_fakes.vector([])))

    def test_one_request_per_query(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([({'flavor': 'm1'}, '1')]))
        before = len(self.network.request_history)
        self.collector.fetch_all('instance_up', aetos_fakes.START,
                                 aetos_fakes.END, SCOPE)
        [query] = self.network.request_history[before:]
        self.assertEqual(aetos_fakes.TOKEN_ID, query.headers['X-Auth-Token'])


class AetosTokenSharingTest(tests.TestCase):
    """One token for every query of every thread of a process."""

    def setUp(self):
        super(AetosTokenSharingTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=aetos_fakes.vector(
            [({'flavor': 'm1.tiny', 'project_id': SCOPE}, '1')]))
        self.collector = _new_collector()

    def _fetch(self):
        return self.collector.fetch_all('instance_up', aetos_fakes.START,
                                        aetos_fakes.END, SCOPE)

    def test_token_fetched_once_and_sent(self):
        for _ in range(3):
            self.assertEqual(1, len(self._fetch()))
        self.assertEqual(1, len(aetos_fakes.token_requests(self.network)))
        queries = [r for r in self.network.request_history
                   if r.url.startswith(aetos_fakes.AETOS_QUERY_URL)]
        self.assertEqual(3, len(queries))
        for query in queries:
            self.assertEqual(aetos_fakes.TOKEN_ID,
                             query.headers['X-Auth-Token'])

    def test_threads_share_the_collector(self):
        results, errors = [], []

        def work():
            try:
                for _ in range(5):
                    results.append(self._fetch())
            except Exception as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=work) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

        self.assertEqual([], errors)
        self.assertEqual(40, len(results))
        self.assertEqual(1, len(aetos_fakes.token_requests(self.network)))
