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
"""What collecting through Aetos costs, against Prometheus in the same run.

Starts the functional stack (Keystone, Aetos, Prometheus on 127.0.0.1) and
interleaves, round after round, the same instant query sent five ways:

* raw HTTP to Prometheus on a keep-alive session (the baseline);
* PrometheusCollector.fetch_all;
* raw HTTP to Aetos on a keep-alive session with one fixed token;
* AetosCollector.fetch_all, from one thread and from 8 threads sharing
  one collector.

The stack serves Aetos with gunicorn's threaded workers, which keep
connections alive as Apache or uWSGI do in a deployment, so the raw
session and the collector each keep theirs. Aetos runs one worker process
here: with two, each connection stays with the process that accepted it,
and which one that is shifted a variant by several percent from one run
to the next (0.94x and 1.04x for the same code).

Interleaving spreads any drift of the machine over every variant. It prints
the median and 95th percentile latency of each, as ratios to the baseline,
each collector's ratio to raw HTTP on its own path (the targets of issue
11: 1.10 for Prometheus, 1.05 for Aetos), the TCP connections each client
opened, and how many requests reached Keystone per 1,000 queries through
Aetos. Figures, not a pass/fail verdict: run it with ``tox -e bench``.
"""

import argparse
import collections
import concurrent.futures
import datetime
import os
import random
import statistics
import sys
import tempfile
import threading
import time

import requests
from urllib3 import connection as urllib3_connection

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))


from functional import base  # noqa: E402
from functional.services import config  # noqa: E402
from functional.services import keystone  # noqa: E402
from functional import stack as stack_mod  # noqa: E402

PERIOD = 3600
THREADS = 8
THREADED = 'AetosCollector x%d threads' % THREADS
ORDER = ('prometheus HTTP', 'PrometheusCollector',
         'aetos HTTP, fixed token', 'AetosCollector', THREADED)
METRIC = 'ck_instance_up'
METRICS = {'metrics': {METRIC: {
    'unit': 'instance', 'groupby': ['resource_id'],
    'metadata': ['flavor_name'],
    'extra_args': {'aggregation_method': 'max'}}}}


def _percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _keystone_token_requests(stack):
    """Token requests and validations Keystone has logged so far."""
    return len(keystone.token_requests(stack.logs['keystone']))


class Bench(object):

    def __init__(self, stack, workdir):
        self.stack = stack
        data = stack.dataset
        self.periods = [
            (data.project_ids[name], data.hour(h), data.hour(h + 1))
            for name in sorted(stack.projects) for h in range(6)]
        self.aetos = base.load_collector(stack, workdir, METRICS,
                                         period=PERIOD)
        self.prometheus = base.load_collector(
            stack, tempfile.mkdtemp(dir=workdir), METRICS, 'prometheus',
            period=PERIOD)
        self.http = requests.Session()
        self.token = stack.token()
        self.samples = {}
        self.batches = []
        self.aetos_queries = 0

    def _query(self, index, pin):
        """The collector's query and time; ``pin`` as Aetos' collector."""
        project_id, start, end = self.periods[index % len(self.periods)]
        metric = METRICS['metrics'][METRIC]
        end = config.utc(end)
        query = self.prometheus.build_query(
            self.prometheus.conf, METRIC, config.utc(start), end,
            'project_id', project_id, metric['groupby'], metric['metadata'],
            pin=pin)
        return query, end.isoformat()

    def _timed(self, name, func, *args):
        started = time.perf_counter()
        result = func(*args)
        self.samples.setdefault(name, []).append(
            time.perf_counter() - started)
        return result

    def raw(self, url, index, headers=None):
        """One query over the benchmark's keep-alive session."""
        query, end = self._query(index, pin=headers is not None)
        answer = self.http.get(url + '/api/v1/query',
                               params={'query': query, 'time': end},
                               headers=headers, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def fetch(self, chosen, index):
        project_id, start, end = self.periods[index % len(self.periods)]
        return chosen.fetch_all(METRIC, config.utc(start), config.utc(end),
                                project_id)

    def round(self, index, pool):
        token = {'X-Auth-Token': self.token}
        steps = [
            ('prometheus HTTP', self.raw, self.stack.prometheus_url, index),
            ('aetos HTTP, fixed token', self.raw, self.stack.aetos_url,
             index, token),
            ('PrometheusCollector', self.fetch, self.prometheus, index),
            ('AetosCollector', self.fetch, self.aetos, index),
            (THREADED, None),
        ]
        random.shuffle(steps)
        for name, func, *args in steps:
            CONNECTS.current = name
            if func is not None:
                self._timed(name, func, *args)
                self.aetos_queries += 'aetos' in name.lower()
                continue
            started = time.perf_counter()
            futures = [pool.submit(self._timed, name, self.fetch, self.aetos,
                                   index + k) for k in range(THREADS)]
            for future in futures:
                future.result()
            self.batches.append(time.perf_counter() - started)
            self.aetos_queries += THREADS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=1000,
                        help='queries per variant (x%d for the threaded '
                             'one); default 1000' % THREADS)
    parser.add_argument('--warmup', type=int, default=10,
                        help='rounds run first and not counted')
    args = parser.parse_args(argv)
    random.seed(42)
    CONNECTS.install()
    with tempfile.TemporaryDirectory(prefix='ck-bench-') as workdir, \
            stack_mod.Stack(aetos_workers=1) as stack:
        keystone_start = _keystone_token_requests(stack)
        bench = Bench(stack, workdir)
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            for index in range(args.warmup):
                bench.round(index, pool)
            bench.samples.clear()
            del bench.batches[:]
            keystone_before = _keystone_token_requests(stack)
            warmup_queries = bench.aetos_queries
            bench.aetos_queries = 0
            CONNECTS.counts.clear()
            started = time.monotonic()
            for index in range(args.rounds):
                bench.round(index, pool)
            wall = time.monotonic() - started
            keystone_end = _keystone_token_requests(stack)
        report(bench, keystone_end - keystone_before, wall, args.rounds)
        print_connections(CONNECTS.counts, args.rounds)
        print('Including start-up and warm-up: %d for %d queries (the '
              'benchmark\'s fixed token, the collector\'s token, and '
              'Aetos validating each once per worker)' % (
                  keystone_end - keystone_start,
                  warmup_queries + bench.aetos_queries))
    return 0


