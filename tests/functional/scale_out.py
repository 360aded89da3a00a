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
"""What the scale-out test runs besides the shared stack.

* ``ScaleOutData``: many projects, each with a few instances and a volume
  whose values change from hour to hour, their series for promtool, and
  the points CloudKitty must rate for them (computed here, with
  ``oracle``'s arithmetic and prices).
* ``read_queries`` and ``logged_queries``: the instant queries an Aetos
  access log shows, and those the processors say they sent.
"""

import collections
import datetime
import decimal
import re

from functional import oracle
from functional.services import prometheus

HOUR = 3600
STEP = 300
"""Seconds between two samples; each sits half a step after a boundary."""

FLAVORS = ('m1.tiny', 'm1.small', 'm1.medium', 'm1.large')

METRICS = {
    'ck_scale_instance_up': {
        'alt_name': 'instance',
        'unit': 'instance',
        'groupby': ['resource_id'],
        'metadata': ['flavor_name'],
        'extra_args': {'aggregation_method': 'max'},
    },
    'ck_scale_volume_gb': {
        'alt_name': 'volume.size',
        'unit': 'GB',
        'groupby': ['resource_id'],
        'metadata': ['volume_type'],
        'extra_args': {'aggregation_method': 'avg'},
    },
}
"""The metrics.yml ``metrics`` of the test, one query per metric."""

PRICES = {
    'instance': {'service': ('flat', '0.5')},
    'volume.size': {'service': ('flat', '0.125')},
}
"""Hashmap rules (see ``oracle.PRICES``), on the services only.

The processor reloads every rule of the hashmap module for each scope and
period; rules on field values cost it several times as many queries.
"""


class ScaleOutData(object):
    """``scopes`` projects over ``hours`` whole hours from ``start``.

    Project ``i`` runs ``1 + i % 3`` instances: the first one all the
    time, the others stopped in every third hour; it has one volume whose
    size changes every hour, except every seventh project, which has
    none. Values are constant within an hour, so every aggregation of the
    hour gives the planted value.
    """

    def __init__(self, scopes, hours, start):
        self.scopes = ['5ca1e000%024d' % index for index in range(scopes)]
        self.hours = hours
        self.start = start
        self.end = start + hours * HOUR

    def begin(self, hour):
        return datetime.datetime.fromtimestamp(self.start + hour * HOUR,
                                               datetime.timezone.utc)

    def series(self, index):
        """(metric, labels, {hour: value}) of project ``index``."""
        scope = self.scopes[index]
        for number in range(1 + index % 3):
            yield ('ck_scale_instance_up', {
                'project_id': scope,
                'resource_id': '%s-vm%d' % (scope, number),
                'flavor_name': FLAVORS[(index + number) % len(FLAVORS)],
            }, {hour: 1 for hour in range(self.hours)
                if number == 0 or (index + hour + number) % 3})
        if index % 7 != 3:
            yield ('ck_scale_volume_gb', {
                'project_id': scope,
                'resource_id': '%s-vol' % scope,
                'volume_type': 'ssd' if index % 5 == 0 else 'standard',
            }, {hour: 1 + (index + 2 * hour) % 9
                for hour in range(self.hours)})

    def families(self):
        """Every series, for ``prometheus.write_openmetrics``."""
        series = collections.defaultdict(list)
        for index in range(len(self.scopes)):
            for metric, labels, values in self.series(index):
                series[metric].append((labels, [
                    (moment, value)
                    for hour, value in sorted(values.items())
                    for moment in range(self.start + hour * HOUR + STEP // 2,
                                        self.start + (hour + 1) * HOUR,
                                        STEP)]))
        return [prometheus.Family(metric, 'gauge', 'Scale-out test series.',
                                  series[metric])
                for metric in sorted(series)]

    def expected_points(self, prices=PRICES):
        """{``oracle.point_key``: (stored quantity, price)} to be rated."""
        expected = {}
        for index, scope in enumerate(self.scopes):
            for metric, labels, values in self.series(index):
                definition = METRICS[metric]
                service = definition['alt_name']
                names = oracle.point_labels(definition)
                for hour, value in values.items():
                    qty = oracle.collected_quantity(value, definition)
                    key = oracle.point_key(scope, self.begin(hour), service,
                                           names, labels)
                    expected[key] = (
                        qty.quantize(oracle.STORED_QTY,
                                     decimal.ROUND_HALF_UP),
                        oracle.hashmap_price(prices, service, labels, qty))
        return expected


Query = collections.namedtuple('Query', 'metric period scope status')
"""One instant query: metric name, period start (Unix seconds), the
scope it matches (None for a batch query over every scope) and the HTTP
status Aetos answered."""

_LOGGED = re.compile(r'Running PromQL query \[(.*)\] through the ')
_SCOPE = re.compile(r'project_id="([^"]*)"')
_PIN = re.compile(r'@ (\d+)')


def parse_query(promql, status=None):
    """A ``Query`` from the PromQL text of a pinned query."""
    metric = next((name for name in METRICS if name in promql), None)
    scope = _SCOPE.search(promql)
    pin = _PIN.search(promql)
    return Query(metric, int(pin.group(1)) - HOUR if pin else None,
                 scope.group(1) if scope else None, status)


def read_queries(aetos_):
    """Instant queries in an Aetos access log (``services.aetos``)."""
    return [parse_query(request.params.get('query', ''), request.status)
            for request in aetos_.requests()]


def logged_queries(log_text):
    """Queries a processor's DEBUG log says it sent."""
    return [parse_query(match.group(1))
            for match in _LOGGED.finditer(log_text)]
