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
"""PromQL text: names, label value escaping and what ``@`` cannot pin."""
from cloudkitty.collector import promql
from cloudkitty.common import prometheus_errors
from cloudkitty import tests

OPTIONS = ('query_prefix', 'query_suffix')

# (query_prefix, query_suffix) pairs that read no evaluation time: the
# collector's selector, pinned with @, is the only data they touch.
PINNABLE = [
    ('', ''),
    ('3600 *', ''),
    ('1e3 *', '/ 0x1F'),
    ('2.5e-3 * (', ') ^ 2 % 7 - .5 / 1E+2'),
    ('', '> bool 0'),
    ('', '== 1 and 2 or 3 unless 4'),
    ('', '!= 0 >= 1 <= 2 < 3 > 4'),
    ('', '> Inf or NaN'),
    ('clamp_min(', ', 0)'),
    ('label_replace(', ', "dst", "$1", "src", "(.*)")'),
    ("label_join(", ", 'dst', `,`, 'a', 'b')"),
    # A date function given the expression, or a constant, as argument.
    ('hour(', ')'),
    ('day_of_month(', ') + hour(vector(0))'),
    ('sum by (project_id) (', ')'),
    ('sum without (instance) (', ')'),
    ('sum(', ') by (project_id)'),
    ('count_values("value", ', ')'),
    ('topk(5, ', ')'),
    ('vector(1) +', ''),
    ('', '* on (project_id) group_left (flavor) 2'),
    ('', '* ignoring (instance) group_right (job) 2'),
]

# (fragment, a fact the reason names): refused as prefix and as suffix.
UNPINNABLE = [
    ('up *', 'up'),
    ('sum(up) *', 'up'),
    ('job:up:sum +', 'job:up:sum'),
    ('+ {__name__="up"}', '{'),
    ('[5m]', '['),
    ('[1h:5m]', '['),
    ('@ 123', '@'),
    ('@ start()', '@'),
    ('offset 5m', 'offset'),
    ('time() -', 'time()'),
    ('- hour()', 'hour()'),
    ('- hour ( )', 'hour()'),
    ('day_of_month() ==', 'day_of_month()'),
    ('- days_in_month()', 'days_in_month()'),
    ('start()', 'start()'),
    ('end() -', 'end()'),
    ('3600 ;', 'PromQL'),
    ('$x', 'PromQL'),
]


def _reason(option, fragment):
    return promql.unpinnable_reason({option: fragment})


class EscapeLabelValueTest(tests.TestCase):

    def test_escapes(self):
        for value, expected in (
                ('plain-id', 'plain-id'),
                ('a"b', 'a\\"b'),
                ('a\\b', 'a\\\\b'),
                ('a\nb', 'a\\nb'),
                # A backslash before a quote must not escape the escape.
                ('a\\"', 'a\\\\\\"'),
                ('projét', 'projét'),
                (42, '42')):
            self.assertEqual(expected, promql.escape_label_value(value),
                             repr(value))

    def test_hostile_value_stays_a_value(self):
        hostile = 'x"} or vector(1) or up{a="\\'
        escaped = promql.escape_label_value(hostile)
        # Every quote in the result is escaped.
        self.assertEqual(escaped.count('"'), escaped.count('\\"'))
        self.assertEqual('x\\"} or vector(1) or up{a=\\"\\\\', escaped)


class SelectorTest(tests.TestCase):

    def test_bare_name_without_matchers(self):
        self.assertEqual('up', promql.selector('up', {}))

    def test_matchers_in_order_and_escaped(self):
        self.assertEqual('up{b="x", a="say \\"hi\\""}',
                         promql.selector('up', {'b': 'x', 'a': 'say "hi"'}))


