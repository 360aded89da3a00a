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
import functools
import logging
import re
import types

import fixtures
from keystoneauth1 import loading as ks_loading
import requests
from stevedore import driver

from cloudkitty.collector import aetos as aetos_collector
from cloudkitty.common import aetos_client
from cloudkitty.common import aetos_setup
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import fetcher
from cloudkitty.fetcher import aetos
from cloudkitty.fetcher import scope_ids
from cloudkitty import orchestrator
from cloudkitty import storage_state
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes
from cloudkitty.tests.fetchers import aetos_fetcher_fakes as fakes
from cloudkitty.utils import tz as tzutils

GROUP = fakes.GROUP
AETOS = 'Aetos at ' + fakes.AETOS_URL
# ([collect] wait_periods 2 + 3) periods of 3600 s.
DEFAULT_WINDOW = 18000
UNAUTHORIZED = {'status_code': 401, 'json': {'error': {'code': 401}}}


class FetcherTestCase(tests.TestCase):

    def setUp(self):
        super(FetcherTestCase, self).setUp()
        # The processor's database holds the scope states.
        storage_state.StateManager().init()

    def start(self, roles=('admin',), with_aetos=True, **settings):
        self.network = fakes.use_fake_network(self, roles, with_aetos)
        fakes.configure(self, **settings)
        return aetos.AetosFetcher()

    def answer(self, samples=(), **answer):
        if not answer:
            answer = {'json': aetos_fakes.vector(samples)}
        self.network.get(fakes.QUERY_URL, **answer)

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
        fakes.use_fake_network(self)
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
        [token_request] = aetos_fakes.token_requests(self.network)
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
        self.assertEqual(1, len(aetos_fakes.token_requests(self.network)))


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
        self.network = fakes.use_fake_network(self)
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
        error = self.assertRaises(errors.ConfigurationError, self.start,
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
        self.network.get(fakes.QUERY_URL, [
            {'json': aetos_fakes.vector([({'project_id': 'p1'}, 1)])},
            {'json': aetos_fakes.vector([({'project_id': 'p2'}, 1)])}])
        self.assertEqual(['p1'], found.get_tenants())
        self.assertEqual(['p2'], found.get_tenants())
        self.assertEqual(2, len(fakes.queries(self.network)))


class AetosFetcherFailureTest(FetcherTestCase):
    """A failed discovery: no scope this pass, one log line saying why.

    Start-up asks nobody anything, so what needs Keystone or Aetos shows
    at the first pass, as one of the client's failure kinds.
    """

    # What the client says once it has found Aetos in the catalog.
    FOUND = ('INFO cloudkitty.common.aetos_client [fetcher_aetos]: '
             'querying Aetos at ' + fakes.AETOS_URL)

    def setUp(self):
        super(AetosFetcherFailureTest, self).setUp()
        self.logs = aetos_fakes.hear(self, level=logging.INFO)

    def failed_pass(self, found, case=None):
        """The one log line of a get_tenants() that found nothing."""
        before = len(aetos_fakes.log_lines(self.logs))
        self.assertEqual([], found.get_tenants(), case)
        lines = [line for line in aetos_fakes.log_lines(self.logs)[before:]
                 if line != self.FOUND]
        self.assertEqual(1, len(lines), (case, lines))
        [line] = lines
        self.assertTrue(line.startswith(
            'ERROR %s Scope discovery through Aetos failed ('
            % aetos.__name__), (case, line))
        self.assertNotIn(aetos_fakes.PASSWORD, line)
        self.assertNotIn(aetos_fakes.TOKEN_ID, line)
        self.assertNotIn(aetos_fakes.SECOND_TOKEN, line)
        return line

    def test_message(self):
        found = self.start()
        self.answer(status_code=500,
                    json={'faultstring': 'Prometheus is down'})
        self.assertEqual(
            'ERROR %s Scope discovery through Aetos failed (HTTPError), so '
            'this pass rates no scope; the next pass, in 3600 s, tries '
            'again: %s answered HTTP 500 (Prometheus is down): check that '
            'Aetos is running and can reach Keystone and Prometheus'
            % (aetos.__name__, AETOS), self.failed_pass(found))
        # Not retried within the pass.
        self.assertEqual(1, len(fakes.queries(self.network)))

    def test_any_failure_gives_no_scope_and_one_error(self):
        """The fetcher's own rule, whatever the kind of failure."""
        nested = '{"status": "success", "data": %s}' % (
            '[' * 100000 + ']' * 100000)

        def token(**body):
            return aetos_fakes.token_answer(aetos_url=fakes.AETOS_URL,
                                            **body)

        def result(samples):
            return {'json': {'status': 'success', 'data': {
                'resultType': 'vector', 'result': samples}}}

        # (case, Keystone's answer, Aetos' answer, kind, the fix named);
        # None stands for a working answer.
        cases = [
            ('wrong password', UNAUTHORIZED, None, errors.KeystoneError,
             'refused the [fetcher_aetos] credentials (HTTP 401): check '
             'the user, password'),
            ('keystone down', {'exc': requests.exceptions.ConnectionError},
             None, errors.KeystoneError,
             'check [fetcher_aetos] auth_url and that Keystone is running'),
            ('no aetos in the catalog', token(with_aetos=False), None,
             errors.KeystoneError,
             "No 'metric-storage' endpoint with interface 'public' in any "
             'region in the Keystone catalog: register Aetos there or fix '
             '[fetcher_aetos] interface and region_name'),
            ('member role', token(roles=('member',)), None,
             errors.RoleTooWeak,
             'Give it the service (or admin) role on its project, or list '
             "the role Aetos' telemetry:query:all_projects policy accepts "
             'in [fetcher_aetos] all_projects_roles'),
            ('aetos unreachable', None,
             {'exc': requests.exceptions.ConnectionError},
             errors.UnreachableError, 'check that Aetos is running'),
            ('aetos silent', None, {'exc': requests.exceptions.ReadTimeout},
             errors.AnswerTooSlow, 'raise [fetcher_aetos] timeout'),
            ('aetos refuses a fresh token', None, UNAUTHORIZED,
             errors.HTTPError, 'keystone_authtoken section must point to '
             'the Keystone that CloudKitty uses'),
            ('forbidden', None,
             {'status_code': 403,
              'json': {'faultstring': 'RBAC Authorization Failed'}},
             errors.HTTPError, 'give it the service (or admin) role there'),
            ('prometheus error', None,
             {'json': {'status': 'error', 'errorType': 'execution',
                       'error': 'query timed out'}},
             errors.QueryError, 'query timed out'),
            ('not json', None, {'text': '<html>Welcome</html>'},
             errors.NotAPrometheusAnswer, 'must be the root URL of Aetos'),
            ('json, not a result', None, {'json': {'versions': []}},
             errors.NotAPrometheusAnswer, 'must be the root URL of Aetos'),
            ('nested json', None, {'text': nested},
             errors.NotAPrometheusAnswer, 'must be the root URL of Aetos'),
            ('no result', None, {'json': {'status': 'success', 'data': {
                'resultType': 'vector'}}}, errors.NotAPrometheusAnswer,
             'must be the root URL of Aetos'),
            ('samples not objects', None, result([[1, 2]]),
             errors.NotAPrometheusAnswer, 'must be the root URL of Aetos'),
            ('labels not an object', None,
             result([{'metric': ['project_id'], 'value': [1, '1']}]),
             errors.NotAPrometheusAnswer, 'must be the root URL of Aetos'),
        ]
        for case, keystone_answer, aetos_answer, kind, fix in cases:
            found = self.start()
            # Nothing is asked of Keystone or Aetos at start-up.
            self.assertEqual([], self.network.request_history, case)
            if keystone_answer is not None:
                self.network.post(aetos_fakes.TOKEN_URL, **keystone_answer)
            self.answer(**(aetos_answer or
                           {'json': aetos_fakes.vector(
                               [({'project_id': 'p1'}, 1)])}))
            line = self.failed_pass(found, case)
            self.assertIn('failed (%s)' % kind.__name__, line, case)
            self.assertIn(fix, line, case)

    def test_unexpected_exception(self):
        found = self.start()
        self.useFixture(fixtures.MockPatchObject(
            storage_state.StateManager, 'get_all',
            side_effect=RuntimeError('db')))
        self.answer([({'project_id': 'p1'}, 1)])
        self.assertIn('failed (RuntimeError), so this pass rates no scope',
                      self.failed_pass(found))

    def test_next_pass_tries_again(self):
        found = self.start()
        self.network.get(fakes.QUERY_URL, [
            {'exc': requests.exceptions.ConnectionError},
            {'json': aetos_fakes.vector([({'project_id': 'p1'}, 1)])}])
        self.assertIn('failed (UnreachableError)', self.failed_pass(found))
        self.assertEqual(['p1'], found.get_tenants())

    def test_logins_bounded_across_passes(self):
        """A refusal costs one login per auth_retry_interval, not a pass.

        aetos_setup.client() takes no clock: AetosClient's documented
        ``clock`` argument is given where aetos_setup builds the client.
        """
        clock = aetos_fakes.FakeClock()
        self.useFixture(fixtures.MockPatchObject(
            aetos_setup, 'aetos_client', types.SimpleNamespace(
                AetosClient=functools.partial(aetos_client.AetosClient,
                                              clock=clock))))
        interval = 600
        # (case, Keystone's answer, Aetos' answer, kind, token requests
        # after each pass); passes at 0 s, 0 s, interval - 1 s and
        # interval s.
        cases = [
            ('wrong password', UNAUTHORIZED, None, errors.KeystoneError,
             [1, 1, 1, 2]),
            # One new token per interval for a 401; the first one at once.
            ('aetos refuses the token', None, UNAUTHORIZED,
             errors.HTTPError, [2, 2, 2, 3]),
        ]
        for case, keystone_answer, aetos_answer, kind, logins in cases:
            found = self.start(auth_retry_interval=interval)
            if keystone_answer is not None:
                self.network.post(aetos_fakes.TOKEN_URL, **keystone_answer)
            self.answer(**(aetos_answer or {}))
            counted = []
            for advance in (0, 0, interval - 1, 1):
                clock.advance(advance)
                self.assertIn('failed (%s)' % kind.__name__,
                              self.failed_pass(found, case))
                counted.append(len(aetos_fakes.token_requests(self.network)))
            self.assertEqual(logins, counted, case)


class AetosFetcherSetupTest(FetcherTestCase):
    """Start-up refuses what can be checked without the network only."""

    def _refused(self, **settings):
        error = self.assertRaises(errors.ConfigurationError, self.start,
                                  **settings)
        self.assertEqual([], self.network.request_history)
        return str(error)

    def test_no_auth_type(self):
        self.assertEqual(
            '[fetcher_aetos] auth_type is not set: Aetos needs Keystone '
            'credentials', self._refused(auth_type=None))

    def test_unknown_auth_type(self):
        self.assertIn('The [fetcher_aetos] auth options cannot be loaded',
                      self._refused(auth_type='no-such-plugin'))

    def test_service_role_no_warning(self):
        logs = aetos_fakes.hear(self)
        found = self.start(roles=('service',))
        self.answer([({'project_id': 'p1'}, 1)])
        self.assertEqual(['p1'], found.get_tenants())
        self.assertEqual([], aetos_fakes.log_lines(logs))

    def test_session_settings_reach_requests(self):
        self.sent_query(self.start())
        self.assertEqual(60, self.network.last_request.timeout)
        self.assertTrue(self.network.last_request.verify)
        self.sent_query(self.start(timeout=7, insecure=True))
        self.assertEqual(7, self.network.last_request.timeout)
        self.assertFalse(self.network.last_request.verify)


class AetosFetcherDroppedValuesTest(FetcherTestCase):
    """Label values no lock or state row can hold: named once a pass."""

    def setUp(self):
        super(AetosFetcherDroppedValuesTest, self).setUp()
        self.logs = aetos_fakes.hear(self)

    def warnings(self):
        return aetos_fakes.warning_lines(self.logs)

    def test_each_rule(self):
        cases = [
            ('\u00e9', 'not printable ASCII'),
            ('p\n1', 'not printable ASCII'),
            ('p\x7f', 'not printable ASCII'),
            ('a' * 257, '257 characters, over 256'),
            ('', 'empty or missing'),
            (5, 'not a string'),
        ]
        for value, reason in cases:
            found = self.start()
            self.answer([({'project_id': value}, 1),
                         ({'project_id': 'p1'}, 1)])
            before = len(self.warnings())
            self.assertEqual(['p1'], found.get_tenants(), value)
            [line] = self.warnings()[before:]
            self.assertIn(': 1 values of the project_id label', line)
            self.assertIn('%s (%s)' % (scope_ids.shown(value), reason),
                          line)

    def test_edges_kept(self):
        found = self.start()
        edges = ['a' * 256, ' ~', '!']
        self.answer([({'project_id': value}, 1) for value in edges])
        self.assertEqual(sorted(edges), found.get_tenants())
        self.assertEqual([], self.warnings())

    def test_missing_label_counts_as_empty(self):
        found = self.start()
        self.answer([({}, 1), ({'project_id': 'p1'}, 1)])
        self.assertEqual(['p1'], found.get_tenants())
        [line] = self.warnings()
        self.assertIn("'' (empty or missing)", line)

    def test_scope_id_pattern(self):
        found = self.start(scope_id_pattern='[0-9a-f]{32}')
        good = '0123456789abcdef0123456789abcdef'
        self.answer([({'project_id': good}, 1),
                     ({'project_id': good + '\n'}, 1),
                     ({'project_id': 'admin'}, 1)])
        self.assertEqual([good], found.get_tenants())
        [line] = self.warnings()
        self.assertIn("'admin' (not matching scope_id_pattern)", line)
        self.assertIn(": 2 values", line)

    def test_scope_id_pattern_not_a_regex(self):
        error = self.assertRaises(errors.ConfigurationError, self.start,
                                  scope_id_pattern='[0-9')
        self.assertIn("[fetcher_aetos] scope_id_pattern: '[0-9' is not a "
                      "regular expression", str(error))
        self.assertEqual([], self.network.request_history)

    def test_one_warning_per_pass_a_few_named(self):
        found = self.start()
        bad = ['\u00e9%d' % number for number in range(10)]
        self.answer([({'project_id': value}, 1) for value in bad] +
                    [({'project_id': 'p1'}, 1)])
        self.assertEqual(['p1'], found.get_tenants())
        [line] = self.warnings()
        self.assertEqual(
            "WARNING %s [fetcher_aetos]: 10 values of the project_id label "
            "of ck_instance_up cannot be scope IDs and are not rated: "
            "'\\xe90' (not printable ASCII); '\\xe91' (not printable "
            "ASCII); '\\xe92' (not printable ASCII); .... A scope ID is a "
            "printable ASCII string of 1 to 256 characters (what "
            "CloudKitty's locks and state table hold) matching "
            "scope_id_pattern when it is set: fix the label at its source, "
            "or leave such series out with [fetcher_aetos] filters"
            % aetos.__name__, line)
        found.get_tenants()
        self.assertEqual(2, len(self.warnings()))

    def test_long_value_shortened(self):
        found = self.start()
        self.answer([({'project_id': 'x' * 300}, 1)])
        self.assertEqual([], found.get_tenants())
        [line] = self.warnings()
        self.assertIn("'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (300 "
                      "characters, over 256)", line)

    def test_no_scope_after_some(self):
        found = self.start()
        self.network.get(fakes.QUERY_URL, [
            {'json': aetos_fakes.vector([({'project_id': 'p1'}, 1)])},
            {'json': aetos_fakes.vector([])},
            {'json': aetos_fakes.vector([])}])
        self.assertEqual(['p1'], found.get_tenants())
        self.assertEqual([], found.get_tenants())
        self.assertEqual([], found.get_tenants())
        [line] = self.warnings()
        self.assertIn('[fetcher_aetos]: discovery found no scope, where the '
                      'previous pass found 1', line)

    def test_scope_attribute_not_scope_key(self):
        self.start(scope_attribute='tenant')
        [line] = self.warnings()
        self.assertIn('[fetcher_aetos] scope_attribute is tenant but '
                      '[collect] scope_key is project_id', line)
        self.start(scope_attribute='project_id')
        self.assertEqual(1, len(self.warnings()))


class ScopeIdsTest(tests.TestCase):

    def test_sort_out(self):
        kept, dropped = scope_ids.sort_out(
            ['b', 'a', 'b', '\u00e9', '\u00e9', None, ''])
        self.assertEqual(['a', 'b'], kept)
        self.assertEqual([('\u00e9', 'not printable ASCII'),
                          (None, 'not a string'), ('', 'empty or missing')],
                         dropped)

    def test_mixed_types_sorted(self):
        kept, dropped = scope_ids.sort_out(['b', 1, 'a', 1.5, ['x']])
        self.assertEqual(['a', 'b'], kept)
        self.assertEqual(3, len(dropped))

    def test_fullmatch(self):
        pattern = re.compile('[a-z]+')
        self.assertIsNone(scope_ids.refusal('abc', pattern))
        self.assertEqual('not matching scope_id_pattern',
                         scope_ids.refusal('abc1', pattern))


class AetosFetcherKnownScopesTest(FetcherTestCase):
    """Scopes CloudKitty already rates, behind the discovery window."""

    def setUp(self):
        super(AetosFetcherKnownScopesTest, self).setUp()
        self.conf.set_override('backend', 'aetos', 'fetcher')
        self.conf.set_override('collector', 'aetos', 'collect')
        self.state = storage_state.StateManager()
        self.hour = tzutils.localized_now().replace(minute=0, second=0,
                                                    microsecond=0)

    def know(self, scope, hours_ago, active=True, fetcher='aetos',
             collector='aetos'):
        """A state row whose last processed period began hours_ago."""
        self.state.create_scope(
            scope, self.hour - datetime.timedelta(hours=hours_ago),
            fetcher=fetcher, collector=collector, scope_key='project_id',
            active=active)

    def discovery(self, discovered, recent=None):
        """The two answers: the window, then the catch-up query."""
        answers = [{'json': aetos_fakes.vector(
            [({'project_id': scope}, 1) for scope in discovered])}]
        if recent is not None:
            answers.append({'json': aetos_fakes.vector(
                [({'project_id': scope}, 1) for scope in recent])})
        self.network.get(fakes.QUERY_URL, answers)

    def queries(self):
        return [aetos_fakes.query_params(request)['query']
                for request in fakes.queries(self.network)]

    def window(self, query):
        return int(re.search(r'\[(\d+)s\]', query).group(1))

    def test_behind_with_samples_is_added(self):
        found = self.start()
        # Next period began 9 h ago: before the 5 h window.
        self.know('old', 10)
        self.discovery(['p1'], recent=['old', 'p1', 'other'])
        self.assertEqual(['old', 'p1'], found.get_tenants())
        first, catch_up = self.queries()
        self.assertEqual(found.query, first)
        since = self.hour - datetime.timedelta(hours=9)
        expected = (tzutils.localized_now() - since).total_seconds() + 60
        self.assertLessEqual(abs(self.window(catch_up) - expected), 5)
        self.assertTrue(catch_up.startswith(
            'count by (project_id) (last_over_time(ck_instance_up['))

    def test_behind_without_samples_not_added_nor_asked_again(self):
        found = self.start()
        self.know('gone', 10)
        self.discovery([], recent=[])
        self.assertEqual([], found.get_tenants())
        self.discovery([])
        self.assertEqual([], found.get_tenants())
        # The second pass asks the window only: samples since the first
        # pass would be in it.
        self.assertEqual(3, len(self.queries()))

    def test_asked_again_once_the_window_moved_past(self):
        found = self.start()
        self.know('gone', 10)
        self.discovery([], recent=[])
        found.get_tenants()
        later = tzutils.localized_now() + datetime.timedelta(hours=6)
        self.useFixture(fixtures.MockPatch(
            'cloudkitty.utils.tz.localized_now', return_value=later))
        self.discovery([], recent=['gone'])
        self.assertEqual(['gone'], found.get_tenants())
        # Only from the previous look on, not from its next period.
        self.assertLess(self.window(self.queries()[-1]), 7 * 3600)

    def test_not_behind(self):
        found = self.start()
        # Due (2 h ago + wait_periods 2) but inside the window: the
        # window's own discovery would see its samples.
        self.know('recent', 3)
        # Not due at all.
        self.know('fresh', 1)
        self.discovery([])
        self.assertEqual([], found.get_tenants())
        self.assertEqual(1, len(self.queries()))

    def test_deactivated_other_fetcher_or_collector_never_added(self):
        found = self.start()
        self.know('off', 10, active=False)
        self.know('keystone', 10, fetcher='keystone')
        self.know('gnocchi', 10, collector='gnocchi')
        self.discovery(['p1'])
        self.assertEqual(['p1'], found.get_tenants())
        self.assertEqual(1, len(self.queries()))

    def test_discovered_not_asked_again(self):
        found = self.start()
        self.know('p1', 10)
        self.discovery(['p1'])
        self.assertEqual(['p1'], found.get_tenants())
        self.assertEqual(1, len(self.queries()))

    def test_paged(self):
        self.useFixture(fixtures.MockPatchObject(aetos, 'STATE_PAGE', 2))
        found = self.start()
        names = ['s%d' % number for number in range(5)]
        for name in names:
            self.know(name, 10)
        self.discovery([], recent=names)
        self.assertEqual(names, found.get_tenants())

    def test_window_bounded(self):
        found = self.start(catch_up_window=86400)
        self.know('ancient', 24 * 60)
        self.discovery([], recent=['ancient'])
        self.assertEqual(['ancient'], found.get_tenants())
        self.assertEqual(86400 + 60, self.window(self.queries()[-1]))

    def test_known_ids_follow_the_rules(self):
        found = self.start(scope_id_pattern='p.*')
        self.know('x1', 10)
        self.discovery([])
        self.assertEqual([], found.get_tenants())
        self.assertEqual(1, len(self.queries()))
