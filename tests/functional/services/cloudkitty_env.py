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
"""A private CloudKitty runtime: configuration, schema, prices, results.

``CloudKittyEnv`` writes a cloudkitty.conf for one collector, creates the
schema with ``cloudkitty-dbsync`` and ``cloudkitty-storage-init`` (in a
``mariadb.MariaDB`` database), enables the hashmap module with known prices
(``oracle.PRICES``) and sets every scope's state so that processing starts
at a chosen period; ``run_processor`` runs the real ``cloudkitty-processor``
(``processor.Processor``) until every scope has caught up.

CloudKitty keeps its configuration and database engine in process-wide
globals, so whatever needs CloudKitty's Python API runs in a child process
(``ck_admin.py``); this module writes files, starts and stops processes
and reads their results.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import fixtures

from functional import oracle
from functional.services import config
from functional.services import process
from functional.services import processor as processor_mod

FUNCTIONAL = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_SCRIPT = os.path.join(FUNCTIONAL, 'ck_admin.py')

PERIOD = 3600
UTC = config.UTC


EnvError = processor_mod.EnvError


# keystoneauth options that belong to the auth plugin; the others of a
# Stack's collector options (interface, region_name) only make sense in
# [collector_aetos].
_AUTH_OPTIONS = ('auth_type', 'auth_url', 'username', 'password',
                 'project_name', 'user_domain_id', 'project_domain_id',
                 'user_domain_name', 'project_domain_name')


class CloudKittyEnv(fixtures.Fixture):
    """Configuration, schema, prices and scope states for one run.

    :param mariadb: a started MariaDB fixture; the run gets a database of
        its own in it, named ``name``.
    :param collector: ``aetos`` or ``prometheus``.
    :param aetos_options: ``[collector_aetos]`` options (keystoneauth
        password options of the cloudkitty user, interface, region_name);
        the Keystone fetcher uses the same credentials.
    :param first_period: datetime of the first period to rate; every scope
        of ``scopes`` is set to start there.
    :param scopes: project ids to set the state of.
    :param prometheus_url: Prometheus' root URL (``prometheus`` collector).
    :param wait_periods: ``[collect] wait_periods`` (see
        ``wait_periods_for``).
    :param overrides: ``{section: {option: value}}`` added to, or
        replacing, what cloudkitty.conf would hold otherwise.
    """

    def __init__(self, mariadb, collector, aetos_options, first_period,
                 scopes, prometheus_url=None, metrics_conf=oracle.METRICS_CONF,
                 prices=None, name=None, wait_periods=0, debug=False,
                 overrides=None):
        super(CloudKittyEnv, self).__init__()
        self.mariadb = mariadb
        self.collector = collector
        self.aetos_options = dict(aetos_options)
        self.first_period = first_period.astimezone(UTC)
        self.scopes = list(scopes)
        self.prometheus_url = prometheus_url
        self.metrics_conf = metrics_conf
        self.prices = oracle.PRICES if prices is None else prices
        self.name = name or 'ck_%s' % collector
        self.wait_periods = wait_periods
        self.debug = debug
        self.overrides = overrides or {}

    @classmethod
    def from_stack(cls, stack, mariadb, collector, **kwargs):
        """An environment rating a functional ``Stack``'s planted hours.

        Every rated project of the stack starts at the first planted
        hour, and ``wait_periods`` makes the last planted hour the last
        one rated.
        """
        data = stack.dataset
        kwargs.setdefault('wait_periods', wait_periods_for(data.end))
        return cls(mariadb, collector, stack.collector_options(),
                   datetime.datetime.fromtimestamp(data.start, UTC),
                   sorted(stack.projects.values()),
                   prometheus_url=stack.prometheus_url, **kwargs)

    def _setUp(self):
        self.dir = tempfile.mkdtemp(prefix='ck-%s-' % self.collector)
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.db_url = self.mariadb.create_database(self.name)
        self.conf = os.path.join(self.dir, 'cloudkitty.conf')
        self.log_file = os.path.join(self.dir, 'cloudkitty-processor.log')
        self.write_config()
        self._run('cloudkitty-dbsync', 'upgrade')
        self._run('cloudkitty-storage-init')
        self.admin('setup', spec={
            'modules': ['hashmap'],
            'prices': self.prices,
            'rules_start': config.isoformat(
                self.first_period - datetime.timedelta(days=1)),
            'scopes': {scope: config.isoformat(
                self.first_period - datetime.timedelta(seconds=PERIOD))
                for scope in self.scopes},
        })

    def write_config(self):
        auth = {key: value for key, value in self.aetos_options.items()
                if key in _AUTH_OPTIONS}
        sections = {
            'DEFAULT': {'transport_url': 'fake://',
                        'log_file': self.log_file,
                        'debug': str(self.debug)},
            'database': {'connection': self.db_url},
            'collect': {'collector': self.collector,
                        'metrics_conf': self.metrics_conf,
                        'period': str(PERIOD),
                        'wait_periods': str(self.wait_periods),
                        'scope_key': 'project_id'},
            'fetcher': {'backend': 'keystone'},
            'fetcher_keystone': dict(keystone_version='3', **auth),
            'orchestrator': {
                'coordination_url': 'file://' + os.path.join(self.dir,
                                                             'locks'),
                # One worker: the processor's wall time is then the time
                # one worker takes to rate every scope.
                'max_workers': '1',
                'max_workers_reprocessing': '0'},
            'storage': {'version': '1', 'backend': 'sqlalchemy'},
            'collector_prometheus': {
                'prometheus_url': (self.prometheus_url + '/api/v1'
                                   if self.prometheus_url else '')},
            'collector_aetos': dict(self.aetos_options),
        }
        for section, options in self.overrides.items():
            sections.setdefault(section, {}).update(options)
        config.write_ini(self.conf, sections)

    def _run(self, program, *args, timeout=300):
        path = process.find_program(program)
        if not path:
            raise EnvError('%s not found: is CloudKitty installed in this '
                           'environment?' % program)
        result = subprocess.run(
            [path, '--config-file', self.conf] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=timeout, cwd=self.dir)
        if result.returncode:
            raise EnvError('%s %s failed (status %s):\n%s' % (
                program, ' '.join(args), result.returncode,
                result.stdout[-3000:]))
        return result.stdout

    def admin(self, command, spec=None, timeout=120):
        """Run a ck_admin.py command in a child process; return its JSON."""
        argv = [sys.executable, ADMIN_SCRIPT, command,
                '--config-file', self.conf,
                '--log-file', os.path.join(self.dir, 'ck-admin.log')]
        if spec is not None:
            path = os.path.join(self.dir, 'ck-admin-%s.json' % command)
            with open(path, 'w') as f:
                json.dump(spec, f, indent=1)
            argv += ['--spec', path]
        result = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=timeout, cwd=self.dir)
        if result.returncode:
            raise EnvError('ck_admin %s failed (status %s):\n%s' % (
                command, result.returncode, result.stderr[-3000:]))
        return json.loads(result.stdout)

    # Reading results back.

    def states(self):
        """{scope id: start of its last processed period} from the DB.

        Read with a plain query, cheap enough to poll while the processor
        runs; ``report`` reads the same through CloudKitty.
        """
        rows = self.mariadb.query(self.name, (
            'SELECT identifier, last_processed_timestamp '
            'FROM cloudkitty_storage_states '
            'WHERE collector = %s', (self.collector,)))
        return {scope: stamp.replace(tzinfo=UTC) for scope, stamp in rows}

    def report(self):
        """States and rated data, read back through CloudKitty's API.

        ``{'states': {scope: datetime}, 'points': [point, ...]}`` where a
        point is a dict: scope, begin, end (datetimes), metric, unit, qty
        and price (strings of decimals), and desc (groupby and metadata in
        one dict).
        """
        report = self.admin('report')
        states = {scope: config.parse_time(stamp)
                  for scope, stamp in report['states'].items()}
        for point in report['points']:
            point['begin'] = config.parse_time(point['begin'])
            point['end'] = config.parse_time(point['end'])
        return {'states': states, 'points': report['points']}

    def processor(self, fail_fast=True):
        """A ``processor.Processor`` (not started) of this environment."""
        return processor_mod.Processor(
            self.conf, self.dir, self.log_file, states=self.states,
            scopes=self.scopes, fail_fast=fail_fast)

    def run_processor(self, until, timeout=300):
        """Run cloudkitty-processor until every scope is rated to ``until``.

        :param until: datetime, start of the last period to rate
        :returns: the processor's wall time in seconds, from its start
            until the last scope's state reached ``until``
        """
        with self.processor() as processor:
            processor.wait_for(until, timeout)
            return processor.elapsed()


def wait_periods_for(end, now=None):
    """``[collect] wait_periods`` making ``end`` the edge of rating now.

    With that value the processor rates every period that ends at ``end``
    or before, and leaves the later ones for the next hours.
    """
    now = time.time() if now is None else now
    return max(0, int((now - end) // PERIOD) + 1)
