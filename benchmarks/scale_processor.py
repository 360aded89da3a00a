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
"""A real cloudkitty-processor rating one period of many scopes.

Part of ``scale.py``: the processor (``--processor-workers`` worker
processes, one by default, the Aetos collector, the ``source`` fetcher
listing the scopes, MariaDB for states and rated data, see
``tests/functional/services/cloudkitty_env.py``) rates the hour of one
size, or its first ``--processor-scopes`` scopes, once per scope and once
batched, each in a database of its own. Its wall
time runs from its start until every scope's state reached that hour.
CloudKitty's own work per scope (rating rules reloaded from the database,
rated data and state written) costs far more than collecting on a loaded
2-core machine: about 0.2 s a scope, so 1,000 scopes take some 4 minutes
per mode. A run still going after the time budget (15 minutes per mode,
``--processor-budget``) is stopped and its figures extrapolated, which the
table says. The queries are those Aetos logged meanwhile; the
collection time inside the processor comes from its debug log (from
"Processing timestamp" to "Usage data" of each scope: the collection plus
two state reads). The rated points are read back and compared with the
planted values and between both modes.

Each worker process has its own collector and kept answers, so the queries
for every scope (those without the scope matcher) are counted per
(metric, period) in Aetos' access log: at most one per worker each. The
memory of each worker is its resident set (``VmRSS``, and its peak
``VmHWM``) read from ``/proc/<pid>/status`` once every scope is rated,
the workers being the processor's children in its process group (found by
PID); batched minus per-scope is what batching keeps per worker.
"""

import collections
import datetime
import decimal
import os
import re
import statistics
import time

import yaml

from functional import oracle
from functional.services import cloudkitty_env
from functional.services import mariadb as mariadb_mod
from functional.services import process

import scale_data

BUDGET = 900
"""Seconds a processor run may take before it is stopped (per mode)."""
MODES = (('per-scope', False), ('batched', True))
SCOPE_MATCHER = 'project_id="'
"""What a query for one scope holds and a query for every scope lacks."""
KIB = 1024.0
_LINE = re.compile(r'^(\S+ \S+) (\d+) DEBUG cloudkitty\.orchestrator .*?'
                   r'(Processing timestamp \[\d|Usage data \[).*'
                   r'storage scope \[(\w+)\]')


def _env(stack, mariadb, data, size, batching, metrics_file, count,
         workers):
    start, end = data.period(size)
    scopes = data.scopes(size)[:count]
    env = cloudkitty_env.CloudKittyEnv(
        mariadb, 'aetos', stack.collector_options(), start, scopes,
        prometheus_url=stack.prometheus_url, metrics_conf=metrics_file,
        prices=scale_data.PRICES, name='ck_scale_%s' % int(batching),
        wait_periods=cloudkitty_env.wait_periods_for(end.timestamp()),
        debug=True, overrides={
            'fetcher': {'backend': 'source'},
            'fetcher_source': {'sources': ','.join(scopes)},
            'collector_aetos': {'scope_batching': str(batching)},
            'orchestrator': {'max_workers': str(workers)},
        })
    env.setUp()
    return env


def _collect_times(lines):
    """Collection times and scopes collected per worker, from the log.

    :returns: (seconds from "Processing timestamp" to "Usage data", per
        scope; {worker PID: scopes collected})
    """
    began, spent = {}, []
    by_worker = collections.Counter()
    for line in lines:
        found = _LINE.match(line)
        if not found:
            continue
        stamp, pid, what, scope = found.groups()
        moment = datetime.datetime.strptime(stamp,
                                            '%Y-%m-%d %H:%M:%S.%f')
        if what.startswith('Processing'):
            began[scope] = moment
        elif scope in began:
            spent.append((moment - began.pop(scope)).total_seconds())
            by_worker[int(pid)] += 1
    return spent, by_worker


def _workers(master):
    """PIDs of the processor's worker processes.

    cotyledon forks them from the processor, which runs in a session and
    process group of its own: its children in that group.
    """
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as stat:
                fields = stat.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue   # gone meanwhile
        ppid, pgrp = int(fields[1]), int(fields[2])
        if ppid == master and pgrp == master:
            found.append(int(entry))
    return sorted(found)


def _memory(pid):
    """(VmRSS, VmHWM) of a process in KiB, or None once it is gone."""
    values = {}
    try:
        with open('/proc/%d/status' % pid) as status:
            for line in status:
                name, _sep, value = line.partition(':')
                if name in ('VmRSS', 'VmHWM'):
                    values[name] = int(value.split()[0])
    except OSError:
        return None
    return values.get('VmRSS'), values.get('VmHWM')


def _whole_queries(requests):
    """(Counter of queries for every scope by query, per-scope count).

    A query pins its period (``@ <end>``), so that the query string
    names one (metric, period).
    """
    whole = collections.Counter(
        request.params.get('query', '') for request in requests
        if SCOPE_MATCHER not in request.params.get('query', ''))
    return whole, len(requests) - sum(whole.values())