def report(bench, keystone, wall, rounds):
    baseline = bench.samples['prometheus HTTP']
    base_median = statistics.median(baseline)
    base_p95 = _percentile(baseline, 0.95)
    print()
    print('%d interleaved rounds in %.1f s, %s' % (
        rounds, wall, datetime.datetime.now(datetime.timezone.utc)
        .strftime('%Y-%m-%d %H:%M UTC')))
    header = '%-28s %6s %10s %8s %10s %8s' % (
        'variant', 'n', 'median ms', 'x base', 'p95 ms', 'x base')
    print(header)
    print('-' * len(header))
    for name in ORDER:
        values = bench.samples[name]
        median = statistics.median(values)
        p95 = _percentile(values, 0.95)
        print('%-28s %6d %10.2f %8.2f %10.2f %8.2f' % (
            name, len(values), median * 1000, median / base_median,
            p95 * 1000, p95 / base_p95))
    same_path(bench.samples)
    serial = bench.samples['AetosCollector']
    print()
    print('AetosCollector throughput: %.0f queries/s from one thread, '
          '%.0f queries/s from %d threads sharing it' % (
              len(serial) / sum(serial),
              THREADS * len(bench.batches) / sum(bench.batches), THREADS))
    print('Keystone token requests and validations while measured: %d for '
          '%d queries through Aetos = %.1f per 1,000' % (
              keystone, bench.aetos_queries,
              1000.0 * keystone / max(1, bench.aetos_queries)))


SAME_PATH = (
    ('PrometheusCollector', 'prometheus HTTP', 1.10),
    ('AetosCollector', 'aetos HTTP, fixed token', 1.05),
)
"""(collector, raw HTTP on the same path, target ratio)."""


def same_path(samples):
    """Each collector against raw HTTP to the same server."""
    print()
    print('Collector / raw HTTP (keep-alive session) on the same path:')
    for name, raw, target in SAME_PATH:
        median = statistics.median(samples[name]) / statistics.median(
            samples[raw])
        p95 = _percentile(samples[name], 0.95) / _percentile(
            samples[raw], 0.95)
        print('  %-27s / %-24s median %.3fx, p95 %.3fx (target <= %.2fx '
              'at the median: %s)' % (name, raw, median, p95, target,
                                      'met' if median <= target
                                      else 'NOT met'))


class ConnectCounter(object):
    """Counts the TCP connections urllib3 opens, per running variant.

    Every client here (requests, keystoneauth) connects through urllib3's
    HTTPConnection, which opens a socket in ``_new_conn``, also when it
    reconnects after the server closed the connection.
    """

    def __init__(self):
        self.current = None
        self.counts = collections.Counter()
        self._lock = threading.Lock()
        self._original = urllib3_connection.HTTPConnection._new_conn

    def install(self):
        counter = self

        def new_conn(connection):
            with counter._lock:
                counter.counts[counter.current] += 1
            return counter._original(connection)

        urllib3_connection.HTTPConnection._new_conn = new_conn


CONNECTS = ConnectCounter()


def print_connections(counts, rounds):
    print()
    print('TCP connections opened while measured, per variant:')
    for name in ORDER:
        queries = rounds * (THREADS if name == THREADED else 1)
        print('  %-28s %5d for %5d queries' % (name, counts[name], queries))


if __name__ == '__main__':
    sys.exit(main())
