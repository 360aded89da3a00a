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
"""A real cloudkitty-processor rating the planted usage.

Each test gives the processor a database of its own (MariaDB), a
cloudkitty.conf with the Keystone fetcher and one collector, hashmap
prices and scope states starting at the first planted hour, runs it until
every rated project is rated up to the last planted hour, and reads the
rated data back through CloudKitty's storage API. Every rated point must
be one the planted data implies, rated once, with the quantity and price
computed here from the dataset and the price list.

It runs on whichever pairing tox installed: CloudKitty 24.0.0 with the
services of ``AETOS_STACK_BASE`` 2026.1 (Aetos 2.0.0) by default, 23.0.0
with 2025.2 (Aetos 1.0.0, which refuses ``time``) in ``functional-2025.2``,
25.0.0 with 2026.2 (Aetos 3.0.0, project-scoped policies) in
``functional-2026.2``.

The figures (versions, processor wall time, periods and projects rated,
totals) are attached to each test as ``figures`` and printed:
``stestr last --all-attachments`` shows them.
"""

import datetime
from importlib import metadata
import time

from functional import base
from functional import dataset as planted
from functional import oracle
from functional.services import cloudkitty_env

PROCESSOR_TIMEOUT = base.PROCESSOR_TIMEOUT
PRICE_PRECISION = oracle.PRICE_PRECISION


class ProcessorTest(base.ProcessorTestBase):

    def run_and_check(self, collector):
        env = self.env(collector)
        wall = env.run_processor(self.last, PROCESSOR_TIMEOUT)
        report = env.report()
        rated = self.assertRatedExactly(report)
        # The one collector of the one worker: it says once that it stops
        # sending time, against an Aetos that refuses it.
        with open(env.log_file, errors='replace') as log:
            switches = len([line for line in log
                            if 'refuses the time parameter' in line])
        self.assertEqual(int(collector == 'aetos' and
                             base.aetos_refuses_time(self.stack)), switches)
        self.figures('%s collector' % collector, [
            'CloudKitty %s, Keystone %s, Aetos %s' % (
                metadata.version('cloudkitty'), self.stack.base.keystone,
                self.stack.base.aetos),
            'processor wall time: %.1fs' % wall,
            'switches to queries without time: %d' % switches,
            'periods x projects rated: %d x %d' % (planted.HOURS,
                                                   len(self.scopes)),
            'rated points: %d' % len(rated),
        ] + ['%s %s: qty %s, price %s' % (project, metric, qty,
                                          price.quantize(PRICE_PRECISION))
             for (project, metric), (qty, price)
             in sorted(self.totals(rated).items())])
        return rated

    def test_aetos_collector_rates_planted_usage(self):
        self.run_and_check('aetos')

    def test_prometheus_collector_rates_planted_usage(self):
        self.run_and_check('prometheus')

    def test_aetos_outage_loses_nothing(self):
        """Aetos down mid-run: failed periods are retried, none is lost.

        The processor is frozen (SIGSTOP) once it has rated a first period,
        Aetos is stopped, and the processor resumes against a dead Aetos:
        each project still behind fails its next period and keeps its
        state. Aetos comes back, SIGHUP starts a new pass, and the rated
        data must then be exactly the planted usage, each point once.
        """
        env = self.env('aetos')
        processor = env.processor()
        self.addCleanup(processor.stop)
        self.addCleanup(self._ensure_aetos)
        processor.start()
        processor.wait(
            lambda states: any(states[s] >= self.first for s in states),
            PROCESSOR_TIMEOUT, 'a first rated period')
        processor.pause()
        paused = env.states()
        behind = sorted(s for s in self.scopes if paused[s] < self.last)
        self.assertNotEqual([], behind, 'every project was rated before '
                                        'Aetos could be stopped')
        self.stack.stop_service('aetos')
        down_at = time.monotonic()
        processor.fail_fast = False
        processor.resume()

        down, errors, failures = self._fail_while_aetos_down(
            env, processor, paused, behind)
        outage = time.monotonic() - down_at

        self.stack.start_service('aetos')
        # From here on, any error is a failure again.
        processor.mark_log()
        processor.fail_fast = True
        processor.reload()
        processor.wait_for(self.last, PROCESSOR_TIMEOUT)
        wall = processor.elapsed()
        processor.stop()
        rated = self.assertRatedExactly(env.report())
        self.figures('Aetos outage', [
            'processor wall time: %.1fs (Aetos down %.1fs)' % (wall, outage),
            'projects behind when Aetos stopped: %d of %d' % (
                len(behind), len(self.scopes)),
            'states when frozen: %s' % self._hours(paused),
            'states with Aetos down: %s' % self._hours(down),
            'failed scope passes: %d' % failures,
            'error seen: %s' % errors[0],
            'rated points: %d' % len(rated),
        ])

    def _fail_while_aetos_down(self, env, processor, paused, behind):
        """Let the processor fail a pass on each scope ``behind``.

        :returns: (states then, CollectError messages, failed passes)
        """
        def failed(scope):
            return 'Error processing scope %s' % scope in processor.log()

        processor.wait(lambda states: all(failed(s) for s in behind),
                       PROCESSOR_TIMEOUT,
                       'a failed pass on %s' % ', '.join(behind))
        down = env.states()
        # At most the period in flight when the processor was frozen, its
        # data already collected, may have been recorded since.
        period = datetime.timedelta(seconds=cloudkitty_env.PERIOD)
        for scope in self.scopes:
            self.assertLessEqual(down[scope], paused[scope] + period, scope)
        errors = [line.split('CollectError: ', 1)[1]
                  for line in processor.errors() if 'CollectError: ' in line]
        self.assertTrue(any(self.stack.aetos_url in line
                            for line in errors),
                        'no collection error naming Aetos (%s):\n%s' % (
                            self.stack.aetos_url,
                            '\n'.join(processor.errors()[:20])))
        failures = processor.log().count('Error processing scope')
        # Nothing moves while Aetos stays down.
        time.sleep(2)
        self.assertEqual(down, env.states())
        return down, errors, failures

    def _ensure_aetos(self):
        """Leave the shared stack as found, whatever the test did."""
        if 'aetos' not in self.stack.pids():
            self.stack.start_service('aetos')

    def _hours(self, states):
        """Planted hours rated per project, for the figures."""
        return ', '.join(
            '%s=%d' % (self.names[scope],
                       (states[scope] - self.first) //
                       datetime.timedelta(hours=1) + 1)
            for scope in sorted(states, key=self.names.get))
