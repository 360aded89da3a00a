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
"""What CloudKitty should collect and rate from the planted data.

The arithmetic is done here, from ``dataset``, never copied from a
previous run: the quantity a query of a metric definition gives for a
project and an hour (``planted_values``), as CloudKitty reads it
(``collected_quantity``) and prices it with the hashmap rules of
``PRICES``. The processor tests compare rated data with it, the
collector tests the points of ``fetch_all``.
"""

import collections
import datetime
import decimal
import fractions
import math
import os

import yaml

from functional import dataset as planted

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
UTC = datetime.timezone.utc
PERIOD = planted.HOUR

# The sample metric configuration, shared with the demo and the CI job.
METRICS_CONF = os.path.join(REPO, 'etc', 'metrics.yml')

# Hashmap rules per service (the alt_name of a metric of etc/metrics.yml):
# a mapping on the service itself and/or mappings on a field's values,
# each ``(type, cost)``. CloudKitty's hashmap prices a point at
# max(matching flat costs) * product(matching rate costs) * quantity.
PRICES = {
    # Per instance-hour, by flavor.
    'instance': {
        'fields': {'flavor_name': {'m1.tiny': ('flat', '0.25'),
                                   'm1.small': ('flat', '0.5'),
                                   'm1.medium': ('flat', '1'),
                                   'm1.large': ('flat', '2')}},
    },
    # Per GB-hour; ssd volumes cost twice as much.
    'volume.size': {
        'service': ('flat', '0.125'),
        'fields': {'volume_type': {'ssd': ('rate', '2')}},
    },
    # Per MB sent.
    'network.outgoing': {
        'service': ('flat', '0.5'),
    },
}


# The collector comparisons' metrics: one definition per feature of the
# query builder that matters (a series defined twice, a factor, a
# query_function, a range_function).
COLLECTOR_METRICS = {
    'metrics': {
        # max_over_time: 1 for each instance that ran during the hour.
        'ck_instance_up': [{
            'unit': 'instance',
            'alt_name': 'instance',
            'groupby': ['resource_id'],
            'metadata': ['flavor_name'],
            'extra_args': {'aggregation_method': 'max'},
        }, {
            # sum_over_time of one-minute samples, in hours, per flavor.
            'unit': 'hour',
            'alt_name': 'instance_hours',
            'groupby': ['flavor_name'],
            'metadata': [],
            'factor': '1/60',
            'extra_args': {'aggregation_method': 'sum'},
        }],
        # avg_over_time rounded up: a volume resized in the hour counts
        # at its rounded average size.
        'ck_volume_size_gb': {
            'unit': 'GiB',
            'alt_name': 'volume',
            'groupby': ['resource_id'],
            'metadata': ['volume_type'],
            'extra_args': {'aggregation_method': 'avg',
                           'query_function': 'ceil'},
        },
        # rate() scaled to an hour: bytes sent during the hour, in kB.
        'ck_net_bytes_total': {
            'unit': 'kB',
            'alt_name': 'net_out',
            'groupby': ['resource_id'],
            'metadata': [],
            'factor': 3.6,
            'extra_args': {'aggregation_method': 'sum',
                           'range_function': 'rate'},
        },
    }
}

HOURS_AROUND = range(-1, planted.HOURS + 1)
"""Every planted hour and the empty hour on each side of them."""

# PromQL's functions that query_function may name, on a float.
_QUERY_FUNCTIONS = {
    'abs': abs,
    'ceil': math.ceil,
    'floor': math.floor,
    'round': lambda value: math.floor(value + 0.5),
    'sqrt': math.sqrt,
}

# Rated quantities are stored with five decimals (NUMERIC(15, 5)).
STORED_QTY = decimal.Decimal('0.00001')
# Relative precision of a rated price as stored (see price_matches).
PRICE_PRECISION = decimal.Decimal('1e-6')


def _number(value):
    """A factor or offset of metrics.yml, read the way CloudKitty does.

    A fraction string goes through a float first.
    """
    if isinstance(value, str) and '/' in value:
        value = float(fractions.Fraction(value))
    return decimal.Decimal(value)


def collected_quantity(value, metric):
    """The quantity CloudKitty derives from a Prometheus sample value.

    The value is read with nine significant digits, halves rounded up,
    then multiplied by the factor and shifted by the offset in the same
    precision. Prometheus prints floats in their shortest exact form,
    which ``repr`` gives too.
    """
    with decimal.localcontext() as ctx:
        ctx.prec = 9
        ctx.rounding = decimal.ROUND_HALF_UP
        raw = +decimal.Decimal(repr(float(value)))
        return (raw * _number(metric.get('factor', 1)) +
                _number(metric.get('offset', 0)))


