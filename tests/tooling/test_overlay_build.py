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
"""Tests of the overlay build: what it refuses and what it produces."""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
import zipfile

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from overlay import build  # noqa: E402
from overlay import config  # noqa: E402

SETUP_CFG = """\
[overlay]
base_version = 1.0.0
post_release = 3

[overlay:1.0.0]
sha256 = %(sha)s
replaces =
    cloudkitty/collector/prometheus.py
entry_points =
    cloudkitty.collector.backends: %(aetos)s
""".replace('%(aetos)s', 'aetos = cloudkitty.collector.aetos:AetosCollector')

BASE_FILES = {
    'cloudkitty/__init__.py': '',
    'cloudkitty/collector/__init__.py': '',
    'cloudkitty/collector/prometheus.py': 'BASE = True\n',
    'cloudkitty/collector/gnocchi.py': 'BASE = True\n',
    'cloudkitty/tests/__init__.py': '',
    'cloudkitty/tests/common/helper.py': 'BASE = True\n',
    'cloudkitty/api/paste.ini': '[app]\n',
    'cloudkitty-1.0.0.dist-info/METADATA': textwrap.dedent("""\
        Metadata-Version: 2.1
        Name: cloudkitty
        Version: 1.0.0
        Summary: base
        Requires-Dist: pbr>=6.1.1
        Requires-Dist: stevedore>=3.2.2

        long text
        """),
    'cloudkitty-1.0.0.dist-info/entry_points.txt': textwrap.dedent("""\
        [cloudkitty.collector.backends]
        prometheus = cloudkitty.collector.prometheus:PrometheusCollector

        [console_scripts]
        cloudkitty-processor = cloudkitty.cli.processor:main
        """),
    'cloudkitty-1.0.0.data/scripts/cloudkitty-api': '#!python\n',
}


class OverlayTreeTestCase(unittest.TestCase):
    """A synthetic base wheel and overlay, so no index is needed."""

    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.wheel = self.tmp / 'cloudkitty-1.0.0-py3-none-any.whl'
        with zipfile.ZipFile(self.wheel, 'w') as archive:
            for name, text in BASE_FILES.items():
                archive.writestr(name, text)
        self.sha = build.sha256_of(self.wheel)
        self.repo = self.tmp / 'repo'
        self.write('cloudkitty/collector/prometheus.py', 'OURS = True\n')
        self.write('cloudkitty/collector/aetos.py', 'OURS = True\n')
        (self.repo / 'setup.cfg').write_text(SETUP_CFG % {'sha': self.sha})
        self.env = {build.BASE_WHEEL_ENV: str(self.wheel)}

    def write(self, rel, text):
        path = self.repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def settings(self, **env):
        return config.load_settings(self.repo / 'setup.cfg', env)

    def prepare(self):
        return build.prepare(self.repo, self.tmp / 'build', self.settings(),
                             self.env)


