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
"""Label values that no lock or state row can hold, on the real stack.

Prometheus scrapes, live, a discovery metric labelled with each planted
project plus ``project_id="é"``, a 300-character value and an empty one.
A real cloudkitty-processor with ``[fetcher] backend = aetos`` rates every
planted project exactly, names the three dropped values in one warning
per pass, and its worker starts once.
"""

import collections
import os
import re
import signal
import time

from functional import base
from functional import fake_servers
from functional.services import httpclient

DISCOVERY_METRIC = 'ck_discovery_up'
LONG_ID = 'x' * 300
BAD_VALUES = ['\u00e9', LONG_ID, '']
DROPPED = 'cannot be scope IDs and are not rated'
# The line each pass starts with: 23.0.0 says "Tenants loaded", later
# releases "scopes [N] loaded" (24.0.0 leaves N unformatted).
PASS = re.compile(r'\] (?:scopes \[(?:\d+|\{s\})\]|Tenants) loaded for '
                  r'fetcher')
WORKER_START = re.compile(r'Processor worker ID \[(\d+)\] is initiated')
SCRAPE_TIMEOUT = 30


def exposition(project_ids):
    """Prometheus text format: one series per value, empty included."""
    lines = ['# TYPE %s gauge' % DISCOVERY_METRIC]
    for value in project_ids:
        escaped = value.replace('\\', '\\\\').replace('"', '\\"')
        lines.append('%s{project_id="%s"} 1' % (DISCOVERY_METRIC, escaped))
    return ('\n'.join(lines) + '\n').encode('utf-8')


class ScrapedSeries(object):
    """A scrape job of the stack's Prometheus, added live and removed.

    The job reads a local server every second; ``stop`` puts
    prometheus.yml back and reloads it.
    """

    def __init__(self, stack, body):
        self.stack = stack
        self.server = fake_servers.FakeMetricStorage()
        self.server.answer = (200, 'text/plain; version=0.0.4', body)
        self.conf = os.path.join(stack.workdir, 'prometheus',
                                 'prometheus.yml')
        with open(self.conf) as f:
            self.original = f.read()

    def _reload(self, text):
        with open(self.conf, 'w') as f:
            f.write(text)
        os.kill(self.stack.pids()['prometheus'], signal.SIGHUP)

    def start(self):
        self.server.start()
        target = self.server.url.split('://', 1)[1]
        self._reload(self.original.replace(
            'scrape_configs: []\n',
            'scrape_configs:\n'
            '  - job_name: ck_discovery\n'
            '    scrape_interval: 1s\n'
            '    static_configs:\n'
            '      - targets: ["%s"]\n' % target, 1))
        return self

    def stop(self):
        self._reload(self.original)
        self.server.stop()

    def values(self):
        """The project_id values Prometheus holds now for the metric."""
        answer = httpclient.http(
            'GET', self.stack.prometheus_url + '/api/v1/query?query='
            + DISCOVERY_METRIC).json()
        return sorted(sample['metric'].get('project_id', '')
                      for sample in answer['data']['result'])


class DroppedScopeIdsTest(base.FetcherProcessorTestBase):

    def test_rates_valid_projects_names_dropped_values(self):
        served = sorted(self.planted + BAD_VALUES)
        scraped = ScrapedSeries(self.stack, exposition(served)).start()
        self.addCleanup(scraped.stop)
        deadline = time.monotonic() + SCRAPE_TIMEOUT
        while scraped.values() != served:
            self.assertLess(time.monotonic(), deadline, scraped.values())
            time.sleep(0.5)

        env = self.env('ck_scope_ids', metric=DISCOVERY_METRIC)
        with env.processor() as processor:
            processor.wait_for(self.last, base.PROCESSOR_TIMEOUT)
            wall = processor.elapsed()
            log = processor.log()

        report = env.report()
        expected, rated, duplicates = self.assertRatedPlanted(report)
        lines = log.splitlines()
        passes = [line for line in lines if PASS.search(line)]
        dropped = [line for line in lines if DROPPED in line]
        starts = collections.Counter(
            m.group(1) for m in map(WORKER_START.search, lines) if m)
        self.assertNotEqual([], passes)
        self.assertEqual(len(passes), len(dropped))
        for line in dropped:
            self.assertIn(': 3 values of the project_id label of %s'
                          % DISCOVERY_METRIC, line)
            self.assertIn("'\\xe9' (not printable ASCII)", line)
            self.assertIn('(300 characters, over 256)', line)
            self.assertIn("'' (empty or missing)", line)
        # Each worker started once: never forked again after dying.
        self.assertNotEqual({}, starts)
        self.assertEqual({1}, set(starts.values()), starts)
        self.figures('scope IDs no lock or state row can hold', [
            'values of project_id served: %d (%d planted projects, '
            '"\\xe9", 300 characters, empty)'
            % (len(served), len(self.planted)),
            'passes: %d; warnings naming the 3 dropped values: %d'
            % (len(passes), len(dropped)),
            'worker starts: %s' % dict(starts),
            'rated points: %d (expected %d), duplicates %d' % (
                len(rated), len(expected), len(duplicates)),
            'processor wall time: %.1fs' % wall,
        ])
