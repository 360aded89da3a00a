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
"""Scope batching: one query per (metric, period), the same points."""
import datetime
import logging
import re
import threading
import time

from dateutil import tz
import fixtures
import requests

from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import prometheus
from cloudkitty.collector import prometheus_base
from cloudkitty.collector import scope_batch
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

METRIC = 'instance_up'
PERIOD = (7200, 10800)
WAIT = 10


class _Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Fetches(object):
    """A fetch callable that counts its calls and can be held or fail."""

    def __init__(self, answer=None, failures=0, hold=False, error=None):
        self.answer = answer if answer is not None else {'a': [1], 'b': [2]}
        self.failures = failures
        self.error = error or collect_exc.CollectError('batch query failed')
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self):
        self.calls += 1
        self.entered.set()
        self.release.wait(WAIT)
        if self.failures:
            self.failures -= 1
            raise self.error
        return self.answer


def _fall_back():
    return scope_batch.FallBack('HTTP 422 from the server')


class ScopeBatcherTest(tests.TestCase):

    def setUp(self):
        super(ScopeBatcherTest, self).setUp()
        self.clock = _Clock()
        self.batcher = self._batcher()

    def _batcher(self, entries=2, max_samples=100, wait_timeout=WAIT):
        return scope_batch.ScopeBatcher(entries, max_samples, 60,
                                        wait_timeout, clock=self.clock)

    def _ask(self, scope, fetch, period=PERIOD, metric=METRIC):
        return self.batcher.samples(metric, period, scope, fetch)

    def test_one_fetch_serves_every_scope(self):
        fetch = _Fetches()
        self.assertEqual([1], self._ask('a', fetch))
        self.assertEqual([2], self._ask('b', fetch))
        self.assertEqual([], self._ask('idle', fetch))
        self.assertEqual(1, fetch.calls)
        self.assertEqual(2, self.batcher.kept_samples)

    def test_evicted_key_goes_back_to_one_query_per_scope(self):
        fetch = _Fetches()
        for period in (PERIOD, (1, 2), (3, 4)):
            self._ask('a', fetch, period)
        self.assertEqual(2, len(self.batcher))
        self.assertIsNone(self._ask('b', fetch))
        self.assertEqual(3, fetch.calls)

    def test_least_recently_used_goes_first(self):
        fetch = _Fetches()
        self._ask('a', fetch)
        self._ask('a', fetch, (1, 2))
        self._ask('b', fetch)
        self._ask('a', fetch, (3, 4))
        self.assertEqual([2], self._ask('b', fetch))
        self.assertIsNone(self._ask('b', fetch, (1, 2)))

    def test_kept_answers_bounded_by_their_samples(self):
        self.batcher = self._batcher(entries=10, max_samples=5)
        fetch = _Fetches(answer={'a': [1, 2], 'b': [3]})
        for period in (PERIOD, (1, 2), (3, 4)):
            self._ask('a', fetch, period)
        # 3 + 3 samples are over 5: the oldest answer went.
        self.assertEqual(1, len(self.batcher))
        self.assertEqual(3, self.batcher.kept_samples)
        self.assertIsNone(self._ask('b', fetch, (1, 2)))
        self.assertEqual([3], self._ask('b', fetch, (3, 4)))
        self.assertEqual(3, fetch.calls)

    def test_answer_over_the_sample_bound_used_once_not_kept(self):
        logs = aetos_fakes.hear(self, scope_batch)
        self.batcher = self._batcher(max_samples=1)
        fetch = _Fetches()
        self.assertEqual([1], self._ask('a', fetch))
        self.assertIsNone(self._ask('b', fetch))
        self.assertEqual(0, len(self.batcher))
        self.assertEqual(1, fetch.calls)
        [line] = aetos_fakes.log_lines(logs)
        self.assertIn('instance_up', line)
        self.assertIn('holds 2 samples, more than scope_batch_max_samples '
                      '(1)', line)

    def test_answer_served_for_max_age_only(self):
        fetch = _Fetches()
        self._ask('a', fetch)
        self.clock.now = 60
        self.assertEqual([2], self._ask('b', fetch))
        self.clock.now = 60.5
        self.assertIsNone(self._ask('b', fetch))
        self.assertEqual(0, len(self.batcher))
        self.assertEqual(0, self.batcher.kept_samples)
        self.assertEqual(1, fetch.calls)

    def test_failure_is_raised_and_not_kept(self):
        fetch = _Fetches(failures=1)
        self.assertRaises(collect_exc.CollectError, self._ask, 'a', fetch)
        self.assertEqual(0, len(self.batcher))
        self.assertEqual([2], self._ask('b', fetch))
        self.assertEqual(2, fetch.calls)

    def test_fall_back_never_fetches_the_key_again(self):
        logs = aetos_fakes.hear(self, scope_batch)
        fetch = _Fetches(failures=1, error=_fall_back())
        self.assertIsNone(self._ask('a', fetch))
        self.assertIsNone(self._ask('b', fetch))
        self.assertEqual(1, fetch.calls)
        [line] = aetos_fakes.log_lines(logs)
        self.assertEqual(
            'WARNING cloudkitty.collector.scope_batch Scope batching: the '
            'query of instance_up for every scope over the period starting '
            '1970-01-01T02:00:00Z failed (HTTP 422 from the server). Each '
            'scope of that period is asked on its own, and so is '
            'instance_up for the next 60 s (scope_batch_max_age)', line)

    def test_fall_back_pauses_the_metric_for_max_age(self):
        fetch = _Fetches(failures=1, error=_fall_back())
        self._ask('a', fetch)
        self.clock.now = 59
        self.assertIsNone(self._ask('a', fetch, (1, 2)))
        self.assertEqual([1], self._ask('a', fetch, metric='other'))
        self.assertEqual(2, fetch.calls)
        self.clock.now = 60
        self.assertEqual([1], self._ask('a', fetch, (1, 2)))
        self.assertIsNone(self._ask('a', fetch))
        self.assertEqual(3, fetch.calls)

    def test_backlog_fetches_each_key_whole_once(self):
        # One scope through every period, then the next, as the
        # orchestrator does: far more keys than answers are kept.
        fetch = _Fetches()
        periods = [(hour * 3600, hour * 3600 + 3600) for hour in range(744)]
        served = 0
        for scope in ('a', 'b', 'c'):
            for period in periods:
                for metric in ('m1', 'm2', 'm3', 'm4'):
                    served += self._ask(scope, fetch, period,
                                        metric) is not None
        self.assertEqual(744 * 4, fetch.calls)
        # Scope a from every answer, b and c from the two still kept.
        self.assertEqual(744 * 4 + 2 * 2, served)

    def test_fetched_keys_bounded_in_count_and_age(self):
        fetch = _Fetches()
        self.useFixture(fixtures.MockPatchObject(
            scope_batch, 'FETCHED_MAX_KEYS', 3))
        for start in range(5):
            self._ask('a', fetch, (start, start + 1))
        self.assertEqual(5, fetch.calls)
        # The two oldest are forgotten: (0, 1) is fetched whole again;
        # (3, 4) is remembered and its answer evicted.
        self.assertEqual([1], self._ask('a', fetch, (0, 1)))
        self.assertEqual(6, fetch.calls)
        self.assertIsNone(self._ask('b', fetch, (3, 4)))
        self.clock.now = scope_batch.FETCHED_MAX_AGE + 1
        self.assertEqual([2], self._ask('b', fetch, (3, 4)))
        self.assertEqual(7, fetch.calls)

    def _ask_in_threads(self, scopes, fetch, period=PERIOD):
        results, errors = {}, []

        def ask(scope):
            try:
                results[scope] = self._ask(scope, fetch, period)
            except collect_exc.CollectError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=ask, args=(scope,))
                   for scope in scopes]
        for thread in threads:
            thread.start()
        return threads, results, errors

    def _join(self, threads):
        for thread in threads:
            thread.join(WAIT)
            self.assertFalse(thread.is_alive())

    def test_concurrent_askers_share_one_fetch(self):
        fetch = _Fetches(answer={str(n): [n] for n in range(8)}, hold=True)
        threads, results, errors = self._ask_in_threads(
            [str(n) for n in range(8)], fetch)
        self.assertTrue(fetch.entered.wait(WAIT))
        fetch.release.set()
        self._join(threads)
        self.assertEqual({str(n): [n] for n in range(8)}, results)
        self.assertEqual([], errors)
        self.assertEqual(1, fetch.calls)

    def test_other_keys_not_blocked_by_a_fetch(self):
        held = _Fetches(hold=True)
        threads, results, _errors = self._ask_in_threads(['a'], held)
        self.assertTrue(held.entered.wait(WAIT))
        self.assertEqual([1], self._ask('a', _Fetches(), (1, 2)))
        held.release.set()
        self._join(threads)
        self.assertEqual({'a': [1]}, results)

    def test_waiter_fetches_again_after_a_failed_fetch(self):
        fetch = _Fetches(failures=1, hold=True)
        threads, results, errors = self._ask_in_threads(['a', 'b'], fetch)
        self.assertTrue(fetch.entered.wait(WAIT))
        fetch.release.set()
        self._join(threads)
        self.assertEqual(1, len(errors))
        self.assertEqual(1, len(results))
        self.assertEqual(2, fetch.calls)

    def test_waiters_ask_their_own_after_a_fall_back(self):
        fetch = _Fetches(failures=1, error=_fall_back(), hold=True)
        threads, results, errors = self._ask_in_threads(
            ['a', 'b', 'c'], fetch)
        self.assertTrue(fetch.entered.wait(WAIT))
        fetch.release.set()
        self._join(threads)
        self.assertEqual({'a': None, 'b': None, 'c': None}, results)
        self.assertEqual(1, fetch.calls)

    def test_waiters_wait_at_most_the_bound(self):
        self.batcher = self._batcher(wait_timeout=0.3)
        slow = _Fetches(hold=True)
        leader, _results, _errors = self._ask_in_threads(['a'], slow)
        self.assertTrue(slow.entered.wait(WAIT))
        started = time.monotonic()
        waiters, results, errors = self._ask_in_threads(
            ['b', 'c', 'd'], slow)
        self._join(waiters)
        waited = time.monotonic() - started
        self.assertEqual({'b': None, 'c': None, 'd': None}, results)
        self.assertGreaterEqual(waited, 0.3)
        self.assertLess(waited, 0.3 + 2)
        slow.release.set()
        self._join(leader)
        self.assertEqual(1, slow.calls)