class TestPrepare(OverlayTreeTestCase):

    def test_overlay_is_laid_on_the_base(self):
        src, base = self.prepare()
        self.assertEqual(
            'OURS = True\n',
            (src / 'cloudkitty/collector/prometheus.py').read_text())
        self.assertEqual(
            'BASE = True\n',
            (src / 'cloudkitty/collector/gnocchi.py').read_text())
        self.assertTrue((src / 'cloudkitty/collector/aetos.py').is_file())
        self.assertTrue((src / 'cloudkitty/api/paste.ini').is_file())
        self.assertEqual(['cloudkitty'], sorted(os.listdir(src)))
        self.assertEqual(['cloudkitty-api'],
                         [os.path.basename(s) for s in base.scripts])
        self.assertEqual(['pbr>=6.1.1', 'stevedore>=3.2.2'],
                         base.metadata.get_all('Requires-Dist'))

    def test_entry_points_are_merged(self):
        _src, base = self.prepare()
        merged = build.merge_entry_points(base.entry_points,
                                          self.settings().entry_points)
        self.assertEqual(
            ['prometheus = cloudkitty.collector.prometheus:'
             'PrometheusCollector',
             'aetos = cloudkitty.collector.aetos:AetosCollector'],
            merged['cloudkitty.collector.backends'])
        self.assertEqual(['cloudkitty-processor = cloudkitty.cli.processor:'
                          'main'], merged['console_scripts'])

    def test_entry_point_clash_is_refused(self):
        with self.assertRaises(config.OverlayError) as ctx:
            build.merge_entry_points(
                {'g': ['prometheus = a:B']}, {'g': ['prometheus = c:D']},
                section='overlay:1.0.0')
        self.assertEqual(
            "Entry point 'prometheus' in group g is already defined by the "
            'base release: remove ours, or list "g: prometheus" in setup.cfg '
            '[overlay:1.0.0] replaces_entry_points for ours to take its '
            'place', str(ctx.exception))

    def test_listed_entry_point_is_replaced(self):
        merged = build.merge_entry_points(
            {'g': ['one = a:B', 'two = a:C'], 'h': ['one = a:D']},
            {'g': ['one = c:D']}, frozenset([('g', 'one')]))
        self.assertEqual({'g': ['two = a:C', 'one = c:D'],
                          'h': ['one = a:D']}, merged)

    def test_replaced_entry_point_must_be_in_base_and_ours(self):
        for base, ours in (({'g': ['one = a:B']}, {}),
                           ({}, {'g': ['one = c:D']})):
            with self.subTest(base=base, ours=ours):
                with self.assertRaises(config.OverlayError) as ctx:
                    build.merge_entry_points(
                        base, ours, frozenset([('g', 'one')]),
                        'overlay:1.0.0')
                self.assertEqual(
                    'g: one is listed in setup.cfg [overlay:1.0.0] '
                    'replaces_entry_points but the base and the overlay do '
                    'not both define it: remove it from the list',
                    str(ctx.exception))

    def test_unlisted_replacement_is_refused(self):
        self.write('cloudkitty/collector/gnocchi.py', 'OURS = True\n')
        with self.assertRaises(config.OverlayError) as ctx:
            self.prepare()
        self.assertIn('cloudkitty/collector/gnocchi.py would replace the '
                      'base release\'s file of the same name, and it is not '
                      'in setup.cfg [overlay:1.0.0] replaces',
                      str(ctx.exception))

    def test_init_in_a_base_directory_is_refused(self):
        self.write('cloudkitty/tests/common/__init__.py', '')
        with self.assertRaises(config.OverlayError) as ctx:
            self.prepare()
        self.assertIn('cloudkitty/tests/common/__init__.py would turn the '
                      'base directory', str(ctx.exception))

    def test_stale_replaces_entry_is_refused(self):
        os.remove(self.repo / 'cloudkitty/collector/prometheus.py')
        with self.assertRaises(config.OverlayError) as ctx:
            self.prepare()
        self.assertIn('cloudkitty/collector/prometheus.py is listed in '
                      'setup.cfg [overlay:1.0.0] replaces', str(ctx.exception))

    def test_byte_code_is_not_part_of_the_overlay(self):
        self.write('cloudkitty/collector/__pycache__/gnocchi.cpython.pyc',
                   'x')
        self.write('cloudkitty/collector/gnocchi.pyc', 'x')
        src, _base = self.prepare()
        self.assertFalse((src / 'cloudkitty/collector/gnocchi.pyc').exists())

    def test_hash_mismatch_is_refused(self):
        with open(self.wheel, 'ab') as f:
            f.write(b'tampered')
        with self.assertRaises(config.OverlayError) as ctx:
            self.prepare()
        message = str(ctx.exception)
        self.assertIn('has sha256 %s' % build.sha256_of(self.wheel), message)
        self.assertIn('records %s' % self.sha, message)

    def test_missing_local_wheel_is_reported(self):
        self.env[build.BASE_WHEEL_ENV] = str(self.tmp / 'nowhere.whl')
        with self.assertRaises(config.OverlayError) as ctx:
            self.prepare()
        self.assertIn('nowhere.whl: no such file', str(ctx.exception))

    def test_removed_overlay_file_does_not_linger(self):
        self.prepare()
        os.remove(self.repo / 'cloudkitty/collector/aetos.py')
        src, _base = self.prepare()
        self.assertFalse((src / 'cloudkitty/collector/aetos.py').exists())


