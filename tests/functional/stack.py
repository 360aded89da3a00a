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

``Stack`` composes the three services of ``functional.services`` (one
module each, see that package's docstring for the map), with their files
in one temporary directory:

* Keystone (sqlite, fernet tokens) under gunicorn, holding the users,
  projects, roles and the ``metric-storage`` catalog entry the Aetos
  collector needs;
* Prometheus, with the usage described in ``dataset`` backfilled by
  promtool before it starts and nothing scraped, so that every query has a
  known answer;
* Aetos under gunicorn, in front of that Prometheus, validating tokens with
  that Keystone.

Keystone and Aetos run from a virtualenv of their own (``services.venv``),
built once and reused. Only the standard library is used here, so that the
module runs from any interpreter: ``python tests/functional/stack.py up``
starts a stack by hand and prints how to reach it.
"""

import atexit
import logging
import os
import shutil
import sys
import tempfile
import time

if not __package__:  # run as a script: make ``functional`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))

from functional import dataset  # noqa: E402
from functional.services import aetos  # noqa: E402
from functional.services import keystone  # noqa: E402
from functional.services import process  # noqa: E402
from functional.services import prometheus  # noqa: E402
from functional.services import venv as venv_mod  # noqa: E402

LOG = logging.getLogger(__name__)

# Names used through this module by the tests, the demo and benchmarks.
BASES = venv_mod.BASES
base_name = venv_mod.base_name
StackError = process.StackError

REGION = 'RegionOne'
SERVICE_PROJECT = 'service'
RATING_ROLE = 'rating'
METRIC_SERVICE_TYPE = 'metric-storage'
INTERFACES = keystone.INTERFACES


class Stack(object):
    """Keystone, Prometheus and Aetos serving the planted dataset.

    Use as a context manager or call ``start()`` and ``stop()``. Once
    started: ``keystone_url``, ``aetos_url`` and ``prometheus_url`` reach
    the services; ``projects`` maps the rated project names to their IDs
    (``other_projects`` the unrated ones); ``dataset`` is the planted data
    bound to those IDs; ``logs`` maps each service to its log file,
    ``processes`` each running one to its ``process.ChildProcess``, and
    ``timings`` holds how long each step took.
    """

    admin_user = keystone.ADMIN_USER
    admin_project = keystone.ADMIN_PROJECT
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
        self.venv = venv or venv_mod.venv_path(self.base_name)
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
        self.keystone = self.prometheus = self.aetos = None
        self.projects = {}
        self.other_projects = {}
        self.project_ids = {}
        self.user_ids = {}
        self.role_ids = {}
        self.service_id = None
        self.dataset = None
        self.processes = {}
        self.logs = {}
        self.timings = {}

    # Public URLs and helpers.

    @property
    def keystone_url(self):
        """Keystone's v3 API root."""
        return self.keystone.url

    @property
    def prometheus_url(self):
        """Prometheus' root URL (its API is under /api/v1)."""
        return self.prometheus.url

    @property
    def prometheus_port(self):
        return self.prometheus.port

    @property
    def aetos_url(self):
        """Aetos' root URL, as registered in the catalog."""
        return self.aetos.url

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

    def credentials(self, username):
        """(password, default project) of a user of the stack."""
        return {
            self.admin_user: (self.admin_password, self.admin_project),
            self.cloudkitty_user: (self.cloudkitty_password,
                                   SERVICE_PROJECT),
            self.aetos_user: (self.aetos_password, SERVICE_PROJECT),
            self.reader_user: (self.reader_password, self.reader_project),
        }[username]

    def token(self, username=None, password=None, project=None):
        """A project-scoped token (cloudkitty's on service by default)."""
        username = username or self.cloudkitty_user
        if password is None:
            password = self.credentials(username)[0]
        if project is None:
            project = {
                self.admin_user: self.admin_project,
                self.reader_user: self.reader_project,
            }.get(username, SERVICE_PROJECT)
        return self.keystone.token(username, password, project)

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
        self._timed('venv', venv_mod.ensure_venv, self.venv, self.base)
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='aetos-stack-')
        else:
            os.makedirs(self.workdir, exist_ok=True)
        for name in ('keystone', 'keystone-manage', 'prometheus', 'promtool',
                     'aetos'):
            self.logs[name] = os.path.join(self.workdir, name + '.log')
        self.keystone = keystone.Keystone(
            self.venv, self._home('keystone'), self.logs, self.region,
            self.admin_password, self.token_expiration, self.timings)
        self.prometheus = prometheus.Prometheus(
            self._home('prometheus'), None, self.logs['prometheus'],
            self.logs['promtool'])
        self.aetos = self._aetos('aetos', self.prometheus.port,
                                 self.aetos_workers)
        self._timed('keystone', self._start_service, 'keystone')
        self._timed('keystone_setup', self._setup_keystone)
        self.prometheus.data = self.dataset = dataset.Dataset(
            {name: self.project_ids[name] for name in dataset.PROJECTS},
            start=self.dataset_start)
        # Aetos boots while the data is backfilled and Prometheus starts.
        self._timed('aetos_spawn', self._start_service, 'aetos', 'spawn')
        self._timed('prometheus', self._start_prometheus)
        self._timed('aetos', self.processes['aetos'].wait_ready)

    def _home(self, name):
        return os.path.join(self.workdir, name)

    def _aetos(self, name, prometheus_port, workers=1, **tls):
        self.logs[name] = os.path.join(self.workdir, name + '.log')
        return aetos.Aetos(
            name, self.venv, self._home(name), self.logs[name],
            self.keystone.url, prometheus_port,
            (self.aetos_user, self.aetos_password, SERVICE_PROJECT),
            self.project_label, workers, **tls)

    def _start_service(self, name, how='start'):
        component = getattr(self, name)
        getattr(component, how)()
        self.processes[name] = component.child

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
            child = self.processes.get(name)
            if child is not None:
                try:
                    child.stop()
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
        self.processes[name].stop()

    def start_service(self, name):
        """Start a stopped service again, on the same port and data."""
        self.processes[name].start()

    def pids(self):
        """PIDs of the running services, by name."""
        return {name: child.pid
                for name, child in self.processes.items() if child.pid}

    # Keystone's content.

    def _setup_keystone(self):
        """Create the users, projects, roles and catalog entry for Aetos."""
        users = (self.cloudkitty_user, self.aetos_user, self.reader_user)
        grants = ((self.cloudkitty_user, SERVICE_PROJECT, 'admin'),
                  (self.aetos_user, SERVICE_PROJECT, 'service'),
                  (self.reader_user, self.reader_project, 'reader')) + tuple(
            (self.cloudkitty_user, project, RATING_ROLE)
            for project in dataset.RATED_PROJECTS)
        self.role_ids, self.project_ids, self.user_ids = (
            self.keystone.populate(
                (RATING_ROLE,), (SERVICE_PROJECT,) + dataset.PROJECTS,
                {user: self.credentials(user) for user in users}, grants))
        self.projects = {name: self.project_ids[name]
                         for name in dataset.RATED_PROJECTS}
        self.other_projects = {name: self.project_ids[name]
                               for name in dataset.OTHER_PROJECTS}
        self.service_id = self.keystone.ensure(
            'services', 'aetos', {'type': METRIC_SERVICE_TYPE,
                                  'description': 'Aetos'},
            type=METRIC_SERVICE_TYPE)
        self.keystone.ensure_endpoints(
            self.service_id, self.aetos_url, INTERFACES)

    def _start_prometheus(self):
        self._start_service('prometheus')
        at = self.dataset.hour(1)
        self.prometheus.check_count('ck_instance_up', at, len(
            self.dataset.instant('ck_instance_up', at)))

    # Changes made by tests.

    def keystone_request(self, method, path, body=None,
                         expect=(200, 201, 204)):
        """Call Keystone's v3 API as admin; return the ``Response``.

        :raises StackError: on an answer whose status is not in ``expect``
        """
        return self.keystone.request(method, path, body, expect=expect)

    def add_endpoint(self, url, region, interface='public'):
        """Register ``url`` as a ``metric-storage`` endpoint of a region.

        Tests use a region of their own, so that the collectors of other
        tests (configured for ``self.region``) never see the endpoint.

        :returns: the endpoint's ID, for ``remove_endpoint()``
        """
        return self.keystone.add_endpoint(self.service_id, url, region,
                                          interface)

    def remove_endpoint(self, endpoint_id, region=None):
        """Delete an endpoint, then its region if one is named."""
        self.keystone.remove_endpoint(endpoint_id, region)

    def start_extra_aetos(self, name, certfile=None, keyfile=None,
                          ssl_context=None, prometheus_port=None):
        """Start another Aetos with the same settings, on a port of its own.

        With ``certfile`` and ``keyfile`` it serves HTTPS; ``ssl_context``
        must then trust that certificate, for the readiness check. With
        ``prometheus_port`` it fronts the Prometheus listening on that
        loopback port instead of the stack's own. The process is not
        registered in the catalog (see ``add_endpoint()``) and is not
        stopped by ``stop()``: the caller stops it (it is also stopped
        when the test process exits).

        :returns: the started ``aetos.Aetos``
        """
        extra = self._aetos(name, prometheus_port or self.prometheus_port,
                            certfile=certfile, keyfile=keyfile,
                            ssl_context=ssl_context)
        extra.start()
        atexit.register(extra.stop)
        return extra


if __name__ == '__main__':
    from functional import stack_cli  # noqa: E402
    sys.exit(stack_cli.main())
