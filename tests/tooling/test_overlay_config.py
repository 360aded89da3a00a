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
replaces =
    # a comment line is not a file
    cloudkitty/collector/prometheus.py
entry_points =
    cloudkitty.fetchers: aetos = cloudkitty.fetcher.aetos:AetosFetcher
    oslo.config.opts: cloudkitty.common.config = cloudkitty.x:list_opts
replaces_entry_points =
    oslo.config.opts: cloudkitty.common.config

[overlay:2.0.0]
sha256 = %s
""" % (SHA.upper(), SHA)


class TestLoadSettings(unittest.TestCase):

    def setUp(self):
        super().setUp()
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        self.path = pathlib.Path(tmp) / 'setup.cfg'

    def load(self, old='', new='', **env):
        """Load SETUP_CFG with ``old`` replaced by ``new`` (once)."""
        self.path.write_text(SETUP_CFG.replace(old, new, 1),
                             encoding='utf-8')
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
        self.assertEqual('overlay:1.0.0', settings.section)
        self.assertEqual(frozenset(['cloudkitty/collector/prometheus.py']),
                         settings.replaces)
        self.assertEqual(
            {'cloudkitty.fetchers': [
                'aetos = cloudkitty.fetcher.aetos:AetosFetcher'],
             'oslo.config.opts': [
                 'cloudkitty.common.config = cloudkitty.x:list_opts']},
            settings.entry_points)
        self.assertEqual(
            frozenset([('oslo.config.opts', 'cloudkitty.common.config')]),
            settings.replaces_entry_points)

    def test_settings_are_those_of_the_base(self):
        # Nothing of 1.0.0's section applies to 2.0.0.
        settings = self.load(**{config.BASE_VERSION_ENV: '2.0.0'})
        self.assertEqual('2.0.0.post3', settings.version)
        self.assertEqual(SHA, settings.sha256)
        self.assertEqual(frozenset(), settings.replaces)
        self.assertEqual({}, settings.entry_points)
        self.assertEqual(frozenset(), settings.replaces_entry_points)

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
            self.load(**{config.BASE_VERSION_ENV: '3.0.0'})
        self.assertIn('No [overlay:3.0.0] section', '%s' % ctx.exception)
        self.assertIn('Known base versions: 1.0.0, 2.0.0',
                      '%s' % ctx.exception)

    def test_shared_settings_are_refused(self):
        # One list for every base cannot fit bases that differ: the old
        # places are named, with where the settings go now.
        self.assert_refused('post_release = 3',
                            'post_release = 3\nreplaces = a.py',
                            '[overlay] replaces', '[overlay:<version>]')
        self.assert_refused('[overlay:2.0.0]',
                            '[overlay:entry_points]\n[overlay:2.0.0]',
                            '[overlay:entry_points]', '[overlay:<version>]')

    def test_malformed_values(self):
        self.assert_refused(SHA.upper(), SHA[:-1], '[overlay:1.0.0]',
                            'sha256 = ' + SHA[:-1])
        for bad in ('three', '-1', '2.5'):
            with self.subTest(post_release=bad):
                self.assert_refused('= 3', '= ' + bad,
                                    'post_release = ' + bad)

    def test_entry_point_without_target(self):
        self.assert_refused(' = cloudkitty.fetcher.aetos:AetosFetcher', '',
                            '[overlay:1.0.0] entry_points',
                            "'cloudkitty.fetchers: aetos'",
                            'group: name = module:object')

    def test_entry_point_without_group(self):
        self.assert_refused('cloudkitty.fetchers: aetos', 'aetos',
                            '[overlay:1.0.0] entry_points',
                            'group: name = module:object')

    def test_replaced_entry_point_without_group(self):
        self.assert_refused('    oslo.config.opts: cloudkitty.common.config\n'
                            '\n', '    cloudkitty.common.config\n\n',
                            '[overlay:1.0.0] replaces_entry_points',
                            "'cloudkitty.common.config'", 'group: name')


class TestRecordedBases(unittest.TestCase):
    """The base releases recorded in this repository's setup.cfg."""

    # The Prometheus collector and client, split into a shared base plus
    # two variants, on every base.
    SPLIT = frozenset(['cloudkitty/collector/prometheus.py',
                       'cloudkitty/common/prometheus_client.py'])
    ADDED = {
        'cloudkitty.collector.backends': [
            'aetos = cloudkitty.collector.aetos:AetosCollector'],
        'cloudkitty.fetchers': [
            'aetos = cloudkitty.fetcher.aetos:AetosFetcher'],
        'console_scripts': [
            'cloudkitty-collector-check = '
            'cloudkitty.cli.collector_check:cli'],
        'oslo.config.opts': [
            'cloudkitty.collector.aetos = cloudkitty.collector.aetos:'
            'list_opts',
            'cloudkitty.fetcher.aetos = cloudkitty.fetcher.aetos:list_opts'],
    }

    def load(self, version=None):
        env = {config.BASE_VERSION_ENV: version} if version else {}
        return config.load_settings(REPO / 'setup.cfg', env)

    def test_default_base_is_24_0_0(self):
        self.assertEqual('24.0.0', self.load().base_version)

    def test_23_0_0_and_24_0_0_split_and_add(self):
        for version, sha256 in (
                ('23.0.0', '9758d2a1091363cecc115c77b95a1dca2f198390f73d060'
                           'ba425d355b5b77911'),
                ('24.0.0', '5de7acdfc8e0c8988fecfd1d0a814c16ef21ae6dcd7d4eb'
                           '2c7502ec17955f7c0')):
            with self.subTest(version):
                settings = self.load(version)
                self.assertEqual(sha256, settings.sha256)
                self.assertEqual(version + '.post1', settings.version)
                self.assertEqual(self.SPLIT, settings.replaces)
                self.assertEqual(self.ADDED, settings.entry_points)
                self.assertEqual(frozenset(),
                                 settings.replaces_entry_points)

    def test_25_0_0_replaces_its_aetos_collector_and_nothing_else(self):
        settings = self.load('25.0.0')
        self.assertEqual('7ed3e5ce3e990fad885c7402eb6ac10c81e0c162354b5ace7f'
                         'a0c2ce9e217b0f', settings.sha256)
        self.assertEqual('25.0.0.post1', settings.version)
        self.assertEqual(self.SPLIT | {
            'cloudkitty/collector/aetos.py',
            'cloudkitty/collector/prometheus_base.py',
            'cloudkitty/common/aetos_client.py',
            'cloudkitty/common/prometheus_client_base.py',
            'cloudkitty/tests/collectors/test_aetos.py'}, settings.replaces)
        # Its own "aetos" collector entry point has our target already;
        # its list of options gives way to one without [collector_aetos].
        added = dict(self.ADDED)
        del added['cloudkitty.collector.backends']
        added['oslo.config.opts'] = self.ADDED['oslo.config.opts'] + [
            'cloudkitty.common.config = cloudkitty.common.base_opts:'
            'list_opts']
        self.assertEqual(added, settings.entry_points)
        self.assertEqual(
            frozenset([('oslo.config.opts', 'cloudkitty.common.config')]),
            settings.replaces_entry_points)

    def test_unknown_base_lists_the_recorded_ones(self):
        with self.assertRaises(config.OverlayError) as ctx:
            self.load('22.0.0')
        self.assertIn('Known base versions: 23.0.0, 24.0.0, 25.0.0',
                      str(ctx.exception))
