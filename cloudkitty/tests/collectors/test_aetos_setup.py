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
"""Options of an Aetos group and what connect() makes of them."""
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from oslo_config import cfg
import requests
from requests import adapters as requests_adapters

from cloudkitty.collector import aetos
from cloudkitty.common import aetos_client
from cloudkitty.common import aetos_setup
from cloudkitty.common import prometheus_errors
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

GROUP = aetos.COLLECTOR_AETOS_OPTS
QUERY = 'vector(1)'


class OptionsTest(tests.TestCase):

    def test_defaults(self):
        group = self.conf[GROUP]
        self.assertEqual('public', group.interface)
        self.assertIsNone(group.region_name)
        self.assertEqual(60, group.timeout)
        self.assertIsNone(group.cafile)
        self.assertFalse(group.insecure)
        self.assertIsNone(group.auth_type)
        for name in aetos_setup.RETRY_OPTION_NAMES:
            self.assertIsNone(group[name], name)

    def test_interface_choices(self):
        for interface in ('internal', 'public', 'admin'):
            self.conf.set_override('interface', interface, GROUP)
            self.assertEqual(interface, self.conf[GROUP].interface)
        # keystoneclient's old spelling is not a choice.
        self.assertRaises(ValueError, self.conf.set_override,
                          'interface', 'internalURL', GROUP)

    def test_list_opts(self):
        [(group, opts)] = aetos_setup.list_opts('fetcher_aetos')
        self.assertEqual('fetcher_aetos', group)
        by_name = {opt.dest: opt for opt in opts}
        self.assertEqual(len(opts), len(by_name))
        for name in (('interface', 'region_name', 'cafile', 'certfile',
                      'keyfile', 'insecure', 'timeout', 'auth_type',
                      'auth_section', 'auth_url', 'username', 'password',
                      'project_name') + aetos_setup.RETRY_OPTION_NAMES):
            self.assertIn(name, by_name)
        self.assertEqual(60, by_name['timeout'].default)
        self.assertTrue(by_name['password'].secret)
        for opt in opts:
            self.assertTrue(opt.help, opt.dest)

    def test_collector_lists_its_group(self):
        [(group, opts)] = aetos.list_opts()
        [(_, expected)] = aetos_setup.list_opts(GROUP)
        self.assertEqual(GROUP, group)
        listed = [opt.dest for opt in opts]
        for opt in expected:
            self.assertIn(opt.dest, listed)

    def test_register_opts_on_two_groups(self):
        conf = cfg.ConfigOpts()
        aetos_setup.register_opts(conf, 'one')
        aetos_setup.register_opts(conf, 'two')
        conf(args=[], default_config_files=[])
        conf.set_override('timeout', 5, 'one')
        conf.set_override('interface', 'internal', 'two')
        self.assertEqual((5, 'public'), (conf.one.timeout,
                                         conf.one.interface))
        self.assertEqual((60, 'internal'), (conf.two.timeout,
                                            conf.two.interface))


