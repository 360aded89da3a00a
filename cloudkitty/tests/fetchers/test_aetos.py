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

import fixtures
from keystoneauth1 import loading as ks_loading
import requests
from stevedore import driver

from cloudkitty.collector import aetos as aetos_collector
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import fetcher
from cloudkitty.fetcher import aetos
from cloudkitty import orchestrator
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes
from cloudkitty.tests.fetchers import aetos_fetcher_fakes as fakes

GROUP = fakes.GROUP
AETOS = 'Aetos at ' + aetos_fakes.AETOS_PUBLIC
# ([collect] wait_periods 2 + 3) periods of 3600 s.
DEFAULT_WINDOW = 18000


class FetcherTestCase(tests.TestCase):

    def start(self, roles=('admin',), with_aetos=True, **settings):
        self.network = aetos_fakes.use_fake_network(self, roles, with_aetos)
        fakes.configure(self, **settings)
        return aetos.AetosFetcher()

    def answer(self, samples=(), **answer):
        if not answer:
            answer = {'json': aetos_fakes.vector(samples)}
        self.network.get(aetos_fakes.AETOS_QUERY_URL, **answer)

    def sent_query(self, found):
        self.answer()
        found.get_tenants()
        return aetos_fakes.query_params(self.network.last_request)['query']


class AetosFetcherOptionsTest(tests.TestCase):

    def test_defaults(self):
        group = self.conf.fetcher_aetos
        self.assertIsNone(group.metric)
        self.assertEqual('project_id', group.scope_attribute)
        self.assertEqual({}, group.filters)
        self.assertIsNone(group.lookback)
        self.assertEqual('public', group.interface)
        self.assertEqual(60, group.timeout)
        self.assertIsNone(group.auth_type)
        self.assertIsNone(group.auth_section)

    def test_lookback_must_be_positive(self):
        self.assertRaises(ValueError, self.conf.set_override,
                          'lookback', 0, GROUP)

    def test_list_opts(self):
        [(group, opts)] = aetos.list_opts()
        self.assertEqual(GROUP, group)
        by_name = {opt.dest: opt for opt in opts}
        for name in ('metric', 'scope_attribute', 'filters', 'lookback',
                     'interface', 'region_name', 'cafile', 'insecure',
                     'timeout', 'connect_retries', 'status_code_retries',
                     'auth_type', 'auth_section', 'auth_url', 'username',
                     'password', 'project_name'):
            self.assertIn(name, by_name)
        self.assertEqual(60, by_name['timeout'].default)
        self.assertTrue(by_name['password'].secret)
        self.assertEqual(len(opts), len(by_name))


class AetosFetcherLoadingTest(FetcherTestCase):

    def test_stevedore_loads_aetos(self):
        aetos_fakes.use_fake_network(self)
        fakes.configure(self)
        loaded = driver.DriverManager(orchestrator.FETCHERS_NAMESPACE,
                                      'aetos', invoke_on_load=True).driver
        self.assertIsInstance(loaded, aetos.AetosFetcher)
        self.assertIsInstance(loaded, fetcher.BaseFetcher)
        self.assertEqual('aetos', loaded.name)

    def _from_file(self, section):
        """The fetcher of a cloudkitty.conf with credentials in ``section``.

        Session and endpoint settings stay in [fetcher_aetos].
        """
        conf_file = fakes.write_conf(
            self.useFixture(fixtures.TempDir()).path, section)
        self.network = aetos_fakes.use_fake_network(self)
        self.auth.stop()
        self.session.stop()
        # Through the fixture, so that they are gone after the test.
        self._conf_fixture.register_opts(
            ks_loading.get_auth_plugin_conf_options('v3password'),
            group=section)
        self.conf(args=['--config-file', conf_file], project='cloudkitty',
                  default_config_files=[])
        return aetos.AetosFetcher()

    def test_credentials_from_auth_section(self):
        """One set of credentials in [collector_aetos], read by both."""
        found = self._from_file(aetos_collector.COLLECTOR_AETOS_OPTS)
        self.network.get(aetos_fakes.AETOS_INTERNAL + '/api/v1/query',
                         json=aetos_fakes.vector([({'project_id': 'p1'},
                                                   1)]))
        self.assertEqual(['p1'], found.get_tenants())
        # Session and endpoint settings stay the fetcher's own.
        self.assertTrue(self.network.last_request.url.startswith(
            aetos_fakes.AETOS_INTERNAL + '/api/v1/query?'))
        [token_request] = fakes.token_requests(self.network)
        self.assertEqual(
            {'name': 'cloudkitty', 'password': aetos_fakes.PASSWORD,
             'domain': {'id': 'default'}},
            token_request.json()['auth']['identity']['password']['user'])

    def test_auth_section_nothing_else_registers(self):
        found = self._from_file('aetos_credentials')
        self.network.get(aetos_fakes.AETOS_INTERNAL + '/api/v1/query',
                         json=aetos_fakes.vector([({'project_id': 'p2'},
                                                   1)]))
        self.assertEqual(['p2'], found.get_tenants())
        self.assertEqual(1, len(fakes.token_requests(self.network)))


