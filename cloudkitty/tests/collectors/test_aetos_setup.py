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
"""Options of an Aetos group and the client() that they describe."""
import time

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import fixture as ks_fixture
from oslo_config import cfg
import requests
from requests import adapters as requests_adapters

from cloudkitty.collector import aetos
from cloudkitty.common import aetos_client
from cloudkitty.common import aetos_setup
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes as fakes

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
        self.assertEqual(['admin', 'service'], group.all_projects_roles)
        self.assertEqual(300, group.auth_retry_interval)
        self.assertEqual(prometheus_client_base.ANSWER_TIMEOUT,
                         group.answer_timeout)
        self.assertEqual(prometheus_client_base.MAX_ANSWER_SIZE,
                         group.max_answer_size)

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
                      'project_name', 'all_projects_roles',
                      'auth_retry_interval', 'answer_timeout',
                      'max_answer_size') + aetos_setup.RETRY_OPTION_NAMES):
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


class ClientTest(tests.TestCase):
    """client() against a fake Keystone with Aetos in its catalog."""

    def setUp(self):
        super(ClientTest, self).setUp()
        self.network = fakes.use_fake_network(self)
        self.network.get(fakes.AETOS_QUERY_URL, json=fakes.vector([]))

    def _client(self, pool_size=1, **settings):
        fakes.configure_keystone(self, **settings)
        return aetos_setup.client(self.conf, GROUP, pool_size=pool_size)

    def _queried(self, **settings):
        """The Aetos URL a client with ``settings`` sends its query to."""
        for url in (fakes.AETOS_INTERNAL, fakes.AETOS_REGION_TWO):
            self.network.get(url + '/api/v1/query', json=fakes.vector([]))
        client = self._client(**settings)
        client.get_instant(QUERY)
        return client.url

    def _refused(self, kind=prometheus_errors.KeystoneError, **settings):
        """The error of the first query; nothing reached Aetos."""
        client = self._client(**settings)
        error = self.assertRaises(kind, client.get_instant, QUERY)
        self.assertEqual([], fakes.aetos_queries(self.network))
        return error

    def test_nothing_asked_at_construction(self):
        client = self._client()
        self.assertIsInstance(client, aetos_client.AetosClient)
        self.assertEqual((GROUP, ''), (client.group, client.url))
        self.assertEqual([], self.network.request_history)

    def test_public_endpoint_by_default(self):
        self.assertEqual(fakes.AETOS_PUBLIC, self._queried())
        self.assertEqual(1, len(fakes.token_requests(self.network)))

    def test_internal_endpoint(self):
        self.assertEqual(fakes.AETOS_INTERNAL,
                         self._queried(interface='internal'))

    def test_region_endpoint(self):
        self.assertEqual(fakes.AETOS_REGION_TWO,
                         self._queried(region_name='RegionTwo'))

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

    def _keystone_fails(self, **answer):
        self.network.post(fakes.TOKEN_URL, **answer)
        error = self._refused()
        message = str(error)
        self.assertIn('Keystone at %s' % fakes.KEYSTONE_URL, message)
        self.assertIn('[%s]' % GROUP, message)
        self.assertNotIn(fakes.PASSWORD, message)
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
        error = self._keystone_fails(exc=fakes.tls_refusal('keystone.test'))
        self.assertIsInstance(error.__cause__, ks_exc.SSLError)
        self.assertIn('self-signed certificate', str(error))

    def test_credentials_without_project(self):
        self.network.post(fakes.TOKEN_URL, status_code=201,
                          json=ks_fixture.V3Token(user_name='cloudkitty'),
                          headers={'X-Subject-Token': fakes.TOKEN_ID})
        error = self._refused(project_name=None, project_domain_id=None)
        self.assertIn('where Aetos needs a project-scoped one', str(error))
        [token_request] = fakes.token_requests(self.network)
        self.assertNotIn('scope', token_request.json()['auth'])

    def test_no_auth_type(self):
        error = self.assertRaises(prometheus_errors.ConfigurationError,
                                  self._client, auth_type=None)
        self.assertEqual('[collector_aetos] auth_type is not set: Aetos '
                         'needs Keystone credentials', str(error))
        self.assertEqual([], self.network.request_history)

    def test_auth_options_that_cannot_load(self):
        error = self.assertRaises(prometheus_errors.ConfigurationError,
                                  self._client, auth_type='no-such-plugin')
        self.assertEqual(
            'The [collector_aetos] auth options cannot be loaded '
            '(NoMatchingPlugin): check auth_type and the options it needs',
            str(error))
        self.assertEqual([], self.network.request_history)

    def test_session_settings_reach_requests(self):
        self._client(timeout=7, insecure=True).get_instant(QUERY)
        [token_request] = fakes.token_requests(self.network)
        for sent in (token_request, self.network.last_request):
            self.assertEqual(7, sent.timeout)
            self.assertFalse(sent.verify)

    def test_default_timeout_and_cafile_reach_requests(self):
        self._client(cafile='/etc/ssl/aetos-ca.pem').get_instant(QUERY)
        self.assertEqual(60, self.network.last_request.timeout)
        self.assertEqual('/etc/ssl/aetos-ca.pem',
                         self.network.last_request.verify)

    def test_answer_bounds_reach_the_client(self):
        client = self._client(answer_timeout=15, max_answer_size=4096)
        self.assertEqual((15, 4096), (client.answer_timeout,
                                      client.max_answer_size))

    def test_all_projects_roles_option(self):
        self.network.post(fakes.TOKEN_URL,
                          **fakes.token_answer(roles=('telemetry',)))
        self._refused(prometheus_errors.RoleTooWeak)
        self.network.reset_mock()
        self._client(all_projects_roles=['telemetry']).get_instant(QUERY)
        self.assertEqual(1, len(fakes.aetos_queries(self.network)))

    def test_auth_retry_interval_option(self):
        # The smallest interval the option allows, on the real clock.
        self.network.post(fakes.TOKEN_URL, [
            {'status_code': 401}, fakes.token_answer()])
        client = self._client(auth_retry_interval=1)
        for _ in range(2):
            self.assertRaises(prometheus_errors.KeystoneError,
                              client.get_instant, QUERY)
        self.assertEqual(1, len(fakes.token_requests(self.network)))
        time.sleep(1.05)
        client.get_instant(QUERY)
        self.assertEqual(2, len(fakes.token_requests(self.network)))

    def test_retry_options_reach_the_adapter(self):
        # keystoneauth takes a delay of 0 for "unset" (backing off from
        # 0.5 s): a small one keeps the test fast.
        client = self._client(connect_retries=1, connect_retry_delay=0.01,
                              status_code_retries=1,
                              status_code_retry_delay=0.01)
        self.network.get(fakes.AETOS_QUERY_URL, [
            {'exc': requests.exceptions.ConnectionError},
            {'status_code': 503, 'text': 'busy'},
            {'json': fakes.vector([])}])
        self.assertEqual(fakes.vector([]), client.get_instant(QUERY))
        self.assertEqual(3, len(fakes.aetos_queries(self.network)))

    def test_no_retry_by_default(self):
        client = self._client()
        self.network.get(fakes.AETOS_QUERY_URL, [
            {'status_code': 503, 'text': 'busy'},
            {'json': fakes.vector([])}])
        error = self.assertRaises(prometheus_errors.HTTPError,
                                  client.get_instant, QUERY)
        self.assertEqual(503, error.status)
        self.assertEqual(1, len(fakes.aetos_queries(self.network)))

    def test_pool_size(self):
        self.assertEqual({40}, fakes.pool_sizes(
            self._client(pool_size=40).session.session))

    def test_pool_never_below_requests_default(self):
        floor = requests_adapters.DEFAULT_POOLSIZE
        for pool_size in (1, 2, floor - 1):
            self.assertEqual({floor}, fakes.pool_sizes(
                self._client(pool_size=pool_size).session.session))