class ConnectTest(tests.TestCase):
    """connect() against a fake Keystone with Aetos in its catalog."""

    def setUp(self):
        super(ConnectTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)

    def _answer_token(self, **answer):
        """Replace the fake Keystone's answer to token requests."""
        answer.setdefault('headers', {'X-Subject-Token': aetos_fakes.TOKEN_ID})
        answer.setdefault('status_code', 201)
        self.network.post(aetos_fakes.TOKEN_URL, **answer)

    def _connect(self, pool_size=1, **settings):
        aetos_fakes.configure_keystone(self, **settings)
        return aetos_setup.connect(self.conf, GROUP, pool_size=pool_size)

    def _refused(self, **settings):
        return self.assertRaises(aetos_setup.AetosSetupError, self._connect,
                                 **settings)

    def test_public_endpoint_by_default(self):
        client = self._connect()
        self.assertIsInstance(client, aetos_client.AetosClient)
        self.assertEqual(aetos_fakes.AETOS_PUBLIC, client.url)
        self.assertEqual(GROUP, client.group)
        self.assertEqual(1, len(aetos_fakes.token_requests(self.network)))

    def test_internal_endpoint(self):
        self.assertEqual(aetos_fakes.AETOS_INTERNAL,
                         self._connect(interface='internal').url)

    def test_region_endpoint(self):
        self.assertEqual(aetos_fakes.AETOS_REGION_TWO,
                         self._connect(region_name='RegionTwo').url)

    def test_no_endpoint_for_region(self):
        error = self._refused(region_name='RegionThree')
        self.assertEqual(
            "No 'metric-storage' endpoint with interface 'public' in region "
            "'RegionThree' in the Keystone catalog: register Aetos there or "
            "fix [collector_aetos] interface and region_name", str(error))

    def test_no_endpoint_for_interface(self):
        message = str(self._refused(interface='admin'))
        for fact in (aetos_setup.SERVICE_TYPE, "interface 'admin'",
                     'any region', '[%s]' % GROUP):
            self.assertIn(fact, message)

    def test_no_aetos_in_catalog(self):
        self._answer_token(json=aetos_fakes.token_body(with_aetos=False))
        message = str(self._refused())
        for fact in (aetos_setup.SERVICE_TYPE, "interface 'public'",
                     'any region', '[%s]' % GROUP):
            self.assertIn(fact, message)

    def _keystone_fails(self, **answer):
        self.network.post(aetos_fakes.TOKEN_URL, **answer)
        error = self._refused()
        message = str(error)
        self.assertIn('Keystone at %s' % aetos_fakes.KEYSTONE_URL, message)
        self.assertIn('[%s]' % GROUP, message)
        self.assertNotIn(aetos_fakes.PASSWORD, message)
        self.assertEqual([], aetos_fakes.aetos_queries(self.network))
        return error

    def test_keystone_refuses_credentials(self):
        error = self._keystone_fails(status_code=401, json={'error': {
            'code': 401, 'title': 'Unauthorized',
            'message': 'The request you have made requires '
                       'authentication.'}})
        self.assertIsInstance(error.__cause__, ks_exc.Unauthorized)
        self.assertIn('401', str(error))

    def test_keystone_down(self):
        error = self._keystone_fails(exc=requests.exceptions.ConnectionError)
        self.assertIsInstance(error.__cause__, ks_exc.ConnectFailure)

    def test_keystone_tls_failure(self):
        error = self._keystone_fails(
            exc=aetos_fakes.tls_failure('keystone.test'))
        self.assertIsInstance(error.__cause__, ks_exc.SSLError)
        self.assertIn('self-signed certificate', str(error))

    def test_credentials_without_project(self):
        # Keystone's answer to credentials without a project: a token for
        # no project, without catalog.
        self._answer_token(json=ks_fixture.V3Token(user_name='cloudkitty'))
        error = self._refused(project_name=None, project_domain_id=None)
        self.assertEqual(
            'The [collector_aetos] credentials are not project-scoped '
            '(Keystone at http://keystone.test:5000/v3 gave a token for no '
            'project): set project_id, or project_name with '
            'project_domain_name or project_domain_id', str(error))
        [token_request] = aetos_fakes.token_requests(self.network)
        self.assertNotIn('scope', token_request.json()['auth'])

    def test_no_auth_type(self):
        error = self._refused(auth_type=None)
        self.assertEqual('[collector_aetos] auth_type is not set: Aetos '
                         'needs Keystone credentials', str(error))
        self.assertEqual([], self.network.request_history)

    def test_session_settings_reach_requests(self):
        client = self._connect(timeout=7, insecure=True)
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        client.get_instant(QUERY)
        [token_request] = aetos_fakes.token_requests(self.network)
        for sent in (token_request, self.network.last_request):
            self.assertEqual(7, sent.timeout)
            self.assertFalse(sent.verify)

    def test_default_timeout_and_cafile_reach_requests(self):
        client = self._connect(cafile='/etc/ssl/aetos-ca.pem')
        self.network.get(aetos_fakes.AETOS_QUERY_URL,
                         json=aetos_fakes.vector([]))
        client.get_instant(QUERY)
        self.assertEqual(60, self.network.last_request.timeout)
        self.assertEqual('/etc/ssl/aetos-ca.pem',
                         self.network.last_request.verify)

    def test_retry_options_reach_the_adapter(self):
        # keystoneauth takes a delay of 0 for "unset" (backing off from
        # 0.5 s): a small one keeps the test fast.
        client = self._connect(connect_retries=1, connect_retry_delay=0.01,
                               status_code_retries=1,
                               status_code_retry_delay=0.01)
        self.network.get(aetos_fakes.AETOS_QUERY_URL, [
            {'exc': requests.exceptions.ConnectionError},
            {'status_code': 503, 'text': 'busy'},
            {'json': aetos_fakes.vector([])}])
        self.assertEqual(aetos_fakes.vector([]), client.get_instant(QUERY))
        self.assertEqual(3, len(aetos_fakes.aetos_queries(self.network)))

    def test_no_retry_by_default(self):
        client = self._connect()
        self.network.get(aetos_fakes.AETOS_QUERY_URL, [
            {'status_code': 503, 'text': 'busy'},
            {'json': aetos_fakes.vector([])}])
        error = self.assertRaises(prometheus_errors.HTTPError,
                                  client.get_instant, QUERY)
        self.assertEqual(503, error.status)
        self.assertEqual(1, len(aetos_fakes.aetos_queries(self.network)))

    def _pool_sizes(self, client):
        http = client.session.session
        sizes = set()
        for scheme in ('http://', 'https://'):
            adapter = http.adapters[scheme]
            # keystoneauth's adapter, for its TCP keep-alive settings.
            self.assertIsInstance(adapter, ks_session.TCPKeepAliveAdapter)
            sizes.add(adapter.poolmanager.connection_pool_kw['maxsize'])
        return sizes

    def test_pool_size(self):
        self.assertEqual({40}, self._pool_sizes(self._connect(pool_size=40)))

    def test_pool_never_below_requests_default(self):
        floor = requests_adapters.DEFAULT_POOLSIZE
        for pool_size in (1, 2, floor - 1):
            self.assertEqual({floor}, self._pool_sizes(
                self._connect(pool_size=pool_size)))


