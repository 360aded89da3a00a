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
"""A MariaDB server of its own for CloudKitty, on a unix socket.

Debian's ``mariadb-server`` package provides the programs; the server runs
in a temporary directory, without TCP. CloudKitty 24.0.0 needs a real SQL
server for a priced run: on sqlite the hashmap migration 8a591f85865f fails
("no such column: hashmap_mappings.created_at") and on PostgreSQL migration
f8c799db4aa0 runs a plain SQL string, which SQLAlchemy 2 refuses.
"""

import os
import shutil
import subprocess
import tempfile
import time

import fixtures
import pymysql

from functional.services import process


class MariaDB(fixtures.Fixture):
    """A MariaDB server of its own, on a unix socket, no TCP at all."""

    START_TIMEOUT = 60

    def __init__(self, workdir=None):
        super(MariaDB, self).__init__()
        self._workdir = workdir
        self.proc = None

    def _setUp(self):
        server = process.find_program('mariadbd', 'mysqld')
        install_db = process.find_program('mariadb-install-db',
                                          'mysql_install_db')
        if not server or not install_db:
            raise process.StackError(
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
            raise process.StackError('%s failed:\n%s'
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
        self.addCleanup(process.stop_process, self.proc, 30, 'mariadb',
                        False)
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + self.START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise process.StackError(
                    'MariaDB exited with status %s:\n%s' % (
                        self.proc.returncode, process.tail(self.log)))
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise process.StackError(
                        'MariaDB not ready after %ss:\n%s' % (
                            self.START_TIMEOUT, process.tail(self.log)))
                time.sleep(0.2)

    def connect(self, database=None):
        return pymysql.connect(unix_socket=self.socket, user='root',
                               database=database, charset='utf8mb4',
                               autocommit=True, connect_timeout=5)

    def query(self, database, *statements):
        """Run (sql, args) statements on one connection; the last's rows."""
        conn = self.connect(database)
        try:
            with conn.cursor() as cursor:
                for sql, args in statements:
                    cursor.execute(sql, args)
                return cursor.fetchall()
        finally:
            conn.close()

    def create_database(self, name):
        """Create an empty database; return its SQLAlchemy URL."""
        self.query(None, ('DROP DATABASE IF EXISTS `%s`' % name, None),
                   ('CREATE DATABASE `%s` CHARACTER SET utf8mb4' % name,
                    None))
        return self.url(name)

    def url(self, database):
        return ('mysql+pymysql://root@localhost/%s?unix_socket=%s'
                '&charset=utf8mb4' % (database, self.socket))
