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
import logging
import re
import threading

import fixtures

from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.collector import prometheus
from cloudkitty.collector import scope_batch
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes

KEY = ('instance_up', 1, 2)
WAIT = 10


class _Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Fetches(object):
    """A fetch callable that counts its calls and can be held or fail."""

    def __init__(self, answer=None, failures=0, hold=False):
        self.answer = answer if answer is not None else {'a': [1], 'b': [2]}
        self.failures = failures
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
            raise collect_exc.CollectError('batch query failed')
        return self.answer


class ScopeBatcherTest(tests.TestCase):

    def setUp(self):
        super(ScopeBatcherTest, self).setUp()
        self.clock = _Clock()
        self.batcher = scope_batch.ScopeBatcher(2, 60, clock=self.clock)

    def test_one_fetch_serves_every_scope(self):
        fetch = _Fetches()
        self.assertEqual([1], self.batcher.samples(KEY, 'a', fetch))
        self.assertEqual([2], self.batcher.samples(KEY, 'b', fetch))
        self.assertEqual([], self.batcher.samples(KEY, 'idle', fetch))
        self.assertEqual(1, fetch.calls)

    def test_evicted_key_goes_back_to_one_query_per_scope(self):
        fetch = _Fetches()
        for key in (KEY, 'second', 'third'):
            self.batcher.samples(key, 'a', fetch)
        self.assertEqual(2, len(self.batcher))
        self.assertIsNone(self.batcher.samples(KEY, 'b', fetch))
        self.assertEqual(3, fetch.calls)

    def test_least_recently_used_goes_first(self):
        fetch = _Fetches()
        self.batcher.samples(KEY, 'a', fetch)
        self.batcher.samples('second', 'a', fetch)
        self.batcher.samples(KEY, 'b', fetch)
        self.batcher.samples('third', 'a', fetch)
        self.assertEqual([2], self.batcher.samples(KEY, 'b', fetch))
        self.assertIsNone(self.batcher.samples('second', 'b', fetch))

    def test_answer_served_for_max_age_only(self):
        fetch = _Fetches()
        self.batcher.samples(KEY, 'a', fetch)
        self.clock.now = 60
        self.assertEqual([2], self.batcher.samples(KEY, 'b', fetch))
        self.clock.now = 60.5
        self.assertIsNone(self.batcher.samples(KEY, 'b', fetch))
        self.assertEqual(0, len(self.batcher))
        self.assertEqual(1, fetch.calls)

    def test_failure_is_raised_and_not_kept(self):
        fetch = _Fetches(failures=1)
        self.assertRaises(collect_exc.CollectError,
                          self.batcher.samples, KEY, 'a', fetch)
        self.assertEqual(0, len(self.batcher))
        self.assertEqual([2], self.batcher.samples(KEY, 'b', fetch))
        self.assertEqual(2, fetch.calls)

    def _ask_in_threads(self, key, scopes, fetch):
        results, errors = {}, []

        def ask(scope):
            try:
                results[scope] = self.batcher.samples(key, scope, fetch)
            except collect_exc.CollectError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=ask, args=(scope,))
                   for scope in scopes]
        for thread in threads:
            thread.start()
        return threads, results, errors

    def test_concurrent_askers_share_one_fetch(self):
        fetch = _Fetches(answer={str(n): [n] for n in range(8)}, hold=True)
        threads, results, errors = self._ask_in_threads(
            KEY, [str(n) for n in range(8)], fetch)
        self.assertTrue(fetch.entered.wait(WAIT))
        fetch.release.set()
        for thread in threads:
            thread.join(WAIT)
        self.assertEqual({str(n): [n] for n in range(8)}, results)
        self.assertEqual([], errors)
        self.assertEqual(1, fetch.calls)

    def test_other_keys_not_blocked_by_a_fetch(self):
        held = _Fetches(hold=True)
        threads, results, _errors = self._ask_in_threads(KEY, ['a'], held)
        self.assertTrue(held.entered.wait(WAIT))
        self.assertEqual([1], self.batcher.samples('other', 'a', _Fetches()))
        held.release.set()
        threads[0].join(WAIT)
        self.assertEqual({'a': [1]}, results)

    def test_waiter_fetches_again_after_a_failed_fetch(self):
        fetch = _Fetches(failures=1, hold=True)
        threads, results, errors = self._ask_in_threads(KEY, ['a', 'b'],
                                                        fetch)
        self.assertTrue(fetch.entered.wait(WAIT))
        fetch.release.set()
        for thread in threads:
            thread.join(WAIT)
        self.assertEqual(1, len(errors))
        self.assertEqual(1, len(results))
        self.assertEqual(2, fetch.calls)


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

    def test_prefix_that_could_mix_scopes_is_asked_per_scope(self):
        # The base suite's logging set-up disables existing loggers.
        self.useFixture(fixtures.MockPatchObject(
            logging.getLogger(scope_batch.__name__), 'disabled', False))
        logs = self.useFixture(fixtures.FakeLogger(
            name=scope_batch.__name__, level=logging.INFO))
        self._points(True, 'clamped_up')
        self.assertEqual(len(SCOPES), len(self._queries()))
        self.assertEqual(1, len(logs.output.splitlines()))
        self.assertIn('clamped_up', logs.output)
        self.assertNotIn('scaled_up', logs.output)

    def test_failed_batch_fails_the_asking_scope_only(self):
        self.conf.set_override('scope_batching', True,
                               'collector_prometheus')
        collector = prometheus.PrometheusCollector(
            period=3600, conf={'metrics': self.METRICS})
        self.network.get(aetos_fakes.PROMETHEUS_QUERY_URL, [
            {'status_code': 503, 'text': 'unavailable'},
            {'json': _prometheus_answer}])
        self.assertRaises(collect_exc.CollectError, collector.fetch_all,
                          'instance_up', aetos_fakes.START, aetos_fakes.END,
                          'scope-a')
        points = collector.fetch_all('instance_up', aetos_fakes.START,
                                     aetos_fakes.END, 'scope-b')
        self.assertEqual(2, len(points))
        self.assertEqual(2, len(self._queries()))
