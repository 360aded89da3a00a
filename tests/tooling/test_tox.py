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
"""tox.ini: each environment that picks a base release builds and tests it.

A wheel built for one base and installed in the environment of another
would test the wrong release without a word; so would a functional run
whose services are of another release than its CloudKitty.
"""

import configparser
import pathlib
import sys
import unittest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from overlay import config  # noqa: E402


class TestToxEnvironments(unittest.TestCase):
    """Each tox environment that picks a base builds its own wheel."""

    def setUp(self):
        self.tox = configparser.ConfigParser(interpolation=None)
        self.tox.read(REPO / 'tox.ini')

    def setenv(self, section):
        values = {}
        for line in self.tox.get(section, 'setenv', fallback='').splitlines():
            if '=' in line:
                name, value = line.split('=', 1)
                values[name.strip()] = value.strip()
        return values

    def assert_builds_and_tests(self, release, version, constraints):
        env = 'testenv:py3-' + release
        constraints = '{toxinidir}/constraints/' + constraints
        self.assertEqual(version, self.setenv(env)[config.BASE_VERSION_ENV])
        self.assertEqual(constraints, self.setenv(env)['PIP_CONSTRAINT'])
        self.assertIn('-c' + constraints, self.tox.get(env, 'deps'))
        pkg = self.tox.get(env, 'wheel_build_env')
        self.assertEqual('.pkg-' + release, pkg)
        self.assertEqual(
            version, self.setenv('testenv:' + pkg)[config.BASE_VERSION_ENV])
        # The functional run of the release installs the same wheel with
        # the same settings, against the services of the same release.
        functional = 'testenv:functional-' + release
        self.assertEqual(pkg, self.tox.get(functional, 'wheel_build_env'))
        self.assertEqual(['{[%s]setenv}' % env,
                          'AETOS_STACK_BASE=' + release],
                         self.tox.get(functional, 'setenv').split())
        self.assertEqual('{[%s]deps}' % env,
                         self.tox.get(functional, 'deps'))
        # The stock release, for comparison.
        self.assertIn('cloudkitty==' + version,
                      self.tox.get('testenv:base-py3-' + release, 'deps'))

    def test_py3_2025_2_builds_and_tests_23_0_0(self):
        self.assert_builds_and_tests('2025.2', '23.0.0',
                                     'upper-constraints-2025.2.txt')

    def test_py3_2026_2_builds_and_tests_25_0_0(self):
        self.assert_builds_and_tests('2026.2', '25.0.0',
                                     'upper-constraints-master-2026-08.txt')

    def test_every_base_has_its_own_package_environment(self):
        pkgs = [self.tox.get(section, 'wheel_build_env')
                for section in self.tox.sections()
                if section.startswith('testenv:py3-')]
        pkgs.append(self.tox.get('testenv', 'wheel_build_env'))
        self.assertEqual(sorted(set(pkgs)), sorted(pkgs))
