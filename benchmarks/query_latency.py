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
* raw HTTP to Aetos on a keep-alive session with one fixed token;
* PrometheusCollector.fetch_all;
* AetosCollector.fetch_all from one thread;
* AetosCollector.fetch_all from 8 threads sharing one collector.

Interleaving spreads any drift of the machine over every variant. It prints
the median and 95th percentile latency of each, as ratios to the baseline,
and how many requests reached Keystone per 1,000 queries through Aetos.
Figures, not a pass/fail verdict: run it with ``tox -e bench``.
"""

import argparse
import concurrent.futures
import datetime
import os
import random
import statistics
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))


from functional import base  # noqa: E402
from functional import stack as stack_mod  # noqa: E402

PERIOD = 3600
THREADS = 8
METRIC = 'ck_instance_up'
METRICS = {'metrics': {METRIC: {
    'unit': 'instance', 'groupby': ['resource_id'],
    'metadata': ['flavor_name'],
    'extra_args': {'aggregation_method': 'max'}}}}


def _utc(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)


def _percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _keystone_token_requests(stack):
    """Token requests and validations Keystone has logged so far."""
    with open(stack.logs['keystone'], errors='replace') as log:
        return sum(1 for line in log if '/v3/auth/tokens' in line)


class Bench(object):

    def __init__(self, stack, workdir):
        self.stack = stack
        data = stack.dataset
        self.periods = [
            (data.project_ids[name], data.hour(h), data.hour(h + 1))
            for name in sorted(stack.projects) for h in range(6)]
        self.aetos = base.load_collector(stack, workdir, METRICS,
                                         period=PERIOD)
        self.prometheus = base.load_collector(stack, workdir, METRICS,
                                              'prometheus', period=PERIOD)
        self.http = requests.Session()
        self.token = stack.token()
        self.samples = {}
        self.batches = []
        self.aetos_queries = 0

    def _query(self, index):
        project_id, start, end = self.periods[index % len(self.periods)]
        query = self.prometheus.build_query(
            self.prometheus.conf, METRIC, _utc(start), _utc(end),
            'project_id', project_id, ['resource_id', 'project_id'],
            ['flavor_name'])
        return query, end

    def _timed(self, name, func, *args):
        started = time.perf_counter()
        result = func(*args)
        self.samples.setdefault(name, []).append(
            time.perf_counter() - started)
        return result

    def raw(self, url, index, headers=None):
        query, end = self._query(index)
        answer = self.http.get(url + '/api/v1/query',
                               params={'query': query, 'time': end},
                               headers=headers, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def fetch(self, chosen, index):
        project_id, start, end = self.periods[index % len(self.periods)]
        return chosen.fetch_all(METRIC, _utc(start), _utc(end), project_id)

    def round(self, index, pool):
        steps = [
            ('prometheus HTTP', self.raw, self.stack.prometheus_url, index),
            ('aetos HTTP, fixed token', self.raw, self.stack.aetos_url,
             index, {'X-Auth-Token': self.token}),
            ('PrometheusCollector', self.fetch, self.prometheus, index),
            ('AetosCollector', self.fetch, self.aetos, index),
            ('AetosCollector x%d threads' % THREADS, None),
        ]
        random.shuffle(steps)
        for name, func, *args in steps:
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
    parser.add_argument('--rounds', type=int, default=200,
                        help='queries per variant (x%d for the threaded '
                             'one); default 200' % THREADS)
    parser.add_argument('--warmup', type=int, default=10,
                        help='rounds run first and not counted')
    args = parser.parse_args(argv)
    random.seed(42)
    with tempfile.TemporaryDirectory(prefix='ck-bench-') as workdir, \
            stack_mod.Stack() as stack:
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
            started = time.monotonic()
            for index in range(args.rounds):
                bench.round(index, pool)
            wall = time.monotonic() - started
            keystone_end = _keystone_token_requests(stack)
        report(bench, keystone_end - keystone_before, wall, args.rounds)
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
    order = ['prometheus HTTP', 'aetos HTTP, fixed token',
             'PrometheusCollector', 'AetosCollector',
             'AetosCollector x%d threads' % THREADS]
    for name in order:
        values = bench.samples[name]
        median = statistics.median(values)
        p95 = _percentile(values, 0.95)
        print('%-28s %6d %10.2f %8.2f %10.2f %8.2f' % (
            name, len(values), median * 1000, median / base_median,
            p95 * 1000, p95 / base_p95))
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


if __name__ == '__main__':
    sys.exit(main())