class AetosFetcherQueryTest(FetcherTestCase):

    def test_query_sent(self):
        found = self.start()
        self.assertEqual(
            'count by (project_id) (last_over_time(ck_instance_up[%ds]))'
            % DEFAULT_WINDOW, self.sent_query(found))
        self.assertEqual(found.query, self.sent_query(found))
        request = self.network.last_request
        # Evaluated at Aetos' "now": no time, so Aetos 1.0.0 takes it too.
        self.assertEqual(['query'], list(aetos_fakes.query_params(request)))
        self.assertEqual(aetos_fakes.TOKEN_ID,
                         request.headers['X-Auth-Token'])

    def test_filters_sorted_and_escaped(self):
        found = self.start(filters={'flavor_name': 'm1."big"\\',
                                    'cluster': 'a\nb'})
        self.assertEqual(
            'count by (project_id) (last_over_time(ck_instance_up{'
            'cluster="a\\nb", flavor_name="m1.\\"big\\"\\\\"}[%ds]))'
            % DEFAULT_WINDOW, self.sent_query(found))

    def test_filter_value_cannot_close_the_selector(self):
        found = self.start(filters={'flavor_name': 'x"} or vector(1) #'})
        self.assertIn('{flavor_name="x\\"} or vector(1) #"}[',
                      self.sent_query(found))

    def test_filters_from_the_option_text(self):
        self.network = aetos_fakes.use_fake_network(self)
        fakes.configure(self)
        self.conf.set_override('filters', 'job:nova,region:one', GROUP)
        self.assertIn('ck_instance_up{job="nova", region="one"}[',
                      self.sent_query(aetos.AetosFetcher()))

    def test_scope_attribute(self):
        found = self.start(scope_attribute='tenant')
        self.answer([({'tenant': 't1'}, 2), ({'project_id': 'p1'}, 1)])
        self.assertEqual(['t1'], found.get_tenants())
        self.assertTrue(aetos_fakes.query_params(self.network.last_request)[
            'query'].startswith('count by (tenant) ('))

    def test_lookback_option(self):
        found = self.start(lookback=7200)
        self.assertIn('(ck_instance_up[7200s])', self.sent_query(found))

    def test_default_lookback_follows_collect(self):
        self.conf.set_override('period', 600, 'collect')
        self.conf.set_override('wait_periods', 0, 'collect')
        self.assertIn('[1800s]', self.sent_query(self.start()))
        self.assertEqual(1800, aetos.default_lookback())

    def _refused(self, **settings):
        error = self.assertRaises(aetos.AetosSetupError, self.start,
                                  **settings)
        # Refused before anything is asked of Keystone or Aetos.
        self.assertEqual([], self.network.request_history)
        return str(error)

    def test_scope_attribute_not_a_label_name(self):
        self.assertEqual(
            "[fetcher_aetos] scope_attribute: 'project-id' is not a valid "
            "Prometheus label name (ASCII letters, digits and _, not "
            "starting with a digit)",
            self._refused(scope_attribute='project-id'))
        self.assertIn("scope_attribute: '1project'",
                      self._refused(scope_attribute='1project'))
        self.assertIn("scope_attribute: ''",
                      self._refused(scope_attribute=''))

    def test_filter_name_not_a_label_name(self):
        self.assertIn("[fetcher_aetos] filters: 'flavor name' is not",
                      self._refused(filters={'flavor name': 'm1'}))
        self.assertIn("filters: 'a=\"b\",c'",
                      self._refused(filters={'a="b",c': 'd'}))

    def test_metric_not_a_metric_name(self):
        message = self._refused(metric='ck_instance_up{a="b"}')
        self.assertIn('[fetcher_aetos] metric: \'ck_instance_up{a="b"}\' is '
                      'not a valid Prometheus metric name', message)
        self.assertIn('metric: \'up or vector(1)\'',
                      self._refused(metric='up or vector(1)'))

    def test_metric_with_colons(self):
        found = self.start(metric='job:instance_up:max')
        self.assertIn('(job:instance_up:max[', self.sent_query(found))

    def test_metric_unset(self):
        self.assertEqual(
            '[fetcher_aetos] metric is not set: name the metric whose '
            'series show which scopes exist', self._refused(metric=None))


