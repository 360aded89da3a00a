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
"""What scope batching saves as scopes grow: one period, S scopes.

Starts the functional stack (Keystone, Aetos, Prometheus on 127.0.0.1),
backfills S scopes x 4 metrics for S = 100, 1,000 and 5,000 (each size in
an hour of its own, see ``scale_data``) and, for each S, collects that
hour for every scope as cloudkitty-processor does (scopes one after the
other, the metrics of a scope in a pool of ``[orchestrator] max_threads``
threads) with the Aetos and the Prometheus collectors, per scope and
batched. For each it prints the wall time, the queries sent (counted on
the client and, for Aetos, in its access log), the peak and kept memory
(tracemalloc, in a pass of its own), and whether every point matches the
planted values and is the same in both modes. The raw floor is the same
batch queries sent by hand over keep-alive HTTP. A real
cloudkitty-processor then rates the 1,000-scope hour in both modes
(``scale_processor``). Figures, not a verdict: ``tox -e bench-scale``.
"""

import argparse
import concurrent.futures
import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc

import requests
from requests import adapters as requests_adapters


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))

from functional import base  # noqa: E402
from functional.services import prometheus  # noqa: E402
from functional import stack as stack_mod  # noqa: E402

import scale_data  # noqa: E402
import scale_processor  # noqa: E402
import scale_report  # noqa: E402

MAX_THREADS = 16
"""[orchestrator] max_threads, CloudKitty's default."""
MEMORY_SAMPLE = 200
"""Scopes of the per-scope memory pass: it keeps nothing between scopes."""
MIB = 1024.0 * 1024.0


class Counted(object):
    """Counts the requests of a collector's client, recording batch URLs."""

    def __init__(self, client):
        self._send = client._get
        self._lock = threading.Lock()
        self.count = 0
        self.urls = []
        client._get = self

    def __call__(self, endpoint, params):
        response = self._send(endpoint, params)
        with self._lock:
            self.count += 1
            # A per-scope query holds the scope matcher, a quoted value;
            # a batch query has no matcher at all.
            if '"' not in params.get('query', ''):
                self.urls.append(response.url)
        return response


def load(stack, workdir, name, batching):
    """A collector loaded from a real cloudkitty.conf (stevedore)."""
    batch = {'scope_batching': str(batching)}
    found = base.load_collector(
        stack, tempfile.mkdtemp(dir=workdir), scale_data.METRICS, name,
        period=scale_data.HOUR, sections={
            'orchestrator': {'max_threads': MAX_THREADS},
            'collector_prometheus': batch}, **batch)
    return found, Counted(found.client)


def digest(points):
    """A hashable summary of a scope's points for one metric."""
    return tuple(sorted(
        (p.unit, str(p.qty), tuple(sorted(p.groupby.items())),
         tuple(sorted(p.metadata.items()))) for p in points))


def check(scope, metric, points, expected, problems):
    """Compare one (scope, metric) with the planted values."""
    wanted = expected[scope][metric.split('@#')[0]]
    seen = set()
    for point in points:
        rid = point.groupby.get('resource_id')
        qty, metadata = wanted.get(rid, (None, None))
        good = (qty is not None and rid not in seen and
                point.groupby.get('project_id') == scope and
                point.metadata == metadata and
                abs(float(point.qty) - qty) <= 1e-6 * max(1.0, qty))
        seen.add(rid)
        if not good:
            problems.append('%s %s: unexpected %r' % (scope, metric, point))
    if seen != set(wanted):
        problems.append('%s %s: missing %s' % (
            scope, metric, sorted(set(wanted) - seen)))


def collect(collector, period, scopes, expected=None, limit=None):
    """Collect one period for ``scopes``, one scope after the other.

    The points are checked once the clock has stopped, so that the wall
    time is the collection's alone.

    :param expected: planted values to check against; None collects
        without keeping anything (memory pass)
    :param limit: seconds; once 500 scopes are done, stop when the whole
        run is projected to take longer (the rest is extrapolated)
    :returns: dict of wall, scopes done, points, digests, problems
    """
    start, end = period
    result = {'points': 0, 'digests': {}, 'problems': []}
    # As the processor: every key of the collector's conf (name@#alt_name).
    metrics = list(collector.conf)
    kept = []

    def one(scope, metric):
        return scope, metric, collector.fetch_all(metric, start, end, scope)

    with concurrent.futures.ThreadPoolExecutor(MAX_THREADS) as pool:
        started = time.perf_counter()
        for done, scope in enumerate(scopes, 1):
            for found in pool.map(lambda metric: one(scope, metric),
                                  metrics):
                result['points'] += len(found[2])
                if expected is not None:
                    kept.append(found)
            elapsed = time.perf_counter() - started
            if (limit and done >= 500 and done < len(scopes) and
                    elapsed * len(scopes) / done > limit):
                break
        result.update(wall=time.perf_counter() - started, done=done)
    for scope, metric, points in kept:
        check(scope, metric, points, expected, result['problems'])
        result['digests'][(scope, metric)] = digest(points)
    return result


def aetos_log_lines(stack, offset, expected):
    """Instant queries Aetos logged after ``offset``."""
    if expected == 0:
        return 0
    return len(stack.aetos.requests(offset, expected))


def timed_run(stack, workdir, name, batching, period, scopes, expected,
              limit=None):
    """One timed collection of the period; returns its figures."""
    collector, counted = load(stack, workdir, name, batching)
    offset = stack.aetos.log_size()
    load_avg = os.getloadavg()[0]
    result = collect(collector, period, scopes, expected, limit)
    result.update(queries=counted.count, urls=list(counted.urls),
                  load=load_avg)
    result['log'] = (aetos_log_lines(stack, offset, counted.count)
                     if name == 'aetos' else None)
    return result


