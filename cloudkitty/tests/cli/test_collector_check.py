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
"""cloudkitty-collector-check's command line: arguments and exit status."""
import datetime
import io
import json
import subprocess
import sys

import fixtures
from oslo_config import cfg

from cloudkitty.check import report
from cloudkitty.cli import collector_check
from cloudkitty import tests
from cloudkitty.tests.check import check_fakes


class CollectorCheckCliTest(tests.TestCase):

    def setUp(self):
        super(CollectorCheckCliTest, self).setUp()
        self.runs = []
        self.useFixture(fixtures.MockPatchObject(
            collector_check.runner, 'run', self.fake_run))
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()

    def fake_run(self, out, start, progress):
        self.runs.append(start)
        out.add('discovery', 'scopes', self.status, 'found')

    def main(self, *argv, status=report.OK):
        self.status = status
        # A configuration of its own per run: each parses its arguments.
        self.useFixture(fixtures.MockPatchObject(
            collector_check, 'CONF', cfg.ConfigOpts()))
        return collector_check.main(list(argv), self.stdout, self.stderr)

    def test_exit_status_is_the_reports(self):
        self.assertEqual(0, self.main())
        self.assertEqual(1, self.main(status=report.PROBLEM))
        self.assertEqual(2, self.main(status=report.NOT_RUN))

    def test_json(self):
        self.assertEqual(1, self.main('--format', 'json',
                                      status=report.PROBLEM))
        document = json.loads(self.stdout.getvalue())
        self.assertEqual((1, 'problem'), (document['exit_status'],
                                          document['lines'][0]['status']))

    def test_start_iso_or_unix(self):
        self.main('--start', '2026-03-01T10:00:00')
        self.main('--start', '1772359200')
        utc = datetime.timezone.utc
        self.assertEqual([datetime.datetime(2026, 3, 1, 10, tzinfo=utc)] * 2,
                         self.runs)

    def test_start_that_is_no_time(self):
        self.assertEqual(2, self.main('--start', 'yesterday'))
        self.assertEqual([], self.runs)
        self.assertIn('yesterday', self.stderr.getvalue())

    def test_unknown_format(self):
        self.assertRaises(SystemExit, self.main, '--format', 'xml')

    def test_a_step_that_breaks_is_exit_2(self):
        self.useFixture(fixtures.MockPatchObject(
            collector_check.runner, 'run', side_effect=RuntimeError('bug')))
        self.assertEqual(2, self.main())
        self.assertIn('[not run] check: unexpected: the check stopped '
                      '(RuntimeError): bug', self.stdout.getvalue())


class FreshProcessTest(tests.TestCase):
    """The command in an interpreter of its own, as a deployer runs it.

    Nothing is imported before the command reads its options there,
    unlike in the test process, where every test module is.
    """

    def run_command(self):
        url = check_fakes.serve_prometheus(self)
        directory = self.useFixture(fixtures.TempDir()).path
        conf = check_fakes.write_prometheus_conf(
            directory, check_fakes.write_metrics(self, check_fakes.METRICS),
            url, check_fakes.FETCHER_METRIC)
        result = subprocess.run(
            [sys.executable, '-c', 'import sys; from cloudkitty.cli import '
             'collector_check; sys.exit(collector_check.main())',
             '--config-file', conf, '--format', 'json',
             '--start', check_fakes.START.isoformat()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=120)
        return result.returncode, json.loads(result.stdout)

    def test_prometheus_collector_and_fetcher(self):
        status, document = self.run_command()
        self.assertEqual(0, status, document['lines'])
        totals = {line['name']: line['details']['quantity']
                  for line in document['lines']
                  if line['step'] == 'dry run' and 'quantity' in
                  line['details']}
        self.assertEqual({'instance_up': '3', 'volume_gib': '22.5'}, totals)
