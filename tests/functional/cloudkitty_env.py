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
"""A private CloudKitty runtime: database, configuration, processor.

``MariaDB`` starts a MariaDB server of its own (Debian's ``mariadb-server``
package) on a unix socket in a temporary directory. CloudKitty 24.0.0 needs
a real SQL server for a priced run: on sqlite the hashmap migration
8a591f85865f fails ("no such column: hashmap_mappings.created_at") and on
PostgreSQL migration f8c799db4aa0 runs a plain SQL string, which
SQLAlchemy 2 refuses.

``CloudKittyEnv`` writes a cloudkitty.conf for one collector, creates the
schema with ``cloudkitty-dbsync`` and ``cloudkitty-storage-init``, enables
the hashmap module with known prices (``oracle.PRICES``) and sets every
scope's state so that processing starts at a chosen period.
``run_processor`` runs the real ``cloudkitty-processor`` until every scope
has caught up, then stops it.

CloudKitty keeps its configuration and database engine in process-wide
globals, so whatever needs CloudKitty's Python API runs in a child process
(``ck_admin.py``); this module writes files, starts and stops processes
and reads their results.
"""

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import fixtures
import pymysql

from functional import oracle

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ADMIN_SCRIPT = os.path.join(HERE, 'ck_admin.py')

PERIOD = 3600

UTC = datetime.timezone.utc


class EnvError(Exception):
    """The CloudKitty runtime could not be prepared or run."""


def find_program(name, *candidates):
    """Path of a program: next to this Python first, then on PATH.

    CloudKitty's console scripts live in the virtualenv that runs the
    tests, which is not necessarily on PATH.
    """
    here = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(here, os.X_OK):
        return here
    for candidate in (name,) + candidates:
        found = shutil.which(candidate) or shutil.which(
            candidate, path='/usr/sbin:/usr/local/sbin:/sbin')
        if found:
            return found
    return None