def hashmap_price(prices, service, desc, qty):
    """Price of one point under ``prices`` (see ``PRICES``)."""
    rule = prices.get(service, {})
    mappings = []
    if rule.get('service'):
        mappings.append(rule['service'])
    for field, values in rule.get('fields', {}).items():
        if field in desc and desc[field] in values:
            mappings.append(values[desc[field]])
    flat = max([decimal.Decimal(cost) for kind, cost in mappings
                if kind == 'flat'] or [decimal.Decimal(0)])
    rate = decimal.Decimal(1)
    for kind, cost in mappings:
        if kind == 'rate':
            rate *= decimal.Decimal(cost)
    return flat * rate * qty


def load_metrics(path=METRICS_CONF):
    with open(path) as f:
        return yaml.safe_load(f)['metrics']


def metric_definitions(metrics_conf=METRICS_CONF):
    """Every metric definition, as CloudKitty's collectors name them.

    :param metrics_conf: a metrics.yml path, or its ``metrics`` mapping (a
        series may hold a list of definitions, each with an alt_name)
    :returns: list of (collector's name, series, definition); the
        collector's name is ``<series>@#<alt_name>`` when there is one
    """
    metrics = metrics_conf
    if isinstance(metrics_conf, str):
        metrics = load_metrics(metrics_conf)
    found = []
    for series, definitions in metrics.items():
        if not isinstance(definitions, list):
            definitions = [definitions]
        for metric in definitions:
            name = series
            if metric.get('alt_name'):
                name = '%s@#%s' % (series, metric['alt_name'])
            found.append((name, series, metric))
    return found


def point_labels(metric):
    """Labels identifying a point of a definition, sorted."""
    return sorted(set(metric.get('groupby', []) +
                      metric.get('metadata', []) + ['project_id']))


def point_key(scope, begin, service, labels, desc):
    """Identity of a rated point: scope, period, service and groups."""
    return (scope, begin, service,
            tuple((label, desc.get(label, '')) for label in labels))


def planted_values(data, series, metric, hour, project):
    """What the query of one definition gives for a project and hour.

    :param data: the stack's ``dataset.Dataset``
    :param series: the Prometheus metric name
    :param metric: the definition (extra_args, groupby, metadata)
    :param hour: index of the planted hour (``data.hour``)
    :param project: the project's name
    :returns: {((label, value), ...): float}, labels of ``point_labels``
    """
    args = metric.get('extra_args', {})
    method = args.get('aggregation_method', 'max')
    end = data.hour(hour + 1)
    if args.get('range_function') == 'rate':
        vector = data.rate(series, end, PERIOD, [project])
    elif args.get('range_function'):
        raise NotImplementedError(args['range_function'])
    else:
        vector = data.over_time(method, series, end, PERIOD, [project])
    function = _QUERY_FUNCTIONS.get(args.get('query_function'),
                                    lambda value: value)
    vector = [(labels, function(value)) for labels, value in vector]
    labels = point_labels(metric)
    return {tuple(zip(labels, group)): value for group, value
            in planted.aggregate(vector, labels, method).items()}


def expected_points(data, scopes, metrics_conf=METRICS_CONF, prices=None):
    """Every point CloudKitty should rate for the planted data.

    :param data: the stack's ``dataset.Dataset``
    :param scopes: project ids that are rated
    :returns: {point_key: (stored quantity, price)} as Decimals
    """
    prices = PRICES if prices is None else prices
    names = {pid: name for name, pid in data.project_ids.items()}
    expected = {}
    for _name, series, metric in metric_definitions(metrics_conf):
        service = metric.get('alt_name', series)
        for hour in range(planted.HOURS):
            begin = datetime.datetime.fromtimestamp(data.hour(hour), UTC)
            for scope in scopes:
                values = planted_values(data, series, metric, hour,
                                        names[scope])
                for group, value in values.items():
                    qty = collected_quantity(value, metric)
                    expected[(scope, begin, service, group)] = (
                        qty.quantize(STORED_QTY, decimal.ROUND_HALF_UP),
                        hashmap_price(prices, service, dict(group), qty))
    return expected