class TestRealSetup(unittest.TestCase):
    """setup.py itself, on a copy of this repo and the real base wheel."""

    def setUp(self):
        settings = config.load_settings(REPO / 'setup.cfg')
        wheel = os.environ.get(build.BASE_WHEEL_ENV) or (
            REPO / 'build' / 'base-wheels' /
            build.wheel_name(settings.base_version))
        if not os.path.isfile(wheel):
            self.fail('%s is missing: build the package first (tox does) '
                      'or set %s' % (wheel, build.BASE_WHEEL_ENV))
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.copy = self.tmp / 'repo'
        shutil.copytree(REPO, self.copy, ignore=shutil.ignore_patterns(
            '.git', '.tox', '.stack', 'build', 'doc', 'releasenotes',
            '__pycache__'))
        self.wheel = self.tmp / os.path.basename(wheel)
        shutil.copyfile(wheel, self.wheel)

    def run_setup(self):
        env = dict(os.environ)
        env[build.BASE_WHEEL_ENV] = str(self.wheel)
        return subprocess.run(
            [sys.executable, 'setup.py', '--version'], cwd=self.copy,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, timeout=120)

    def test_clean_copy_builds(self):
        result = self.run_setup()
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertTrue(result.stdout.strip().endswith('.post1'),
                        result.stdout)

    def test_file_over_an_unlisted_base_file_fails_the_build(self):
        target = self.copy / 'cloudkitty' / 'orchestrator.py'
        target.write_text('# not allowed\n')
        result = self.run_setup()
        self.assertNotEqual(0, result.returncode)
        self.assertIn('cloudkitty/orchestrator.py would replace the base '
                      'release\'s file', result.stderr)

    def test_substituted_base_wheel_fails_the_build(self):
        digest = hashlib.sha256(self.wheel.read_bytes() + b'x').hexdigest()
        with open(self.wheel, 'ab') as f:
            f.write(b'x')
        result = self.run_setup()
        self.assertNotEqual(0, result.returncode)
        self.assertIn('has sha256 %s' % digest, result.stderr)
        self.assertIn('is corrupt or is not the released cloudkitty',
                      result.stderr)


class TestSetupErrorLine(OverlayTreeTestCase):
    """setup.py on the synthetic tree: each build error is one error line."""

    def setUp(self):
        super().setUp()
        shutil.copy(REPO / 'setup.py', self.repo)
        shutil.copytree(REPO / 'overlay', self.repo / 'overlay',
                        ignore=shutil.ignore_patterns('__pycache__'))
        (self.repo / 'requirements.txt').write_text('')

    def run_setup(self, **env):
        return subprocess.run(
            [sys.executable, 'setup.py', '--version'], cwd=self.repo,
            env={**os.environ, config.BASE_VERSION_ENV: '', **self.env, **env},
            capture_output=True, text=True, timeout=120)

    def assert_error_line(self, *facts, **env):
        result = self.run_setup(**env)
        self.assertEqual(1, result.returncode, result.stderr)
        first, *rest = result.stderr.splitlines() or ['']
        self.assertTrue(first.startswith('error: '), result.stderr)
        self.assertTrue(all(x.startswith('  ') for x in rest), result.stderr)
        for fact in facts:
            self.assertIn(fact, result.stderr)

    def test_the_synthetic_tree_builds(self):
        result = self.run_setup()
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual('1.0.0.post3', result.stdout.strip())

    def test_settings_error(self):
        self.assert_error_line('No [overlay:2.0.0] section',
                               **{config.BASE_VERSION_ENV: '2.0.0'})

    def test_entry_point_clash(self):
        (self.repo / 'setup.cfg').write_text(
            SETUP_CFG.replace('aetos =', 'prometheus =') % {'sha': self.sha})
        self.assert_error_line("'prometheus' in group cloudkitty.collector")

    def test_overlay_that_does_not_fit(self):
        # The problems are listed on indented lines under the error line.
        self.write('cloudkitty/collector/gnocchi.py', 'OURS = True\n')
        self.assert_error_line('cloudkitty/collector/gnocchi.py would')

    def test_unreadable_file(self):
        os.remove(self.repo / 'requirements.txt')
        self.assert_error_line('requirements.txt')