def stop_process(proc, timeout=30):
    """SIGTERM ``proc`` (by its PID), then SIGKILL it if it lingers.

    ``proc`` must have been started with ``start_new_session=True``: its
    process group is then its own, and whatever is left in that group
    once ``proc`` has exited (a worker that outlived its master) is
    killed too.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path, lines=20):
    """The last lines of a text file, for error messages."""
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


def isoformat(moment):
    return moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S+00:00')


def parse_time(text):
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class MariaDB(fixtures.Fixture):
    """A MariaDB server of its own, on a unix socket, no TCP at all."""

    START_TIMEOUT = 60

    def __init__(self, workdir=None):
        super(MariaDB, self).__init__()
        self._workdir = workdir
        self.proc = None

    def _setUp(self):
        server = find_program('mariadbd', 'mysqld')
        install_db = find_program('mariadb-install-db', 'mysql_install_db')
        if not server or not install_db:
            raise EnvError(
                "MariaDB is not installed: install Debian's mariadb-server "
                "package (apt-get install mariadb-server)")
        # A unix socket path must stay short (108 bytes): keep it under
        # /tmp whatever TMPDIR says.
        self.dir = tempfile.mkdtemp(prefix='ck-mariadb-',
                                    dir=self._workdir or '/tmp')
        if len(self.dir) > 80:
            self.dir = tempfile.mkdtemp(prefix='ck-mariadb-', dir='/tmp')
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.datadir = os.path.join(self.dir, 'data')
        self.socket = os.path.join(self.dir, 'mysqld.sock')
        self.log = os.path.join(self.dir, 'mysqld.log')
        options = ['--no-defaults', '--datadir=' + self.datadir,
                   '--innodb-log-file-size=8M',
                   '--innodb-buffer-pool-size=32M']
        if os.geteuid() == 0:
            options.append('--user=root')
        result = subprocess.run(
            [install_db] + options + [
                '--auth-root-authentication-method=normal',
                '--skip-test-db', '--skip-name-resolve'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=120)
        if result.returncode:
            raise EnvError('%s failed:\n%s'
                           % (install_db, result.stdout[-2000:]))
        with open(os.path.join(self.dir, 'mysqld.out'), 'w') as out:
            self.proc = subprocess.Popen(
                [server] + options + [
                    '--socket=' + self.socket, '--skip-networking',
                    '--pid-file=' + os.path.join(self.dir, 'mysqld.pid'),
                    '--log-error=' + self.log,
                    '--innodb-flush-log-at-trx-commit=0',
                    '--skip-log-bin', '--skip-name-resolve'],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.addCleanup(stop_process, self.proc)
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + self.START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise EnvError('MariaDB exited with status %s:\n%s' % (
                    self.proc.returncode, tail(self.log)))
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise EnvError('MariaDB not ready after %ss:\n%s' % (
                        self.START_TIMEOUT, tail(self.log)))
                time.sleep(0.2)

    def connect(self, database=None):
        return pymysql.connect(unix_socket=self.socket, user='root',
                               database=database, charset='utf8mb4',
                               autocommit=True, connect_timeout=5)

    def create_database(self, name):
        """Create an empty database; return its SQLAlchemy URL."""
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute('DROP DATABASE IF EXISTS `%s`' % name)
                cursor.execute('CREATE DATABASE `%s` CHARACTER SET utf8mb4'
                               % name)
        finally:
            conn.close()
        return self.url(name)

    def url(self, database):
        return ('mysql+pymysql://root@localhost/%s?unix_socket=%s'
                '&charset=utf8mb4' % (database, self.socket))


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
            'rules_start': isoformat(self.first_period - datetime.timedelta(
                days=1)),
            'scopes': {scope: isoformat(self.first_period -
                                        datetime.timedelta(seconds=PERIOD))
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
        with open(self.conf, 'w') as f:
            for section, options in sections.items():
                f.write('[%s]\n' % section)
                for key, value in options.items():
                    f.write('%s = %s\n' % (key, value))
                f.write('\n')

    def _run(self, program, *args, timeout=300):
        path = find_program(program)
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
        conn = self.mariadb.connect(self.name)
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    'SELECT identifier, last_processed_timestamp '
                    'FROM cloudkitty_storage_states '
                    'WHERE collector = %s', (self.collector,))
                rows = cursor.fetchall()
        finally:
            conn.close()
        return {scope: stamp.replace(tzinfo=UTC) for scope, stamp in rows}

    def report(self):
        """States and rated data, read back through CloudKitty's API.

        ``{'states': {scope: datetime}, 'points': [point, ...]}`` where a
        point is a dict: scope, begin, end (datetimes), metric, unit, qty
        and price (strings of decimals), groupby and metadata (dicts).
        """
        report = self.admin('report')
        states = {scope: parse_time(stamp)
                  for scope, stamp in report['states'].items()}
        for point in report['points']:
            point['begin'] = parse_time(point['begin'])
            point['end'] = parse_time(point['end'])
        return {'states': states, 'points': report['points']}

    def run_processor(self, until, timeout=300):
        """Run cloudkitty-processor until every scope is rated to ``until``.

        :param until: datetime, start of the last period to rate
        :returns: the processor's wall time in seconds, from its start
            until the last scope's state reached ``until``
        """
        with Processor(self) as processor:
            processor.wait_for(until, timeout)
            return processor.elapsed()


def wait_periods_for(end, now=None):
    """``[collect] wait_periods`` making ``end`` the edge of rating now.

    With that value the processor rates every period that ends at ``end``
    or before, and leaves the later ones for the next hours.
    """
    now = time.time() if now is None else now
    return max(0, int((now - end) // PERIOD) + 1)


class Processor(object):
    """A running cloudkitty-processor, stopped by PID on exit.

    It runs in a session of its own: cotyledon's master sends SIGHUP to
    its whole process group, which must not include the test runner.

    :param fail_fast: stop waiting as soon as the processor logs an error
        (a failed collection would otherwise be retried one period later,
        an hour after the test gave up).
    """

    POLL = 0.1
    ERROR_MARK = ' ERROR '

    def __init__(self, env, fail_fast=True):
        self.env = env
        self.fail_fast = fail_fast
        self.proc = None
        self.started = None
        self._out = None
        self._log_offset = 0

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        path = find_program('cloudkitty-processor')
        if not path:
            raise EnvError('cloudkitty-processor not found')
        try:
            self._log_offset = os.path.getsize(self.env.log_file)
        except OSError:
            self._log_offset = 0
        self._out = open(os.path.join(self.env.dir, 'processor.out'), 'ab')
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [path, '--config-file', self.env.conf],
            stdout=self._out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=self.env.dir,
            start_new_session=True)
        return self

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                # A paused group would never act on SIGTERM.
                self._signal_group(signal.SIGCONT)
            stop_process(self.proc)
            self.proc = None
        if self._out is not None:
            self._out.close()
            self._out = None

    def elapsed(self):
        return time.monotonic() - self.started

    def _signal_group(self, signum):
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass

    def pause(self):
        """Freeze the processor and its worker (SIGSTOP to its group)."""
        self._signal_group(signal.SIGSTOP)

    def resume(self):
        self._signal_group(signal.SIGCONT)

    def reload(self):
        """Send SIGHUP: cotyledon restarts the worker.

        The new worker starts a pass at once, where the old one would
        sleep a whole period after a failed pass.
        """
        self.proc.send_signal(signal.SIGHUP)

    def mark_log(self):
        """Forget what was logged so far.

        ``log`` and ``errors``, and so ``fail_fast``, then only look at
        what comes next.
        """
        try:
            self._log_offset = os.path.getsize(self.env.log_file)
        except OSError:
            pass

    def log(self):
        """What the processor logged since it started (or ``mark_log``)."""
        try:
            with open(self.env.log_file, errors='replace') as f:
                f.seek(self._log_offset)
                return f.read()
        except OSError:
            return ''

    def errors(self):
        """Lines the processor logged at ERROR level."""
        return [line for line in self.log().splitlines()
                if self.ERROR_MARK in line]

    def wait(self, done, timeout, what):
        """Poll the scope states until ``done(states)`` holds.

        :returns: the states that satisfied ``done``
        :raises EnvError: when the processor exits, logs an error (with
            ``fail_fast``) or ``timeout`` seconds pass first
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise EnvError(
                    'cloudkitty-processor exited with status %s while '
                    'waiting for %s:\n%s' % (
                        self.proc.returncode, what,
                        tail(self.env.log_file)))
            errors = self.errors() if self.fail_fast else []
            if errors:
                raise EnvError(
                    'cloudkitty-processor logged errors while waiting for '
                    '%s (log: %s):\n%s' % (what, self.env.log_file,
                                           '\n'.join(errors[:20])))
            states = self.env.states()
            if done(states):
                return states
            if time.monotonic() > deadline:
                raise EnvError(
                    'cloudkitty-processor: no %s after %ss; states: %s\n%s'
                    % (what, timeout, states, tail(self.env.log_file)))
            time.sleep(self.POLL)

    def wait_for(self, until, timeout, scopes=None):
        """Wait until every scope (of ``scopes``) is rated to ``until``."""
        scopes = set(self.env.scopes if scopes is None else scopes)

        def done(states):
            return all(states.get(scope) is not None and
                       states[scope] >= until for scope in scopes)

        return self.wait(done, timeout,
                         'rating of every scope up to %s' % until)
