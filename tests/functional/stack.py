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
"""A private Keystone, Prometheus and Aetos on 127.0.0.1 for tests.

``Stack`` starts the three services as child processes, each in a process
group of its own, with their files in one temporary directory:

* Keystone (sqlite, fernet tokens) under gunicorn, holding the users,
  projects, roles and the ``metric-storage`` catalog entry the Aetos
  collector needs;
* Prometheus, with the usage described in ``dataset`` backfilled by
  promtool before it starts and nothing scraped, so that every query has a
  known answer;
* Aetos under gunicorn, in front of that Prometheus, validating tokens with
  that Keystone.

Keystone and Aetos run from a virtualenv of their own, apart from the one
running the tests (their requirements differ from CloudKitty's); it is
built once and reused. Only the standard library is used here, so that the
module runs from any interpreter: ``python tests/functional/stack.py up``
starts a stack by hand and prints how to reach it.
"""

import argparse
import atexit
import collections
import contextlib
import fcntl
import grp
import hashlib
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

if __package__:
    from . import dataset
else:  # run as a script: the module's directory is on sys.path
    import dataset

LOG = logging.getLogger(__name__)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

ServicesBase = collections.namedtuple(
    'ServicesBase', 'keystone aetos constraints')
"""Versions of the services and the upper-constraints to install with."""

BASES = {
    # Aetos 1.x refuses the "time" parameter: the collector's pinned
    # queries must still be right there (functional.test_aetos_versions,
    # tox -e functional-2025.2).
    '2025.2': ServicesBase(
        '28.1.0', '1.0.0', 'upper-constraints-2025.2.txt'),
    '2026.1': ServicesBase(
        '29.1.0', '2.0.0', 'upper-constraints-2026.1.txt'),
    'master-2026-08': ServicesBase(
        '30.0.0', '3.0.0', 'upper-constraints-master-2026-08.txt'),
}

DEFAULT_BASE = '2026.1'
"""The services the stack runs unless ``$AETOS_STACK_BASE`` names others."""

PROMETHEUS = os.environ.get('AETOS_STACK_PROMETHEUS', '/usr/bin/prometheus')
PROMTOOL = os.environ.get('AETOS_STACK_PROMTOOL', '/usr/bin/promtool')

HOST = '127.0.0.1'
REGION = 'RegionOne'
SERVICE_PROJECT = 'service'
RATING_ROLE = 'rating'
METRIC_SERVICE_TYPE = 'metric-storage'
INTERFACES = ('public', 'internal', 'admin')

VENV_INSTALL_TIMEOUT = 1800
COMMAND_TIMEOUT = 120
START_TIMEOUT = 90
STOP_TIMEOUT = 15
HTTP_TIMEOUT = 30
KEYSTONE_RESTARTS = 3


class StackError(Exception):
    """The stack could not be built, started or configured."""


def _tail(path, lines=30):
    """Last lines of a log file, for error messages."""
    try:
        with open(path, errors='replace') as log:
            return ''.join(log.readlines()[-lines:])
    except OSError:
        return ''


