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
"""Keystone (sqlite, fernet tokens) under gunicorn, on a free port.

Keystone parses the process' own command line as its options: gunicorn
gets all of its settings from its configuration file, named in the
environment, and no argument at all.
"""

import collections
import contextlib
import grp
import logging
import os
import pwd
import re
import sqlite3
import subprocess
import urllib.parse

from functional.services import config
from functional.services import httpclient
from functional.services import process

LOG = logging.getLogger(__name__)

RESTARTS = 3
INTERFACES = ('public', 'internal', 'admin')
ADMIN_USER = 'admin'
ADMIN_PROJECT = 'admin'


TokenRequest = collections.namedtuple('TokenRequest',
                                      ['method', 'status', 'agent'])
"""One request to /v3/auth/tokens in Keystone's access log.

``POST`` is a login (by password or token), ``GET`` a validation; the
agent tells keystonemiddleware (Aetos validating tokens) apart.
"""

# gunicorn's default access log format: "<request line>" <status> <size>
# "<referer>" "<user agent>".
_TOKEN_REQUEST = re.compile(
    r'"(GET|POST) /v3/auth/tokens[^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"')


def token_requests(log_path, offset=0):
    """The token requests a Keystone access log shows after ``offset``.

    :returns: list of ``TokenRequest``, in the order logged
    """
    with open(log_path, errors='replace') as log:
        log.seek(offset)
        found = [_TOKEN_REQUEST.search(line) for line in log]
    return [TokenRequest(match.group(1), int(match.group(2)), match.group(3))
            for match in found if match]


