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
"""Time cloudkitty-collector-check at S scopes against a loopback server.

A Prometheus-like server on 127.0.0.1 answers the ``prometheus``
fetcher's discovery with S projects and each metric's query with the
samples of ``scale_data``'s shapes (4 metrics, one hour); the command
runs with the ``prometheus`` collector and fetcher, and its wall time,
queries and totals are printed for each S. The server's handler and the
configuration file are the unit tests' (``cloudkitty.tests``), installed
with cloudkitty: the benchmark runs in the tox environment.

Usage: python benchmarks/collector_check.py [--scopes 1000 10000]
       [--command PATH]
"""
import argparse
from http import server as http_server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from urllib import parse

import yaml

from cloudkitty.tests.check import check_fakes
from cloudkitty.tests.collectors import aetos_fakes

METRICS = {'metrics': {
    'bench_instance_up': {'alt_name': 'instance', 'unit': 'instance',
                          'groupby': ['resource_id']},
    'bench_volume_size_gb': {'alt_name': 'volume.size', 'unit': 'GB',
                             'groupby': ['resource_id'],
                             'extra_args': {'aggregation_method': 'avg',
                                            'query_function': 'ceil'}},
    'bench_net_bytes_total': {'alt_name': 'network.outgoing', 'unit': 'MB',
                              'groupby': ['resource_id'],
                              'extra_args': {'aggregation_method': 'avg',
                                             'range_function': 'rate'}},
    'bench_floating_ip_up': {'alt_name': 'ip.floating', 'unit': 'ip',
                             'groupby': ['resource_id']},
}}


def samples(metric, scopes):
    """(labels, value) of every scope for ``metric``."""
    out = []
    for i in range(scopes):
        scope = 'project-%05d' % i
        if metric == 'bench_instance_up':
            out += [({'project_id': scope, 'resource_id': '%s-vm%d'
                      % (scope, n)}, 1) for n in range(1 + i % 2)]
        elif metric == 'bench_volume_size_gb':
            out.append(({'project_id': scope, 'resource_id': scope + '-v'},
                        i % 50 + 1))
        elif metric == 'bench_net_bytes_total':
            out.append(({'project_id': scope, 'resource_id': scope + '-n'},
                        100 * (1 + i % 7) / 60.0))
        elif i % 2 == 0:
            out.append(({'project_id': scope, 'resource_id': scope + '-ip'},
                        1))
    return out


def answer(query, scopes):
    if query == 'vector(1)':
        result = [({}, 1)]
    elif query.startswith('max(bench_instance_up) by'):
        result = [({'project_id': 'project-%05d' % i}, 1)
                  for i in range(scopes)]
    else:
        name = query.split('(')[2].split('[')[0].split('{')[0]
        result = samples(name, scopes)
    return {'status': 'success', 'data': {'resultType': 'vector', 'result': [
        {'metric': labels, 'value': [0, str(value)]}
        for labels, value in result]}}


def serve(scopes):
    class Handler(aetos_fakes.Handler):
        def do_GET(self):
            query = dict(parse.parse_qsl(parse.urlsplit(self.path).query))
            self.send_json(200, answer(query['query'], scopes))

    server = http_server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(command, scopes, directory):
    server = serve(scopes)
    url = 'http://127.0.0.1:%d/api/v1' % server.server_port
    metrics = os.path.join(directory, 'metrics.yml')
    with open(metrics, 'w') as out:
        yaml.safe_dump(METRICS, out)
    conf = check_fakes.write_prometheus_conf(directory, metrics, url,
                                             'bench_instance_up')
    began = time.monotonic()
    result = subprocess.run(
        [command, '--config-file', conf, '--format', 'json',
         '--start', '2026-03-01T10:00:00'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=1800)
    elapsed = time.monotonic() - began
    server.shutdown()
    report = json.loads(result.stdout)
    dry = [line for line in report['lines'] if line['step'] == 'dry run'
           and 'queries' in line['details']]
    return elapsed, result.returncode, report, dry


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scopes', type=int, nargs='+',
                        default=[1000, 10000])
    parser.add_argument('--command', default=os.path.join(
        os.path.dirname(sys.executable), 'cloudkitty-collector-check'))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for scopes in args.scopes:
            elapsed, status, report, dry = run(args.command, scopes,
                                               directory)
            queries = sum(line['details']['queries'] for line in dry)
            points = sum(line['details']['points'] for line in dry)
            query_s = sum(line['details']['seconds'] for line in dry)
            rows.append((scopes, elapsed, status, queries, points, query_s))
            print('%6d scopes: %6.2f s wall (exit %d), %d queries '
                  '(%.2f s), %d points; %s' % (
                      scopes, elapsed, status, queries, query_s, points,
                      report['summary']))
    if len(rows) > 1:
        print('ratio %d/%d scopes: %.1fx the time for %.0fx the scopes' % (
            rows[-1][0], rows[0][0], rows[-1][1] / rows[0][1],
            rows[-1][0] / rows[0][0]))


if __name__ == '__main__':
    main()