class AetosFetcherScopesTest(FetcherTestCase):

    def test_scopes_deduplicated_and_sorted(self):
        found = self.start()
        self.answer([({'project_id': 'p2'}, 3), ({'project_id': 'p1'}, 1),
                     ({'project_id': 'p2'}, 1)])
        self.assertEqual(['p1', 'p2'], found.get_tenants())

    def test_samples_without_the_label_ignored(self):
        found = self.start()
        self.answer([({}, 4), ({'project_id': 'p1'}, 1),
                     ({'tenant': 't1'}, 1), ({'project_id': ''}, 2)])
        self.assertEqual(['p1'], found.get_tenants())

    def test_no_series(self):
        found = self.start()
        self.answer([])
        self.assertEqual([], found.get_tenants())

    def test_each_pass_asks_again(self):
        found = self.start()
        self.network.get(aetos_fakes.AETOS_QUERY_URL, [
            {'json': aetos_fakes.vector([({'project_id': 'p1'}, 1)])},
            {'json': aetos_fakes.vector([({'project_id': 'p2'}, 1)])}])
        self.assertEqual(['p1'], found.get_tenants())
        self.assertEqual(['p2'], found.get_tenants())
        self.assertEqual(2, len(fakes.query_requests(self.network)))


class AetosFetcherFailureTest(FetcherTestCase):
    """A failed discovery: no scope this pass, one log line saying why."""

    def setUp(self):
        super(AetosFetcherFailureTest, self).setUp()
        self.fetcher = self.start()
        self.logs = fakes.capture_logs(self)

    def _fail(self, kind, **answer):
        if answer:
            self.answer(**answer)
        self.assertEqual([], self.fetcher.get_tenants())
        lines = [line for line in self.logs.output.splitlines() if line]
        self.assertEqual(1, len(lines), lines)
        [line] = lines
        self.assertTrue(line.startswith(
            'ERROR %s: Scope discovery through Aetos failed (%s)'
            % (aetos.__name__, kind.__name__)), line)
        self.assertNotIn(aetos_fakes.PASSWORD, line)
        self.assertNotIn(aetos_fakes.TOKEN_ID, line)
        return line

    def test_message(self):
        self.assertEqual(
            'ERROR %s: Scope discovery through Aetos failed (HTTPError), so '
            'this pass rates no scope; the next pass, in 3600 s, tries '
            'again: %s answered HTTP 500 (Prometheus is down): check that '
            'Aetos is running and can reach Keystone and Prometheus'
            % (aetos.__name__, AETOS),
            self._fail(errors.HTTPError, status_code=500,
                       json={'faultstring': 'Prometheus is down'}))
        # Not retried within the pass.
        self.assertEqual(1, len(fakes.query_requests(self.network)))

    def test_keystone_refuses_a_new_token(self):
        # Aetos refuses the token; Keystone refuses the credentials now.
        self.network.post(aetos_fakes.TOKEN_URL, status_code=401,
                          json={'error': {'code': 401}})
        line = self._fail(errors.KeystoneError,
                          status_code=401, json={'error': {'code': 401}})
        self.assertIn('Keystone at %s refused the [fetcher_aetos] '
                      'credentials' % aetos_fakes.KEYSTONE_URL, line)
        self.assertEqual(2, len(fakes.token_requests(self.network)))

    def test_keystone_down(self):
        self.network.post(aetos_fakes.TOKEN_URL,
                          exc=requests.exceptions.ConnectionError)
        line = self._fail(errors.KeystoneError,
                          status_code=401, json={'error': {'code': 401}})
        self.assertIn('check [fetcher_aetos] auth_url', line)

    def test_aetos_unreachable(self):
        line = self._fail(errors.UnreachableError,
                          exc=requests.exceptions.ConnectionError)
        self.assertIn(AETOS + ' could not be connected to', line)

    def test_aetos_timeout(self):
        line = self._fail(errors.UnreachableError,
                          exc=requests.exceptions.ReadTimeout)
        self.assertIn('raise [fetcher_aetos] timeout', line)

    def test_forbidden(self):
        line = self._fail(errors.HTTPError, status_code=403,
                          json={'faultstring': 'RBAC Authorization Failed'})
        self.assertIn(AETOS + ' answered HTTP 403', line)

    def test_prometheus_error(self):
        line = self._fail(errors.QueryError, json={
            'status': 'error', 'errorType': 'execution',
            'error': 'query timed out'})
        self.assertIn('(execution: query timed out)', line)

    def test_not_json(self):
        line = self._fail(errors.NotAPrometheusAnswer,
                          text='<html>Welcome</html>')
        self.assertIn('%s answered HTTP 200 with a body that is not JSON'
                      % AETOS, line)

    def test_json_not_a_result(self):
        self._fail(errors.NotAPrometheusAnswer,
                   json={'versions': []})

    def test_not_a_vector(self):
        line = self._fail(errors.NotAPrometheusAnswer, json={
            'status': 'success',
            'data': {'resultType': 'scalar', 'result': [1, '1']}})
        self.assertIn('%s answered a scalar to an instant query' % AETOS,
                      line)

    def test_next_pass_tries_again(self):
        self.network.get(aetos_fakes.AETOS_QUERY_URL, [
            {'exc': requests.exceptions.ConnectionError},
            {'json': aetos_fakes.vector([({'project_id': 'p1'}, 1)])}])
        self._fail(errors.UnreachableError)
        self.assertEqual(['p1'], self.fetcher.get_tenants())