def memory_run(stack, workdir, name, batching, period, scopes):
    """Peak and kept traced memory of collecting ``scopes`` (MiB)."""
    collector, _counted = load(stack, workdir, name, batching)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        collect(collector, period, scopes)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - before) / MIB, (current - before) / MIB


def raw_floor(urls, token=None, repeats=5):
    """Median seconds to send ``urls`` at once over keep-alive HTTP."""
    http = requests.Session()
    http.mount('http://', requests_adapters.HTTPAdapter(
        pool_maxsize=MAX_THREADS))
    headers = {'X-Auth-Token': token} if token else {}

    def send(url):
        answer = http.get(url, headers=headers, timeout=120)
        answer.raise_for_status()
        return answer.json()

    times = []
    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            list(pool.map(send, urls))
            if attempt:   # the first one opens the connections
                times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_transport(stack, workdir, name, data, size, args):
    """Per-scope, batched and raw figures of one collector for one S."""
    period, scopes = data.period(size), data.scopes(size)
    expected = data.expected(size)
    rows = {}
    limit = args.per_scope_limit if name == 'aetos' else None
    rows['per-scope'] = timed_run(stack, workdir, name, False, period,
                                  scopes, expected, limit)
    batched = [timed_run(stack, workdir, name, True, period, scopes,
                         expected) for _ in range(args.repeats)]
    rows['batched'] = dict(batched[0], wall=statistics.median(
        run['wall'] for run in batched))
    rows['batched']['walls'] = [run['wall'] for run in batched]
    token = stack.token() if name == 'aetos' else None
    rows['raw floor'] = {'wall': raw_floor(batched[0]['urls'], token),
                         'queries': len(batched[0]['urls'])}
    for mode, batching, subset in (('per-scope', False,
                                    scopes[:MEMORY_SAMPLE]),
                                   ('batched', True, scopes)):
        rows[mode]['peak'], rows[mode]['kept'] = memory_run(
            stack, workdir, name, batching, period, subset)
    one, other = rows['per-scope'], rows['batched']
    common = set(one['digests']) & set(other['digests'])
    other['identical'] = len(common) == len(one['digests']) and all(
        one['digests'][key] == other['digests'][key] for key in common)
    other['compared'] = len(common)
    return rows


def extrapolate(row, size):
    """Scale a sampled per-scope run to all ``size`` scopes."""
    row['measured'], row['measured_queries'] = row['wall'], row['queries']
    if row['done'] < size:
        factor = float(size) / row['done']
        row['wall'] *= factor
        row['queries'] = int(round(row['queries'] * factor))
        row['log'] = (None if row['log'] is None
                      else int(round(row['log'] * factor)))


def plant(stack, data, workdir):
    """Backfill the scale data into the stack's Prometheus (restarted)."""
    started = time.monotonic()
    path = os.path.join(workdir, 'scale.om')
    with open(path, 'w') as out:
        samples = prometheus.write_openmetrics(out, data.families())
    stack.stop_service('prometheus')
    try:
        prometheus.backfill(path, os.path.join(stack.workdir, 'prometheus',
                                               'data'),
                            stack.logs['promtool'], timeout=600)
    finally:
        os.remove(path)
        stack.start_service('prometheus')
    print('Planted %d series, %d samples in %.1f s' % (
        data.series_count(), samples, time.monotonic() - started))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='100,1000,5000',
                        help='comma-separated S among 100, 1000, 5000')
    parser.add_argument('--repeats', type=int, default=3,
                        help='batched runs per collector (median)')
    parser.add_argument('--per-scope-limit', type=float, default=180,
                        help='seconds: a per-scope Aetos run projected '
                             'longer is measured on a sample of scopes')
    parser.add_argument('--no-processor', action='store_true',
                        help='skip the cloudkitty-processor runs')
    parser.add_argument('--processor-budget', type=float,
                        default=scale_processor.BUDGET,
                        help='seconds a processor run may last (per mode)')
    parser.add_argument('--processor-scopes', type=int, default=1000,
                        help='scopes the processor rates, the first of the '
                             '1,000-scope hour (fewer for a quick run)')
    parser.add_argument('--processor-workers', type=int, default=1,
                        help='[orchestrator] max_workers of the processor')
    parser.add_argument('--processor-only', action='store_true',
                        help='skip the collector runs, only run the '
                             'processor (plants the 1,000-scope hour)')
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(',')]
    if args.processor_only:
        sizes = [1000]
    began = time.monotonic()
    figures, processor = {}, None
    with tempfile.TemporaryDirectory(prefix='ck-scale-') as workdir, \
            stack_mod.Stack() as stack:
        print('Stack started in %.1f s (load average %.1f)' % (
            time.monotonic() - began, os.getloadavg()[0]))
        data = scale_data.ScaleBenchData(stack.dataset.start, sizes)
        plant(stack, data, workdir)
        for size in ([] if args.processor_only else sizes):
            figures[size] = {}
            for name in ('aetos', 'prometheus'):
                rows = measure_transport(stack, workdir, name, data, size,
                                         args)
                extrapolate(rows['per-scope'], size)
                figures[size][name] = rows
            scale_report.print_size(size, data, figures[size], MAX_THREADS,
                                    MEMORY_SAMPLE)
            sys.stdout.flush()
        if not args.no_processor and 1000 in sizes:
            processor = scale_processor.run(
                stack, data, 1000, workdir, args.processor_budget,
                args.processor_scopes, args.processor_workers)
    scale_report.summary(figures, processor)
    print('\nWhole run: %.1f s' % (time.monotonic() - began))
    return 0


if __name__ == '__main__':
    sys.exit(main())
