# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""cloudkitty-collector-check on the real stack.

A healthy deployment (aetos collector and fetcher) exits 0 and its dry
run totals are the planted ones; each fault a new deployer meets exits 1
with the line that names it. Against Aetos 1.0.0 (functional-2025.2), a
metric ``@`` cannot pin exits 1 with the refusal.
"""

import datetime
import decimal
import json
import os
import subprocess

from testtools import content
import yaml

from functional import base
from functional import oracle
from functional.services import config
from functional.services import process


class CollectorCheckTest(base.FetcherProcessorTestBase):

    HOUR = 2
    """The planted hour the dry runs collect."""

    def check(self, env, *args, metrics=None):
        """Run the command on ``env``'s configuration; (status, report)."""
        argv = [process.find_program('cloudkitty-collector-check'),
                '--config-file', env.conf, '--format', 'json',
                '--start', config.isoformat(config.utc(
                    self.data.hour(self.HOUR)))] + list(args)
        if metrics is not None:
            path = os.path.join(env.dir, 'metrics-check.yml')
            with open(path, 'w') as out:
                yaml.safe_dump(metrics, out)
            extra = os.path.join(env.dir, 'check.conf')
            config.write_ini(extra, {'collect': {'metrics_conf': path}})
            argv += ['--config-file', extra]
        result = subprocess.run(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=300)
        self.addDetail('check', content.text_content(result.stdout +
                                                     result.stderr))
        return result.returncode, json.loads(result.stdout)

    def line(self, report, step, name):
        found = [line for line in report['lines']
                 if (line['step'], line['name']) == (step, name)]
        self.assertEqual(1, len(found), report['lines'])
        return found[0]

    def problem(self, report, step, name, words):
        line = self.line(report, step, name)
        self.assertEqual('problem', line['status'])
        self.assertIn(words, line['message'])

    def test_healthy_totals_are_the_planted_ones(self):
        status, report = self.check(self.env())
        self.assertEqual(0, status, report['lines'])
        begin = datetime.datetime.fromtimestamp(self.data.hour(self.HOUR),
                                                config.UTC)
        expected = {}
        for key, (qty, _price) in oracle.expected_points(
                self.data, self.planted).items():
            scope, start, service, _group = key
            if start == begin:
                total, points, scopes = expected.get(
                    service, (decimal.Decimal(0), 0, set()))
                expected[service] = (total + qty, points + 1,
                                     scopes | {scope})
        self.assertTrue(expected)
        for service, (total, points, scopes) in sorted(expected.items()):
            line = self.line(report, 'dry run', service)['details']
            self.assertEqual((points, len(scopes), 1), (
                line['points'], line['scopes_with_data'], line['queries']))
            # Each stored point is rounded to 1e-5.
            self.assertLessEqual(
                abs(decimal.Decimal(line['quantity']) - total),
                decimal.Decimal('1e-5') * points, service)

    def test_wrong_password(self):
        env = self.env()
        config.write_ini(os.path.join(env.dir, 'bad.conf'), {
            'collector_aetos': {'password': 'not-the-password'}})
        status, report = self.check(env, '--config-file',
                                    os.path.join(env.dir, 'bad.conf'))
        self.assertEqual(1, status)
        self.problem(report, 'connection', 'Keystone login',
                     'refused the [collector_aetos] credentials (HTTP 401)')

    def test_no_metric_storage_endpoint(self):
        env = self.env()
        config.write_ini(os.path.join(env.dir, 'bad.conf'), {
            'collector_aetos': {'region_name': 'NoSuchRegion'}})
        status, report = self.check(env, '--config-file',
                                    os.path.join(env.dir, 'bad.conf'))
        self.assertEqual(1, status)
        self.problem(report, 'connection', 'catalog',
                     "No 'metric-storage' endpoint")

    def test_role_that_aetos_narrows(self):
        env = self.env()
        password, project = self.stack.credentials(self.stack.reader_user)
        config.write_ini(os.path.join(env.dir, 'bad.conf'), {
            'collector_aetos': {'username': self.stack.reader_user,
                                'password': password,
                                'project_name': project}})
        status, report = self.check(env, '--config-file',
                                    os.path.join(env.dir, 'bad.conf'))
        self.assertEqual(1, status)
        self.problem(report, 'connection', 'roles',
                     'Aetos would narrow every query')

    def test_fetcher_label_that_finds_nothing(self):
        env = self.env(filters='project_id:no-such-project')
        status, report = self.check(env)
        self.assertEqual(1, status)
        self.problem(report, 'discovery', 'scopes',
                     'the aetos fetcher found no scope')

    def test_metric_without_series(self):
        metrics = {'metrics': oracle.load_metrics()}
        metrics['metrics']['ck_no_such_series'] = {
            'unit': 'thing', 'groupby': ['resource_id']}
        status, report = self.check(self.env(), metrics=metrics)
        self.assertEqual(1, status)
        self.problem(report, 'dry run', 'ck_no_such_series',
                     'no data for any of the')

    def test_unpinnable_metric(self):
        if not base.aetos_refuses_time(self.stack):
            self.skipTest('Aetos %s accepts time: functional-2025.2 runs '
                          'this test' % self.stack.base.aetos)
        metrics = {'metrics': oracle.load_metrics()}
        metrics['metrics']['ck_instance_up']['extra_args'] = dict(
            metrics['metrics']['ck_instance_up'].get('extra_args', {}),
            query_prefix='time() -')
        status, report = self.check(self.env(), metrics=metrics)
        self.assertEqual(1, status)
        self.problem(report, 'connection', 'time', 'cannot be collected')
