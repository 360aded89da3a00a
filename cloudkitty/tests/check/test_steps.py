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
"""The steps of cloudkitty-collector-check on a fake Keystone and Aetos."""
from cloudkitty.check import dry_run
from cloudkitty.check import report
from cloudkitty import storage_state
from cloudkitty.tests.check import check_fakes as fakes
from cloudkitty.tests.collectors import aetos_fakes


class HealthyTest(fakes.CheckTestCase):

    def test_every_step_ok_and_the_totals(self):
        network, aetos = fakes.deploy(self)
        out = self.check()
        self.assertEqual([], self.lines(out, report.PROBLEM))
        self.assert_every_step_ok(out, [
            ('configuration', 'metrics'),
            ('configuration', 'collector options'),
            ('configuration', 'pinning'), ('configuration', 'fetcher options'),
            ('connection', 'Keystone login'), ('connection', 'roles'),
            ('connection', 'catalog'), ('connection', 'time')])
        self.assertEqual(3, self.line(out, 'discovery', 'scopes')
                         .details['count'])

    def test_one_query_per_metric_whatever_the_scopes(self):
        scopes = ['project-%04d' % i for i in range(500)]
        usage = {'instance_up': [
            ({'project_id': scope, 'resource_id': 'vm'}, '1')
            for scope in scopes]}
        network, aetos = fakes.deploy(
            self, aetos=fakes.FakeServer(scopes=scopes, usage=usage))
        out = self.check()
        self.assertEqual(2, len(aetos.usage_queries()))
        line = self.line(out, 'dry run', 'instance_up')
        self.assertEqual((500, 500, '500', 1), (
            line.details['scopes_with_data'], line.details['points'],
            line.details['quantity'], line.details['queries']))
        self.assertIn('one per scope, 500', line.message)

    def test_the_configured_batching_is_said(self):
        fakes.deploy(self, scope_batching=True)
        out = self.check()
        self.assertNotIn('one per scope',
                         self.line(out, 'dry run', 'instance_up').message)

    def test_nothing_is_written_to_the_state(self):
        fakes.deploy(self)
        self.check()
        self.assertEqual([], storage_state.StateManager().get_all())

    def test_usage_of_scopes_not_found(self):
        fakes.deploy(self, aetos=fakes.FakeServer(scopes=['p1', 'p3']))
        out = self.check()
        missed = self.line(out, 'dry run', 'scopes not found')
        self.assertEqual((report.WARNING, ['p2']),
                         (missed.status, missed.details['examples']))
        self.assertEqual(report.EXIT_OK, out.exit_status)

    def test_progress_goes_to_stderr(self):
        fakes.deploy(self)
        self.check()
        said = self.stderr.getvalue().splitlines()
        self.assertEqual('cloudkitty-collector-check: configuration',
                         said[0])
        self.assertIn('cloudkitty-collector-check: discovery', said)


class ConfigurationTest(fakes.CheckTestCase):

    def test_a_collector_the_check_does_not_know(self):
        fakes.deploy(self)
        self.conf.set_override('collector', 'gnocchi', 'collect')
        out = self.check()
        self.assertEqual(report.EXIT_NOT_RUN, out.exit_status)
        self.assertEqual([('configuration', 'collector')], self.lines(out))

    def test_a_metric_the_schema_refuses(self):
        fakes.deploy(self, metrics=fakes.REFUSED_METRICS)
        out = self.check()
        self.assert_problem(out, 'configuration', 'metrics',
                            'does not fit the aetos collector')
        self.assertNotIn('connection', self.steps(out))

    def test_a_metrics_file_missing(self):
        fakes.deploy(self)
        self.conf.set_override('metrics_conf', '/nonexistent/metrics.yml',
                               'collect')
        out = self.check()
        self.assertEqual(report.EXIT_PROBLEMS, out.exit_status)
        self.assertIn('cannot be read',
                      self.line(out, 'configuration', 'metrics').message)

    def test_collector_options_that_cannot_work(self):
        fakes.deploy(self)
        self.conf.clear_override('auth_type', fakes.COLLECTOR_GROUP)
        out = self.check()
        line = self.line(out, 'configuration', 'collector options')
        self.assertEqual(report.PROBLEM, line.status)
        self.assertEqual('[collector_aetos] auth_type is not set: Aetos '
                         'needs Keystone credentials', line.message)

    def test_fetcher_options_that_cannot_work(self):
        fakes.deploy(self)
        self.conf.clear_override('metric', fakes.FETCHER_GROUP)
        self.assert_problem(self.check(), 'configuration', 'fetcher options',
                            '[fetcher_aetos] metric is not set')

    def test_unpinnable_metrics_are_named(self):
        metrics = {'metrics': {'instance_up': {
            'unit': 'instance',
            'extra_args': {'query_suffix': '* on() group_left up'}}}}
        fakes.deploy(self, metrics=metrics)
        out = self.check()
        line = self.line(out, 'configuration', 'pinning')
        self.assertEqual((report.WARNING, ['instance_up']),
                         (line.status, line.details['metrics']))
        # Aetos 2.0.0 takes time: the metric is collected.
        self.assertEqual(report.EXIT_OK, out.exit_status)


