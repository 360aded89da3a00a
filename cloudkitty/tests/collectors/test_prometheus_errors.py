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
"""Callers branch on these classes, and quote bodies through excerpt."""
from cloudkitty.common import prometheus_errors as errors
from cloudkitty import tests


class ExcerptTest(tests.TestCase):

    def test_whitespace_folded_on_one_line(self):
        self.assertEqual('a b c', errors.excerpt('  a\n b\t\tc\r\n'))

    def test_short_text_kept(self):
        text = 'x' * errors.EXCERPT_LENGTH
        self.assertEqual(text, errors.excerpt(text))

    def test_long_text_cut_to_the_limit(self):
        cut = errors.excerpt('abcdefghij' * 100)
        self.assertEqual(errors.EXCERPT_LENGTH, len(cut))
        self.assertEqual('abcdefghij' * 19 + 'abcdefg...', cut)

    def test_own_limit(self):
        self.assertEqual('hello...', errors.excerpt('hello world', limit=8))
        self.assertEqual('hello world', errors.excerpt('hello world', 11))

    def test_anything_is_quoted_as_text(self):
        self.assertEqual("{'a': [1, None]}", errors.excerpt({'a': [1, None]}))
        self.assertEqual('None', errors.excerpt(None))
        self.assertEqual('', errors.excerpt(''))


class KindsTest(tests.TestCase):
    """Which failures a smaller query could avoid: batching relies on it."""

    def test_answer_faults(self):
        for kind in (errors.HTTPError, errors.TimeNotSupported,
                     errors.QueryError, errors.NotAPrometheusAnswer,
                     errors.AnswerTooLarge, errors.AnswerTooSlow):
            self.assertTrue(issubclass(kind, errors.AnswerError), kind)
            self.assertFalse(issubclass(kind, errors.PathError), kind)

    def test_path_faults(self):
        for kind in (errors.KeystoneError, errors.RoleTooWeak,
                     errors.UnreachableError):
            self.assertTrue(issubclass(kind, errors.PathError), kind)
            self.assertFalse(issubclass(kind, errors.AnswerError), kind)

    def test_query_failures_share_one_root(self):
        for kind in (errors.AnswerError, errors.PathError,
                     errors.MetricNotPinned):
            self.assertTrue(issubclass(kind, errors.PrometheusResponseError),
                            kind)
        self.assertFalse(issubclass(errors.ConfigurationError,
                                    errors.PrometheusResponseError))
