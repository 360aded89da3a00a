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
"""Callers branch on these classes and read their attributes."""
from cloudkitty.collector import prometheus
from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors as errors
from cloudkitty.fetcher import prometheus as prometheus_fetcher
from cloudkitty import tests

URL = 'http://prometheus.test:9090/api/v1'


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

    def test_every_kind_is_a_response_error(self):
        for kind in (errors.KeystoneError, errors.UnreachableError,
                     errors.HTTPError, errors.TimeNotSupported,
                     errors.QueryError, errors.NotAPrometheusAnswer):
            self.assertTrue(issubclass(kind, errors.PrometheusResponseError),
                            kind)
        self.assertTrue(issubclass(errors.PrometheusResponseError,
                                   Exception))

    def test_time_not_supported_is_an_http_error(self):
        self.assertTrue(issubclass(errors.TimeNotSupported, errors.HTTPError))
        for kind in (errors.KeystoneError, errors.UnreachableError,
                     errors.QueryError, errors.NotAPrometheusAnswer):
            self.assertFalse(issubclass(kind, errors.HTTPError), kind)

    def test_base_defaults(self):
        error = errors.PrometheusResponseError()
        self.assertEqual('', str(error))
        self.assertIsNone(error.url)

    def test_base(self):
        error = errors.PrometheusResponseError('it broke', url=URL)
        self.assertEqual('it broke', str(error))
        self.assertEqual(URL, error.url)

    def test_keystone_error(self):
        error = errors.KeystoneError('no token', 'http://keystone.test/v3')
        self.assertEqual('no token', str(error))
        self.assertEqual('http://keystone.test/v3', error.auth_url)
        # Its url is Keystone's: the server that failed.
        self.assertEqual('http://keystone.test/v3', error.url)

    def test_keystone_error_without_auth_url(self):
        error = errors.KeystoneError('no token')
        self.assertIsNone(error.auth_url)
        self.assertIsNone(error.url)

    def test_unreachable_error(self):
        error = errors.UnreachableError('refused', url=URL)
        self.assertEqual(('refused', URL), (str(error), error.url))

    def test_http_error(self):
        error = errors.HTTPError('answered 503', URL, 503, 'busy')
        self.assertEqual(('answered 503', URL, 503, 'busy'),
                         (str(error), error.url, error.status, error.detail))

    def test_time_not_supported(self):
        error = errors.TimeNotSupported('refused', URL, 400,
                                        'Unknown argument: "time"')
        self.assertEqual((URL, 400, 'Unknown argument: "time"'),
                         (error.url, error.status, error.detail))

    def test_query_error(self):
        error = errors.QueryError('bad query', URL, 'bad_data')
        self.assertEqual(('bad query', URL, 'bad_data'),
                         (str(error), error.url, error.error_type))

    def test_not_a_prometheus_answer(self):
        error = errors.NotAPrometheusAnswer('html', url=URL)
        self.assertEqual(('html', URL), (str(error), error.url))

    def test_exported_names(self):
        for name in errors.__all__:
            self.assertTrue(hasattr(errors, name), name)

    def test_older_import_paths_name_the_same_class(self):
        # The fetcher, the collectors and older code import it from there.
        for module in (prometheus_client_base, prometheus_client,
                       prometheus, prometheus_fetcher):
            self.assertIs(errors.PrometheusResponseError,
                          module.PrometheusResponseError, module)
        self.assertIs(errors.excerpt, prometheus_client_base.excerpt)