def rated_points(report, metrics_conf=METRICS_CONF):
    """The report's points keyed like ``expected_points``.

    :returns: ({point_key: (quantity, price)}, [keys seen more than once])
    """
    labels = {metric.get('alt_name', series): point_labels(metric)
              for _name, series, metric in metric_definitions(metrics_conf)}
    points, duplicates = {}, []
    for point in report['points']:
        key = point_key(point['scope'], point['begin'], point['metric'],
                        labels[point['metric']], point['desc'])
        if key in points:
            duplicates.append(key)
        points[key] = (decimal.Decimal(point['qty']),
                       decimal.Decimal(point['price']))
    return points, duplicates


def price_matches(expected, actual):
    """Whether a rated price equals the expected one as stored.

    The v1 SQL storage keeps prices in a FLOAT column: single precision
    on MariaDB, about seven significant digits.
    """
    return abs(expected - actual) <= PRICE_PRECISION * max(1, abs(expected))


def compare_points(expected, rated, duplicates=()):
    """Differences between expected and rated points, as sentences."""
    problems = ['rated more than once: %s' % (key,) for key in duplicates]
    for key in sorted(set(expected) - set(rated), key=str):
        problems.append('not rated: %s %s' % (key, expected[key]))
    for key in sorted(set(rated) - set(expected), key=str):
        problems.append('rated, not planted: %s %s' % (key, rated[key]))
    for key in sorted(set(expected) & set(rated), key=str):
        (qty, price), (got_qty, got_price) = expected[key], rated[key]
        if qty != got_qty or not price_matches(price, got_price):
            problems.append('%s: expected quantity %s price %s, rated %s '
                            'and %s' % (key, qty, price, got_qty, got_price))
    return problems


Comparison = collections.namedtuple('Comparison',
                                    'periods points differences')
"""Periods and points compared, and every difference as a sentence."""


def _identity(point):
    """A sortable identity of a collected point, its quantity included."""
    return repr((sorted(point.groupby.items()),
                 sorted(point.metadata.items()), point.unit, point.qty))


def collected_values(points, metric):
    """Points of ``fetch_all`` keyed like ``planted_values``.

    :returns: ({group: stored quantity}, [groups seen more than once])
    """
    labels = point_labels(metric)
    found, duplicates = {}, []
    for point in points:
        desc = dict(point.metadata, **point.groupby)
        group = tuple((label, desc.get(label, '')) for label in labels)
        if group in found:
            duplicates.append(group)
        found[group] = point.qty.quantize(STORED_QTY, decimal.ROUND_HALF_UP)
    return found, duplicates


def period_differences(metric, values, points, reference):
    """What is wrong with the points collected for one period.

    :param metric: the metric definition
    :param values: its ``planted_values`` for the period
    :param points: what the collector under test returned
    :param reference: what the direct Prometheus collector returned
    :returns: a list of sentences, empty when all is right
    """
    problems = []
    if sorted(map(_identity, points)) != sorted(map(_identity, reference)):
        problems.append('not the points of the Prometheus collector: %s '
                        'instead of %s' % (points, reference))
    found, duplicates = collected_values(points, metric)
    problems.extend('%s collected more than once' % (group,)
                    for group in duplicates)
    expected = {group: collected_quantity(value, metric).quantize(
        STORED_QTY, decimal.ROUND_HALF_UP) for group, value in values.items()}
    if found != expected:
        problems.append('planted %s, collected %s' % (
            sorted(expected.items()), sorted(found.items())))
    return problems


def compare_collectors(under_test, direct, data, hours=HOURS_AROUND):
    """Both collectors against the planted data, every period of it.

    Asks both (loaded with ``COLLECTOR_METRICS``) for each metric
    definition, each project of the data and each hour of ``hours``.

    :returns: a ``Comparison``; its points are those of ``direct``
    """
    periods = points = 0
    differences = []
    for name, series, metric in metric_definitions(
            COLLECTOR_METRICS['metrics']):
        for project, project_id in sorted(data.project_ids.items()):
            for hour in hours:
                start = datetime.datetime.fromtimestamp(data.hour(hour), UTC)
                end = start + datetime.timedelta(seconds=PERIOD)
                got = under_test.fetch_all(name, start, end, project_id)
                reference = direct.fetch_all(name, start, end, project_id)
                problems = period_differences(
                    metric, planted_values(data, series, metric, hour,
                                           project), got, reference)
                differences.extend('%s, %s, hour %d: %s' % (
                    name, project, hour, problem) for problem in problems)
                periods += 1
                points += len(reference)
    return Comparison(periods, points, differences)
