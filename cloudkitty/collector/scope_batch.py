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
"""One query per (metric, period) for every scope, kept for a while.

CloudKitty asks for one scope at a time; the answer for all scopes costs
the metrics backend about as much as the answer for one. The first scope
to ask for a (metric, period) has every scope's samples fetched at once;
the others of that period are served from what was kept.

What is kept is bounded in count, samples and age; a failure is never
kept. A (metric, period) is fetched whole once at most: once its answer
is gone, or when the whole query cannot be answered, its scopes are asked
one by one, so batching never costs more than one query per (metric,
period) on top of the per-scope mode. This module reads no configuration:
the collector hands it plain values.
"""
import collections
import threading
import time

from oslo_config import cfg
from oslo_log import log

LOG = log.getLogger(__name__)

__all__ = ['ScopeBatcher', 'FallBack', 'batch_opts', 'FETCHED_MAX_AGE',
           'FETCHED_MAX_KEYS']

FETCHED_MAX_AGE = 86400
"""Seconds a (metric, period) is remembered as fetched whole.

Longer than a pass over any backlog a processor catches up in one go, so
that no (metric, period) is fetched whole twice by the same worker."""

FETCHED_MAX_KEYS = 50000
"""(metric, period) keys remembered as fetched whole, at most.

A month of hourly periods for 67 metrics; about 10 MiB at the most."""

batch_opts = [
    cfg.BoolOpt('scope_batching', default=False,
                help='Fetch each metric of a period once for every scope, '
                     'grouped by the scope label, and serve each scope from '
                     'that answer, instead of one query per scope.'),
    cfg.IntOpt('scope_batch_entries', default=16, min=1,
               help='How many (metric, period) answers scope batching keeps '
                    'at most, the least recently used going first. Keep it '
                    'at least the number of metrics.'),
    cfg.IntOpt('scope_batch_max_samples', default=160000, min=1,
               help='How many samples (series) the kept answers hold at '
                    'most, all together, the least recently used going '
                    'first; an answer holding more is used once and not '
                    'kept. Each sample costs about 1 KiB: the default '
                    'keeps about 150 MiB per worker process at the most.'),
    cfg.IntOpt('scope_batch_max_age', default=900, min=1,
               help='Seconds a kept answer serves other scopes; after that '
                    'the remaining scopes of that period are queried one '
                    'by one. It is also how long a metric whose query for '
                    'every scope failed is asked per scope.'),
]


class FallBack(Exception):
    """The answer for every scope cannot be used: ask scope by scope.

    Raised by a fetch callable; the batcher then sends no second whole
    query for that (metric, period) and pauses batching for the metric.

    :param cause: what went wrong, as the log line names it
    """

    def __init__(self, cause):
        super(FallBack, self).__init__(cause)
        self.cause = cause


class _Flight(object):
    """A batch query under way, that other threads can wait for."""

    def __init__(self):
        self.done = threading.Event()
        self.by_scope = None
        self.fell_back = False


def _utc(seconds):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(seconds))


