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
"""Usage planted in the functional stack's Prometheus, and what it implies.

The description below is pure data: which project runs which resource, in
which hours, with which value. ``Dataset`` binds it to the project IDs that
Keystone handed out and to a start time, gives its series for
``promtool tsdb create-blocks-from openmetrics`` and computes the values
PromQL must return for it, so that tests compare against arithmetic done
here rather than against numbers copied from a previous run.

Every sample sits in the middle of a step (``OFFSET`` seconds after a step
boundary), so no sample ever lies on the edge of an hour: a range selector
ending on a step boundary holds the same samples whether the engine treats
its edges as open or closed, and ``increase()`` over a fully covered range
extrapolates to exactly ``increment * samples``.
"""

import collections
import math
import time

from functional.services import prometheus

STEP = 60
"""Seconds between two samples of one series."""

OFFSET = STEP // 2
"""Seconds from a step boundary to the sample of that step."""

HOUR = 3600
STEPS_PER_HOUR = HOUR // STEP

HOURS = 6
"""Whole hours covered by the data, starting at ``Dataset.start``."""

START_HOURS_AGO = 8
"""The data starts this many hours before the current hour began.

Backfilled blocks must lie in the past and outside the range the head block
of a freshly started Prometheus could claim; ending at least two hours ago
keeps the newest planted sample out of it.
"""

LOOKBACK = 300
"""Prometheus' default lookback delta for instant vector selectors."""

RATED_PROJECTS = ('rated-a', 'rated-b', 'rated-c')
"""Projects CloudKitty rates (its user holds the rating role on them)."""

OTHER_PROJECTS = ('unrated-z',)
"""Projects with usage that CloudKitty does not rate."""

PROJECTS = RATED_PROJECTS + OTHER_PROJECTS

METRICS = {
    'ck_instance_up': (
        'gauge', 'Set to 1 while the instance runs.'),
    'ck_volume_size_gb': (
        'gauge', 'Size of the volume in GB.'),
    'ck_net_bytes_total': (
        'counter', 'Bytes sent by the instance, growing by a fixed amount '
                   'per sample.'),
}
"""Planted metric name -> (OpenMetrics type, help text)."""

Gauge = collections.namedtuple(
    'Gauge', 'metric project labels spans')
"""A gauge series; spans are (first step, end step, value) tuples.

Steps count from the dataset start; a span covers ``first <= step < end``.
A step without a span has no sample: the resource does not exist then.
"""

Counter = collections.namedtuple(
    'Counter', 'metric project labels first end initial increment resets')
"""A counter series present for ``first <= step < end``.

It starts at ``initial`` and grows by ``increment`` per sample; at each
step listed in ``resets`` it falls back to zero (a restarted exporter) and
grows again from there.
"""


def _h(hours, minutes=0):
    """Step index of a point given in hours and minutes after the start."""
    return hours * STEPS_PER_HOUR + minutes * 60 // STEP


def _uuid(n):
    """A fixed, readable resource UUID."""
    return '00000000-0000-4000-8000-%012d' % n


