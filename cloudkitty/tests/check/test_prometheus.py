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
        self.assert_every_step_ok(self.check(), [
            ('configuration', 'metrics'),
            ('configuration', 'collector options'),
            ('configuration', 'log'), ('configuration', 'pinning'),
            ('configuration', 'fetcher options'), ('connection', 'query')])

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
        self.assert_problem(out, 'connection', 'query',
                            'check that Prometheus is running')
        self.assertNotIn('discovery', self.steps(out))

    def test_a_metric_the_schema_refuses(self):
        fakes.deploy_prometheus(self, metrics=fakes.REFUSED_METRICS)
        self.assert_problem(self.check(), 'configuration', 'metrics',
                            'does not fit the prometheus collector')

    def test_metric_without_series(self):
        fakes.deploy_prometheus(self, prometheus=fakes.FakeServer(
            usage=fakes.USAGE_WITHOUT_VOLUMES))
        self.assert_no_series(self.check())


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
        self.assert_no_scope(self.check(),
                             'the prometheus fetcher found no scope: no '
                             'series of [fetcher_prometheus] metric')

    def test_discovery_failure(self):
        network, prometheus = fakes.deploy_prometheus(self)
        fakes.fail_discovery(network, fakes.PROMETHEUS_QUERY_URL,
                             prometheus, 'max(')
        self.assert_problem(self.check(), 'discovery', 'scopes',
                            'scope discovery failed '
                            '(PrometheusFetcherError)')
