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
"""The installed distribution, and what a deployer does with the build.

The distribution tox installed holds the base and the overlay, nothing
more. Then a deployer's life cycle: upgrade a stock CloudKitty, use it,
uninstall it.

One fresh virtualenv goes through the whole life cycle, so the test takes a
minute or so (pip's cache makes the downloads cheap after the first run).
"""

import configparser
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from overlay import build  # noqa: E402
from overlay import config  # noqa: E402

# The upper-constraints of each base release, by major version (setup.cfg
# [overlay:<version>] names the same files).
CONSTRAINTS = {
    '23': REPO / 'constraints' / 'upper-constraints-2025.2.txt',
    '24': REPO / 'constraints' / 'upper-constraints-2026.1.txt',
    # No stable/2026.2 file is at hand (constraints/README.rst).
    '25': REPO / 'constraints' / 'upper-constraints-master-2026-08.txt',
}


def constraints_for(base_version, environ=os.environ):
    """The constraints file to install ``base_version`` with.

    tox sets PIP_CONSTRAINT to the file of the environment's base (or to
    TOX_CONSTRAINTS_FILE); outside tox the release's own file is used.
    """
    if environ.get('PIP_CONSTRAINT'):
        return pathlib.Path(environ['PIP_CONSTRAINT'])
    major = base_version.split('.', 1)[0]
    if major not in CONSTRAINTS:
        raise KeyError('No constraints file known for cloudkitty %s: add it '
                       'to CONSTRAINTS in %s' % (base_version, __file__))
    return CONSTRAINTS[major]


# Printed by the venv's Python after the upgrade.
INSPECT = """
import importlib.metadata as md, json
dist = md.distribution('cloudkitty')
groups = {}
for ep in dist.entry_points:
    groups.setdefault(ep.group, []).append(ep.name)
import cloudkitty.orchestrator, cloudkitty.api.app
print(json.dumps({'version': dist.version,
                  'groups': {g: sorted(n) for g, n in groups.items()}}))
"""


class TestConstraints(unittest.TestCase):

    def test_every_recorded_base_has_its_constraints_file(self):
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(REPO / 'setup.cfg')
        versions = [s.split(':', 1)[1] for s in cfg.sections()
                    if s.startswith('overlay:')]
        self.assertEqual(['23.0.0', '24.0.0', '25.0.0'], versions)
        for version in versions:
            self.assertTrue(constraints_for(version, {}).is_file(), version)

    def test_tox_constraints_win(self):
        self.assertEqual(
            pathlib.Path('/x/uc.txt'),
            constraints_for('23.0.0', {'PIP_CONSTRAINT': '/x/uc.txt'}))


class TestInstalledDistribution(unittest.TestCase):
    """The cloudkitty tox installed: its base and the overlay, nothing more.

    setup.py builds in this checkout's build/ for every base, so a file that
    a build for another base release (or an older overlay) left there must
    not end up in the wheel.
    """

    def test_files_are_the_base_plus_the_overlay(self):
        try:
            dist = importlib.metadata.distribution(build.PACKAGE)
        except importlib.metadata.PackageNotFoundError:
            self.skipTest('cloudkitty is not installed')
        settings = config.load_settings(REPO / 'setup.cfg')
        if dist.version != settings.version:
            self.skipTest('cloudkitty %s is installed, not %s'
                          % (dist.version, settings.version))
        wheel = os.environ.get(build.BASE_WHEEL_ENV) or (
            REPO / 'build' / 'base-wheels' /
            build.wheel_name(settings.base_version))
        if not os.path.isfile(wheel):
            self.skipTest('%s is missing' % wheel)
        with zipfile.ZipFile(wheel) as archive:
            base = {name for name in archive.namelist()
                    if name.startswith(build.PACKAGE + '/')}
        expected = base | set(build.overlay_files(REPO / build.PACKAGE))
        installed = {f.as_posix() for f in dist.files
                     if f.parts[0] == build.PACKAGE and
                     f.suffix not in ('.pyc', '.pyo')}
        self.assertEqual([], sorted(installed - expected),
                         'installed, but neither in cloudkitty %s nor in '
                         'the overlay' % settings.base_version)
        self.assertEqual([], sorted(expected - installed),
                         'in the base or the overlay, but not installed')


class TestInstallLifeCycle(unittest.TestCase):

    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.venv = self.tmp / 'venv'
        subprocess.run([sys.executable, '-m', 'venv', str(self.venv)],
                       check=True)
        self.python = str(self.venv / 'bin' / 'python')
        self.site = pathlib.Path(subprocess.run(
            [self.python, '-c', 'import sysconfig; '
             'print(sysconfig.get_paths()["purelib"])'],
            check=True, stdout=subprocess.PIPE, text=True).stdout.strip())
        self.source = self.tmp / 'source'
        shutil.copytree(REPO, self.source, ignore=shutil.ignore_patterns(
            '.git', '.tox', '.stack', 'build', '__pycache__'))
        self.env = dict(os.environ)
        self.env.pop('PIP_CONSTRAINT', None)
        settings = config.load_settings(REPO / 'setup.cfg')
        cached = (REPO / 'build' / 'base-wheels' /
                  build.wheel_name(settings.base_version))
        if cached.is_file():
            self.env[build.BASE_WHEEL_ENV] = str(cached)
        self.base_version = settings.base_version
        self.version = settings.version
        self.constraints = str(constraints_for(self.base_version))

    def pip(self, *args):
        result = subprocess.run(
            [self.python, '-m', 'pip', '--quiet',
             '--disable-pip-version-check', *args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=900)
        self.assertEqual(0, result.returncode, result.stdout[-3000:])

    def installed(self):
        return sorted(p.name for p in self.site.iterdir()
                      if p.name.lower().startswith('cloudkitty'))

    def test_upgrade_use_uninstall(self):
        self.pip('install', '-c', self.constraints,
                 'cloudkitty==%s' % self.base_version)
        stock = self.inspect('cloudkitty.collector.prometheus')
        self.assertEqual(self.base_version, stock['version'])

        self.pip('install', '-c', self.constraints, str(self.source))
        ours = self.inspect('cloudkitty.collector.aetos')
        self.assertEqual(self.version, ours['version'])
        self.assertEqual(['cloudkitty', 'cloudkitty-%s.dist-info'
                          % self.version], self.installed())
        # Every entry point of the base release is still there, plus ours.
        for group, names in stock['groups'].items():
            self.assertLessEqual(set(names), set(ours['groups'][group]),
                                 group)
        self.assertIn('aetos', ours['groups']['cloudkitty.collector.backends'])
        self.assertIn('cloudkitty.collector.aetos',
                      ours['groups']['oslo.config.opts'])
        processor = subprocess.run(
            [str(self.venv / 'bin' / 'cloudkitty-processor'), '--help'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(0, processor.returncode, processor.stdout)

        self.pip('uninstall', '--yes', 'cloudkitty')
        self.assertEqual([], self.installed())
        scripts = [p.name for p in (self.venv / 'bin').iterdir()
                   if p.name.startswith('cloudkitty')]
        self.assertEqual([], scripts)

    def inspect(self, module):
        """Version and entry points, after importing ``module``."""
        result = subprocess.run(
            [self.python, '-c', 'import %s\n%s' % (module, INSPECT)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=str(self.tmp))
        self.assertEqual(0, result.returncode, result.stderr[-3000:])
        return json.loads(result.stdout)