class OtherGroupTest(tests.TestCase):
    """A second group (the fetcher's) is read and named on its own."""

    OTHER = 'fetcher_aetos_test'

    def setUp(self):
        super(OtherGroupTest, self).setUp()
        self.auth.stop()
        self.session.stop()
        self.network = aetos_fakes.use_fake_network(self)
        self.other = cfg.ConfigOpts()
        aetos_setup.register_opts(self.other, self.OTHER)
        self.other(args=[], default_config_files=[])
        # What keystoneauth registers once auth_type is known.
        self.other.register_opts(
            ks_loading.get_auth_plugin_conf_options('v3password'),
            group=self.OTHER)
        for name, value in (('auth_type', 'v3password'),
                            ('auth_url', aetos_fakes.KEYSTONE_URL),
                            ('username', 'cloudkitty'),
                            ('password', aetos_fakes.PASSWORD),
                            ('user_domain_id', 'default'),
                            ('project_name', 'service'),
                            ('project_domain_id', 'default'),
                            ('interface', 'internal')):
            self.other.set_override(name, value, self.OTHER)

    def test_connect_reads_its_group(self):
        client = aetos_setup.connect(self.other, self.OTHER)
        self.assertEqual(aetos_fakes.AETOS_INTERNAL, client.url)
        self.assertEqual(self.OTHER, client.group)
        self.assertEqual('public', self.conf[GROUP].interface)

    def test_errors_name_the_group(self):
        self.other.set_override('region_name', 'RegionThree', self.OTHER)
        error = self.assertRaises(aetos_setup.AetosSetupError,
                                  aetos_setup.connect, self.other, self.OTHER)
        self.assertIn('[%s] interface' % self.OTHER, str(error))
        self.assertNotIn(GROUP, str(error))


class OneProjectWarningTest(tests.TestCase):
    """Aetos narrows the queries of a user without an all-projects role."""

    def setUp(self):
        super(OneProjectWarningTest, self).setUp()
        self.logs = aetos_fakes.hear_warnings(self, aetos_setup)
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)

    def _warnings(self, roles):
        """The warnings of one start-up whose token carries ``roles``."""
        before = len(aetos_fakes.warning_lines(self.logs))
        self.network.post(aetos_fakes.TOKEN_URL,
                          json=aetos_fakes.token_body(roles),
                          headers={'X-Subject-Token': aetos_fakes.TOKEN_ID},
                          status_code=201)
        aetos_setup.connect(self.conf, GROUP)
        return aetos_fakes.warning_lines(self.logs)[before:]

    def test_member_and_reader(self):
        self.assertEqual([
            'WARNING cloudkitty.common.aetos_setup The [collector_aetos] '
            'user has neither the admin nor the service role on its project '
            '(its roles: member, reader). Aetos will narrow every query to '
            "that user's own project, so all other projects would look "
            'idle. Give the user the service (or admin) role on its project '
            '(Aetos policy telemetry:query:all_projects).'],
            self._warnings(('reader', 'member')))

    def test_no_role(self):
        [warning] = self._warnings(())
        self.assertIn('(its roles: none)', warning)

    def test_admin_and_service_see_every_project(self):
        for roles in (('admin', 'member', 'reader'), ('service',),
                      ('Admin',), ('SERVICE', 'reader')):
            self.assertEqual([], self._warnings(roles), roles)
