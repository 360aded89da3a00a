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
"""Child processes of the local services: start, wait, stop, inspect.

Every long-running service is a child in a process group of its own, so
that stopping it signals that group only (gunicorn workers go with their
master, nothing else on the machine is touched).
"""

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from functional.services import httpclient

LOG = logging.getLogger(__name__)

HOST = '127.0.0.1'
COMMAND_TIMEOUT = 120
START_TIMEOUT = 90
STOP_TIMEOUT = 15


class StackError(Exception):
    """A service could not be built, started, configured or stopped."""


def tail(path, lines=30):
    """Last lines of a log file, for error messages."""
    try:
        with open(path, errors='replace') as log:
            return ''.join(log.readlines()[-lines:])
    except OSError:
        return ''


def free_ports(count):
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


def clean_env(**extra):
    """Environment for the services, free of the caller's settings.

    ``OS_*`` variables would reach oslo.config, PYTHONPATH would let the
    services import the code under test instead of their own libraries,
    ``ETCD*`` would configure etcd, and tox's PIP_CONSTRAINT (CloudKitty's
    release) would clash with the constraints of the services' release.
    """
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(('OS_', 'GUNICORN_', 'PYTHON', 'ETCD')) and
           key not in ('VIRTUAL_ENV', 'PIP_CONSTRAINT')}
    env.update(extra)
    return env


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


def run(argv, log_path, timeout=COMMAND_TIMEOUT, env=None, cwd=None):
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
                            tail(log_path)))


@contextlib.contextmanager
def file_lock(path, timeout):
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


def _group_alive(pgid, proc):
    """Whether the process or anything left in its group still runs."""
    if proc.poll() is None:
        return True
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process(proc, timeout=STOP_TIMEOUT, name=None, whole_group=True):
    """SIGTERM a child started in a session of its own, SIGKILL leftovers.

    With ``whole_group`` the group gets SIGTERM, otherwise only ``proc``
    (a master that stops its own workers). Whatever still runs in the
    group after ``timeout`` is killed.

    :raises StackError: when the process survives SIGKILL
    """
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        if whole_group:
            os.killpg(pgid, signal.SIGTERM)
        elif proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pgid, proc):
        time.sleep(0.05)
    if _group_alive(pgid, proc):
        LOG.warning('%s (pid %s) ignored SIGTERM for %ss: killing it',
                    name or proc.args[0], pgid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise StackError('%s (pid %s) survived SIGKILL'
                             % (name or proc.args[0], pgid))


def spawn(argv, log_path, env=None, cwd=None, mode='ab'):
    """Start ``argv`` in a session of its own, output to ``log_path``."""
    with open(log_path, mode) as log:
        log.write(('--- %s: %s\n' % (time.strftime('%H:%M:%S'),
                                     ' '.join(argv))).encode())
        log.flush()
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            start_new_session=True)


class LocalService(object):
    """A service on a loopback port, run by one ``ChildProcess``.

    What every service module subclasses: subclasses set ``port`` and,
    once started, ``child``.
    """

    scheme = 'http'
    port = None
    child = None

    @property
    def url(self):
        """Root URL of the service."""
        return '%s://%s:%s' % (self.scheme, HOST, self.port)

    def stop(self):
        """Stop the service by its PID; safe to call more than once.

        It can be started again with ``child.start()``.
        """
        if self.child is not None:
            self.child.stop()


class ChildProcess(object):
    """One long-running child process, alone in its process group.

    :param ready_url: URL answering ``ready_status`` once the process
                      serves (None: nothing to wait for)
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
        self.proc = spawn(self.argv, self.log_path, self.env, self.cwd)
        LOG.debug('%s started, pid %s', self.name, self.proc.pid)

    def wait_ready(self, timeout=START_TIMEOUT):
        """Poll the readiness URL until it answers as expected."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.running:
                raise StackError('%s exited with status %s, see %s:\n%s'
                                 % (self.name, self.proc.returncode,
                                    self.log_path, tail(self.log_path)))
            try:
                last = httpclient.http('GET', self.ready_url, timeout=10,
                                       context=self.ssl_context).status
                if last in self.ready_status:
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        raise StackError('%s did not answer %s within %ss (last: %s), see '
                         '%s:\n%s' % (self.name, self.ready_url, timeout,
                                      last, self.log_path,
                                      tail(self.log_path)))

    def start(self, timeout=START_TIMEOUT):
        """Start the process and wait until it serves."""
        self.spawn()
        self.wait_ready(timeout)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM the process group, SIGKILL it if it outlives timeout."""
        if self.proc is None:
            return
        stop_process(self.proc, timeout, self.name)
        self.proc = None
