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
"""A private InfluxDB 1.x on 127.0.0.1, CloudKitty's v2 storage in devstack.

The devstack jobs of CloudKitty store rated data in InfluxDB 1.x (storage
version 2, backend ``influxdb``). Here the server is Debian's ``influxdb``
package (``influxd``), started as a child process in a process group of
its own, with its configuration, data and logs in one directory and every
port it opens on loopback, chosen free: it never touches the package's
own service, files or ports, and is stopped by its PID.
"""

import os
import urllib.parse

from functional.services import httpclient
from functional.services import process

INFLUXD = os.environ.get('AETOS_STACK_INFLUXD', '/usr/bin/influxd')
DATABASE = 'cloudkitty'


class InfluxDBError(process.StackError):
    """InfluxDB could not be started or set up."""


def _toml(sections):
    """InfluxDB's TOML configuration from ``{section: {key: value}}``.

    Only strings and booleans are needed; the top-level keys are under
    the section ``''``.
    """
    lines = []
    for section, options in sections.items():
        if section:
            lines.append('[%s]' % section)
        for key, value in options.items():
            if isinstance(value, bool):
                text = 'true' if value else 'false'
            else:
                text = '"%s"' % value
            lines.append('%s = %s' % (key, text))
        lines.append('')
    return '\n'.join(lines)


class InfluxDB(process.LocalService):
    """``influxd`` serving HTTP on a free loopback port.

    :param workdir: directory that receives ``influxdb/`` (configuration,
        data, write-ahead log and the server's log)
    """

    def __init__(self, workdir):
        self.home = os.path.join(workdir, 'influxdb')
        self.log_path = os.path.join(self.home, 'influxd.log')

    def start(self, timeout=process.START_TIMEOUT):
        """Write the configuration, start ``influxd`` and wait for /ping."""
        if not os.access(INFLUXD, os.X_OK):
            raise InfluxDBError(
                "%s not found: install Debian's influxdb package "
                "(apt-get install influxdb)" % INFLUXD)
        os.makedirs(self.home, exist_ok=True)
        # HTTP, and the RPC service of backup and restore (the top-level
        # bind-address), each on a port of its own.
        self.port, rpc_port = process.free_ports(2)
        conf = os.path.join(self.home, 'influxdb.conf')
        with open(conf, 'w') as out:
            out.write(_toml(self._settings(rpc_port)))
        self.child = process.ChildProcess(
            'influxdb', [INFLUXD, '-config', conf], self.log_path,
            self.url + '/ping', ready_status=(204,),
            env=process.clean_env(), cwd=self.home)
        self.child.start(timeout)

    def _settings(self, rpc_port):
        return {
            '': {'reporting-disabled': True,
                 'bind-address': '%s:%s' % (process.HOST, rpc_port)},
            'meta': {'dir': os.path.join(self.home, 'meta')},
            'data': {'dir': os.path.join(self.home, 'data'),
                     'wal-dir': os.path.join(self.home, 'wal'),
                     'query-log-enabled': False},
            # Its own statistics would be written into _internal every
            # ten seconds: nothing here reads them.
            'monitor': {'store-enabled': False},
            'http': {'bind-address': '%s:%s' % (process.HOST, self.port),
                     'auth-enabled': False,
                     'log-enabled': False,
                     'pprof-enabled': False},
        }

    def query(self, statement):
        """Run one InfluxQL statement; return the decoded answer.

        :raises InfluxDBError: when the server answers with an error
        """
        answer = httpclient.http(
            'POST', self.url + '/query?' + urllib.parse.urlencode(
                {'q': statement}))
        body = answer.json() if answer.body else {}
        errors = [result['error'] for result in body.get('results', ())
                  if 'error' in result]
        if answer.status != 200 or errors or 'error' in body:
            raise InfluxDBError('InfluxDB refused %r: %s %s' % (
                statement, answer.status, answer.text[:300]))
        return body

    def create_database(self, name=DATABASE):
        """Create a database, as the devstack plugin does with ``influx``."""
        self.query('CREATE DATABASE "%s"' % name)
        return name
