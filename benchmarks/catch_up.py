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
"""What a backlog costs with scope batching: queries counted, no network.

A new scope starts at the beginning of the month, and the processor rates
one scope through all its due periods before the next. This replays that
order (P hourly periods x M metrics x S scopes, default a month: 744 x 4
x 100) through the real Prometheus collector, whose client answers from
memory and counts the queries for every scope ("whole") and for one
scope. It prints the counts per scope, batched with the default options,
and batched with the options sized for the backlog, and checks that each
mode gives every scope the same points. Figures, not a verdict; run with
the built CloudKitty (e.g. ``.tox/py3/bin/python benchmarks/catch_up.py``).
"""

import argparse
import datetime
import time

from oslo_config import cfg
import requests

from cloudkitty.collector import prometheus
from cloudkitty.common import prometheus_client

METRICS = ('cpu', 'ram', 'disk', 'ip')
HOUR = 3600
MONTH_START = datetime.datetime(2026, 1, 1)


class CountingClient(prometheus_client.PrometheusClient):
    """Answers each query from memory, one series per scope, counted."""

    def __init__(self, scopes):
        super(CountingClient, self).__init__('http://counting.invalid')
        self.scopes = scopes
        self.whole = 0
        self.per_scope = 0

    def _get(self, endpoint, params):
        query = params['query']
        if 'project_id="' in query:
            self.per_scope += 1
            scopes = [query.split('project_id="', 1)[1].split('"', 1)[0]]
        else:
            self.whole += 1
            scopes = self.scopes
        response = requests.Response()
        response.status_code = 200
        response._content = (
            '{"status": "success", "data": {"resultType": "vector", '
            '"result": [%s]}}' % ', '.join(
                '{"metric": {"project_id": "%s"}, "value": [0, "%d"]}'
                % (scope, len(scope)) for scope in scopes)).encode()
        return response


def run(mode, options, scopes, periods):
    """Rate every scope through every period; the counts and time."""
    conf = cfg.CONF
    conf.set_override('scope_batching', options is not None,
                      'collector_prometheus')
    for name, value in (options or {}).items():
        conf.set_override(name, value, 'collector_prometheus')
    client = CountingClient(scopes)
    collector = prometheus.PrometheusCollector(
        period=HOUR, conf={'metrics': {m: {'unit': 'u'} for m in METRICS}})
    collector._conn = client
    if collector._batcher is not None:
        collector._batcher.wait_timeout = 1
    points = {}
    started = time.monotonic()
    for scope in scopes:
        total = 0
        for hour in range(periods):
            start = MONTH_START + datetime.timedelta(hours=hour)
            end = start + datetime.timedelta(hours=1)
            for metric in METRICS:
                found = collector.fetch_all(metric, start, end, scope)
                total += sum(int(point.qty) for point in found)
        points[scope] = total
    wall = time.monotonic() - started
    kept = collector._batcher.kept_samples if collector._batcher else 0
    print('%-22s whole %6d  per-scope %7d  total %7d  kept samples %6d  '
          '%.1f s' % (mode, client.whole, client.per_scope,
                      client.whole + client.per_scope, kept, wall))
    return points


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scopes', type=int, default=100)
    parser.add_argument('--periods', type=int, default=744)
    args = parser.parse_args()
    cfg.CONF([], project='cloudkitty')
    scopes = ['scope-%04d' % n for n in range(args.scopes)]
    keys = args.periods * len(METRICS)
    print('%d hourly periods x %d metrics x %d scopes: %d (metric, period) '
          'keys, %d (scope, metric, period) asks' % (
              args.periods, len(METRICS), args.scopes, keys,
              keys * args.scopes))
    results = [
        run('per scope', None, scopes, args.periods),
        run('batched, defaults', {}, scopes, args.periods),
        run('batched, sized', {
            'scope_batch_entries': keys,
            'scope_batch_max_samples': keys * args.scopes,
            'scope_batch_max_age': 86400}, scopes, args.periods),
    ]
    print('same points in every mode: %s' % all(
        result == results[0] for result in results))


if __name__ == '__main__':
    main()
