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
"""The sample configuration of the installed distribution (tox -e genconfig).

oslo-config-generator writes every option of every namespace it is given,
and writes an option twice when two namespaces list it, with each one's
default: a deployer copying the sample would not know which one holds.
25.0.0 lists a [collector_aetos] of its own; on every base the sample must
list each option once, with our defaults.
"""

import collections
import pathlib
import re
import subprocess
import sys
import tempfile
import unittest

REPO = pathlib.Path(__file__).resolve().parents[2]
GENERATOR_CONF = REPO / 'etc' / 'oslo-config-generator' / 'cloudkitty.conf'
SECTION = re.compile(r'^\[(?P<name>[^\]]+)\]$')
# An option line: "#name = default" (commented out) or "name = value".
OPTION = re.compile(r'^#?(?P<name>[A-Za-z0-9_-]+) = ?(?P<default>.*)$')


def read_sample(text):
    """Every option line of a sample, by section, in order.

    :returns: {section: [(name, default), ...]}
    """
    sections = collections.defaultdict(list)
    section = None
    for line in text.splitlines():
        match = SECTION.match(line)
        if match:
            section = match.group('name')
            continue
        match = OPTION.match(line)
        if match and section:
            sections[section].append((match.group('name'),
                                      match.group('default')))
    return sections


class TestSampleConfiguration(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as tmp:
            output = pathlib.Path(tmp) / 'cloudkitty.conf.sample'
            result = subprocess.run(
                [sys.executable, '-m', 'oslo_config.generator',
                 '--config-file', str(GENERATOR_CONF),
                 '--output-file', str(output)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=300)
            cls.result = result
            cls.sample = (output.read_text(encoding='utf-8')
                          if output.is_file() else '')

    def setUp(self):
        super().setUp()
        self.assertEqual(0, self.result.returncode, self.result.stdout)
        self.sections = read_sample(self.sample)

    def test_reader_sees_options(self):
        self.assertEqual([('a', '1'), ('b', '<None>')], read_sample(
            '[g]\n\n# help = text\n#a = 1\n# a sentence\nb = <None>\n')['g'])

    def test_no_option_is_listed_twice(self):
        for section, options in self.sections.items():
            with self.subTest(section=section):
                names = [name for name, _default in options]
                twice = sorted(n for n, c in collections.Counter(
                    names).items() if c > 1)
                self.assertEqual([], twice)

    def test_collector_aetos_has_our_defaults(self):
        options = dict(self.sections['collector_aetos'])
        self.assertEqual('60', options['timeout'])
        self.assertEqual('public', options['interface'])
        self.assertEqual('<None>', options['region_name'])
        self.assertEqual('false', options['scope_batching'])
        # keystoneauth's password plugin, which the docs use.
        for name in ('auth_type', 'auth_url', 'username', 'password',
                     'project_name', 'project_domain_id'):
            self.assertIn(name, options)

    def test_fetcher_aetos_is_listed(self):
        options = dict(self.sections['fetcher_aetos'])
        self.assertEqual('60', options['timeout'])
        self.assertIn('auth_type', options)
