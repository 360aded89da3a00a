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
"""The ``aetos`` fetcher after an outage longer than its window.

Every planted series ended more than ``lookback`` seconds ago, so
discovery over the window finds no project; their scope states are behind
(at the first planted hour). With Aetos stopped, the first pass fails; once
Aetos is back, a real cloudkitty-processor rates every planted project
through its last period, each planted period once, from the scopes
CloudKitty's own state knows.
"""

import time

from functional import base
from functional import dataset as planted
from functional import fetcher_env

# Shorter than the age of the newest planted sample (checked).
LOOKBACK = 600
PROCESSOR_TIMEOUT = 240
OUTAGE_TIMEOUT = 60
DISCOVERY_FAILED = 'Scope discovery through Aetos failed'
CAUGHT_UP = 'scopes with samples since their next period are rated'


class OutageTest(base.FetcherProcessorTestBase):
    """An outage: known scopes behind the window are rated all the same."""

    def test_rates_through_last_period_after_outage(self):
        age = time.time() - fetcher_env.last_sample(self.data)
        self.assertGreater(age, LOOKBACK + fetcher_env.EDGE_MARGIN)
        env = self.env('ck_outage', lookback=LOOKBACK)
        self.stack.stop_service('aetos')
        self.addCleanup(self._aetos_back)
        processor = env.processor(fail_fast=False)
        self.addCleanup(processor.stop)
        processor.start()
        deadline = time.monotonic() + OUTAGE_TIMEOUT
        while not [line for line in processor.errors()
                   if DISCOVERY_FAILED in line]:
            self.assertLess(time.monotonic(), deadline, processor.log())
            time.sleep(0.2)
        outage_errors = processor.errors()
        self.stack.start_service('aetos')
        processor.mark_log()
        # The next pass at once, instead of a period later.
        processor.reload()
        processor.fail_fast = True
        processor.wait_for(self.last, PROCESSOR_TIMEOUT)
        wall = processor.elapsed()
        log = processor.log()
        processor.stop()

        report = env.report()
        expected, rated, duplicates = self.assertRatedPlanted(report)
        for scope, state in report['states'].items():
            self.assertGreaterEqual(state, self.last, scope)
        caught_up = [line for line in log.splitlines() if CAUGHT_UP in line]
        self.assertNotEqual([], caught_up)
        self.assertIn('%d scopes' % len(self.planted), caught_up[0])
        self.figures('outage longer than the window', [
            'newest planted sample: %.0f s ago; lookback %d s: the window '
            'finds no project' % (age, LOOKBACK),
            'passes failed while Aetos was down: %d (%s)' % (
                len([1 for line in outage_errors
                     if DISCOVERY_FAILED in line]), DISCOVERY_FAILED),
            'projects rated from their known state: %d (%s)' % (
                len(self.planted), ', '.join(self.named(self.planted))),
            'periods per project: %d; rated points %d, expected %d, '
            'duplicates %d' % (planted.HOURS, len(rated), len(expected),
                               len(duplicates)),
            'processor wall time: %.1fs' % wall,
        ])

    def _aetos_back(self):
        if 'aetos' not in self.stack.pids():
            self.stack.start_service('aetos')