def _rated_as_planted(point, qty):
    """Whether a rated point has the planted quantity, and its price."""
    price = oracle.hashmap_price(scale_data.PRICES, point['metric'],
                                 point['desc'], decimal.Decimal(point['qty']))
    return (abs(float(point['qty']) - qty) <= 1e-6 * max(1.0, qty) and
            oracle.price_matches(price, decimal.Decimal(point['price'])))


def _check(report, data, size):
    """(rated point keys, scopes rated, problems) of a processor run.

    Points of a scope whose state did not reach the period were written
    by a pass the budget's stop interrupted: they are left out.
    """
    alt = {conf['alt_name']: name
           for name, conf in scale_data.METRICS['metrics'].items()}
    expected = data.expected(size)
    start = data.period(size)[0]
    rated = {scope for scope, state in report['states'].items()
             if state == start}
    keys, problems = set(), []
    for point in report['points']:
        if point['scope'] not in rated:
            continue
        metric = alt.get(point['metric'])
        rid = point['desc'].get('resource_id')
        wanted = expected.get(point['scope'], {}).get(metric, {}).get(rid)
        key = (point['scope'], metric, rid, point['qty'], point['price'])
        if (wanted is None or key in keys or point['begin'] != start or
                not _rated_as_planted(point, wanted[0])):
            problems.append('unexpected or duplicate %s' % (key,))
        keys.add(key)
    planted = sum(len(rids) for scope in rated
                  for rids in expected[scope].values())
    if len(keys) != planted:
        problems.append('%d points rated, %d planted for the %d scopes '
                        'rated' % (len(keys), planted, len(rated)))
    return keys, rated, problems


def _wait(env, processor, until, count, budget):
    """(scopes rated, seconds) once all are rated or the budget is spent."""
    while True:
        done = sum(1 for state in env.states().values() if state >= until)
        elapsed = processor.elapsed()
        if done >= count or elapsed > budget:
            return done, elapsed
        if processor.proc.poll() is not None:
            raise cloudkitty_env.EnvError(
                'cloudkitty-processor exited: %s'
                % process.tail(env.log_file))
        time.sleep(0.5)


def _run_mode(stack, mariadb, data, size, batching, metrics_file, budget,
              count, workers):
    env = _env(stack, mariadb, data, size, batching, metrics_file, count,
               workers)
    try:
        offset = stack.aetos.log_size()
        load = os.getloadavg()[0]
        with env.processor(fail_fast=False) as processor:
            done, wall = _wait(env, processor, data.period(size)[0], count,
                               budget)
            # Read while the workers wait for the next period, their kept
            # answers still held.
            memory = {pid: _memory(pid)
                      for pid in _workers(processor.proc.pid)}
        requests = stack.aetos.requests(offset, 1)
        whole, per_scope = _whole_queries(requests)
        with open(env.log_file, errors='replace') as log:
            lines = log.read().splitlines()
        failures = [line for line in lines
                    if 'Error processing scope' in line]
        keys, rated, problems = _check(env.report(), data, size)
        spent, by_worker = _collect_times(lines)
    finally:
        env.cleanUp()
    if failures:
        problems.insert(0, '%d scope passes failed, first: %s' % (
            len(failures), failures[0][:300]))
    return {'wall': wall, 'done': done, 'queries': len(requests),
            'keys': keys, 'rated': rated, 'problems': problems, 'load': load,
            'collect': spent, 'whole': whole, 'per_scope': per_scope,
            'memory': memory, 'by_worker': by_worker}


def run(stack, data, size, workdir, budget=BUDGET, count=None, workers=1):
    """Rate the hour of ``size`` in both modes; returns the figures.

    :param count: scopes to rate, the first of the size's; all if None
    :param workers: ``[orchestrator] max_workers`` of the processor
    """
    count = size if count is None else min(count, size)
    metrics_file = os.path.join(workdir, 'processor-metrics.yml')
    with open(metrics_file, 'w') as out:
        yaml.safe_dump(scale_data.METRICS, out)
    started = time.monotonic()
    figures = {'size': count, 'hour': size, 'setup': 0.0, 'budget': budget,
               'workers': workers}
    mariadb = mariadb_mod.MariaDB()
    try:
        mariadb.setUp()
        figures['setup'] = time.monotonic() - started
        for mode, batching in MODES:
            figures[mode] = _run_mode(stack, mariadb, data, size, batching,
                                      metrics_file, budget, count, workers)
    # Reported rather than raised: the collector figures stand anyway.
    except Exception as exc:
        figures['error'] = '%s: %s' % (type(exc).__name__, exc)
    finally:
        mariadb.cleanUp()
    print_table(figures)
    return figures


