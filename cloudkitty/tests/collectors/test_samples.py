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
"""Untrusted samples: what is rated, what is dropped, what fails."""
import decimal

import testscenarios

from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import prometheus
from cloudkitty.collector import prometheus_base
from cloudkitty.collector import samples
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

SCOPE = 'scope-a'
GOOD = ({'project_id': SCOPE, 'flavor': 'm1.small'}, '2')


class _SampleTest(tests.TestCase):
    """One scope asked, per scope and batched, against a fixed answer."""

    MODES = [('per_scope', {'batching': False}),
             ('batched', {'batching': True})]
    scenarios = testscenarios.multiply_scenarios(tests.TestCase.scenarios,
                                                 MODES)

    def setUp(self):
        super(_SampleTest, self).setUp()
        self.logs = aetos_fakes.hear(self, samples, prometheus_base)
        self.network = aetos_fakes.use_fake_network(self)
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')
        self.conf.set_override('scope_batching', self.batching,
                               'collector_prometheus')

    def _fetch(self, answer, **metric):
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json=answer)
        metric = dict({'unit': 'instance', 'groupby': ['flavor']}, **metric)
        collector = prometheus.PrometheusCollector(
            period=3600, conf={'metrics': {'instance_up': metric}})
        return collector.fetch_all('instance_up', aetos_fakes.START,
                                   aetos_fakes.END, SCOPE)

    def _lines(self):
        return aetos_fakes.log_lines(self.logs)


class NotANumberTest(_SampleTest):

    scenarios = testscenarios.multiply_scenarios(
        _SampleTest.scenarios,
        [(mutate, {'mutate': mutate})
         for mutate in ('NONE', 'FLOOR', 'CEIL', 'NUMBOOL', 'MAP')])

    def test_nan_and_infinities_skipped_with_a_warning(self):
        bad = ['NaN', '+Inf', '-Inf', 'Inf']
        answer = aetos_fakes.vector(
            [GOOD] + [({'project_id': SCOPE, 'flavor': 'f%d' % n}, value)
                      for n, value in enumerate(bad)])
        points = self._fetch(answer, mutate=self.mutate,
                             mutate_map={2: 7})
        self.assertEqual([{'m1.small'}], [{p.groupby['flavor']}
                                          for p in points])
        lines = self._lines()
        self.assertEqual(len(bad), len(lines))
        for line, value in zip(lines, bad):
            self.assertIn('Metric instance_up, scope scope-a: a sample with '
                          'labels ', line)
            self.assertIn("'flavor': 'f", line)
            self.assertIn('its value is %s, which cannot be rated' % value,
                          line)


class LabelTest(_SampleTest):

    def test_label_value_not_a_string_dropped(self):
        answer = aetos_fakes.vector([GOOD])
        answer['data']['result'].append(
            {'metric': {'project_id': SCOPE, 'flavor': ['m1.large']},
             'value': [aetos_fakes.END_UNIX, '5']})
        points = self._fetch(answer)
        self.assertEqual(['2'], [str(p.qty) for p in points])
        [line] = self._lines()
        self.assertIn('a label value is not a string', line)
        self.assertIn('Metric instance_up, scope scope-a', line)

    def test_other_scope_never_rated_for_the_scope_asked(self):
        answer = aetos_fakes.vector(
            [GOOD, ({'project_id': 'scope-other', 'flavor': 'x'}, '9')])
        if not self.batching:
            points = self._fetch(answer)
            [line] = self._lines()
            self.assertIn('its project_id label is not the scope asked',
                          line)
        else:
            # Batched, the other scope's sample is that scope's.
            points = self._fetch(answer)
            self.assertEqual([], self._lines())
        self.assertEqual(['2'], [str(p.qty) for p in points])

    def test_sample_without_the_scope_label(self):
        answer = aetos_fakes.vector([GOOD, ({'flavor': 'x'}, '9')])
        points = self._fetch(answer)
        if self.batching:
            # It belongs to no scope of the answer.
            self.assertEqual(['2'], [str(p.qty) for p in points])
            [line] = self._lines()
            self.assertIn('it has no project_id label that is a string',
                          line)
        else:
            # The query selected the scope: the sample is the scope's.
            self.assertEqual(['2', '9'], [str(p.qty) for p in points])
            self.assertEqual([], self._lines())


class ArithmeticTest(_SampleTest):

    def test_overflow_in_factor_is_a_collect_error(self):
        answer = aetos_fakes.vector([({'project_id': SCOPE}, '9e999999')])
        error = self.assertRaises(collect_exc.CollectError, self._fetch,
                                  answer, factor=1000)
        self.assertIsInstance(error.__cause__, decimal.Overflow)
        self.assertEqual(
            'Metric instance_up, scope scope-a: the value 9e999999 cannot '
            'be converted with factor 1000, offset 0 and mutate NONE '
            '(Overflow): check them in the metrics configuration',
            str(error))

    def test_mutate_of_an_infinity_is_a_collect_error(self):
        # The samples check drops these first; the conversion still
        # never lets a ValueError or OverflowError out.
        self._fetch(aetos_fakes.vector([]), mutate='FLOOR')
        collector = prometheus.PrometheusCollector(
            period=3600, conf={'metrics': {'instance_up': {
                'unit': 'instance', 'mutate': 'FLOOR'}}})
        for value, cause in (('Inf', OverflowError), ('NaN', ValueError)):
            error = self.assertRaises(
                collect_exc.CollectError, collector._format_data,
                'instance_up', 'project_id', SCOPE, aetos_fakes.START,
                aetos_fakes.END, {'metric': {}, 'value': [0, value]})
            self.assertIsInstance(error.__cause__, cause)
