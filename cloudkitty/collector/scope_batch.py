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
the others of that period are served from what was kept. What is kept is
bounded in count and age, a failure is never kept, and a key that was
already fetched once and is gone is not fetched whole again: its scopes
go back to one query each, so batching never costs more than one query
per (metric, period) on top of the per-scope mode.
"""
import collections
import threading
import time

from oslo_config import cfg
from oslo_log import log

from cloudkitty.collector import promql

LOG = log.getLogger(__name__)

CONF = cfg.CONF

__all__ = ['ScopeBatcher', 'batch_opts', 'for_collector']

batch_opts = [
    cfg.BoolOpt('scope_batching', default=False,
                help='Fetch each metric of a period once for every scope, '
                     'grouped by the scope label, and serve each scope from '
                     'that answer, instead of one query per scope.'),
    cfg.IntOpt('scope_batch_entries', default=16, min=1,
               help='How many (metric, period) answers scope batching keeps '
                    'at most, the least recently used going first. Each '
                    'costs about 1 MiB per 1,000 scopes with one series '
                    'each; keep it at least the number of metrics.'),
    cfg.IntOpt('scope_batch_max_age', default=900, min=1,
               help='Seconds a kept answer serves other scopes; after that '
                    'the remaining scopes of that period are queried one '
                    'by one.'),
]


class _Flight(object):
    """A batch query under way, that other threads can wait for."""

    def __init__(self):
        self.done = threading.Event()
        self.by_scope = None


class ScopeBatcher(object):
    """Answers split by scope, kept per (metric, period) key.

    :param entries: how many keys are kept at most
    :param max_age: seconds an answer is served
    :param clock: monotonic seconds; tests may pass their own
    """

    def __init__(self, entries, max_age, clock=time.monotonic):
        self._entries = entries
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._kept = collections.OrderedDict()   # key -> (stamp, by_scope)
        self._flights = {}
        # Keys fetched whole once; bounded like the answers, larger.
        self._fetched = collections.OrderedDict()

    def __len__(self):
        return len(self._kept)

    def samples(self, key, scope_id, fetch):
        """The samples of ``scope_id`` for ``key``.

        :param key: a hashable (metric, period) identity
        :param scope_id: the scope asking
        :param fetch: no-argument callable giving ``{scope_id: samples}``
            for every scope; called by one thread at a time per key
        :returns: a list of samples, or None when the caller must query
            for its own scope (the key's answer was evicted or expired)
        :raises: whatever ``fetch`` raises, to the thread that called it
        """
        while True:
            with self._lock:
                found = self._lookup(key)
                if found is not None:
                    return found.get(scope_id, [])
                if key in self._fetched:
                    return None
                flight = self._flights.get(key)
                leader = flight is None
                if leader:
                    flight = self._flights[key] = _Flight()
            if leader:
                return self._fly(key, flight, fetch).get(scope_id, [])
            flight.done.wait()
            if flight.by_scope is not None:
                return flight.by_scope.get(scope_id, [])
            # The leader failed: this thread tries in its turn.

    def _lookup(self, key):
        """The kept answer for ``key``, None if absent or too old."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        stamp, by_scope = kept
        if self._clock() - stamp > self._max_age:
            del self._kept[key]
            return None
        self._kept.move_to_end(key)
        return by_scope

    def _fly(self, key, flight, fetch):
        try:
            by_scope = fetch()
        except BaseException:
            with self._lock:
                del self._flights[key]
            flight.done.set()
            raise
        with self._lock:
            self._kept[key] = (self._clock(), by_scope)
            self._fetched[key] = True
            for table, limit in ((self._kept, self._entries),
                                 (self._fetched, 16 * self._entries)):
                while len(table) > limit:
                    table.popitem(last=False)
            del self._flights[key]
        flight.by_scope = by_scope
        flight.done.set()
        return by_scope


def for_collector(collector):
    """The batcher a Prometheus-like collector's options ask for.

    :param collector: a PrometheusCollectorBase; its ``options_group``
        holds the options above
    :returns: ``(batcher, per_scope)``: the ScopeBatcher, or None when
        batching is off, and the metrics that are still asked for one
        scope at a time (see ``promql.scope_safe``)
    """
    group = collector.options_group
    if not group or not CONF[group].scope_batching:
        return None, {}
    settings = CONF[group]
    per_scope = collector.metrics_where(
        lambda args: not promql.scope_safe(args))
    if per_scope:
        LOG.info('%s collector: %s are collected per scope: their '
                 'query_prefix or query_suffix could mix scopes if grouped '
                 'by the scope label', collector.collector_name,
                 ', '.join(per_scope))
    return (ScopeBatcher(settings.scope_batch_entries,
                         settings.scope_batch_max_age), per_scope)
