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
"""Tests of overlay/config.py: every mistake in setup.cfg is an OverlayError.

setup.py prints an OverlayError as one ``error:`` line; anything else
would be a traceback. Each message must name where the mistake is.
"""

import pathlib
import shutil
import sys
import tempfile
import unittest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from overlay import config  # noqa: E402

SHA = 'ab' * 32
SETUP_CFG = """\
[overlay]
base_version = 1.0.0
post_release = 3

[overlay:1.0.0]
sha256 = %s

[overlay:entry_points]
cloudkitty.fetchers =
    aetos = cloudkitty.fetcher.aetos:AetosFetcher
""" % SHA.upper()


class TestLoadSettings(unittest.TestCase):

    def setUp(self):
        super().setUp()
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        self.path = pathlib.Path(tmp) / 'setup.cfg'

    def load(self, old='', new='', **env):
        self.path.write_text(SETUP_CFG.replace(old, new), encoding='utf-8')
        return config.load_settings(self.path, env)

    def assert_refused(self, old, new, *facts):
        with self.assertRaises(config.OverlayError) as ctx:
            self.load(old, new)
        message = '%s' % ctx.exception
        for fact in (str(self.path),) + facts:
            self.assertIn(fact, message)

    def test_valid_file(self):
        settings = self.load()
        self.assertEqual('1.0.0.post3', settings.version)
        self.assertEqual(SHA, settings.sha256)
        self.assertEqual(frozenset(), settings.replaces)
        self.assertEqual(
            {'cloudkitty.fetchers': [
                'aetos = cloudkitty.fetcher.aetos:AetosFetcher']},
            settings.entry_points)

    def test_post_release_defaults_to_1(self):
        self.assertEqual(1, self.load('post_release = 3', '').post_release)

    def test_missing_file(self):
        with self.assertRaises(config.OverlayError) as ctx:
            config.load_settings(self.path.with_name('nowhere.cfg'), {})
        self.assertIn('nowhere.cfg not found', '%s' % ctx.exception)

    def test_not_an_ini_file(self):
        self.assert_refused('[overlay]\n', 'overlay\n', 'ini file')
        self.assert_refused('[overlay:1.0.0]', '[overlay]', 'ini file',
                            "'overlay'")

    def test_missing_main_section(self):
        self.assert_refused('[overlay]\n', '[overlai]\n', '[overlay]')

    def test_missing_option(self):
        self.assert_refused('base_version = 1.0.0', 'base_version =',
                            '[overlay]', 'base_version')
        self.assert_refused('sha256 =', 'sha =', '[overlay:1.0.0]',
                            'sha256')

    def test_unknown_base_version(self):
        with self.assertRaises(config.OverlayError) as ctx:
            self.load(**{config.BASE_VERSION_ENV: '2.0.0'})
        self.assertIn('[overlay:2.0.0]', '%s' % ctx.exception)
        self.assertIn('Known base versions: 1.0.0', '%s' % ctx.exception)

    def test_malformed_values(self):
        self.assert_refused(SHA.upper(), SHA[:-1], '[overlay:1.0.0]',
                            'sha256 = ' + SHA[:-1])
        for bad in ('three', '-1', '2.5'):
            with self.subTest(post_release=bad):
                self.assert_refused('= 3', '= ' + bad,
                                    'post_release = ' + bad)

    def test_entry_point_without_target(self):
        self.assert_refused(' = cloudkitty.fetcher.aetos:AetosFetcher', '',
                            '[overlay:entry_points] cloudkitty.fetchers',
                            "'aetos'")
