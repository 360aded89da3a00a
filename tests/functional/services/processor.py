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
"""A running ``cloudkitty-processor``, watched through its log and states.

The one wrapper of the processor: the functional tests, the demo, the
scale benchmark and the tempest run (``functional.tempest_run``) start it
here.
"""

import os
import signal
import time

from functional.services import process

STOP_TIMEOUT = 30
"""Seconds the processor gets to stop its workers after SIGTERM."""


class EnvError(process.StackError):
    """The CloudKitty runtime could not be prepared or run."""


class Processor(object):
    """A running cloudkitty-processor, stopped by PID on exit.

    It runs in a session of its own: cotyledon's master sends SIGHUP to
    its whole process group, which must not include the test runner.

    :param conf: its cloudkitty.conf
    :param workdir: its working directory, where its output goes
        (``processor.out``)
    :param log_file: where it logs (``[DEFAULT] log_file``); None when
        it logs to its output
    :param name: how messages name it
    :param states: callable returning {scope: start of its last rated
        period}, for ``wait`` (``CloudKittyEnv.states``)
    :param scopes: the scopes ``wait_for`` waits for
    :param fail_fast: stop waiting as soon as the processor logs an error
        (a failed collection would otherwise be retried one period later,
        an hour after the test gave up).
    :param environ: its environment; the caller's when None
    """

    POLL = 0.1
    ERROR_MARKS = (' ERROR ', ' CRITICAL ')

    def __init__(self, conf, workdir, log_file=None,
                 name='cloudkitty-processor', states=None, scopes=(),
                 fail_fast=True, environ=None):
        self.conf = conf
        self.dir = workdir
        self.output = os.path.join(workdir, 'processor.out')
        self.log_file = log_file or self.output
        self.name = name
        self.states = states
        self.scopes = list(scopes)
        self.fail_fast = fail_fast
        self.environ = environ
        self.proc = None
        self.started = None
        self._forget_log()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        path = process.find_program('cloudkitty-processor')
        if not path:
            raise EnvError('cloudkitty-processor not found')
        self._forget_log()
        self.started = time.monotonic()
        self.proc = process.spawn(
            [path, '--config-file', self.conf], self.output,
            env=self.environ, cwd=self.dir)
        return self

    @property
    def running(self):
        """Whether it was started and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                # A paused group would never act on SIGTERM.
                self._signal_group(signal.SIGCONT)
            process.stop_process(self.proc, STOP_TIMEOUT, self.name,
                                 whole_group=False)
            self.proc = None

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
        self._forget_log()

    def _forget_log(self):
        try:
            self._log_read = os.path.getsize(self.log_file)
        except OSError:
            self._log_read = 0
        self._log_text = ''
        self._log_errors = []

    def log(self):
        """What the processor logged since it started (or ``mark_log``).

        Each call reads only what was added since the last one; a line
        still being written shows at the next call.
        """
        try:
            with open(self.log_file, 'rb') as f:
                f.seek(self._log_read)
                added = f.read()
        except OSError:
            return self._log_text
        complete = added.rfind(b'\n') + 1
        lines = added[:complete].decode(errors='replace')
        self._log_read += complete
        self._log_text += lines
        self._log_errors.extend(
            line for line in lines.splitlines()
            if any(mark in line for mark in self.ERROR_MARKS))
        return self._log_text

    def errors(self):
        """Lines the processor logged at ERROR level or above."""
        self.log()
        return list(self._log_errors)

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
                        process.tail(self.log_file)))
            errors = self.errors() if self.fail_fast else []
            if errors:
                raise EnvError(
                    'cloudkitty-processor logged errors while waiting for '
                    '%s (log: %s):\n%s' % (what, self.log_file,
                                           '\n'.join(errors[:20])))
            states = self.states()
            if done(states):
                return states
            if time.monotonic() > deadline:
                raise EnvError(
                    'cloudkitty-processor: no %s after %ss; states: %s\n%s'
                    % (what, timeout, states, process.tail(self.log_file)))
            time.sleep(self.POLL)

    def wait_for(self, until, timeout, scopes=None):
        """Wait until every scope (of ``scopes``) is rated to ``until``."""
        scopes = set(self.scopes if scopes is None else scopes)

        def done(states):
            return all(states.get(scope) is not None and
                       states[scope] >= until for scope in scopes)

        return self.wait(done, timeout,
                         'rating of every scope up to %s' % until)
