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
"""The Aetos collector, against a fake Keystone and a fake Aetos."""
import copy
import os

import fixtures
from keystoneauth1 import loading as ks_loading
import requests
from requests import adapters as requests_adapters
import voluptuous

from cloudkitty import collector
from cloudkitty.collector import aetos
from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import prometheus
from cloudkitty.collector import prometheus_base
from cloudkitty.common import aetos_client
from cloudkitty.common import aetos_setup
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors
from cloudkitty import dataframe
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

SCOPE = 'd4c0ffee7e5b4c2a9f3e1b0a8c7d6e5f'
METRICS = {'metrics': {'instance_up': {'unit': 'instance',
                                       'groupby': ['flavor']}}}
# The query of instance_up for SCOPE, its selector pinned to the end.
PINNED = ('max(max_over_time(instance_up{project_id="%s"}[3600s] @ %d)) '
          'by (flavor, project_id)' % (SCOPE, aetos_fakes.END_UNIX))
ANSWER = aetos_fakes.vector([({'flavor': 'm1.tiny', 'project_id': SCOPE},
                              '1')])
POINTS = [dataframe.DataPoint(
    'instance', '1', 0,
    dict(flavor='m1.tiny', project_id=SCOPE, **aetos_fakes.TIME_GROUPBY),
    {})]
# A metric whose query_suffix holds a selector of its own, which "@" on
# the collector's selector does not pin.
UNPINNABLE = {'unit': 'instance',
              'extra_args': {'query_suffix': 'and on (project_id) up'}}


def _new_collector(metrics=METRICS):
    return aetos.AetosCollector(period=3600, conf=copy.deepcopy(metrics))


def _fetch(found, metric='instance_up'):
    return found.fetch_all(metric, aetos_fakes.START, aetos_fakes.END, SCOPE)


class GetCollectorTest(tests.TestCase):
    """What cloudkitty-processor does to load the collector."""

    def _metrics_file(self, workdir, metric='    unit: instance\n'):
        metrics_file = os.path.join(workdir, 'metrics.yml')
        with open(metrics_file, 'w') as out:
            out.write('metrics:\n  instance_up:\n' + metric)
        return metrics_file

    def _collect_from(self, metrics_file):
        self.conf.set_override('collector', 'aetos', 'collect')
        self.conf.set_override('metrics_conf', metrics_file, 'collect')

    def test_get_collector_loads_aetos_without_network(self):
        network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self._collect_from(self._metrics_file(
            self.useFixture(fixtures.TempDir()).path))

        loaded = collector.get_collector()

        self.assertIsInstance(loaded, aetos.AetosCollector)
        self.assertIsInstance(loaded, prometheus_base.PrometheusCollectorBase)
        self.assertIsInstance(loaded.client, aetos_client.AetosClient)
        self.assertEqual('collector_aetos', loaded.options_group)
        self.assertEqual(['instance_up'], list(loaded.conf))
        self.assertEqual([], network.request_history)
        # The endpoint is found at the first query.
        network.get(aetos_fakes.AETOS_QUERY_URL, json=ANSWER)
        _fetch(loaded)
        self.assertEqual(aetos_fakes.AETOS_PUBLIC, loaded.client.url)

    def test_bad_metrics_reported_before_keystone_is_asked(self):
        network = aetos_fakes.use_fake_network(self)
        network.post(aetos_fakes.TOKEN_URL, status_code=401)
        aetos_fakes.configure_keystone(self, password='wrong')
        self._collect_from(self._metrics_file(
            self.useFixture(fixtures.TempDir()).path,
            '    unit: instance\n    extra_args:\n'
            '      aggregation_method: median\n'))
        for load in (collector.get_collector,
                     lambda: aetos.AetosCollector(period=3600, conf={
                         'metrics': {'instance_up': {
                             'unit': 'instance', 'extra_args': {
                                 'aggregation_method': 'median'}}}})):
            error = self.assertRaises(voluptuous.Invalid, load)
            self.assertIn('aggregation_method', str(error))
        self.assertEqual([], network.request_history)

    def test_get_collector_from_a_config_file(self):
        """Options from cloudkitty.conf, as the processor reads them.

        keystoneauth's password options do not exist until the plugin is
        loaded, so only a file (not set_override) shows that a deployer's
        configuration is read as written.
        """
        workdir = self.useFixture(fixtures.TempDir()).path
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
                    self._metrics_file(workdir), aetos_fakes.KEYSTONE_URL,
                    aetos_fakes.PASSWORD))
        network = aetos_fakes.use_fake_network(self)
        self.auth.stop()
        self.session.stop()
        self.conf(args=['--config-file', conf_file], project='cloudkitty',
                  default_config_files=[])
        # Loading the plugin registers its options (auth_url required) on
        # the global configuration: leave none behind for later tests.
        self.addCleanup(self.conf.unregister_opts,
                        ks_loading.get_auth_plugin_conf_options('v3password'),
                        aetos.COLLECTOR_AETOS_OPTS)
        self.addCleanup(self.conf.reset)

        loaded = collector.get_collector()

        self.assertIsInstance(loaded, aetos.AetosCollector)
        self.assertEqual(['instance_up'], list(loaded.conf))
        self.assertEqual([], network.request_history)
        internal = aetos_fakes.AETOS_INTERNAL + '/api/v1/query'
        network.get(internal, json=ANSWER)
        [point] = _fetch(loaded)
        self.assertEqual(1, point.qty)
        self.assertEqual(aetos_fakes.AETOS_INTERNAL, loaded.client.url)
        [token_request] = aetos_fakes.token_requests(network)
        self.assertEqual(
            {'name': 'cloudkitty', 'password': aetos_fakes.PASSWORD,
             'domain': {'id': 'default'}},
            token_request.json()['auth']['identity']['password']['user'])