def _free_ports(count):
    """Distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _unused in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _clean_env(**extra):
    """Environment for the services, free of the caller's settings.

    ``OS_*`` variables would reach oslo.config, PYTHONPATH would let the
    services import the code under test instead of their own libraries,
    and tox's PIP_CONSTRAINT (CloudKitty's release) would clash with the
    constraints of the services' own release.
    """
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(('OS_', 'GUNICORN_', 'PYTHON')) and
           key not in ('VIRTUAL_ENV', 'PIP_CONSTRAINT')}
    env.update(extra)
    return env


def _run(argv, log_path, timeout=COMMAND_TIMEOUT, env=None, cwd=None):
    """Run a command to completion, its output appended to a log file."""
    with open(log_path, 'ab') as log:
        log.write(('$ %s\n' % ' '.join(argv)).encode())
        log.flush()
        try:
            proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise StackError('%s did not finish within %ss, see %s'
                             % (argv[0], timeout, log_path))
    if proc.returncode:
        raise StackError('%s failed with status %s, see %s:\n%s'
                         % (' '.join(argv[:3]), proc.returncode, log_path,
                            _tail(log_path)))


class Response(collections.namedtuple('Response', 'status headers body')):
    """An HTTP answer, whatever its status."""

    def json(self):
        """The body decoded as JSON."""
        return json.loads(self.body.decode())

    @property
    def text(self):
        """The body as text."""
        return self.body.decode(errors='replace')


# The services listen on loopback: never route through a proxy set in the
# environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, token=None, params=None,
         timeout=HTTP_TIMEOUT, context=None):
    """Send one request and return a ``Response``, errors included.

    :param context: ``ssl.SSLContext`` checking an https server (the
                    system's trusted CAs when None)
    :raises OSError: when the server cannot be reached
    """
    if params:
        url += '?' + urllib.parse.urlencode(params)
    headers = {'Accept': 'application/json'}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers['Content-Type'] = 'application/json'
    if token:
        headers['X-Auth-Token'] = token
    request = urllib.request.Request(url, data=data, headers=headers,
                                     method=method)
    try:
        opener = _OPENER
        if context is not None:
            opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({}),
                urllib.request.HTTPSHandler(context=context))
        with opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers),
                            answer.read())
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            return Response(exc.code, dict(exc.headers), exc.read())


def base_name():
    """Name of the services base in use (a key of ``BASES``)."""
    name = os.environ.get('AETOS_STACK_BASE', DEFAULT_BASE)
    if name not in BASES:
        raise StackError('AETOS_STACK_BASE=%s is not one of %s'
                         % (name, ', '.join(sorted(BASES))))
    return name


def venv_path(base=None):
    """Where the services virtualenv of a base (name) lives.

    ``$AETOS_STACK_VENV`` (default ``.stack/venv`` in the repo) for the
    default base and the same path suffixed ``-<base>`` for another one, so
    that trying another base never rebuilds a virtualenv a running stack
    uses.
    """
    root = (os.environ.get('AETOS_STACK_VENV') or
            os.path.join(REPO, '.stack', 'venv'))
    name = base or base_name()
    return root if name == DEFAULT_BASE else root + '-' + name


def ensure_venv(path=None, base=None, python=None):
    """Build the services virtualenv unless a complete one is there.

    A marker file written after a successful install records what was
    installed; a virtualenv without it, or with other versions, is rebuilt.
    A lock file lets concurrent test processes share one build.

    :returns: the virtualenv's path
    """
    path = path or venv_path()
    base = base or BASES[base_name()]
    python = python or os.environ.get('AETOS_STACK_PYTHON', sys.executable)
    constraints = os.path.join(REPO, 'constraints', base.constraints)
    with open(constraints, 'rb') as source:
        digest = hashlib.sha256(source.read()).hexdigest()
    wanted = {
        'keystone': base.keystone,
        'aetos': base.aetos,
        'constraints': base.constraints,
        'constraints_sha256': digest,
    }
    marker = os.path.join(path, 'stack-versions.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with _file_lock(path + '.lock', VENV_INSTALL_TIMEOUT):
        with contextlib.suppress(OSError, ValueError):
            with open(marker) as current:
                if json.load(current) == wanted:
                    return path
        started = time.monotonic()
        LOG.info('Building the services virtualenv %s (keystone %s, '
                 'aetos %s)', path, base.keystone, base.aetos)
        shutil.rmtree(path, ignore_errors=True)
        log_path = path + '-install.log'
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log_path)
        env = _clean_env(PIP_DISABLE_PIP_VERSION_CHECK='1')
        _run([python, '-m', 'venv', path], log_path, env=env)
        _run([os.path.join(path, 'bin', 'python'), '-m', 'pip', 'install',
              '--no-input', '-c', constraints,
              'keystone==%s' % base.keystone, 'aetos==%s' % base.aetos,
              'gunicorn'],
             log_path, timeout=VENV_INSTALL_TIMEOUT, env=env)
        with open(marker, 'w') as out:
            json.dump(wanted, out, indent=1, sort_keys=True)
        LOG.info('Services virtualenv built in %.1fs',
                 time.monotonic() - started)
    return path


@contextlib.contextmanager
def _file_lock(path, timeout):
    """Hold an exclusive lock on a file, waiting at most ``timeout``."""
    deadline = time.monotonic() + timeout
    with open(path, 'w') as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StackError('%s stayed locked for %ss'
                                     % (path, timeout))
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Service(object):
    """One long-running child process, alone in its process group.

    Stopping signals that group only, so the gunicorn workers go with
    their master and nothing else on the machine is touched.
    """

    def __init__(self, name, argv, log_path, ready_url, env=None, cwd=None,
                 ready_status=(200,), ssl_context=None):
        self.name = name
        self.ssl_context = ssl_context
        self.argv = argv
        self.log_path = log_path
        self.ready_url = ready_url
        self.ready_status = ready_status
        self.env = env
        self.cwd = cwd
        self.proc = None

    @property
    def pid(self):
        """PID (and process group ID) of the running process, or None."""
        return self.proc.pid if self.running else None

    @property
    def running(self):
        """Whether the process was started and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def spawn(self):
        """Start the process without waiting for it to serve."""
        if self.running:
            return
        with open(self.log_path, 'ab') as log:
            log.write(('--- %s: %s\n' % (time.strftime('%H:%M:%S'),
                                         ' '.join(self.argv))).encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd,
                start_new_session=True)
        LOG.debug('%s started, pid %s', self.name, self.proc.pid)

    def wait_ready(self, timeout=START_TIMEOUT):
        """Poll the readiness URL until it answers as expected."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.running:
                raise StackError('%s exited with status %s, see %s:\n%s'
                                 % (self.name, self.proc.returncode,
                                    self.log_path, _tail(self.log_path)))
            try:
                last = http('GET', self.ready_url, timeout=10,
                            context=self.ssl_context).status
                if last in self.ready_status:
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        raise StackError('%s did not answer %s within %ss (last: %s), see '
                         '%s:\n%s' % (self.name, self.ready_url, timeout,
                                      last, self.log_path,
                                      _tail(self.log_path)))

    def start(self, timeout=START_TIMEOUT):
        """Start the process and wait until it serves."""
        self.spawn()
        self.wait_ready(timeout)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM the process group, SIGKILL it if it outlives timeout."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pgid, self.proc):
            time.sleep(0.05)
        if _group_alive(pgid, self.proc):
            LOG.warning('%s (pid %s) ignored SIGTERM for %ss: killing it',
                        self.name, pgid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise StackError('%s (pid %s) survived SIGKILL'
                                 % (self.name, pgid))
        self.proc = None


def _group_alive(pgid, proc):
    """Whether the process or anything left in its group still runs."""
    if proc.poll() is None:
        return True
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


_GUNICORN_CONF = """\
# Written by the functional test stack.
wsgi_app = %(app)r
bind = [%(bind)r]
workers = %(workers)d
worker_class = 'sync'
threads = 1
timeout = 120
graceful_timeout = 3
accesslog = '-'
errorlog = '-'
loglevel = 'info'
proc_name = %(name)r
control_socket_disable = True
"""


class Stack(object):
    """Keystone, Prometheus and Aetos serving the planted dataset.

    Use as a context manager or call ``start()`` and ``stop()``. Once
    started: ``keystone_url``, ``aetos_url`` and ``prometheus_url`` reach
    the services; ``projects`` maps the rated project names to their IDs
    (``other_projects`` the unrated ones); ``dataset`` is the planted data
    bound to those IDs; ``logs`` maps each service to its log file and
    ``timings`` holds how long each step took.
    """

    admin_user = 'admin'
    admin_project = 'admin'
    cloudkitty_user = 'cloudkitty'
    cloudkitty_project = SERVICE_PROJECT
    aetos_user = 'aetos'
    reader_user = 'observer'
    reader_project = dataset.RATED_PROJECTS[0]
    region = REGION
    service_type = METRIC_SERVICE_TYPE

    def __init__(self, token_expiration=None, keep=False, venv=None,
                 base=None, workdir=None, aetos_workers=2,
                 project_label='project_id', dataset_start=None):
        """Describe a stack; nothing runs before ``start()``.

        :param token_expiration: lifetime of Keystone tokens in seconds
                                 (Keystone's default when None)
        :param keep: leave the working directory behind on ``stop()``
        :param venv: services virtualenv (see ``venv_path()``)
        :param base: name of the services base (a key of ``BASES``);
                     ``$AETOS_STACK_BASE`` or ``DEFAULT_BASE`` when None
        :param workdir: directory for configuration, data and logs; a new
                        temporary one when None
        :param aetos_workers: gunicorn workers serving Aetos
        :param project_label: label Aetos filters on for users limited to
                              their own project
        :param dataset_start: first second of the planted data
        """
        self.token_expiration = token_expiration
        self.keep = keep or bool(os.environ.get('AETOS_STACK_KEEP'))
        self.base_name = base or base_name()
        self.base = BASES[self.base_name]
        self.venv = venv or venv_path(self.base_name)
        self.workdir = workdir
        self._own_workdir = workdir is None
        self.aetos_workers = aetos_workers
        self.project_label = project_label
        self.dataset_start = dataset_start
        token = os.urandom(6).hex()
        self.admin_password = 'admin-' + token
        self.cloudkitty_password = 'cloudkitty-' + token
        self.aetos_password = 'aetos-' + token
        self.reader_password = 'observer-' + token
        self.keystone_port = self.prometheus_port = self.aetos_port = None
        self.projects = {}
        self.other_projects = {}
        self.project_ids = {}
        self.user_ids = {}
        self.role_ids = {}
        self.service_id = None
        self.endpoint_ids = {}
        self.dataset = None
        self.services = {}
        self.logs = {}
        self.timings = {}
        self._admin_token = None

    # Public URLs and helpers.

    @property
    def keystone_url(self):
        """Keystone's v3 API root."""
        return 'http://%s:%s/v3' % (HOST, self.keystone_port)

    @property
    def prometheus_url(self):
        """Prometheus' root URL (its API is under /api/v1)."""
        return 'http://%s:%s' % (HOST, self.prometheus_port)

    @property
    def aetos_url(self):
        """Aetos' root URL, as registered in the catalog."""
        return 'http://%s:%s' % (HOST, self.aetos_port)

    def collector_options(self, interface='public'):
        """Options of a ``[collector_aetos]`` section for this stack."""
        return {
            'auth_type': 'password',
            'auth_url': self.keystone_url,
            'username': self.cloudkitty_user,
            'password': self.cloudkitty_password,
            'project_name': self.cloudkitty_project,
            'user_domain_id': 'default',
            'project_domain_id': 'default',
            'interface': interface,
            'region_name': self.region,
        }

    def token(self, username=None, password=None, project=None):
        """A project-scoped token (cloudkitty's on service by default)."""
        username = username or self.cloudkitty_user
        if password is None:
            password = {
                self.admin_user: self.admin_password,
                self.cloudkitty_user: self.cloudkitty_password,
                self.aetos_user: self.aetos_password,
                self.reader_user: self.reader_password,
            }[username]
        if project is None:
            project = {
                self.admin_user: self.admin_project,
                self.reader_user: self.reader_project,
            }.get(username, SERVICE_PROJECT)
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': username, 'password': password,
                'domain': {'id': 'default'}}}},
            'scope': {'project': {'name': project,
                                  'domain': {'id': 'default'}}}}}
        answer = http('POST', self.keystone_url + '/auth/tokens', body)
        if answer.status != 201:
            raise StackError('Keystone refused a token to %s on %s: %s %s'
                             % (username, project, answer.status,
                                answer.text))
        return answer.headers['X-Subject-Token']

    def describe(self):
        """What a client needs to use the stack, as plain data."""
        return {
            'base': dict(self.base._asdict(), name=self.base_name),
            'keystone_url': self.keystone_url,
            'prometheus_url': self.prometheus_url,
            'aetos_url': self.aetos_url,
            'region': self.region,
            'admin': {'username': self.admin_user,
                      'password': self.admin_password,
                      'project_name': self.admin_project},
            'cloudkitty': {'username': self.cloudkitty_user,
                           'password': self.cloudkitty_password,
                           'project_name': self.cloudkitty_project},
            'observer': {'username': self.reader_user,
                         'password': self.reader_password,
                         'project_name': self.reader_project},
            'collector_aetos': self.collector_options(),
            'rated_projects': self.projects,
            'other_projects': self.other_projects,
            'dataset': {'start': self.dataset.start,
                        'end': self.dataset.end,
                        'step': dataset.STEP},
            'pids': {name: service.pid
                     for name, service in self.services.items()},
            'logs': self.logs,
            'workdir': self.workdir,
            'timings': self.timings,
        }

    # Life cycle.

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        """Build what is missing and start the three services."""
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            # The logs are all there is to explain the failure: keep them.
            self.keep = True
            self.stop()
            LOG.error('The stack did not start; its files are in %s',
                      self.workdir)
            raise
        self.timings['start'] = round(time.monotonic() - started, 2)
        LOG.info('Stack started in %.1fs: %s', self.timings['start'],
                 self.timings)

    def _start(self):
        atexit.register(self.stop)
        self._timed('venv', ensure_venv, self.venv, self.base)
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='aetos-stack-')
        else:
            os.makedirs(self.workdir, exist_ok=True)
        (self.keystone_port, self.prometheus_port,
         self.aetos_port) = _free_ports(3)
        for name in ('keystone', 'keystone-manage', 'prometheus', 'promtool',
                     'aetos'):
            self.logs[name] = os.path.join(self.workdir, name + '.log')
        self._timed('keystone', self._start_keystone)
        self._timed('keystone_setup', self._setup_keystone)
        self.dataset = dataset.Dataset(
            {name: self.project_ids[name] for name in dataset.PROJECTS},
            start=self.dataset_start)
        # Aetos boots while the data is backfilled and Prometheus starts.
        self._timed('aetos_spawn', self._spawn_aetos)
        self._timed('prometheus', self._start_prometheus)
        self._timed('aetos', self.services['aetos'].wait_ready)

    def _timed(self, name, func, *args):
        started = time.monotonic()
        result = func(*args)
        self.timings[name] = round(time.monotonic() - started, 2)
        return result

    def stop(self):
        """Stop every service started here; safe to call more than once."""
        started = time.monotonic()
        errors = []
        for name in ('aetos', 'prometheus', 'keystone'):
            service = self.services.get(name)
            if service is not None:
                try:
                    service.stop()
                except StackError as exc:
                    errors.append(exc)
        atexit.unregister(self.stop)
        if self.workdir and self._own_workdir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.timings['stop'] = round(time.monotonic() - started, 2)
        if errors:
            raise errors[0]

    def stop_service(self, name):
        """Stop one service (keystone, prometheus or aetos)."""
        self.services[name].stop()

    def start_service(self, name):
        """Start a stopped service again, on the same port and data."""
        self.services[name].start()

    def restart_service(self, name):
        """Stop then start one service."""
        self.stop_service(name)
        self.start_service(name)

    def pids(self):
        """PIDs of the running services, by name."""
        return {name: service.pid
                for name, service in self.services.items() if service.pid}

    # Changes made by tests.

    def keystone_request(self, method, path, body=None,
                         expect=(200, 201, 204)):
        """Call Keystone's v3 API as admin; return the ``Response``.

        :raises StackError: on an answer whose status is not in ``expect``
        """
        return self._keystone(method, path, body, expect=expect)

    def add_endpoint(self, url, region, interface='public'):
        """Register ``url`` as a ``metric-storage`` endpoint of a region.

        The region is created when missing. Tests use a region of their
        own, so that the collectors of other tests (configured for
        ``self.region``) never see the endpoint.

        :returns: the endpoint's ID, for ``remove_endpoint()``
        """
        self.keystone_request('POST', '/regions', {'region': {'id': region}},
                              expect=(201, 409))
        return self.keystone_request('POST', '/endpoints', {
            'endpoint': {'service_id': self.service_id,
                         'interface': interface, 'region_id': region,
                         'url': url}}).json()['endpoint']['id']

    def remove_endpoint(self, endpoint_id, region=None):
        """Delete an endpoint, then its region if one is named."""
        self.keystone_request('DELETE', '/endpoints/%s' % endpoint_id,
                              expect=(204, 404))
        if region is not None:
            self.keystone_request('DELETE', '/regions/%s' % region,
                                  expect=(204, 404))

    def start_extra_aetos(self, name, certfile=None, keyfile=None,
                          ssl_context=None, prometheus_port=None):
        """Start another Aetos with the same settings, on a port of its own.

        With ``certfile`` and ``keyfile`` it serves HTTPS; ``ssl_context``
        must then trust that certificate, for the readiness check. With
        ``prometheus_port`` it fronts the Prometheus listening on that
        loopback port instead of the stack's own. The
        process is not registered in the catalog (see ``add_endpoint()``)
        and is not stopped by ``stop()``: the caller stops it (it is also
        stopped when the test process exits).

        :returns: the started ``Service``; its ``url`` is Aetos' root URL
        """
        home = os.path.join(self.workdir, name)
        shutil.copytree(os.path.join(self.workdir, 'aetos', '.aetos'),
                        os.path.join(home, '.aetos'))
        if prometheus_port is not None:
            conf = os.path.join(home, '.aetos', 'aetos.conf')
            with open(conf) as source:
                text = source.read()
            with open(conf, 'w') as out:
                out.write(text.replace('\nport = %s\n' % self.prometheus_port,
                                       '\nport = %s\n' % prometheus_port))
        port = _free_ports(1)[0]
        gunicorn_conf = self._gunicorn_conf(
            home, name, 'aetos.wsgi.api:application', port, 1)
        scheme = 'http'
        if certfile:
            scheme = 'https'
            with open(gunicorn_conf, 'a') as out:
                out.write('certfile = %r\nkeyfile = %r\n'
                          % (certfile, keyfile))
        url = '%s://%s:%s' % (scheme, HOST, port)
        self.logs[name] = os.path.join(self.workdir, name + '.log')
        service = Service(
            name, [self._venv_bin('gunicorn')], self.logs[name], url + '/',
            env=_clean_env(HOME=home,
                           GUNICORN_CMD_ARGS='--config %s' % gunicorn_conf),
            cwd=home, ssl_context=ssl_context)
        service.url = url
        atexit.register(service.stop)
        service.start()
        return service

    # Keystone.

    def _venv_bin(self, name):
        return os.path.join(self.venv, 'bin', name)

    def _start_keystone(self):
        home = os.path.join(self.workdir, 'keystone')
        os.makedirs(home)
        conf = os.path.join(home, 'keystone.conf')
        fernet = os.path.join(home, 'fernet-keys')
        credential = os.path.join(home, 'credential-keys')
        db = os.path.join(home, 'keystone.db')
        expiration = ''
        if self.token_expiration is not None:
            expiration = 'expiration = %d\n' % self.token_expiration
        # Without a cache Keystone spends some 0.4s validating the token
        # of each request; one worker makes a process-local cache exact.
        # Cheap password hashes make tokens fast to issue.
        with open(conf, 'w') as out:
            out.write(
                '[DEFAULT]\n'
                'debug = false\n'
                '[database]\n'
                'connection = sqlite:///%(db)s\n'
                'sqlite_synchronous = false\n'
                '[identity]\n'
                'password_hash_rounds = 4\n'
                '[token]\n'
                'provider = fernet\n'
                '%(expiration)s'
                '[fernet_tokens]\n'
                'key_repository = %(fernet)s\n'
                '[fernet_receipts]\n'
                'key_repository = %(fernet)s\n'
                '[credential]\n'
                'key_repository = %(credential)s\n'
                '[cache]\n'
                'enabled = true\n'
                'backend = dogpile.cache.memory\n'
                % {'db': db,
                   'expiration': expiration, 'fernet': fernet,
                   'credential': credential})
        manage = [self._venv_bin('keystone-manage'), '--config-file', conf]
        owner = ['--keystone-user', pwd.getpwuid(os.getuid()).pw_name,
                 '--keystone-group', grp.getgrgid(os.getgid()).gr_name]
        env = _clean_env()
        # The three are independent: run them side by side.
        procs = []
        for command in (['db_sync'], ['fernet_setup'] + owner,
                        ['credential_setup'] + owner):
            log_path = os.path.join(home, 'manage-%s.log' % command[0])
            with open(log_path, 'wb') as log:
                procs.append((log_path, command[0], subprocess.Popen(
                    manage + command, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, env=env, cwd=home,
                    start_new_session=True)))
        failed = []
        for log_path, command, proc in procs:
            try:
                status = proc.wait(COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT)
                status = 'timeout'
            with open(self.logs['keystone-manage'], 'a') as log:
                log.write('$ keystone-manage %s\n%s' % (command,
                                                        _tail(log_path, 999)))
            if status:
                failed.append('%s (%s): %s' % (command, status,
                                               _tail(log_path)))
        if failed:
            raise StackError('keystone-manage failed, see %s:\n%s'
                             % (self.logs['keystone-manage'],
                                '\n'.join(failed)))
        # oslo.db opens an explicit transaction for reads too, and some
        # Keystone requests leave one open; with sqlite's default rollback
        # journal that blocks every later commit ("database is locked").
        # In WAL mode readers never block a writer.
        with contextlib.closing(sqlite3.connect(db)) as connection:
            connection.execute('PRAGMA journal_mode=WAL')
        url = self.keystone_url
        _run(manage + [
            'bootstrap',
            '--bootstrap-username', self.admin_user,
            '--bootstrap-password', self.admin_password,
            '--bootstrap-project-name', self.admin_project,
            '--bootstrap-role-name', 'admin',
            '--bootstrap-service-name', 'keystone',
            '--bootstrap-region-id', self.region,
            '--bootstrap-admin-url', url,
            '--bootstrap-internal-url', url,
            '--bootstrap-public-url', url,
        ], self.logs['keystone-manage'], env=env, cwd=home)
        gunicorn_conf = self._gunicorn_conf(
            home, 'keystone', 'keystone.wsgi.api:application',
            self.keystone_port, 1)
        # Keystone parses the process' own command line as its options:
        # gunicorn gets all of its settings from its configuration file,
        # named in the environment, and no argument at all.
        self.services['keystone'] = Service(
            'keystone', [self._venv_bin('gunicorn')],
            self.logs['keystone'], self.keystone_url,
            env=_clean_env(OS_KEYSTONE_CONFIG_FILES=conf,
                           GUNICORN_CMD_ARGS='--config %s' % gunicorn_conf),
            cwd=home)
        self.services['keystone'].start()

    @staticmethod
    def _gunicorn_conf(home, name, app, port, workers):
        path = os.path.join(home, 'gunicorn.conf.py')
        with open(path, 'w') as out:
            out.write(_GUNICORN_CONF % {
                'app': app, 'bind': '%s:%s' % (HOST, port),
                'workers': workers, 'name': 'stack-' + name})
        return path

    def _keystone(self, method, path, body=None, expect=(200, 201, 204)):
        """Call Keystone as admin, restarting it on a server error.

        Keystone on sqlite sometimes answers a write with 500 "database is
        locked" and keeps doing so until it restarts. Every object here is
        created idempotently (looked up by name first), so repeating the
        call after a restart is safe.
        """
        for attempt in range(KEYSTONE_RESTARTS + 1):
            if self._admin_token is None:
                self._admin_token = self.token(
                    self.admin_user, self.admin_password, self.admin_project)
            answer = http(method, self.keystone_url + path, body,
                          token=self._admin_token)
            if answer.status in expect:
                return answer
            if answer.status < 500 or attempt == KEYSTONE_RESTARTS:
                raise StackError('Keystone answered %s %s with %s: %s'
                                 % (method, path, answer.status,
                                    answer.text[:500]))
            LOG.warning('Keystone answered %s %s with %s (%s): restarting '
                        'it', method, path, answer.status, answer.text[:200])
            self.timings['keystone_restarts'] = attempt + 1
            self.services['keystone'].stop()
            self.services['keystone'].start()

    def _find(self, collection, name, **filters):
        """ID of the named object of a collection, or None."""
        params = dict(filters, name=name)
        found = self._keystone(
            'GET', '/%s?%s' % (collection, urllib.parse.urlencode(params))
        ).json()[collection]
        return found[0]['id'] if found else None

    def _ensure(self, collection, name, attributes, **filters):
        """ID of the named object, created with ``attributes`` if absent."""
        found = self._find(collection, name, **filters)
        if found:
            return found
        member = collection[:-1]
        body = {member: dict(attributes, name=name)}
        answer = self._keystone('POST', '/' + collection, body,
                                expect=(201, 409))
        if answer.status == 409:
            return self._find(collection, name, **filters)
        return answer.json()[member]['id']

    def _grant(self, user, project, role):
        self._keystone('PUT', '/projects/%s/users/%s/roles/%s'
                       % (self.project_ids[project], self.user_ids[user],
                          self.role_ids[role]))

    def _setup_keystone(self):
        """Create the users, projects, roles and catalog entry for Aetos."""
        domain = {'domain_id': 'default'}
        for role in (RATING_ROLE,):
            self._ensure('roles', role, {})
        roles = self._keystone('GET', '/roles').json()['roles']
        self.role_ids = {role['name']: role['id'] for role in roles}
        for project in (SERVICE_PROJECT,) + dataset.PROJECTS:
            self.project_ids[project] = self._ensure(
                'projects', project,
                dict(domain, description='functional test stack'),
                domain_id='default')
        for user, password, project in (
                (self.cloudkitty_user, self.cloudkitty_password,
                 SERVICE_PROJECT),
                (self.aetos_user, self.aetos_password, SERVICE_PROJECT),
                (self.reader_user, self.reader_password,
                 self.reader_project)):
            self.user_ids[user] = self._ensure(
                'users', user,
                dict(domain, password=password,
                     default_project_id=self.project_ids[project]),
                domain_id='default')
        self._grant(self.cloudkitty_user, SERVICE_PROJECT, 'admin')
        self._grant(self.aetos_user, SERVICE_PROJECT, 'service')
        self._grant(self.reader_user, self.reader_project, 'reader')
        for project in dataset.RATED_PROJECTS:
            self._grant(self.cloudkitty_user, project, RATING_ROLE)
        self.projects = {name: self.project_ids[name]
                         for name in dataset.RATED_PROJECTS}
        self.other_projects = {name: self.project_ids[name]
                               for name in dataset.OTHER_PROJECTS}
        self.service_id = self._ensure(
            'services', 'aetos', {'type': METRIC_SERVICE_TYPE,
                                  'description': 'Aetos'},
            type=METRIC_SERVICE_TYPE)
        existing = self._keystone(
            'GET', '/endpoints?service_id=%s' % self.service_id
        ).json()['endpoints']
        have = {endpoint['interface']: endpoint['id']
                for endpoint in existing}
        for interface in INTERFACES:
            if interface not in have:
                have[interface] = self._keystone('POST', '/endpoints', {
                    'endpoint': {'service_id': self.service_id,
                                 'interface': interface,
                                 'region_id': self.region,
                                 'url': self.aetos_url}}
                ).json()['endpoint']['id']
        self.endpoint_ids = have

    # Prometheus.

    def _start_prometheus(self):
        home = os.path.join(self.workdir, 'prometheus')
        data = os.path.join(home, 'data')
        os.makedirs(data)
        conf = os.path.join(home, 'prometheus.yml')
        with open(conf, 'w') as out:
            # Nothing is scraped: the backfilled series are all there is.
            out.write('global:\n'
                      '  scrape_interval: 1m\n'
                      '  evaluation_interval: 1m\n'
                      'scrape_configs: []\n')
        metrics = os.path.join(home, 'dataset.om')
        with open(metrics, 'w') as out:
            out.write(self.dataset.render())
        _run([PROMTOOL, 'tsdb', 'create-blocks-from', 'openmetrics',
              metrics, data], self.logs['promtool'], cwd=home)
        service = self.services['prometheus'] = Service(
            'prometheus',
            [PROMETHEUS,
             '--config.file', conf,
             '--storage.tsdb.path', data,
             # Blocks older than the retention would be deleted at once.
             '--storage.tsdb.retention.time', '3650d',
             '--web.listen-address', '%s:%s' % (HOST, self.prometheus_port)],
            self.logs['prometheus'], self.prometheus_url + '/-/ready',
            env=_clean_env(), cwd=home)
        service.start()
        self._check_prometheus()

    def _check_prometheus(self):
        """Fail unless Prometheus serves the backfilled data."""
        at = self.dataset.hour(1)
        expected = len(self.dataset.instant('ck_instance_up', at))
        answer = http('GET', self.prometheus_url + '/api/v1/query',
                      params={'query': 'count(ck_instance_up)', 'time': at})
        result = answer.json()['data']['result'] if answer.status == 200 \
            else None
        if not result or float(result[0]['value'][1]) != expected:
            raise StackError('Prometheus does not serve the planted data: '
                             'count(ck_instance_up) at %s gave %s %s, '
                             'expected %s; see %s' % (
                                 at, answer.status, answer.text[:300],
                                 expected, self.logs['prometheus']))

    # Aetos.

    def _spawn_aetos(self):
        # keystonemiddleware reads its options through a configuration
        # object of its own, from the files oslo.config finds for the
        # "aetos" project, not from Aetos' command line: the file goes
        # where that search looks first, ~/.aetos/, with HOME pointing
        # here.
        home = os.path.join(self.workdir, 'aetos')
        os.makedirs(os.path.join(home, '.aetos'))
        conf = os.path.join(home, '.aetos', 'aetos.conf')
        with open(conf, 'w') as out:
            out.write(
                '[DEFAULT]\n'
                'auth_mode = keystone\n'
                'debug = false\n'
                '[prometheus]\n'
                'host = %(host)s\n'
                'port = %(port)s\n'
                'project_label_name = %(label)s\n'
                '[keystone_authtoken]\n'
                'www_authenticate_uri = %(keystone)s\n'
                'auth_url = %(keystone)s\n'
                'auth_type = password\n'
                'username = %(user)s\n'
                'password = %(password)s\n'
                'user_domain_id = default\n'
                'project_name = %(project)s\n'
                'project_domain_id = default\n'
                'service_token_roles_required = true\n'
                % {'host': HOST, 'port': self.prometheus_port,
                   'label': self.project_label,
                   'keystone': self.keystone_url, 'user': self.aetos_user,
                   'password': self.aetos_password,
                   'project': SERVICE_PROJECT})
        gunicorn_conf = self._gunicorn_conf(
            home, 'aetos', 'aetos.wsgi.api:application', self.aetos_port,
            self.aetos_workers)
        self.services['aetos'] = Service(
            'aetos', [self._venv_bin('gunicorn')], self.logs['aetos'],
            self.aetos_url + '/',
            env=_clean_env(HOME=home,
                           GUNICORN_CMD_ARGS='--config %s' % gunicorn_conf),
            cwd=home)
        self.services['aetos'].spawn()


def main(argv=None):
    """Command line: ``up`` runs a stack until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    up = sub.add_parser('up', help='start a stack and wait for Ctrl-C or '
                                   'SIGTERM, then stop it')
    up.add_argument('--token-expiration', type=int,
                    help='Keystone token lifetime in seconds')
    up.add_argument('--keep', action='store_true',
                    help='keep the working directory')
    sub.add_parser('venv', help='only build the services virtualenv')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(message)s')
    if args.command == 'venv':
        print(ensure_venv())
        return 0

    def interrupt(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, interrupt)
    stack = Stack(token_expiration=args.token_expiration, keep=args.keep)
    try:
        stack.start()
        print(json.dumps(stack.describe(), indent=2, sort_keys=True),
              flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stack.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