class ConnectionTest(fakes.CheckTestCase):

    def test_wrong_password(self):
        network, _aetos = fakes.deploy(self)
        out = self.check_wrong_password(network)
        self.assert_problem(out, 'connection', 'Keystone login',
                            'refused the [collector_aetos] credentials '
                            '(HTTP 401)')
        self.assertNotIn('discovery', self.steps(out))

    def test_no_metric_storage_endpoint(self):
        fakes.deploy(self, with_aetos=False)
        self.assert_problem(self.check(), 'connection', 'catalog',
                            "No 'metric-storage' endpoint")

    def test_member_role(self):
        fakes.deploy(self, roles=('member',))
        line = self.assert_problem(self.check(), 'connection', 'roles',
                                   'Aetos would narrow every query')
        self.assertEqual(['member'], line.details['roles'])

    def test_aetos_down(self):
        network, _aetos = fakes.deploy(self)
        network.get(fakes.QUERY_URL, status_code=503, text='down')
        out = self.check()
        self.assertEqual(report.PROBLEM,
                         self.line(out, 'connection', 'query').status)

    def test_time_refused_every_metric_pinned(self):
        _network, aetos = fakes.deploy(
            self, aetos=fakes.FakeServer(refuse_time=True))
        out = self.check()
        line = self.line(out, 'connection', 'time')
        self.assertEqual(report.OK, line.status)
        self.assertIn('every metric pins itself', line.message)
        self.assertEqual(report.EXIT_OK, out.exit_status)
        self.assertEqual('3', self.line(out, 'dry run', 'instance_up')
                         .details['quantity'])

    def test_time_refused_unpinnable_metric(self):
        metrics = {'metrics': dict(fakes.METRICS['metrics'], cpu={
            'unit': 's', 'extra_args': {'query_prefix': 'time() -'}})}
        fakes.deploy(self, metrics=metrics,
                     aetos=fakes.FakeServer(refuse_time=True))
        out = self.check()
        line = self.assert_problem(out, 'connection', 'time')
        self.assertEqual(['cpu'], line.details['metrics'])
        cpu = self.line(out, 'dry run', 'cpu')
        self.assertEqual(report.PROBLEM, cpu.status)
        self.assertIn('Metric cpu cannot be collected from Aetos',
                      cpu.message)
        self.assertEqual(report.OK,
                         self.line(out, 'dry run', 'instance_up').status)


class DiscoveryTest(fakes.CheckTestCase):

    def test_nothing_found(self):
        fakes.deploy(self, aetos=fakes.FakeServer(scopes=[]))
        self.assert_no_scope(self.check(), 'the aetos fetcher found no scope')

    def test_dropped_values_are_warned(self):
        fakes.deploy(self, aetos=fakes.FakeServer(scopes=['p1', 'caf\xe9']))
        out = self.check()
        [warned] = [line for line in out.lines
                    if line.step == 'discovery' and line.name == 'log']
        self.assertEqual(report.WARNING, warned.status)
        self.assertIn('cannot be scope IDs', warned.message)
        self.assertEqual(1, self.line(out, 'discovery', 'scopes')
                         .details['count'])

    def test_discovery_failure_is_the_fetchers_line(self):
        network, aetos = fakes.deploy(self)
        fakes.fail_discovery(network, fakes.QUERY_URL, aetos, 'count by')
        self.assert_problem(self.check(), 'discovery', 'log',
                            'Scope discovery through Aetos failed')


class DryRunTest(fakes.CheckTestCase):

    def test_metric_without_series(self):
        fakes.deploy(self, aetos=fakes.FakeServer(
            usage=fakes.USAGE_WITHOUT_VOLUMES))
        self.assert_no_series(self.check(),
                              'no data for any of the 3 scopes found')

    def test_the_last_whole_period_the_processor_rates(self):
        # 12:30 with two periods to wait: 10:00 to 11:00.
        now = aetos_fakes.END_UNIX + 5400
        start, end = dry_run.last_period(3600, 2, now)
        self.assertEqual((aetos_fakes.END_UNIX - 3600, aetos_fakes.END_UNIX),
                         (start.timestamp(), end.timestamp()))
        start, end = dry_run.last_period(3600, 0, now)
        self.assertEqual(aetos_fakes.END_UNIX + 3600, end.timestamp())
