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
"""The check's report: exit statuses, text and JSON."""
import io
import json

from cloudkitty.check import report
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes


class ReportTest(tests.TestCase):

    def report(self, *statuses):
        out = report.Report()
        for index, status in enumerate(statuses):
            out.add('connection', 'item%d' % index, status, 'said %d' % index,
                    count=index)
        return out

    def test_exit_statuses(self):
        self.assertEqual(0, self.report(report.OK, report.WARNING)
                         .exit_status)
        self.assertEqual(1, self.report(report.OK, report.PROBLEM)
                         .exit_status)
        self.assertEqual(2, self.report(report.PROBLEM, report.NOT_RUN)
                         .exit_status)

    def test_summary_sentence(self):
        self.assertEqual(
            'problems found: the processor would not rate this usage as '
            'configured (1 ok, 1 warnings, 1 problems)',
            self.report(report.OK, report.WARNING, report.PROBLEM)
            .summary())

    def test_text_one_line_per_finding_and_the_summary(self):
        text = self.report(report.OK, report.PROBLEM).render('text')
        self.assertEqual(
            ['[ok]      connection: item0: said 0',
             '[problem] connection: item1: said 1',
             '[summary] problems found: the processor would not rate '
             'this usage as configured (1 ok, 0 warnings, 1 problems)'],
            text.splitlines())

    def test_json_for_automation(self):
        out = self.report(report.OK, report.WARNING)
        out.period = {'start': 'a', 'end': 'b'}
        document = json.loads(out.render('json'))
        self.assertEqual(0, document['exit_status'])
        self.assertEqual({'start': 'a', 'end': 'b'}, document['period'])
        self.assertEqual(
            {'step': 'connection', 'name': 'item1', 'status': 'warning',
             'message': 'said 1', 'details': {'count': 1}},
            document['lines'][1])


class ProgressTest(tests.TestCase):

    def test_at_most_one_line_per_interval(self):
        clock = aetos_fakes.FakeClock()
        stream = io.StringIO()
        progress = report.Progress(stream, every=2, clock=clock)
        progress.say('one')
        progress.say('two')
        clock.advance(2)
        progress.say('three')
        progress.say('four', force=True)
        self.assertEqual(['cloudkitty-collector-check: one',
                          'cloudkitty-collector-check: three',
                          'cloudkitty-collector-check: four'],
                         stream.getvalue().splitlines())