SCOPES = ('scope-a', 'scope-b', 'scope-idle')
PLANTED = {'scope-a': [({'flavor': 'm1.small'}, '2')],
           'scope-b': [({'flavor': 'm1.large'}, '1'),
                       ({'flavor': 'm1.small'}, '3')]}
_SCOPE_MATCHER = re.compile(r'project_id="([^"]*)"')


def _prometheus_answer(request, context):
    """What Prometheus answers: one scope's samples, or every scope's."""
    query = aetos_fakes.query_params(request)['query']
    found = _SCOPE_MATCHER.search(query)
    scopes = [found.group(1)] if found else list(PLANTED)
    return aetos_fakes.vector(
        [(dict(labels, project_id=scope), value)
         for scope in scopes for labels, value in PLANTED.get(scope, [])])


class BatchingCollectorTest(tests.TestCase):

    METRICS = {
        'instance_up': {'unit': 'instance', 'groupby': ['flavor']},
        'scaled_up': {'unit': 'instance', 'groupby': ['flavor'],
                      'extra_args': {'query_prefix': '2 *'}},
        'clamped_up': {'unit': 'instance', 'groupby': ['flavor'],
                       'extra_args': {'query_prefix': 'clamp_min(',
                                      'query_suffix': ', 0)'}},
    }

    def setUp(self):
        super(BatchingCollectorTest, self).setUp()
        self.network = aetos_fakes.use_fake_network(self)
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL,
                         json=_prometheus_answer)
        self.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                               'collector_prometheus')

    def _points(self, batching, metric):
        self.conf.set_override('scope_batching', batching,
                               'collector_prometheus')
        collector = prometheus.PrometheusCollector(
            period=3600, conf={'metrics': self.METRICS})
        return {scope: collector.fetch_all(metric, aetos_fakes.START,
                                           aetos_fakes.END, scope)
                for scope in SCOPES}

    def _queries(self):
        return [aetos_fakes.query_params(r)['query']
                for r in self.network.request_history]

    def test_same_points_as_per_scope_with_one_query(self):
        for metric in ('instance_up', 'scaled_up'):
            per_scope = self._points(False, metric)
            before = len(self._queries())
            self.assertEqual(per_scope, self._points(True, metric))
            self.assertEqual(1, len(self._queries()) - before, metric)
        self.assertEqual([], per_scope['scope-idle'])
        self.assertEqual(2, len(per_scope['scope-b']))

    def test_batch_query_groups_by_the_scope_without_matcher(self):
        self._points(True, 'instance_up')
        self.assertEqual(['max(max_over_time(instance_up[3600s])) '
                          'by (flavor, project_id)'], self._queries())

    def _hear(self, level):
        return aetos_fakes.hear(self, prometheus_base, scope_batch,
                                level=level, name='cloudkitty.collector')

    def _collector(self):
        self.conf.set_override('scope_batching', True,
                               'collector_prometheus')
        return prometheus.PrometheusCollector(
            period=3600, conf={'metrics': self.METRICS})

    def _fetch(self, collector, scope, metric='instance_up',
               start=aetos_fakes.START, end=aetos_fakes.END):
        return collector.fetch_all(metric, start, end, scope)

    def test_start_up_lines_name_the_bounds_and_per_scope_metrics(self):
        logs = self._hear(logging.INFO)
        self._points(True, 'clamped_up')
        self.assertEqual(len(SCOPES), len(self._queries()))
        self.assertEqual([
            'INFO cloudkitty.collector.prometheus_base prometheus '
            'collector: clamped_up are collected per scope: '
            'their query_prefix or query_suffix could mix scopes if grouped '
            'by the scope label',
            'INFO cloudkitty.collector.prometheus_base prometheus '
            'collector: scope batching is on: one query per '
            'metric and period for every scope; this worker process keeps '
            'at most 16 answers holding 160000 samples, each served for '
            '900 s; a scope waits at most 120.0 s for another\'s query'],
            logs.output.splitlines())

    def test_no_start_up_line_when_off(self):
        logs = self._hear(logging.INFO)
        self._points(False, 'instance_up')
        self.assertEqual('', logs.output)

    def test_failing_batch_falls_back_to_per_scope_at_once(self):
        logs = self._hear(logging.WARNING)
        collector = self._collector()
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, [
            {'status_code': 422, 'json': {
                'status': 'error', 'errorType': 'execution',
                'error': 'query processing would load too many samples'}},
            {'json': _prometheus_answer}])
        points = {scope: self._fetch(collector, scope) for scope in SCOPES}
        # One whole query, then each scope its own, the asking one first.
        self.assertEqual(
            ['max(max_over_time(instance_up[3600s])) by (flavor, '
             'project_id)'] + [
                'max(max_over_time(instance_up{project_id="%s"}[3600s])) '
                'by (flavor, project_id)' % scope for scope in SCOPES],
            self._queries())
        self.assertEqual(self._points(False, 'instance_up'), points)
        [line] = logs.output.splitlines()
        self.assertIn('the query of instance_up for every scope', line)
        self.assertIn('too many samples', line)
        self.assertIn('Each scope of that period is asked on its own', line)

    def test_metric_asked_per_scope_while_paused(self):
        collector = self._collector()
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, [
            {'status_code': 504, 'text': 'gateway timeout'},
            {'json': _prometheus_answer}])
        self._fetch(collector, 'scope-a')
        before = len(self._queries())
        later = aetos_fakes.END + datetime.timedelta(hours=1)
        self._fetch(collector, 'scope-a', start=aetos_fakes.END, end=later)
        self._fetch(collector, 'scope-b', 'scaled_up')
        queries = self._queries()[before:]
        self.assertIn('project_id="scope-a"', queries[0])
        # Another metric is still batched.
        self.assertNotIn('project_id=', queries[1])

    def test_unreachable_server_fails_the_asking_scope(self):
        collector = self._collector()
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, [
            {'exc': requests.exceptions.ConnectionError('refused')},
            {'json': _prometheus_answer}])
        self.assertRaises(collect_exc.CollectError, self._fetch, collector,
                          'scope-a')
        self.assertEqual(2, len(self._fetch(collector, 'scope-b')))
        # The next scope asks for every scope again, and is served.
        self.assertEqual(2, len(self._queries()))
        self.assertNotIn('project_id=', self._queries()[1])

    def test_answer_with_warnings_is_never_kept(self):
        logs = self._hear(logging.WARNING)
        collector = self._collector()

        def warned(request, context):
            answer = _prometheus_answer(request, context)
            answer['warnings'] = ['remote read: store unreachable']
            return answer

        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json=warned)
        points = {scope: self._fetch(collector, scope) for scope in SCOPES}
        self.assertEqual(2, len(points['scope-b']))
        queries = self._queries()
        self.assertEqual(1 + len(SCOPES), len(queries))
        self.assertEqual(1, sum('project_id=' not in q for q in queries))
        lines = logs.output.splitlines()
        self.assertEqual(1 + len(SCOPES), len(lines))
        self.assertIn('the answer carries warnings: remote read: store '
                      'unreachable', lines[0])
        self.assertIn('prometheus collector: the answer for metric '
                      'instance_up, scope scope-a carries warnings, which '
                      'may mean partial data; it is rated as answered: '
                      'remote read: store unreachable', lines[1])

    def test_dst_fold_periods_are_kept_apart(self):
        # Europe/Paris, 2025-10-26: 02:00-03:00 happens twice.
        paris = tz.gettz('Europe/Paris')
        first = datetime.datetime(2025, 10, 26, 2, 0, tzinfo=paris)
        second = tz.enfold(first, 1)
        half = datetime.timedelta(minutes=30)
        values = {first.isoformat(): '1', second.isoformat(): '2'}
        self.assertNotEqual(first.isoformat(), second.isoformat())

        def by_time(request, context):
            params = aetos_fakes.query_params(request)
            end = datetime.datetime.fromisoformat(params['time'])
            start = (end - half).isoformat()
            return aetos_fakes.vector([({'project_id': 'scope-a'},
                                        values[start])])

        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, json=by_time)
        self.conf.set_override('scope_batching', True,
                               'collector_prometheus')
        collector = prometheus.PrometheusCollector(
            period=1800, conf={'metrics': self.METRICS})
        got = [self._fetch(collector, 'scope-a', start=start,
                           end=tz.enfold(start + half, start.fold))
               for start in (first, second)]
        self.assertEqual(['1', '2'], [str(p.qty) for [p] in got])
        self.assertEqual(2, len(self._queries()))


