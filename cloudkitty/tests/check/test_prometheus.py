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
"""The check with the prometheus collector and fetcher, Prometheus faked."""
from cloudkitty.check import report
from cloudkitty.tests.check import check_fakes as fakes
from cloudkitty.tests.collectors import aetos_fakes


class PrometheusCollectorTest(fakes.CheckTestCase):

    def test_every_step_ok_and_the_totals(self):
        network, prometheus = fakes.deploy_prometheus(self)
        out = self.check()
        self.assertEqual(report.EXIT_OK, out.exit_status)
        self.assertEqual(
            [('configuration', 'metrics'),
             ('configuration', 'collector options'),
             ('configuration', 'log'),
             ('configuration', 'pinning'),
             ('configuration', 'fetcher options'),
             ('connection', 'query'),
             ('discovery', 'scopes'), ('dry run', 'instance_up'),
             ('dry run', 'volume_gib'),
             ('dry run', 'scopes without data')], self.lines(out))
        self.assert_usage_totals(out)

    def test_the_period_end_is_the_time_sent(self):
        network, prometheus = fakes.deploy_prometheus(self)
        out = self.check()
        self.assertIn('sends the period end as the time parameter',
                      self.line(out, 'configuration', 'pinning').message)
        usage = [aetos_fakes.query_params(request) for request in
                 aetos_fakes.requests_to(network,
                                         fakes.PROMETHEUS_QUERY_URL)]
        usage = [params for params in usage
                 if params['query'] in prometheus.usage_queries()]
        self.assertEqual(2, len(usage))
        self.assertEqual({aetos_fakes.AT},
                         {params['time'] for params in usage})
        self.assertNotIn('@', ' '.join(params['query'] for params in usage))

    def test_plain_http_to_another_host_is_warned(self):
        fakes.deploy_prometheus(self)
        out = self.check()
        [warned] = [line for line in out.lines
                    if (line.step, line.name) == ('configuration', 'log')]
        self.assertEqual(report.WARNING, warned.status)
        self.assertIn('Prometheus at %s is reached over plain HTTP'
                      % aetos_fakes.PROMETHEUS_URL, warned.message)

    def test_prometheus_down(self):
        network, _prometheus = fakes.deploy_prometheus(self)
        network.get(fakes.PROMETHEUS_QUERY_URL, status_code=503,
                    text='down')
        out = self.check()
        line = self.line(out, 'connection', 'query')
        self.assertEqual(report.PROBLEM, line.status)
        self.assertIn('check that Prometheus is running', line.message)
        self.assertNotIn('discovery', [step for step, _ in self.lines(out)])
        self.assertEqual(report.EXIT_PROBLEMS, out.exit_status)

    def test_a_metric_the_schema_refuses(self):
        metrics = {'metrics': {'instance_up': {
            'unit': 'instance',
            'extra_args': {'aggregation_method': 'median'}}}}
        fakes.deploy_prometheus(self, metrics=metrics)
        out = self.check()
        line = self.line(out, 'configuration', 'metrics')
        self.assertEqual(report.PROBLEM, line.status)
        self.assertIn('does not fit the prometheus collector', line.message)
        self.assertEqual(report.EXIT_PROBLEMS, out.exit_status)

    def test_metric_without_series(self):
        usage = {'instance_up': fakes.USAGE['instance_up']}
        fakes.deploy_prometheus(
            self, prometheus=fakes.FakeServer(usage=usage))
        out = self.check()
        line = self.line(out, 'dry run', 'volume_gib')
        self.assertEqual((report.PROBLEM, 0),
                         (line.status, line.details['scopes_with_data']))
        self.assertEqual(report.EXIT_PROBLEMS, out.exit_status)


class PrometheusFetcherTest(fakes.CheckTestCase):

    def test_scopes_found(self):
        network, prometheus = fakes.deploy_prometheus(self)
        out = self.check()
        line = self.line(out, 'discovery', 'scopes')
        self.assertEqual((report.OK, 3), (line.status,
                                          line.details['count']))
        self.assertEqual(['p1', 'p2', 'p3'], sorted(line.details['examples']))
        self.assertIn('max(%s) by (project_id)' % fakes.FETCHER_METRIC,
                      prometheus.queries)

    def test_the_filters_are_in_the_discovery_query(self):
        network, prometheus = fakes.deploy_prometheus(self)
        self.conf.set_override('filters', {'region': 'one'},
                               fakes.PROMETHEUS_FETCHER_GROUP)
        self.check()
        self.assertIn('max(%s{region="one"}) by (project_id)'
                      % fakes.FETCHER_METRIC, prometheus.queries)

    def test_nothing_found(self):
        fakes.deploy_prometheus(self, prometheus=fakes.FakeServer(scopes=[]))
        out = self.check()
        line = self.line(out, 'discovery', 'scopes')
        self.assertEqual(report.PROBLEM, line.status)
        self.assertIn('the prometheus fetcher found no scope: no series of '
                      '[fetcher_prometheus] metric', line.message)
        self.assertNotIn('dry run', [step for step, _ in self.lines(out)])
        self.assertEqual(report.EXIT_PROBLEMS, out.exit_status)

    def test_discovery_failure(self):
        network, prometheus = fakes.deploy_prometheus(self)

        def fail_discovery(request, context):
            if aetos_fakes.query_params(request)['query'].startswith('max('):
                context.status_code = 500
                return 'boom'
            return prometheus(request, context)

        network.get(fakes.PROMETHEUS_QUERY_URL, text=fail_discovery)
        out = self.check()
        line = self.line(out, 'discovery', 'scopes')
        self.assertEqual(report.PROBLEM, line.status)
        self.assertIn('scope discovery failed (PrometheusFetcherError)',
                      line.message)
        self.assertEqual(report.EXIT_PROBLEMS, out.exit_status)
