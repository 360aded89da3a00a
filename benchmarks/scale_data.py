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
"""Usage of many scopes for the scale benchmark, and what it must rate to.

Each size S gets an hour of its own, with nobody else's samples in it, so
that a query without the scope matcher over that hour sees exactly S
scopes. Every scope ``i`` has, sampled every ``STEP`` seconds in the middle
of each step (as ``tests/functional/dataset.py`` does):

* ``bench_instance_up``: 1 + i % 2 instances, value 1 (max -> 1);
* ``bench_volume_size_gb``: one volume of i % 50 + 0.5 GB (avg, ceil);
* ``bench_net_bytes_total``: one counter growing by 100 * (1 + i % 7) per
  sample (rate over the hour, times 3600 / 10^6: MB in the hour);
* ``bench_floating_ip_up``: one address for even i only, so that half the
  scopes have no data for that metric.

``families`` gives its series for ``promtool tsdb create-blocks-from
openmetrics`` (``services.prometheus.write_openmetrics``); ``expected``
says what each scope's points must be.
"""

import datetime

from functional.services import prometheus

HOUR = 3600
STEP = 60
OFFSET = STEP // 2
SAMPLES = HOUR // STEP
COUNTER_START = 10 ** 6
"""Counters start high, so that rate() extrapolates to the whole hour."""

HOUR_OF_SIZE = {100: 0, 1000: 2, 5000: 4}
"""Hour of the stack's planted window (``Dataset.hour``) given to a size;
an empty hour between two sizes keeps their scopes apart."""

FLAVORS = ('m1.tiny', 'm1.small', 'm1.medium', 'm1.large')

METRICS = {'metrics': {
    'bench_instance_up': {
        'alt_name': 'instance', 'unit': 'instance',
        'groupby': ['resource_id'], 'metadata': ['flavor_name'],
        'extra_args': {'aggregation_method': 'max'}},
    'bench_volume_size_gb': {
        'alt_name': 'volume.size', 'unit': 'GB',
        'groupby': ['resource_id'], 'metadata': ['volume_type'],
        'extra_args': {'aggregation_method': 'avg',
                       'query_function': 'ceil'}},
    'bench_net_bytes_total': {
        'alt_name': 'network.outgoing', 'unit': 'MB',
        'factor': '3600/1000000', 'groupby': ['resource_id'],
        'extra_args': {'aggregation_method': 'sum',
                       'range_function': 'rate'}},
    'bench_floating_ip_up': {
        'alt_name': 'ip.floating', 'unit': 'ip',
        'groupby': ['resource_id'], 'metadata': ['pool'],
        'extra_args': {'aggregation_method': 'max'}},
}}
"""The metrics.yml of every collector of the benchmark."""

PRICES = {
    'instance': {'fields': {'flavor_name': {
        flavor: ('flat', str(n + 1)) for n, flavor in enumerate(FLAVORS)}}},
    'volume.size': {'service': ('flat', '0.125')},
    'network.outgoing': {'service': ('flat', '0.5')},
    'ip.floating': {'service': ('flat', '0.01')},
}
"""Hashmap prices for the processor run (cloudkitty_env's format)."""


def _series(scope, i):
    """(metric, resource_id, labels, first value, increment, qty)."""
    found = []
    for k in range(1 + i % 2):
        found.append(('bench_instance_up', '%s-vm%d' % (scope, k),
                      {'flavor_name': FLAVORS[(i + k) % 4]}, 1, 0, 1.0))
    size = i % 50 + 0.5
    found.append(('bench_volume_size_gb', scope + '-vol',
                  {'volume_type': 'ssd' if i % 3 == 0 else 'standard'},
                  size, 0, float(i % 50 + 1)))
    increment = 100 * (1 + i % 7)
    found.append(('bench_net_bytes_total', scope + '-nic', {},
                  COUNTER_START, increment,
                  increment * SAMPLES / 10.0 ** 6))
    if i % 2 == 0:
        found.append(('bench_floating_ip_up', scope + '-fip',
                      {'pool': 'public'}, 1, 0, 1.0))
    return found


class ScaleBenchData(object):
    """Scopes of every size, placed in the hours of a planted window.

    :param window_start: first second of the stack's planted window
        (``stack.dataset.start``); it holds at least 5 hours
    :param sizes: the sizes S to plant
    """

    def __init__(self, window_start, sizes):
        unknown = set(sizes) - set(HOUR_OF_SIZE)
        if unknown:
            raise ValueError('No hour for sizes %s' % sorted(unknown))
        self.window_start = window_start
        self.sizes = sorted(sizes)

    @staticmethod
    def scopes(size):
        """Scope IDs of a size: 32 hex digits, like Keystone's."""
        return ['%08x%024x' % (size, i) for i in range(size)]

    def period(self, size):
        """(start, end) of the size's hour, as aware datetimes."""
        start = self.window_start + HOUR_OF_SIZE[size] * HOUR
        return tuple(datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
                     for t in (start, start + HOUR))

    def expected(self, size):
        """{scope: {metric: {resource_id: (qty, metadata)}}} of a size."""
        result = {}
        for i, scope in enumerate(self.scopes(size)):
            metrics = result[scope] = {name: {} for name in
                                       METRICS['metrics']}
            for metric, rid, labels, _first, _inc, qty in _series(scope, i):
                metrics[metric][rid] = (qty, labels)
        return result

    def series_count(self):
        return sum(len(_series(scope, i)) for size in self.sizes
                   for i, scope in enumerate(self.scopes(size)))

    def families(self):
        """Every size's series, for ``prometheus.write_openmetrics``.

        The samples are made as they are written, never held whole.
        """
        return [prometheus.Family(
            metric, 'counter' if metric.endswith('_total') else 'gauge',
            'Scale benchmark series.', self._series_of(metric))
            for metric in sorted(METRICS['metrics'])]

    def _series_of(self, metric):
        """(labels, samples) of every series of ``metric``."""
        for size in self.sizes:
            start = int(self.period(size)[0].timestamp())
            for i, scope in enumerate(self.scopes(size)):
                for item in _series(scope, i):
                    name, rid, labels, first, increment, _qty = item
                    if name != metric:
                        continue
                    yield (dict(labels, project_id=scope, resource_id=rid),
                           [(start + step * STEP + OFFSET,
                             first + step * increment)
                            for step in range(SAMPLES)])