class UnpinnableReasonTest(tests.TestCase):

    def test_pinnable(self):
        for prefix, suffix in PINNABLE:
            self.assertIsNone(
                promql.unpinnable_reason({'query_prefix': prefix,
                                          'query_suffix': suffix}),
                'prefix %r, suffix %r' % (prefix, suffix))

    def test_no_prefix_nor_suffix(self):
        self.assertIsNone(promql.unpinnable_reason({}))
        self.assertIsNone(promql.unpinnable_reason(
            {'query_prefix': None, 'query_suffix': None}))

    def test_unpinnable_names_option_and_cause(self):
        for fragment, fact in UNPINNABLE:
            for option in OPTIONS:
                reason = _reason(option, fragment)
                where = '%s %r' % (option, fragment)
                self.assertIsNotNone(reason, where)
                self.assertTrue(reason.startswith(option + ': '),
                                '%s: %s' % (where, reason))
                self.assertIn(fact, reason, where)

    def test_prefix_named_first(self):
        reason = promql.unpinnable_reason({'query_prefix': 'time() -',
                                           'query_suffix': 'offset 5m'})
        self.assertTrue(reason.startswith('query_prefix: '), reason)

    # One exact sentence per phrase; the tables above check the rest.
    def test_sentence_offset(self):
        self.assertEqual('query_suffix: offset moves a selector in time',
                         _reason('query_suffix', 'offset 1h'))

    def test_sentence_query_time(self):
        self.assertEqual('query_prefix: start() is the time of the query',
                         _reason('query_prefix', 'start() -'))

    def test_sentence_selector_punctuation(self):
        self.assertEqual(
            'query_suffix: [ starts a selector, a range or a subquery, or '
            'pins one', _reason('query_suffix', '[1h:5m]'))

    def test_sentence_not_promql(self):
        self.assertEqual('query_prefix: it cannot be read as PromQL',
                         _reason('query_prefix', '3600 ;'))


class ScopeSafeTest(tests.TestCase):
    """Only scalar arithmetic keeps a query's meaning per scope."""

    def test_scope_safe(self):
        for prefix, suffix in (('', ''), ('3600 *', ''), ('1e3 * (', ')'),
                               ('', '> bool 0'), ('0x1F -', '/ 2 ^ 3')):
            self.assertTrue(promql.scope_safe({'query_prefix': prefix,
                                               'query_suffix': suffix}),
                            'prefix %r, suffix %r' % (prefix, suffix))

    def test_not_scope_safe(self):
        for fragment in ('sum(', 'clamp_min(', 'up *', '* on (a) 1',
                         'and 1', '3600 ;'):
            for option in OPTIONS:
                self.assertFalse(promql.scope_safe({option: fragment}),
                                 '%s %r' % (option, fragment))


class NameCheckTest(tests.TestCase):

    def test_valid_names_come_back(self):
        for name in ('up', '_x', 'job:instance_up:max', 'a9'):
            self.assertEqual(name, promql.check_metric_name(name, 'm'))
        for name in ('project_id', '_x', 'A9'):
            self.assertEqual(name, promql.check_label_name(name, 'l'))

    def test_invalid_metric_names(self):
        for name in ('', '9up', 'up\n', 'up{a="b"}', 'up or vector(1)',
                     'é', ' up', None, 3):
            self.assertRaises(prometheus_errors.ConfigurationError,
                              promql.check_metric_name, name, 'm')

    def test_invalid_label_names(self):
        # A colon is legal in a metric name, not in a label name.
        for name in ('', '1project', 'project_id\n', 'project-id',
                     'a:b', 'flavor name', 'é', None):
            self.assertRaises(prometheus_errors.ConfigurationError,
                              promql.check_label_name, name, 'l')

    def test_sentence(self):
        error = self.assertRaises(prometheus_errors.ConfigurationError,
                                  promql.check_label_name, 'project-id',
                                  '[collect] scope_key')
        self.assertEqual("[collect] scope_key: 'project-id' is not a valid "
                         "Prometheus label name (ASCII letters, digits and "
                         "_, not starting with a digit)", str(error))
        error = self.assertRaises(prometheus_errors.ConfigurationError,
                                  promql.check_metric_name, 'up\n',
                                  '[fetcher_aetos] metric')
        self.assertEqual("[fetcher_aetos] metric: 'up\\n' is not a valid "
                         "Prometheus metric name (ASCII letters, digits, _ "
                         "and :, not starting with a digit)", str(error))


class PresenceQueryTest(tests.TestCase):

    def test_bare(self):
        self.assertEqual(
            'count by (project_id) (last_over_time(up[600s]))',
            promql.presence_query('up', {}, 'project_id', 600))

    def test_matchers_escaped(self):
        self.assertEqual(
            'count by (tenant) (last_over_time(up{a="x\\"} or '
            'vector(1)"}[7200s]))',
            promql.presence_query('up', {'a': 'x"} or vector(1)'}, 'tenant',
                                  7200))