class OtherGroupTest(tests.TestCase):
    """A second group (the fetcher's) is read and named on its own."""

    OTHER = 'fetcher_aetos_test'

    def setUp(self):
        super(OtherGroupTest, self).setUp()
        self.network = fakes.use_fake_network(self)
        aetos_setup.register_opts(self.conf, self.OTHER)
        fakes.configure_keystone(self, self.OTHER, interface='internal')

    def test_client_reads_its_group(self):
        url = fakes.AETOS_INTERNAL + '/api/v1/query'
        self.network.get(url, json=fakes.vector([]))
        client = aetos_setup.client(self.conf, self.OTHER)
        client.get_instant(QUERY)
        self.assertEqual(fakes.AETOS_INTERNAL, client.url)
        self.assertEqual(self.OTHER, client.group)
        self.assertEqual('public', self.conf[GROUP].interface)

    def test_errors_name_the_group(self):
        self.conf.set_override('region_name', 'RegionThree', self.OTHER)
        client = aetos_setup.client(self.conf, self.OTHER)
        error = self.assertRaises(prometheus_errors.KeystoneError,
                                  client.get_instant, QUERY)
        self.assertIn('[%s] interface' % self.OTHER, str(error))
        self.assertNotIn(GROUP, str(error))


class UnprotectedWarningTest(tests.TestCase):
    """What leaves the way to Aetos open is said at the first query."""

    def setUp(self):
        super(UnprotectedWarningTest, self).setUp()
        self.logs = fakes.hear(self, prometheus_client_base)
        self.network = fakes.use_fake_network(self)
        for url in (fakes.AETOS_QUERY_URL,
                    fakes.AETOS_REGION_TWO + '/api/v1/query'):
            self.network.get(url, json=fakes.vector([]))

    def _warnings(self, **settings):
        fakes.configure_keystone(self, **settings)
        client = aetos_setup.client(self.conf, GROUP)
        self.assertEqual([], fakes.log_lines(self.logs))
        for _ in range(2):
            client.get_instant(QUERY)
        return fakes.log_lines(self.logs)

    def test_plain_http(self):
        self.assertEqual([
            'WARNING cloudkitty.common.prometheus_client_base Aetos at '
            'http://aetos.test/metric-storage is reached over plain HTTP: '
            'credentials and usage cross the network unencrypted; use '
            'https'], self._warnings())

    def test_insecure(self):
        self.assertEqual([
            'WARNING cloudkitty.common.prometheus_client_base Aetos at '
            'https://aetos.region-two.test: its TLS certificate is not '
            'verified ([collector_aetos] insecure is true), so anyone on '
            'the way can read the credentials and the answers: set the CA '
            'bundle in [collector_aetos] cafile instead'],
            self._warnings(region_name='RegionTwo', insecure=True))

    def test_https_verified(self):
        self.assertEqual([], self._warnings(region_name='RegionTwo'))