class Keystone(process.LocalService):
    """A Keystone of its own, bootstrapped with an admin user.

    :param venv: virtualenv holding keystone and gunicorn
    :param home: directory for its configuration, database and keys
    :param logs: ``{name: path}``; ``keystone`` and ``keystone-manage``
                 are used
    :param timings: dict receiving ``keystone_restarts``
    """

    def __init__(self, venv, home, logs, region, admin_password,
                 token_expiration=None, timings=None):
        self.venv = venv
        self.home = home
        self.logs = logs
        self.region = region
        self.admin_password = admin_password
        self.token_expiration = token_expiration
        self.timings = {} if timings is None else timings
        self.port = process.free_ports(1)[0]
        self._admin_token = None

    @property
    def url(self):
        """Keystone's v3 API root."""
        return 'http://%s:%s/v3' % (process.HOST, self.port)

    def _bin(self, name):
        return os.path.join(self.venv, 'bin', name)

    def start(self):
        """Configure, bootstrap and start Keystone; wait until it serves."""
        os.makedirs(self.home)
        conf = self._write_conf()
        manage = [self._bin('keystone-manage'), '--config-file', conf]
        self._prepare(manage)
        self._bootstrap(manage)
        gunicorn_conf = config.write_gunicorn_conf(
            self.home, 'keystone', 'keystone.wsgi.api:application',
            self.port, 1)
        self.child = process.ChildProcess(
            'keystone', [self._bin('gunicorn')], self.logs['keystone'],
            self.url, env=config.gunicorn_env(
                gunicorn_conf, OS_KEYSTONE_CONFIG_FILES=conf),
            cwd=self.home)
        self.child.start()

    def _write_conf(self):
        # Without a cache Keystone spends some 0.4s validating the token
        # of each request; one worker makes a process-local cache exact.
        # Cheap password hashes make tokens fast to issue.
        token = {'provider': 'fernet'}
        if self.token_expiration is not None:
            token['expiration'] = '%d' % self.token_expiration
        return config.write_ini(os.path.join(self.home, 'keystone.conf'), {
            'DEFAULT': {'debug': 'false'},
            'database': {'connection': 'sqlite:///' + self._db,
                         'sqlite_synchronous': 'false'},
            'identity': {'password_hash_rounds': '4'},
            'token': token,
            'fernet_tokens': {'key_repository': self._dir('fernet-keys')},
            'fernet_receipts': {'key_repository': self._dir('fernet-keys')},
            'credential': {'key_repository': self._dir('credential-keys')},
            'cache': {'enabled': 'true',
                      'backend': 'dogpile.cache.memory'},
        })

    @property
    def _db(self):
        return os.path.join(self.home, 'keystone.db')

    def _dir(self, name):
        return os.path.join(self.home, name)

    def _prepare(self, manage):
        """db_sync, fernet_setup and credential_setup, side by side."""
        owner = ['--keystone-user', pwd.getpwuid(os.getuid()).pw_name,
                 '--keystone-group', grp.getgrgid(os.getgid()).gr_name]
        procs = []
        for command in (['db_sync'], ['fernet_setup'] + owner,
                        ['credential_setup'] + owner):
            log_path = os.path.join(self.home,
                                    'manage-%s.log' % command[0])
            procs.append((log_path, command[0], process.spawn(
                manage + command, log_path, process.clean_env(), self.home,
                mode='wb')))
        failed = []
        for log_path, command, proc in procs:
            try:
                status = proc.wait(process.COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.stop_process(proc, 0, command)
                status = 'timeout'
            with open(self.logs['keystone-manage'], 'a') as log:
                log.write('$ keystone-manage %s\n%s'
                          % (command, process.tail(log_path, 999)))
            if status:
                failed.append('%s (%s): %s' % (command, status,
                                               process.tail(log_path)))
        if failed:
            raise process.StackError('keystone-manage failed, see %s:\n%s'
                                     % (self.logs['keystone-manage'],
                                        '\n'.join(failed)))

    def _bootstrap(self, manage):
        # oslo.db opens an explicit transaction for reads too, and some
        # Keystone requests leave one open; with sqlite's default rollback
        # journal that blocks every later commit ("database is locked").
        # In WAL mode readers never block a writer.
        with contextlib.closing(sqlite3.connect(self._db)) as connection:
            connection.execute('PRAGMA journal_mode=WAL')
        process.run(manage + [
            'bootstrap',
            '--bootstrap-username', ADMIN_USER,
            '--bootstrap-password', self.admin_password,
            '--bootstrap-project-name', ADMIN_PROJECT,
            '--bootstrap-role-name', 'admin',
            '--bootstrap-service-name', 'keystone',
            '--bootstrap-region-id', self.region,
            '--bootstrap-admin-url', self.url,
            '--bootstrap-internal-url', self.url,
            '--bootstrap-public-url', self.url,
        ], self.logs['keystone-manage'], env=process.clean_env(),
            cwd=self.home)

    def token(self, username, password, project):
        """A project-scoped token, domain ``default``."""
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': username, 'password': password,
                'domain': {'id': 'default'}}}},
            'scope': {'project': {'name': project,
                                  'domain': {'id': 'default'}}}}}
        answer = httpclient.http('POST', self.url + '/auth/tokens', body)
        if answer.status != 201:
            raise process.StackError(
                'Keystone refused a token to %s on %s: %s %s'
                % (username, project, answer.status, answer.text))
        return answer.headers['X-Subject-Token']

    def request(self, method, path, body=None, expect=(200, 201, 204)):
        """Call Keystone as admin, restarting it on a server error.

        Keystone on sqlite sometimes answers a write with 500 "database is
        locked" and keeps doing so until it restarts. Every object here is
        created idempotently (looked up by name first), so repeating the
        call after a restart is safe.

        :raises StackError: on an answer whose status is not in ``expect``
        """
        for attempt in range(RESTARTS + 1):
            if self._admin_token is None:
                self._admin_token = self.token(
                    ADMIN_USER, self.admin_password, ADMIN_PROJECT)
            answer = httpclient.http(method, self.url + path, body,
                                     token=self._admin_token)
            if answer.status in expect:
                return answer
            if answer.status < 500 or attempt == RESTARTS:
                raise process.StackError(
                    'Keystone answered %s %s with %s: %s'
                    % (method, path, answer.status, answer.text[:500]))
            LOG.warning('Keystone answered %s %s with %s (%s): restarting '
                        'it', method, path, answer.status, answer.text[:200])
            self.timings['keystone_restarts'] = attempt + 1
            self.child.stop()
            self.child.start()

    def find(self, collection, name, **filters):
        """ID of the named object of a collection, or None."""
        params = dict(filters, name=name)
        found = self.request(
            'GET', '/%s?%s' % (collection, urllib.parse.urlencode(params))
        ).json()[collection]
        return found[0]['id'] if found else None

    def ensure(self, collection, name, attributes, **filters):
        """ID of the named object, created with ``attributes`` if absent."""
        found = self.find(collection, name, **filters)
        if found:
            return found
        member = collection[:-1]
        body = {member: dict(attributes, name=name)}
        answer = self.request('POST', '/' + collection, body,
                              expect=(201, 409))
        if answer.status == 409:
            return self.find(collection, name, **filters)
        return answer.json()[member]['id']

    def grant(self, user_id, project_id, role_id):
        """Give a user a role on a project."""
        self.request('PUT', '/projects/%s/users/%s/roles/%s'
                     % (project_id, user_id, role_id))

    def populate(self, roles, projects, users, grants):
        """Create the roles, projects and users missing; grant roles.

        :param users: ``{name: (password, default project name)}``
        :param grants: ``(user, project, role)`` names
        :returns: ``({role: ID}, {project: ID}, {user: ID})``, every role
                  of Keystone included
        """
        for role in roles:
            self.ensure('roles', role, {})
        role_ids = {role['name']: role['id'] for role in
                    self.request('GET', '/roles').json()['roles']}
        domain = {'domain_id': 'default'}
        project_ids = {project: self.ensure(
            'projects', project,
            dict(domain, description='functional test stack'), **domain)
            for project in projects}
        user_ids = {user: self.ensure(
            'users', user, dict(domain, password=password,
                                default_project_id=project_ids[project]),
            **domain) for user, (password, project) in users.items()}
        for user, project, role in grants:
            self.grant(user_ids[user], project_ids[project], role_ids[role])
        return role_ids, project_ids, user_ids

    def ensure_endpoints(self, service_id, url, interfaces):
        """{interface: endpoint ID} of a service, created where missing."""
        existing = self.request(
            'GET', '/endpoints?service_id=%s' % service_id).json()
        have = {endpoint['interface']: endpoint['id']
                for endpoint in existing['endpoints']}
        for interface in interfaces:
            if interface not in have:
                have[interface] = self.request('POST', '/endpoints', {
                    'endpoint': {'service_id': service_id,
                                 'interface': interface,
                                 'region_id': self.region,
                                 'url': url}}).json()['endpoint']['id']
        return have

    def add_endpoint(self, service_id, url, region, interface='public'):
        """Register an endpoint in a region, created when missing.

        :returns: the endpoint's ID
        """
        self.request('POST', '/regions', {'region': {'id': region}},
                     expect=(201, 409))
        return self.request('POST', '/endpoints', {
            'endpoint': {'service_id': service_id,
                         'interface': interface, 'region_id': region,
                         'url': url}}).json()['endpoint']['id']

    def remove_endpoint(self, endpoint_id, region=None):
        """Delete an endpoint, then its region if one is named."""
        self.request('DELETE', '/endpoints/%s' % endpoint_id,
                     expect=(204, 404))
        if region is not None:
            self.request('DELETE', '/regions/%s' % region,
                         expect=(204, 404))