def _estimate(row, size):
    """Wall time for every scope: measured, or extrapolated linearly."""
    if row['done'] >= size:
        return row['wall'], ''
    return row['wall'] * size / max(1, row['done']), ' (extrapolated)'


def print_table(figures):
    size = figures['size']
    print('\ncloudkitty-processor, max_workers = %d, Aetos collector, one '
          'period of %d scopes x %d metrics (of the %d-scope hour), budget '
          '%d s per mode (MariaDB ready in %.1f s)' % (
              figures['workers'], size, len(scale_data.METRICS['metrics']),
              figures['hour'], figures['budget'], figures['setup']))
    if 'error' in figures:
        print('  NOT MEASURED: %s' % figures['error'])
    header = '%-10s %8s %7s %8s %15s %7s %7s %5s  %s' % (
        'mode', 'wall s', 'scopes', 'queries', 'all scopes s', 'coll s',
        'coll ms', 'load', 'rated points')
    print(header)
    print('-' * len(header))
    for mode, _batching in MODES:
        row = figures.get(mode)
        if row is None:
            continue
        estimate, how = _estimate(row, size)
        print('%-10s %8.1f %7d %8d %15s %7.2f %7.1f %5.1f  %d, %s' % (
            mode, row['wall'], row['done'], row['queries'],
            '%.0f%s' % (estimate, '*' if how else ''), sum(row['collect']),
            1000 * statistics.median(row['collect'] or [0]), row['load'],
            len(row['keys']), 'ok' if not row['problems'] else
            '%d problems, e.g. %s' % (len(row['problems']),
                                      row['problems'][0])))
    print('  scopes: rated within the budget; all scopes s: * = linear '
          'extrapolation; coll s / ms: collection inside the processor, '
          'total / median per scope (debug log)')
    print_workers(figures)
    if all(mode in figures for mode, _batching in MODES):
        one, other = figures['per-scope'], figures['batched']
        common = one['rated'] & other['rated']
        same = ({key for key in one['keys'] if key[0] in common} ==
                {key for key in other['keys'] if key[0] in common})
        print('  per-scope / batched: wall for all scopes %.1fx, collection '
              'per scope %.1fx; rated points of the %d scopes rated in both '
              '%s' % (_estimate(one, size)[0] / _estimate(other, size)[0],
                      statistics.median(one['collect'] or [0]) /
                      max(1e-9, statistics.median(other['collect'] or [0])),
                      len(common), 'identical' if same else 'DIFFER'))


def _mean_rss(row):
    """Mean resident set of a run's workers at its end, in KiB."""
    found = [memory[0] for memory in row['memory'].values() if memory]
    return statistics.mean(found) if found else 0.0


def print_workers(figures):
    """Queries for every scope per (metric, period), memory per worker."""
    metrics, workers = len(scale_data.METRICS['metrics']), figures['workers']
    print('  queries for every scope (no scope matcher) in Aetos\' log, per '
          '(metric, period); bound: one per worker, %d x %d = %d in all' % (
              metrics, workers, metrics * workers))
    print('  memory: each worker\'s VmRSS once every scope is rated, and '
          'its peak VmHWM (/proc/<pid>/status)')
    for mode, _batching in MODES:
        row = figures.get(mode)
        if row is None:
            continue
        whole = row['whole']
        print('  %-10s whole queries %d for %d (metric, period), at most %d '
              'each (%s); per-scope queries %d' % (
                  mode, sum(whole.values()), len(whole),
                  max(whole.values() or [0]),
                  'within' if sum(whole.values()) <= metrics * workers and
                  max(whole.values() or [0]) <= workers else 'OVER',
                  row['per_scope']))
        for pid, memory in sorted(row['memory'].items()):
            rss, hwm = memory or (0, 0)
            print('    worker %d: %d scopes, VmRSS %.1f MiB, VmHWM %.1f MiB'
                  % (pid, row['by_worker'].get(pid, 0), rss / KIB,
                     hwm / KIB))
    if all(mode in figures for mode, _batching in MODES):
        print('  kept by batching per worker (mean VmRSS batched - '
              'per-scope): %.1f MiB' % (
                  (_mean_rss(figures['batched']) -
                   _mean_rss(figures['per-scope'])) / KIB))


def print_summary(figures):
    if all(mode in figures for mode, _batching in MODES):
        size = figures['size']
        one, other = figures['per-scope'], figures['batched']
        print('  processor (max_workers = %d), S=%d, one period: per-scope '
              '%.0f s%s (%d scopes rated, %d queries), batched %.0f s%s (%d '
              'scopes, %d queries)'
              % ((figures['workers'], size) + _estimate(one, size) +
                 (one['done'], one['queries']) + _estimate(other, size) +
                 (other['done'], other['queries'])))
    else:
        print('  processor run: not measured (%s)' % figures.get('error'))
