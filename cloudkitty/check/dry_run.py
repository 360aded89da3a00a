#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
#
"""Dry run step: one period collected for every scope, nothing stored.

Each scope goes through the collector's ``fetch_all`` as in the
processor, conversions and checks included; with scope batching, one
query per metric serves every scope. The client is wrapped to count the
queries, time them and see which scopes the answers hold.
"""
import concurrent.futures
import datetime
import decimal
import threading
import time

from oslo_config import cfg

from cloudkitty.check import discovery
from cloudkitty.check import logs
from cloudkitty.check import report
from cloudkitty.collector import exceptions as collect_exc

CONF = cfg.CONF

STEP = 'dry run'


def last_period(period, wait_periods, now=None):
    """The latest whole period the processor would rate now.

    The processor rates a period once ``wait_periods`` more have passed
    (at least the period itself): periods start at multiples of
    ``period`` since the epoch, as CloudKitty's do for any period that
    divides a day.

    :param period: seconds
    :param wait_periods: ``[collect] wait_periods``
    :param now: Unix seconds; the current time when None
    :returns: ``(start, end)``, UTC datetimes
    """
    now = time.time() if now is None else now
    start = int(now // period) * period - max(wait_periods, 1) * period
    return _utc(start), _utc(start + period)


def _utc(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


class Counting(object):
    """A client that counts and times its queries; the rest is the client's.

    :param client: a PrometheusClientBase
    :param scope_key: the label whose values the answers are read for
    """

    def __init__(self, client, scope_key):
        self._client = client
        self._scope_key = scope_key
        self._guard = threading.Lock()
        self.queries = 0
        self.seconds = 0.0
        self.scopes_seen = set()

    def __getattr__(self, name):
        return getattr(self._client, name)

    def get_instant(self, query, time=None, timeout=None):
        began = _clock()
        try:
            answer = self._client.get_instant(query, time=time,
                                              timeout=timeout)
        finally:
            with self._guard:
                self.queries += 1
                self.seconds += _clock() - began
        seen = {sample['metric'].get(self._scope_key)
                for sample in answer['data']['result']}
        with self._guard:
            self.scopes_seen.update(
                scope for scope in seen if isinstance(scope, str))
        return answer

    def take(self):
        """The queries and seconds since the last call, reset."""
        with self._guard:
            taken = self.queries, self.seconds
            self.queries, self.seconds = 0, 0.0
        return taken


def _clock():
    return time.monotonic()


class _Metric(object):
    """What one metric gave over the scopes."""

    def __init__(self, unit):
        self.unit = unit
        self.scopes = set()
        self.points = 0
        self.quantity = decimal.Decimal(0)
        self.failure = None
        self.guard = threading.Lock()

    def add(self, scope, points):
        with self.guard:
            if points:
                self.scopes.add(scope)
            self.points += len(points)
            for point in points:
                self.quantity += decimal.Decimal(point.qty)


def run(out, collector, scopes, start, end, progress, batched_before):
    """Collect the period for every scope and say what it gave.

    :param out: the Report
    :param collector: a PrometheusCollectorBase, batching on
    :param scopes: the scope IDs the fetcher found
    :param start: the period start (datetime)
    :param end: the period end (datetime)
    :param progress: a report.Progress
    :param batched_before: whether the processor's own configuration
        batches; if not, it sends one query per scope and metric
    """
    counting = Counting(collector.client, CONF.collect.scope_key)
    collector.client = counting
    results = {}
    threads = max(1, CONF.orchestrator.max_threads)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for name in sorted(collector.conf):
            with logs.heard() as heard:
                results[name] = _collect(collector, name, scopes, start,
                                         end, pool, progress)
            queries, seconds = counting.take()
            _say_metric(out, name, results[name], len(scopes), queries,
                        seconds, batched_before)
            logs.add_to(out, STEP, heard)
    _say_scopes(out, results, scopes, counting.scopes_seen)


def _collect(collector, name, scopes, start, end, pool, progress):
    result = _Metric(collector.conf[name]['unit'])
    done = [0]
    count_guard = threading.Lock()

    def one(scope):
        if result.failure is not None:
            return
        try:
            points = collector.fetch_all(name, start, end, scope)
        except collect_exc.CollectError as exc:
            # The processor fails the scope's period with it; the
            # other scopes would fail alike.
            result.failure = exc
            return
        result.add(scope, points)
        with count_guard:
            done[0] += 1
            progress.say('dry run: %s: %d of %d scopes'
                         % (name, done[0], len(scopes)))

    list(pool.map(one, scopes))
    return result


def _say_metric(out, name, result, found, queries, seconds, batched_before):
    # Named as the processor names its data: by alt_name when it has one.
    series, _sep, alt_name = name.partition('@#')
    figures = {'metric': series, 'scopes_with_data': len(result.scopes),
               'scopes_found': found, 'points': result.points,
               'quantity': str(result.quantity), 'unit': result.unit,
               'queries': queries, 'seconds': round(seconds, 3)}
    name = alt_name or series
    sent = '%d queries in %.2f s' % (queries, seconds)
    if not batched_before:
        sent += (' (scope_batching is off: the processor sends one per '
                 'scope, %d)' % found)
    if result.failure is not None:
        out.add(STEP, name, report.PROBLEM, '%s (%s)'
                % (result.failure, sent), **figures)
    elif not result.scopes:
        out.add(STEP, name, report.PROBLEM,
                'no data for any of the %d scopes found (%s): CloudKitty '
                'logs "No data collected for metric" and rates nothing for '
                'it; check that its series exist with a %s label, and its '
                'definition in the metrics file'
                % (found, sent, CONF.collect.scope_key), **figures)
    else:
        out.add(STEP, name, report.OK,
                'data for %d of %d scopes, %d points, %s %s in all (%s)'
                % (len(result.scopes), found, result.points,
                   result.quantity, result.unit, sent), **figures)


def _say_scopes(out, results, scopes, seen):
    if any(result.failure is not None for result in results.values()):
        return
    with_data = set()
    for result in results.values():
        with_data |= result.scopes
    idle = [scope for scope in scopes if scope not in with_data]
    if idle:
        out.add(STEP, 'scopes without data', report.WARNING,
                '%d of the %d scopes found have no data for any metric in '
                'this period: %s' % (len(idle), len(scopes),
                                     discovery.examples(idle)),
                count=len(idle), examples=idle[:discovery.EXAMPLES])
    found = set(scopes)
    missed = sorted(scope for scope in seen if scope not in found)
    if missed:
        out.add(STEP, 'scopes not found', report.WARNING,
                '%d scopes have usage in this period that the fetcher did '
                'not find, so the processor does not rate it: %s'
                % (len(missed), discovery.examples(missed)),
                count=len(missed), examples=missed[:discovery.EXAMPLES])
