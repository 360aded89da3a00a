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
"""Aetos under gunicorn, in front of a Prometheus, checking Keystone tokens.

keystonemiddleware reads its options through a configuration object of
its own, from the files oslo.config finds for the "aetos" project, not
from Aetos' command line: the file goes where that search looks first,
``~/.aetos/``, with HOME pointing at the service's directory.

gunicorn's access log is where tests see the queries Aetos received:
``access_log`` and ``Aetos.requests`` read it.
"""

import collections
import os
import re
import time
import urllib.parse

from functional.services import config
from functional.services import process

THREADS = 4
"""Threads of each gunicorn worker: each keeps its client's connection."""

ACCESS_LOG_WAIT = 5
"""Seconds to wait for gunicorn to log the requests a test expects: it
logs a request once it has answered it."""

Request = collections.namedtuple('Request', 'params status')
"""One instant query in Aetos' access log: its {parameter: value} and the
HTTP status Aetos answered."""

_QUERY = re.compile(r'"GET /api/v1/query\?(\S*) HTTP/[\d.]+" (\d{3}) ')


def access_log(log_path, offset=0):
    """The instant queries a gunicorn access log shows after ``offset``.

    :returns: list of ``Request``, in the order answered
    """
    with open(log_path, errors='replace') as lines:
        lines.seek(offset)
        found = [_QUERY.search(line) for line in lines]
    return [Request(dict(urllib.parse.parse_qsl(match.group(1))),
                    int(match.group(2)))
            for match in found if match]


class Aetos(process.LocalService):
    """One Aetos; several may front the same or different Prometheus.

    :param venv: virtualenv holding aetos and gunicorn
    :param home: directory for its configuration (HOME of the process)
    :param credentials: ``(user, password, project)`` of its service user
    :param certfile: with ``keyfile``, serve HTTPS; ``ssl_context`` must
                     then trust the certificate (readiness check)
    """

    def __init__(self, name, venv, home, log_path, keystone_url,
                 prometheus_port, credentials, project_label='project_id',
                 workers=1, certfile=None, keyfile=None, ssl_context=None):
        self.name = name
        self.venv = venv
        self.home = home
        self.log_path = log_path
        self.keystone_url = keystone_url
        self.prometheus_port = prometheus_port
        self.credentials = credentials
        self.project_label = project_label
        self.workers = workers
        self.tls = (certfile, keyfile) if certfile else None
        self.scheme = 'https' if certfile else 'http'
        self.ssl_context = ssl_context
        self.port = process.free_ports(1)[0]

    def _write_conf(self):
        user, password, project = self.credentials
        os.makedirs(os.path.join(self.home, '.aetos'))
        config.write_ini(os.path.join(self.home, '.aetos', 'aetos.conf'), {
            'DEFAULT': {'auth_mode': 'keystone', 'debug': 'false'},
            'prometheus': {'host': process.HOST,
                           'port': self.prometheus_port,
                           'project_label_name': self.project_label},
            'keystone_authtoken': {
                'www_authenticate_uri': self.keystone_url,
                'auth_url': self.keystone_url,
                'auth_type': 'password',
                'username': user,
                'password': password,
                'user_domain_id': 'default',
                'project_name': project,
                'project_domain_id': 'default',
                'service_token_roles_required': 'true'},
        })

    def spawn(self):
        """Write the configuration and start Aetos without waiting."""
        self._write_conf()
        # Threaded workers keep connections alive between requests, as
        # Aetos behind Apache or uWSGI does; sync workers close each one.
        extra = {'worker_class': 'gthread', 'threads': THREADS}
        if self.tls:
            extra.update(certfile=self.tls[0], keyfile=self.tls[1])
        gunicorn_conf = config.write_gunicorn_conf(
            self.home, self.name, 'aetos.wsgi.api:application', self.port,
            self.workers, **extra)
        self.child = process.ChildProcess(
            self.name, [os.path.join(self.venv, 'bin', 'gunicorn')],
            self.log_path, self.url + '/',
            env=config.gunicorn_env(gunicorn_conf, HOME=self.home),
            cwd=self.home, ssl_context=self.ssl_context)
        self.child.spawn()
        return self

    def start(self):
        """Start Aetos and wait until it serves; return it."""
        self.spawn()
        self.child.wait_ready()
        return self

    def log_size(self):
        """Where the access log ends now: an offset for ``requests``."""
        return os.path.getsize(self.log_path)

    def requests(self, offset=0, expected=0, answered_only=False):
        """The instant queries Aetos logged after ``offset``.

        Waits up to ``ACCESS_LOG_WAIT`` seconds for ``expected`` of them
        to show (of those answered with status 200 if ``answered_only``).

        :returns: list of ``Request``, in the order answered
        """
        deadline = time.monotonic() + ACCESS_LOG_WAIT
        while True:
            found = access_log(self.log_path, offset)
            counted = [request for request in found
                       if request.status == 200 or not answered_only]
            if len(counted) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