class ScopeBatcher(object):
    """Answers split by scope, kept per (metric, period) key.

    :param entries: how many answers are kept at most
    :param max_samples: how many samples the kept answers hold at most
    :param max_age: seconds an answer is served, and a metric whose
        whole query fell back is asked per scope
    :param wait_timeout: seconds a thread waits for another thread's
        whole query before asking for its own scope
    :param clock: monotonic seconds for ages; tests may pass their own
    """

    def __init__(self, entries, max_samples, max_age, wait_timeout,
                 clock=time.monotonic):
        self.entries = entries
        self.max_samples = max_samples
        self.max_age = max_age
        self.wait_timeout = wait_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._kept = collections.OrderedDict()  # key: (stamp, size, answer)
        self._kept_samples = 0
        self._flights = {}
        self._fetched = collections.OrderedDict()  # key: stamp
        self._paused = {}  # metric: monotonic end of the pause

    def __len__(self):
        return len(self._kept)

    @property
    def kept_samples(self):
        """How many samples the kept answers hold together."""
        return self._kept_samples

    def samples(self, metric, period, scope_id, fetch):
        """The samples of ``scope_id`` for ``metric`` over ``period``.

        :param metric: the metric's name
        :param period: ``(start, end)`` in Unix seconds
        :param scope_id: the scope asking
        :param fetch: no-argument callable giving ``{scope_id: samples}``
            for every scope, or raising FallBack; called by one thread
            at a time per key
        :returns: a list of samples, or None when the caller must query
            for its own scope
        :raises: whatever ``fetch`` raises but FallBack, to the thread
            that called it
        """
        key = (metric, period)
        deadline = None
        while True:
            with self._lock:
                found = self._lookup(key)
                if found is not None:
                    return found.get(scope_id, [])
                if self._was_fetched(key) or self._is_paused(metric):
                    return None
                flight = self._flights.get(key)
                leader = flight is None
                if leader:
                    flight = self._flights[key] = _Flight()
            if leader:
                by_scope = self._fly(key, flight, fetch)
                return None if by_scope is None else by_scope.get(
                    scope_id, [])
            if deadline is None:
                deadline = time.monotonic() + self.wait_timeout
            if not flight.done.wait(max(0.0, deadline - time.monotonic())):
                LOG.debug('Scope batching: %s for %s not answered within '
                          '%s s; scope %s is asked on its own', metric,
                          _utc(period[0]), self.wait_timeout, scope_id)
                return None
            if flight.by_scope is not None:
                return flight.by_scope.get(scope_id, [])
            if flight.fell_back:
                return None
            # The leader failed on the way: this thread tries in its turn.

    def _lookup(self, key):
        """The kept answer for ``key``, None if absent or too old."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        stamp, size, by_scope = kept
        if self._clock() - stamp > self.max_age:
            self._drop(key)
            return None
        self._kept.move_to_end(key)
        return by_scope

    def _drop(self, key):
        _stamp, size, _by_scope = self._kept.pop(key)
        self._kept_samples -= size

    def _was_fetched(self, key):
        stamp = self._fetched.get(key)
        if stamp is None:
            return False
        if self._clock() - stamp > FETCHED_MAX_AGE:
            del self._fetched[key]
            return False
        return True

    def _is_paused(self, metric):
        until = self._paused.get(metric)
        if until is None:
            return False
        if self._clock() >= until:
            del self._paused[metric]
            return False
        return True

    def _remember(self, key):
        """Note ``key`` as fetched whole; called under the lock."""
        now = self._clock()
        self._fetched[key] = now
        self._fetched.move_to_end(key)
        while self._fetched and (
                len(self._fetched) > FETCHED_MAX_KEYS
                or now - next(iter(self._fetched.values()))
                > FETCHED_MAX_AGE):
            self._fetched.popitem(last=False)

    def _keep(self, key, by_scope, size):
        """Keep an answer, evicting the least recently used; locked."""
        self._kept[key] = (self._clock(), size, by_scope)
        self._kept_samples += size
        while (len(self._kept) > self.entries
               or self._kept_samples > self.max_samples):
            self._drop(next(iter(self._kept)))

    def _fly(self, key, flight, fetch):
        try:
            by_scope = fetch()
        except FallBack as exc:
            with self._lock:
                self._remember(key)
                self._paused[key[0]] = self._clock() + self.max_age
                del self._flights[key]
            flight.fell_back = True
            flight.done.set()
            LOG.warning(
                'Scope batching: the query of %s for every scope over the '
                'period starting %s failed (%s). Each scope of that period '
                'is asked on its own, and so is %s for the next %d s '
                '(scope_batch_max_age)', key[0], _utc(key[1][0]),
                exc.cause, key[0], self.max_age)
            return None
        except BaseException:
            with self._lock:
                del self._flights[key]
            flight.done.set()
            raise
        size = sum(len(samples) for samples in by_scope.values())
        with self._lock:
            self._remember(key)
            if size <= self.max_samples:
                self._keep(key, by_scope, size)
            del self._flights[key]
        flight.by_scope = by_scope
        flight.done.set()
        if size > self.max_samples:
            LOG.warning(
                'Scope batching: the answer of %s for every scope over the '
                'period starting %s holds %d samples, more than '
                'scope_batch_max_samples (%d): it is not kept, and the '
                'other scopes of that period are asked one by one. Raise '
                'scope_batch_max_samples if memory allows', key[0],
                _utc(key[1][0]), size, self.max_samples)
        return by_scope