SERIES = (
    # rated-a: three instances (one only between hours 2 and 5), one
    # volume, one busy network interface.
    Gauge('ck_instance_up', 'rated-a',
          (('resource_id', _uuid(1)), ('flavor_name', 'm1.small')),
          ((_h(0), _h(6), 1),)),
    Gauge('ck_instance_up', 'rated-a',
          (('resource_id', _uuid(2)), ('flavor_name', 'm1.large')),
          ((_h(0), _h(6), 1),)),
    Gauge('ck_instance_up', 'rated-a',
          (('resource_id', _uuid(3)), ('flavor_name', 'm1.small')),
          ((_h(2), _h(5), 1),)),
    Gauge('ck_volume_size_gb', 'rated-a',
          (('resource_id', _uuid(11)), ('volume_type', 'standard')),
          ((_h(0), _h(6), 10),)),
    Counter('ck_net_bytes_total', 'rated-a',
            (('resource_id', _uuid(1)),),
            _h(0), _h(6), 0, 1000, ()),
    # rated-b: one steady instance, one stopped during hour 3, a volume
    # grown from 5 to 8 GB half-way through hour 3, and a quieter
    # interface.
    Gauge('ck_instance_up', 'rated-b',
          (('resource_id', _uuid(4)), ('flavor_name', 'm1.medium')),
          ((_h(0), _h(6), 1),)),
    Gauge('ck_instance_up', 'rated-b',
          (('resource_id', _uuid(5)), ('flavor_name', 'm1.small')),
          ((_h(1), _h(3), 1), (_h(4), _h(6), 1))),
    Gauge('ck_volume_size_gb', 'rated-b',
          (('resource_id', _uuid(12)), ('volume_type', 'standard')),
          ((_h(0), _h(6), 20),)),
    Gauge('ck_volume_size_gb', 'rated-b',
          (('resource_id', _uuid(13)), ('volume_type', 'ssd')),
          ((_h(0), _h(3, 30), 5), (_h(3, 30), _h(6), 8))),
    Counter('ck_net_bytes_total', 'rated-b',
            (('resource_id', _uuid(4)),),
            _h(0), _h(6), 5000000, 500, ()),
    # rated-c: a late small instance whose counter restarts half-way
    # through hour 4.
    Gauge('ck_instance_up', 'rated-c',
          (('resource_id', _uuid(6)), ('flavor_name', 'm1.tiny')),
          ((_h(3), _h(6), 1),)),
    Counter('ck_net_bytes_total', 'rated-c',
            (('resource_id', _uuid(6)),),
            _h(3), _h(6), 0, 250, (_h(4, 30),)),
    # unrated-z: usage that must never be rated.
    Gauge('ck_instance_up', 'unrated-z',
          (('resource_id', _uuid(7)), ('flavor_name', 'm1.xlarge')),
          ((_h(0), _h(6), 1),)),
    Gauge('ck_volume_size_gb', 'unrated-z',
          (('resource_id', _uuid(14)), ('volume_type', 'ssd')),
          ((_h(0), _h(6), 100),)),
)
"""Every planted series."""


def _series_points(series):
    """(step, value) pairs of one series, in time order."""
    if isinstance(series, Gauge):
        for first, end, value in series.spans:
            for step in range(first, end):
                yield step, value
        return
    value = series.initial
    for step in range(series.first, series.end):
        if step in series.resets:
            value = 0
        yield step, value
        value += series.increment


def aggregate(vector, by=('project_id',), op='sum'):
    """Group a vector like ``op by (labels) (...)`` does in PromQL.

    :param vector: list of (labels dict, value) pairs
    :returns: dict mapping the tuple of the ``by`` label values (in the
              order given) to the aggregated value
    """
    groups = collections.defaultdict(list)
    for labels, value in vector:
        groups[tuple(labels.get(name, '') for name in by)].append(value)
    ops = {
        'sum': math.fsum,
        'max': max,
        'min': min,
        'count': len,
        'avg': lambda values: math.fsum(values) / len(values),
    }
    return {key: ops[op](values) for key, values in groups.items()}


