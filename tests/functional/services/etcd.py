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
"""A one-member etcd cluster of its own (Debian's ``etcd-server``).

It listens on two free loopback ports, keeps its data in a temporary
directory and is stopped by PID; CloudKitty's processors coordinate
through it with tooz's ``etcd3+http`` driver.
"""

import os
import shutil
import tempfile

import fixtures

from functional.services import httpclient
from functional.services import process


class Etcd(fixtures.Fixture):
    """A one-member etcd cluster of its own on 127.0.0.1."""

    NAME = 'ck-functional'

    def _setUp(self):
        program = process.find_program('etcd')
        if not program:
            raise process.StackError(
                "etcd is not installed: install Debian's etcd-server "
                "package (apt-get install etcd-server)")
        self.dir = tempfile.mkdtemp(prefix='ck-etcd-')
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.port, peer_port = process.free_ports(2)
        client = 'http://%s:%d' % (process.HOST, self.port)
        peer = 'http://%s:%d' % (process.HOST, peer_port)
        self.log = os.path.join(self.dir, 'etcd.log')
        self.child = process.ChildProcess('etcd', [
            program, '--name', self.NAME,
            '--data-dir', os.path.join(self.dir, 'data'),
            '--listen-client-urls', client,
            '--advertise-client-urls', client,
            '--listen-peer-urls', peer,
            '--initial-advertise-peer-urls', peer,
            '--initial-cluster', '%s=%s' % (self.NAME, peer),
            '--initial-cluster-token', os.path.basename(self.dir),
            '--initial-cluster-state', 'new',
        ], self.log, client + '/health', env=process.clean_env(), cwd=self.dir)
        self.addCleanup(self.child.stop)
        self.child.start()
        self.version = httpclient.http(
            'GET', client + '/version').json()['etcdserver']

    def revision(self):
        """etcd's revision: how many writes its keys have seen so far.

        Taking a tooz lock writes its key, releasing it deletes the key:
        two revisions per lock; lock leases write no key.
        """
        answer = httpclient.http(
            'POST', 'http://%s:%d/v3/maintenance/status' % (
                process.HOST, self.port), body={})
        return int(answer.json()['header']['revision'])

    @property
    def coordination_url(self):
        """``[orchestrator] coordination_url`` for tooz's etcd3gw driver."""
        return 'etcd3+http://%s:%d' % (process.HOST, self.port)