class TricklingServerTest(tests.TestCase):
    """A server that trickles every answer: nobody waits past the bounds."""

    ANSWER_TIMEOUT = 1.0
    READ_TIMEOUT = 0.5
    # Far above answer_timeout twice (the whole query, then the scope's
    # own): only a wait that ignores the bounds comes near.
    CEILING = 10.0

    def setUp(self):
        super(TricklingServerTest, self).setUp()
        _server, url = aetos_fakes.serve(self, aetos_fakes.Trickling)
        for name, value in (('prometheus_url', url), ('scope_batching', True),
                            ('timeout', self.READ_TIMEOUT),
                            ('answer_timeout', self.ANSWER_TIMEOUT)):
            self.conf.set_override(name, value, 'collector_prometheus')
        self.collector = prometheus.PrometheusCollector(
            period=3600, conf={'metrics': BatchingCollectorTest.METRICS})

    def test_asking_scope_and_waiters_fail_within_the_bounds(self):
        def fetch(scope):
            started = time.monotonic()
            try:
                self.collector.fetch_all('instance_up', aetos_fakes.START,
                                         aetos_fakes.END, scope)
            except collect_exc.CollectError as exc:
                return time.monotonic() - started, exc
            return time.monotonic() - started, None

        scopes = iter(SCOPES)
        lock = threading.Lock()

        def next_scope():
            with lock:
                scope = next(scopes)
            return fetch(scope)

        outcomes = aetos_fakes.run_in_threads(len(SCOPES), next_scope)
        print('scopes gave up after %s s (answer_timeout %g s)' % (
            ', '.join('%.2f' % elapsed for elapsed, _exc in sorted(
                outcomes, key=lambda outcome: outcome[0])),
            self.ANSWER_TIMEOUT))
        for elapsed, exc in outcomes:
            self.assertIsInstance(exc, collect_exc.CollectError)
            self.assertIn('did not send the whole answer within 1 s: make '
                          'the query lighter or raise [collector_prometheus] '
                          'answer_timeout', str(exc))
            self.assertLess(elapsed, self.CEILING)
