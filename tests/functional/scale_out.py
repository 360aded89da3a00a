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

* ``ScaleData``: many projects, each with a few instances and a volume
  whose values change from hour to hour, rendered for promtool, and the
  points CloudKitty must rate for them (computed here, with ``oracle``'s
  arithmetic and prices).
* ``Etcd``: a private etcd server (Debian's ``etcd-server`` package) on
  two free loopback ports and a data directory of its own, stopped by PID.
* ``Prometheus``: a private Prometheus serving a ``ScaleData``, backfilled
  by promtool before it starts.
* ``read_queries`` and ``logged_queries``: the instant queries an Aetos
  access log shows, and those the processors say they sent.
"""

import collections
import datetime
import decimal
import os
import re
import shutil
import socket
import subprocess
import tempfile
import urllib.parse

import fixtures

from functional import cloudkitty_env
from functional import oracle
from functional import stack as stack_mod

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


def free_ports(count):
    """Distinct loopback ports that were free a moment ago."""
    sockets = [socket.socket() for _unused in range(count)]
    try:
        for sock in sockets:
            sock.bind((stack_mod.HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def service_env():
    """The environment of a child server, free of the caller's settings."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(('ETCD', 'PYTHON', 'OS_'))}


class ScaleData(object):
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

    def render(self):
        """OpenMetrics text for ``promtool tsdb create-blocks-from``."""
        families = collections.defaultdict(list)
        for index in range(len(self.scopes)):
            for metric, labels, values in self.series(index):
                text = ','.join('%s="%s"' % item
                                for item in sorted(labels.items()))
                for hour, value in sorted(values.items()):
                    first = self.start + hour * HOUR + STEP // 2
                    families[metric].extend(
                        '%s{%s} %d %d' % (metric, text, value, moment)
                        for moment in range(first, first + HOUR, STEP))
        lines = []
        for metric in sorted(families):
            lines.append('# TYPE %s gauge' % metric)
            lines.extend(families[metric])
        return '\n'.join(lines + ['# EOF', ''])

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


class Etcd(fixtures.Fixture):
    """A one-member etcd cluster of its own on 127.0.0.1."""

    NAME = 'ck-functional'

    def _setUp(self):
        program = cloudkitty_env.find_program('etcd')
        if not program:
            raise cloudkitty_env.EnvError(
                "etcd is not installed: install Debian's etcd-server "
                "package (apt-get install etcd-server)")
        self.dir = tempfile.mkdtemp(prefix='ck-etcd-')
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.port, peer_port = free_ports(2)
        client = 'http://%s:%d' % (stack_mod.HOST, self.port)
        peer = 'http://%s:%d' % (stack_mod.HOST, peer_port)
        self.log = os.path.join(self.dir, 'etcd.log')
        self.service = stack_mod.Service('etcd', [
            program, '--name', self.NAME,
            '--data-dir', os.path.join(self.dir, 'data'),
            '--listen-client-urls', client,
            '--advertise-client-urls', client,
            '--listen-peer-urls', peer,
            '--initial-advertise-peer-urls', peer,
            '--initial-cluster', '%s=%s' % (self.NAME, peer),
            '--initial-cluster-token', os.path.basename(self.dir),
            '--initial-cluster-state', 'new',
        ], self.log, client + '/health', env=service_env(), cwd=self.dir)
        self.addCleanup(self.service.stop)
        self.service.start()
        self.version = stack_mod.http(
            'GET', client + '/version').json()['etcdserver']

    def revision(self):
        """etcd's revision: how many writes its keys have seen so far.

        Taking a tooz lock writes its key, releasing it deletes the key:
        two revisions per lock; lock leases write no key.
        """
        answer = stack_mod.http(
            'POST', 'http://%s:%d/v3/maintenance/status' % (
                stack_mod.HOST, self.port), body={})
        return int(answer.json()['header']['revision'])

    @property
    def coordination_url(self):
        """``[orchestrator] coordination_url`` for tooz's etcd3gw driver."""
        return 'etcd3+http://%s:%d' % (stack_mod.HOST, self.port)


class Prometheus(fixtures.Fixture):
    """A Prometheus of its own serving ``data`` and nothing else."""

    def __init__(self, data):
        super(Prometheus, self).__init__()
        self.data = data

    def _setUp(self):
        self.dir = tempfile.mkdtemp(prefix='ck-scale-prometheus-')
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        tsdb = os.path.join(self.dir, 'data')
        conf = os.path.join(self.dir, 'prometheus.yml')
        with open(conf, 'w') as out:
            out.write('global:\n  scrape_interval: 1m\nscrape_configs: []\n')
        source = os.path.join(self.dir, 'data.om')
        with open(source, 'w') as out:
            out.write(self.data.render())
        result = subprocess.run(
            [stack_mod.PROMTOOL, 'tsdb', 'create-blocks-from', 'openmetrics',
             source, tsdb], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=300, cwd=self.dir)
        if result.returncode:
            raise cloudkitty_env.EnvError('promtool failed:\n%s'
                                          % result.stdout[-2000:])
        self.port = free_ports(1)[0]
        url = 'http://%s:%d' % (stack_mod.HOST, self.port)
        self.service = stack_mod.Service('prometheus', [
            stack_mod.PROMETHEUS, '--config.file', conf,
            '--storage.tsdb.path', tsdb,
            '--storage.tsdb.retention.time', '3650d',
            '--web.listen-address', '%s:%d' % (stack_mod.HOST, self.port),
        ], os.path.join(self.dir, 'prometheus.log'), url + '/-/ready',
            env=service_env(), cwd=self.dir)
        self.addCleanup(self.service.stop)
        self.service.start()


Query = collections.namedtuple('Query', 'metric period scope status')
"""One instant query: metric name, period start (Unix seconds), the
scope it matches (None for a batch query over every scope) and the HTTP
status Aetos answered."""

_REQUEST = re.compile(r'"GET /api/v1/query\?(\S*) HTTP/[\d.]+" (\d{3}) ')
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


def read_queries(log_path, offset=0):
    """Instant queries in a gunicorn access log, after ``offset``."""
    with open(log_path, errors='replace') as lines:
        lines.seek(offset)
        found = [_REQUEST.search(line) for line in lines]
    return [parse_query(dict(urllib.parse.parse_qsl(match.group(1)))
                        .get('query', ''), int(match.group(2)))
            for match in found if match]


def logged_queries(log_text):
    """Queries a processor's DEBUG log says it sent."""
    return [parse_query(match.group(1))
            for match in _LOGGED.finditer(log_text)]