class Dataset(object):
    """The planted series bound to project IDs and a start time."""

    def __init__(self, project_ids, start=None, now=None):
        """Bind the description.

        :param project_ids: project name -> Keystone project ID, for every
                            name in ``PROJECTS``
        :param start: first second of the data (a multiple of ``HOUR``);
                      by default ``START_HOURS_AGO`` hours before the
                      beginning of the current hour
        :param now: the current time, for tests of this module
        """
        missing = set(PROJECTS) - set(project_ids)
        if missing:
            raise ValueError('No project ID for %s' % sorted(missing))
        if start is None:
            now = time.time() if now is None else now
            start = (int(now) // HOUR - START_HOURS_AGO) * HOUR
        if start % HOUR:
            raise ValueError('The start must be aligned on an hour')
        self.project_ids = dict(project_ids)
        self.start = start
        self.end = start + HOURS * HOUR

    def hour(self, index):
        """Timestamp of the beginning of hour ``index`` of the data."""
        return self.start + index * HOUR

    def labels(self, series):
        """Complete label set of a series, project_id included."""
        labels = dict(series.labels)
        labels['project_id'] = self.project_ids[series.project]
        return labels

    def points(self, series):
        """(timestamp, value) pairs of a series."""
        return [(self.start + step * STEP + OFFSET, value)
                for step, value in _series_points(series)]

    def series(self, metric=None, projects=None):
        """Planted series, optionally of one metric and some projects."""
        return [s for s in SERIES
                if (metric is None or s.metric == metric) and
                (projects is None or s.project in projects)]

    def families(self):
        """The whole dataset, for ``prometheus.write_openmetrics``."""
        return [prometheus.Family(metric, kind, text, [
            (self.labels(series), self.points(series))
            for series in self.series(metric)])
            for metric, (kind, text) in sorted(METRICS.items())]

    def _window(self, series, at, window):
        """Points of a series inside the range selector ``[window]``."""
        return [(t, v) for t, v in self.points(series)
                if at - window <= t <= at]

    def instant(self, metric, at, projects=None):
        """Vector an instant selector of ``metric`` returns at ``at``.

        :returns: list of (labels dict, value) pairs
        """
        vector = []
        for series in self.series(metric, projects):
            window = self._window(series, at, LOOKBACK)
            if window:
                vector.append((self.labels(series), window[-1][1]))
        return vector

    def over_time(self, func, metric, at, window, projects=None):
        """Vector of ``<func>_over_time(metric[window])`` at ``at``.

        :param func: one of sum, avg, max, min, count, last
        """
        funcs = {
            'sum': math.fsum,
            'avg': lambda values: math.fsum(values) / len(values),
            'max': max,
            'min': min,
            'count': len,
            'last': lambda values: values[-1],
        }
        vector = []
        for series in self.series(metric, projects):
            values = [v for _t, v in self._window(series, at, window)]
            if values:
                vector.append((self.labels(series), funcs[func](values)))
        return vector

    def increase(self, metric, at, window, projects=None, per_second=False):
        """Vector of ``increase(metric[window])`` (or ``rate``) at ``at``.

        Follows the extrapolation of Prometheus 2.x: a counter reset adds
        the value before it, the result is stretched towards the edges of
        the range when the first and last samples are close to them, and
        never before the point where the counter would have been zero.
        """
        vector = []
        for series in self.series(metric, projects):
            points = self._window(series, at, window)
            if len(points) < 2:
                continue
            first_t, first_v = points[0]
            last_t, last_v = points[-1]
            delta = last_v - first_v
            previous = 0
            for _t, value in points:
                if value < previous:
                    delta += previous
                previous = value
            sampled = float(last_t - first_t)
            average = sampled / (len(points) - 1)
            to_start = float(first_t - (at - window))
            to_end = float(at - last_t)
            if delta > 0 and first_v >= 0:
                to_start = min(to_start, sampled * (first_v / delta))
            threshold = average * 1.1
            interval = sampled
            interval += to_start if to_start < threshold else average / 2
            interval += to_end if to_end < threshold else average / 2
            value = delta * (interval / sampled)
            if per_second:
                value /= window
            vector.append((self.labels(series), value))
        return vector

    def rate(self, metric, at, window, projects=None):
        """Vector of ``rate(metric[window])`` at ``at``."""
        return self.increase(metric, at, window, projects, per_second=True)

    def by_project(self, vector, op='sum'):
        """``op by (project_id)`` of a vector, keyed by project name."""
        names = {pid: name for name, pid in self.project_ids.items()}
        return {names[key[0]]: value
                for key, value in aggregate(vector, ('project_id',),
                                            op).items()}