class AetosFetcherSetupTest(FetcherTestCase):
    """Start-up problems are the collector's, named for [fetcher_aetos]."""

    def test_no_auth_type(self):
        error = self.assertRaises(aetos.AetosSetupError, self.start,
                                  auth_type=None)
        self.assertIn('[fetcher_aetos] auth_type is not set', str(error))

    def test_no_aetos_in_catalog(self):
        error = self.assertRaises(aetos.AetosSetupError, self.start,
                                  with_aetos=False)
        self.assertIn("No 'metric-storage' endpoint", str(error))
        self.assertIn('fix [fetcher_aetos] interface and region_name',
                      str(error))

    def test_keystone_refuses_at_start(self):
        network = aetos_fakes.use_fake_network(self)
        network.post(aetos_fakes.TOKEN_URL, status_code=401,
                     json={'error': {'code': 401}})
        fakes.configure(self)
        error = self.assertRaises(aetos.AetosSetupError, aetos.AetosFetcher)
        self.assertIn('refused the [fetcher_aetos] credentials', str(error))
        self.assertNotIn(aetos_fakes.PASSWORD, str(error))

    def test_member_gets_the_one_project_warning(self):
        logs = fakes.capture_logs(self, logging.WARNING)
        self.start(roles=('member',))
        [line] = [line for line in logs.output.splitlines() if line]
        self.assertTrue(line.startswith(
            'WARNING cloudkitty.common.aetos_setup: The [fetcher_aetos] '
            'user has neither the admin nor the service role'), line)

    def test_service_role_no_warning(self):
        logs = fakes.capture_logs(self, logging.WARNING)
        self.start(roles=('service',))
        self.assertEqual('', logs.output)

    def test_session_settings_reach_requests(self):
        self.sent_query(self.start())
        self.assertEqual(60, self.network.last_request.timeout)
        self.assertTrue(self.network.last_request.verify)
        self.sent_query(self.start(timeout=7, insecure=True))
        self.assertEqual(7, self.network.last_request.timeout)
        self.assertFalse(self.network.last_request.verify)
