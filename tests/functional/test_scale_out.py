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
"""Two cloudkitty-processor processes sharing the scopes through etcd.

Scaling out means running more processors, on more hosts, each with its
own collector and its own scope batching, locking every scope through
tooz. Here two real ``cloudkitty-processor`` processes, each with its own
configuration file and log as on a host of its own, share one MariaDB
database and one etcd server (Debian's ``etcd-server``, started here on
free loopback ports and reached with ``coordination_url =
etcd3+http://...``, tooz's etcd3gw driver). They rate a few hundred
projects planted in a Prometheus of their own (the shared stack's data is
fixed), through an Aetos of their own in front of it, with scope batching
on. The ``source`` fetcher lists the projects: they need not exist in
Keystone, since the cloudkitty user, admin, may read any project through
Aetos.

Every (scope, period) must be rated once, by one of them, with the planted
quantities and prices; and Aetos must see at most one query per metric,
period and processor, plus the per-scope queries the processors report
(``Running PromQL query`` at DEBUG: that logger and the orchestrator's are
the only ones lowered to DEBUG). The figures are attached as ``figures``
and printed.
"""

import collections
from concurrent import futures
from importlib import metadata
import os
import re
import time

import fixtures
from oslo_log import log
import yaml

from functional import base
from functional import oracle
from functional import scale_out
from functional.services import cloudkitty_env
from functional.services import config
from functional.services import etcd
from functional.services import mariadb as mariadb_mod
from functional.services import processor as processor_mod
from functional.services import prometheus

SCOPES = 200
HOURS = 2
PROCESSORS = ('scale-a', 'scale-b')
# Seconds the processors get to rate everything. About a minute is enough
# on 24.0.0; 23.0.0 waits a second per scope and period for the thread
# pool of its collection to stop, some four minutes in all.
TIMEOUT = 420

Period = collections.namedtuple(
    'Period', 'answered batch fallbacks per_scope')
"""Queries of one period: answered by Aetos, batch ones per metric,
per-scope ones the processors report and per-scope ones Aetos answered."""

_ACQUIRED = re.compile(r'\[Worker: (\d+)\] Acquired lock "')
_PASS_DONE = re.compile(r'Finished processing all storage scopes with '
                        r'worker \[worker_id=(\d+)')
_REFUSED = re.compile(r'Could not acquire lock \[')
_PROCESSED = re.compile(r'Processing timestamp \[(\d[^\]]*)\] for storage '
                        r'scope \[([^\]]+)\]')


def _holding(log):
    """Workers in a processor's log that took a lock since their last pass."""
    last_lock = {match.group(1): match.start()
                 for match in _ACQUIRED.finditer(log)}
    last_pass = {match.group(1): match.start()
                 for match in _PASS_DONE.finditer(log)}
    return sorted(worker for worker, where in last_lock.items()
                  if where > last_pass.get(worker, -1))


def _host_processor(env, name):
    """A processor with its own configuration and log, as on a host.

    Everything else (database, prices, scope states) is the environment's.
    """
    workdir = os.path.join(env.dir, name)
    os.makedirs(workdir)
    log_file = os.path.join(workdir, 'cloudkitty-processor.log')
    conf = os.path.join(workdir, 'cloudkitty.conf')
    with open(env.conf) as source:
        text = source.read()
    text = text.replace('log_file = %s\n' % env.log_file,
                        'log_file = %s\n' % log_file)
    with open(conf, 'w') as out:
        out.write(text.replace('[DEFAULT]\n',
                               '[DEFAULT]\nhost = %s\n' % name, 1))
    return processor_mod.Processor(conf, workdir, log_file, name=name,
                                   states=env.states, scopes=env.scopes)