class AetosCollectorTest(tests.TestCase):
    """Against an Aetos that accepts ``time`` (2.0.0 and newer)."""

    def setUp(self):
        super(AetosCollectorTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self.network.get(aetos_fakes.AETOS_QUERY_URL, json=ANSWER)

    def test_pins_its_selector_and_sends_time(self):
        self.assertEqual(POINTS, _fetch(_new_collector()))
        [query] = aetos_fakes.aetos_queries(self.network)
        self.assertEqual({'query': PINNED,
                          'time': aetos_fakes.END.isoformat()},
                         aetos_fakes.query_params(query))
        self.assertEqual(aetos_fakes.TOKEN_ID, query.headers['X-Auth-Token'])

    def test_unpinnable_metric_works_with_time(self):
        found = _new_collector({'metrics': {'instance_up': UNPINNABLE}})
        [point] = _fetch(found)
        self.assertEqual(1, point.qty)
        [query] = aetos_fakes.aetos_queries(self.network)
        params = aetos_fakes.query_params(query)
        self.assertEqual(aetos_fakes.END.isoformat(), params['time'])
        self.assertTrue(params['query'].endswith(' and on (project_id) up'))

    def test_pool_follows_max_threads(self):
        # Each metric of a scope is fetched from its own thread. The
        # default differs between base releases: read it.
        self.conf.import_opt('max_threads', 'cloudkitty.orchestrator',
                             'orchestrator')
        default = self.conf.orchestrator.max_threads
        self.assertEqual(
            {max(default, requests_adapters.DEFAULT_POOLSIZE)},
            aetos_fakes.pool_sizes(
                _new_collector().client.session.session))
        self.conf.set_override('max_threads', 40, 'orchestrator')
        self.assertEqual({40}, aetos_fakes.pool_sizes(
                _new_collector().client.session.session))


class CheckConfigurationTest(tests.TestCase):
    """Metric definitions: those of the Prometheus collector, unchanged."""

    def test_every_aggregation_and_query_function(self):
        for method in prometheus_base.AGGREGATION_METHODS:
            for function in prometheus_base.QUERY_FUNCTIONS:
                definition = {'metrics': {'http_requests': {
                    'unit': 'request', 'groupby': ['code'],
                    'metadata': ['instance'],
                    'extra_args': {'aggregation_method': method,
                                   'query_function': function}}}}
                checked = aetos.AetosCollector.check_configuration(
                    copy.deepcopy(definition))
                self.assertEqual(
                    prometheus.PrometheusCollector.check_configuration(
                        copy.deepcopy(definition)), checked)
                [extra] = [m['extra_args'] for m in checked.values()]
                self.assertEqual((method, function),
                                 (extra['aggregation_method'],
                                  extra['query_function']))


class Aetos1Test(tests.TestCase):
    """Against Aetos 1.0.0, which refuses the ``time`` parameter."""

    def setUp(self):
        super(Aetos1Test, self).setUp()
        self.logs = aetos_fakes.hear(
            self, prometheus_client_base, prometheus_base, aetos_setup)
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        aetos_fakes.act_as_aetos_1(self.network, ANSWER)

    def _sent(self):
        return [aetos_fakes.query_params(r)
                for r in aetos_fakes.aetos_queries(self.network)]

    def test_same_points_without_time(self):
        found = _new_collector()
        self.assertEqual(POINTS, _fetch(found))
        self.assertEqual([{'query': PINNED,
                           'time': aetos_fakes.END.isoformat()},
                          {'query': PINNED}], self._sent())
        self.assertFalse(found.client.sends_time)
        # From now on one request per fetch, without time.
        for _ in range(2):
            self.assertEqual(POINTS, _fetch(found))
        self.assertEqual([{'query': PINNED}] * 2, self._sent()[2:])
        [warning] = aetos_fakes.log_lines(self.logs)
        self.assertIn('WARNING', warning)
        self.assertIn(aetos_fakes.AETOS_PUBLIC, warning)

    def test_bare_wsme_fault(self):
        # WSME's own fault, without Aetos' wrapping.
        aetos_fakes.act_as_aetos_1(self.network, ANSWER, refusal={
            'faultcode': 'Client', 'debuginfo': None,
            'faultstring': 'Unknown argument: "time"'})
        self.assertEqual(POINTS, _fetch(_new_collector()))
        self.assertEqual([{'query': PINNED}], self._sent()[1:])

    def test_unpinnable_metric_refused(self):
        found = _new_collector({'metrics': {'instance_up': METRICS[
            'metrics']['instance_up'], 'instance_state': UNPINNABLE}})
        error = self.assertRaises(collect_exc.CollectError, _fetch,
                                  found, 'instance_state')
        self.assertIsInstance(error.__cause__,
                              prometheus_errors.MetricNotPinned)
        self.assertEqual(
            'Metric instance_state cannot be collected from Aetos at '
            'http://aetos.test/metric-storage, which evaluates every query '
            'at "now": query_suffix: the selector up is evaluated at the '
            'query time. Use Aetos 2.0.0 or newer, or remove what reads the '
            'evaluation time from the metric definition', str(error))
        # Only the request that showed the server refuses time was sent.
        self.assertEqual(1, len(self._sent()))
        # Refused again without asking; the pinnable metric still works.
        error = self.assertRaises(collect_exc.CollectError, _fetch, found,
                                  'instance_state')
        self.assertIsInstance(error.__cause__,
                              prometheus_errors.MetricNotPinned)
        self.assertEqual(POINTS, _fetch(found))
        self.assertEqual([{'query': PINNED}], self._sent()[1:])

    def test_start_up_warning_lists_unpinnable_metrics(self):
        metrics = {'metrics': {
            'instance_up': METRICS['metrics']['instance_up'],
            'ram': {'unit': 'MiB', 'extra_args': {'query_prefix': 'time() -'}},
            'instance_state': UNPINNABLE}}
        _new_collector(metrics)
        self.assertEqual([
            'WARNING cloudkitty.collector.prometheus_base aetos collector: '
            'instance_state (query_suffix: the selector up is evaluated at '
            'the query time); ram (query_prefix: time() reads the evaluation '
            'time) cannot be pinned to the period end with @; they can only '
            'be collected from a server that accepts the time parameter '
            '(Aetos 2.0.0 or newer)'], aetos_fakes.log_lines(self.logs))
        self.assertEqual([], self._sent())


class FetchFaultTest(tests.TestCase):
    """Every fault of a fetch is a CollectError chained to its kind."""

    def setUp(self):
        super(FetchFaultTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        self.collector = _new_collector()

    def _fail(self, kind, **answer):
        if answer:
            self.network.get(aetos_fakes.AETOS_QUERY_URL, **answer)
        error = self.assertRaises(collect_exc.CollectError, _fetch,
                                  self.collector)
        self.assertIsInstance(error.__cause__, kind)
        message = str(error)
        self.assertEqual(str(error.__cause__), message)
        self.assertNotIn(aetos_fakes.PASSWORD, message)
        self.assertNotIn(aetos_fakes.TOKEN_ID, message)
        self.assertNotIn('\n', message)
        return error.__cause__

    def test_http_error(self):
        cause = self._fail(prometheus_errors.HTTPError, status_code=500, json={
            'error_message': {'faultcode': 'Server', 'debuginfo': None,
                              'faultstring': 'Prometheus is unreachable'}})
        self.assertNotIsInstance(cause, prometheus_errors.TimeNotSupported)
        self.assertEqual((aetos_fakes.AETOS_PUBLIC, 500),
                         (cause.url, cause.status))
        self.assertIn('Prometheus is unreachable', cause.detail)
        self.assertIn(aetos_fakes.AETOS_PUBLIC, str(cause))

    def test_time_refused_without_time(self):
        # The first refusal stops the client sending time; a refusal of
        # the query sent without it is the server's answer to that query.
        cause = self._fail(prometheus_errors.HTTPError,
                           status_code=400, json=aetos_fakes.TIME_REFUSED)
        self.assertNotIsInstance(cause, prometheus_errors.TimeNotSupported)
        self.assertEqual(400, cause.status)
        self.assertFalse(self.collector.client.sends_time)
        self.assertEqual([True, False], [
            aetos_fakes.carries_time(request)
            for request in aetos_fakes.aetos_queries(self.network)])

    def test_unreachable(self):
        cause = self._fail(prometheus_errors.UnreachableError,
                           exc=requests.exceptions.ConnectionError)
        self.assertEqual(aetos_fakes.AETOS_PUBLIC, cause.url)

    def test_prometheus_error(self):
        cause = self._fail(prometheus_errors.QueryError, json={
            'status': 'error', 'errorType': 'execution',
            'error': 'query timed out in expression evaluation'})
        self.assertEqual('execution', cause.error_type)
        self.assertIn('query timed out', str(cause))

    def test_not_a_prometheus_answer(self):
        cause = self._fail(prometheus_errors.NotAPrometheusAnswer,
                           text='<html><p>Welcome</p></html>')
        self.assertEqual(aetos_fakes.AETOS_PUBLIC, cause.url)
        self.assertIn('Welcome', str(cause))

    def test_keystone_refuses_the_login(self):
        self.network.post(aetos_fakes.TOKEN_URL, status_code=401, json={
            'error': {'code': 401, 'title': 'Unauthorized',
                      'message': 'The password is expired.'}})
        cause = self._fail(prometheus_errors.KeystoneError)
        self.assertEqual(aetos_fakes.KEYSTONE_URL, cause.url)
        self.assertEqual([], aetos_fakes.aetos_queries(self.network))

    def test_role_too_weak(self):
        self.network.post(aetos_fakes.TOKEN_URL, **aetos_fakes.token_answer(
            roles=('member',)))
        cause = self._fail(prometheus_errors.RoleTooWeak)
        self.assertEqual(['member'], cause.roles)
        self.assertEqual([], aetos_fakes.aetos_queries(self.network))

    def test_answer_too_large(self):
        self.conf.set_override('max_answer_size', 1024, 'collector_aetos')
        self.collector = _new_collector()
        cause = self._fail(prometheus_errors.AnswerTooLarge,
                           json=aetos_fakes.vector([({'pad': 'x' * 2000},
                                                     '1')]))
        self.assertEqual(1024, cause.limit)
        self.assertIn('[collector_aetos] max_answer_size', str(cause))


class TokenSharingTest(tests.TestCase):
    """One token for every query of every thread of a process."""

    def test_threads_share_the_collector(self):
        network = aetos_fakes.use_fake_network(self)
        aetos_fakes.configure_keystone(self)
        network.get(aetos_fakes.AETOS_QUERY_URL, json=ANSWER)
        found = _new_collector()

        results = aetos_fakes.run_in_threads(
            8, lambda: [_fetch(found) for _ in range(5)])

        self.assertEqual([[POINTS] * 5] * 8, results)
        self.assertEqual(1, len(aetos_fakes.token_requests(network)))
        queries = aetos_fakes.aetos_queries(network)
        self.assertEqual(40, len(queries))
        self.assertEqual({aetos_fakes.TOKEN_ID},
                         {r.headers['X-Auth-Token'] for r in queries})