class ScaleOutTest(base.TestCase):

    def setUp(self):
        super(ScaleOutTest, self).setUp()
        self.began = time.monotonic()
        self.timings = {}
        self.stack = self._timed('stack', base.shared_stack)
        # The periods start half an hour off the clock's hours and the data
        # ends two and a half hours ago: with the wait_periods that makes
        # the last planted period due (half an hour ago), the next one is
        # not due for another half hour, whenever the test runs.
        now = int(time.time()) // scale_out.STEP * scale_out.STEP
        self.data = scale_out.ScaleOutData(
            SCOPES, HOURS, now - (HOURS + 2) * scale_out.HOUR -
            scale_out.HOUR // 2)
        self.etcd = self._timed('etcd', self.useFixture, etcd.Etcd())
        token = os.urandom(3).hex()
        region = 'Scale-' + token
        # The database, its schema and the scope states need none of the
        # servers below: they are prepared meanwhile.
        with futures.ThreadPoolExecutor(1) as pool:
            env = pool.submit(self._timed, 'cloudkitty', self._env, region)
            prometheus_ = self._timed('prometheus', self._prometheus)
            self.aetos = self._timed(
                'aetos', self.stack.start_extra_aetos, 'aetos-scale-' + token,
                prometheus_port=prometheus_.port)
            self.addCleanup(self.aetos.stop)
            endpoint = self.stack.add_endpoint(self.aetos.url, region)
            self.addCleanup(self.stack.remove_endpoint, endpoint, region)
            self.env = env.result()
        logs = {name: os.path.join(self.env.dir, name,
                                   'cloudkitty-processor.log')
                for name in PROCESSORS}
        logs.update(aetos=self.aetos.log_path, etcd=self.etcd.log)
        self.attach_on_failure(logs)
        self.setup_time = time.monotonic() - self.began

    def _timed(self, name, func, *args, **kwargs):
        started = time.monotonic()
        try:
            return func(*args, **kwargs)
        finally:
            self.timings[name] = time.monotonic() - started

    def _prometheus(self):
        """A Prometheus of its own serving the test's data only."""
        server = prometheus.Prometheus(
            self.useFixture(fixtures.TempDir()).path, self.data)
        self.addCleanup(server.stop)
        server.start()
        return server

    def _env(self, region):
        mariadb = self.useFixture(mariadb_mod.MariaDB())
        metrics = os.path.join(self.useFixture(fixtures.TempDir()).path,
                               'metrics.yml')
        with open(metrics, 'w') as out:
            yaml.safe_dump({'metrics': scale_out.METRICS}, out)
        levels = log.get_default_log_levels() + [
            'cloudkitty.orchestrator=DEBUG',
            'cloudkitty.collector.prometheus_base=DEBUG']
        env = self.useFixture(cloudkitty_env.CloudKittyEnv(
            mariadb, 'aetos', self.stack.collector_options(),
            self.data.begin(0), self.data.scopes, metrics_conf=metrics,
            prices=scale_out.PRICES, name='ck_scale_out',
            wait_periods=cloudkitty_env.wait_periods_for(self.data.end),
            overrides={
                'DEFAULT': {'default_log_levels': ','.join(levels)},
                'fetcher': {'backend': 'source'},
                'fetcher_source': {'sources': ','.join(self.data.scopes)},
                'orchestrator': {
                    'coordination_url': self.etcd.coordination_url},
                'collector_aetos': {'region_name': region,
                                    'scope_batching': 'true'},
            }))
        return env

    def _run_processors(self):
        """Run both processors until every scope is rated; their logs."""
        last = self.data.begin(HOURS - 1)
        processors = [_host_processor(self.env, name)
                      for name in PROCESSORS]
        for processor in processors:
            self.addCleanup(processor.stop)
        revision = self.etcd.revision()
        started = time.monotonic()
        for processor in processors:
            processor.start()
        deadline = started + TIMEOUT
        while True:
            states = self.env.states()
            # Whatever went wrong until the states were read counts.
            for processor in processors:
                self._check_alive(processor)
            if all(states.get(scope) is not None and states[scope] >= last
                   for scope in self.data.scopes):
                break
            if time.monotonic() > deadline:
                behind = [s for s in self.data.scopes
                          if not states.get(s) or states[s] < last]
                self.fail('%d scopes not rated up to %s after %ss'
                          % (len(behind), last, TIMEOUT))
            # Not too often: each look queries the database for the states.
            time.sleep(0.5)
        wall = time.monotonic() - started
        self._wait_idle(processors, deadline)
        logs = {}
        for processor in processors:
            processor.stop()
            logs[processor.name] = processor.log()
        self.etcd_writes = self.etcd.revision() - revision
        return wall, logs

    def _wait_idle(self, processors, deadline):
        """Wait until no worker holds a scope lock.

        Stopped inside its pass, a worker may leave a lock taken and not
        released. Once it has finished the pass it holds none, and sleeps
        for a period.
        """
        while any(_holding(processor.log()) for processor in processors):
            if time.monotonic() > deadline:
                self.fail('workers still in their pass after %ss: %s' % (
                    TIMEOUT, [_holding(p.log()) for p in processors]))
            time.sleep(0.5)

    def _check_alive(self, processor):
        if processor.proc.poll() is not None:
            self.fail('%s exited with status %s' % (
                processor.name, processor.proc.returncode))
        errors = processor.errors()
        if errors:
            self.fail('%s logged errors:\n%s' % (processor.name,
                                                 '\n'.join(errors[:20])))

    def _shares(self, logs):
        """{processor: Counter of the (scope, period) it processed}."""
        return {name: collections.Counter(
            (scope, config.parse_time(moment))
            for moment, scope in _PROCESSED.findall(text))
            for name, text in logs.items()}

    def _query_figures(self, queries, logged):
        """{period start: ``Period``}."""
        periods = {}
        for hour in range(HOURS):
            begin = self.data.start + hour * scale_out.HOUR
            answered = [q for q in queries
                        if q.period == begin and q.status == 200]
            batch = collections.Counter(q.metric for q in answered
                                        if q.scope is None)
            fallbacks = len([q for q in logged
                             if q.period == begin and q.scope is not None])
            periods[self.data.begin(hour)] = Period(
                len(answered), batch, fallbacks,
                len(answered) - sum(batch.values()))
        return periods

    def test_two_processors_rate_every_scope_once(self):
        wall, logs = self._run_processors()
        report = self.env.report()
        queries = scale_out.read_queries(self.aetos)
        logged = [query for text in logs.values()
                  for query in scale_out.logged_queries(text)]
        expected = self.data.expected_points()
        rated, duplicates = oracle.rated_points(report, scale_out.METRICS)
        pairs = {(key[0], key[1]) for key in expected}
        rated_pairs = {(key[0], key[1]) for key in rated}
        shares = self._shares(logs)
        processed = collections.Counter()
        for counter in shares.values():
            processed.update(counter)
        twice = sorted(pair for pair, count in processed.items() if count > 1)
        locks = [len(_ACQUIRED.findall(text)) for text in logs.values()]
        refused = [len(_REFUSED.findall(text)) for text in logs.values()]
        periods = self._query_figures(queries, logged)
        self._figures(wall, [
            'rated rows: %d, (scope, period) rated: %d of %d' % (
                len(report['points']), len(rated_pairs), len(pairs)),
            'duplicates: %d, missing: %d, processed twice: %d' % (
                len(duplicates), len(pairs - rated_pairs), len(twice)),
            'scope-periods per processor: %s' % ', '.join(
                '%s %d' % (name, sum(share.values()))
                for name, share in sorted(shares.items())),
            'scope locks taken: %s; refused (held by the other): %s; '
            'etcd writes: %d' % (locks, refused, self.etcd_writes),
            'queries sent (processors\' logs): %d, per-scope: %d; '
            'refused by Aetos (time): %d' % (
                len(logged), len([q for q in logged if q.scope]),
                len([q for q in queries if q.status != 200])),
        ], periods)

        self.assertEqual([], oracle.compare_points(expected, rated,
                                                   duplicates))
        self.assertEqual(sorted(pairs), sorted(rated_pairs))
        # Each (scope, period) processed once, by one processor, and both
        # took part.
        self.assertEqual(sorted(pairs), sorted(processed))
        self.assertEqual([], twice)
        for name, share in shares.items():
            self.assertGreater(len(share), 0, name)
        # Every lock the processors say they took went through this etcd:
        # one write to take it, one to release it.
        self.assertEqual(2 * sum(locks), self.etcd_writes)
        self.assertGreaterEqual(sum(locks), SCOPES)
        self._check_queries(queries, logged, periods)

    def _check_queries(self, queries, logged, periods):
        refused = [q for q in queries if q.status != 200]
        if base.aetos_refuses_time(self.stack):
            # Aetos 1.x: each thread that still sent time is refused once.
            self.assertLessEqual(len(refused),
                                 len(scale_out.METRICS) * len(PROCESSORS))
        else:
            self.assertEqual([], refused)
        self.assertEqual(len(logged), len(queries) - len(refused))
        metrics = len(scale_out.METRICS)
        for begin, period in periods.items():
            self.assertEqual(sorted(scale_out.METRICS), sorted(period.batch),
                             begin)
            for metric, count in period.batch.items():
                self.assertLessEqual(count, len(PROCESSORS),
                                     (begin, metric))
            # What the processors report is what Aetos received.
            self.assertEqual(period.fallbacks, period.per_scope, begin)
            self.assertLessEqual(
                period.answered,
                metrics * len(PROCESSORS) + period.fallbacks, begin)
            # No answer is evicted or expires in this run: the default
            # scope_batch_entries (16) holds every (metric, period) key
            # (metrics x HOURS), and scope_batch_max_age is 900 s.
            self.assertEqual(0, period.fallbacks, begin)
        self.assertEqual(sum(period.answered for period in periods.values()),
                         len(queries) - len(refused))

    def _figures(self, wall, outcome, periods):
        lines = [
            'CloudKitty %s, Aetos %s, etcd %s, tooz %s, etcd3gw %s' % (
                metadata.version('cloudkitty'), self.stack.base.aetos,
                self.etcd.version, metadata.version('tooz'),
                metadata.version('etcd3gw')),
            'coordination_url = %s' % self.etcd.coordination_url,
            'scopes: %d, periods: %d, processors: %d, metrics: %d' % (
                SCOPES, HOURS, len(PROCESSORS), len(scale_out.METRICS)),
        ] + outcome + [
            'queries to Aetos for %s: %d (batch %s; per-scope %d, '
            'reported %d)' % (
                begin.strftime('%H:%M'), period.answered,
                ', '.join('%s %d' % item
                          for item in sorted(period.batch.items())),
                period.per_scope, period.fallbacks)
            for begin, period in sorted(periods.items())] + [
            'processors wall time: %.1fs' % wall,
            'set-up %.1fs (%s), whole test %.1fs' % (
                self.setup_time, ', '.join(
                    '%s %.1fs' % item
                    for item in sorted(self.timings.items())),
                time.monotonic() - self.began)]
        self.figures('scale-out', lines)
