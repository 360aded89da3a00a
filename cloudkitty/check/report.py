#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
#
"""What the collector check found, and how it is shown.

The steps only add lines; this module alone decides the exit status and
writes text or JSON, so that a script reads the same verdict a person
does.
"""
import json
import sys
import time

__all__ = ['OK', 'WARNING', 'PROBLEM', 'NOT_RUN', 'EXIT_OK',
           'EXIT_PROBLEMS', 'EXIT_NOT_RUN', 'Line', 'Report', 'Progress']

OK = 'ok'
WARNING = 'warning'
PROBLEM = 'problem'
NOT_RUN = 'not run'
"""A step the check could not run, for a reason outside the deployment."""

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_NOT_RUN = 2


class Line(object):
    """One finding: a step, what was checked, the outcome and its words.

    :param step: ``configuration``, ``connection``, ``discovery`` or
        ``dry run``
    :param name: what was checked, such as ``metrics`` or a metric name
    :param status: OK, WARNING, PROBLEM or NOT_RUN
    :param message: the outcome, or the problem and its fix
    :param details: figures for automation (JSON-serialisable)
    """

    def __init__(self, step, name, status, message, details=None):
        self.step = step
        self.name = name
        self.status = status
        self.message = message
        self.details = details or {}

    def as_dict(self):
        return {'step': self.step, 'name': self.name, 'status': self.status,
                'message': self.message, 'details': self.details}


class Report(object):
    """The lines of one check, in the order found."""

    def __init__(self):
        self.lines = []
        self.period = None

    def add(self, step, name, status, message, **details):
        """Add a line; returns it."""
        line = Line(step, name, status, message, details)
        self.lines.append(line)
        return line

    def count(self, status):
        return sum(1 for line in self.lines if line.status == status)

    @property
    def exit_status(self):
        """0 all good, 1 problems found, 2 the check could not run."""
        if self.count(NOT_RUN):
            return EXIT_NOT_RUN
        if self.count(PROBLEM):
            return EXIT_PROBLEMS
        return EXIT_OK

    def summary(self):
        """The verdict on one line."""
        counts = '%d ok, %d warnings, %d problems' % (
            self.count(OK), self.count(WARNING), self.count(PROBLEM))
        status = self.exit_status
        if status == EXIT_NOT_RUN:
            return 'the check could not run (%s)' % counts
        if status == EXIT_PROBLEMS:
            return ('problems found: the processor would not rate this '
                    'usage as configured (%s)' % counts)
        return 'all good (%s)' % counts

    def as_dict(self):
        return {'exit_status': self.exit_status, 'summary': self.summary(),
                'period': self.period,
                'lines': [line.as_dict() for line in self.lines]}

    def render(self, fmt):
        """The report as ``text`` or ``json``."""
        if fmt == 'json':
            return json.dumps(self.as_dict(), indent=2, sort_keys=True,
                              default=str)
        width = max([len(line.status) for line in self.lines] + [7])
        text = ['%-*s %s: %s: %s' % (width + 2, '[%s]' % line.status,
                                     line.step, line.name, line.message)
                for line in self.lines]
        text.append('%-*s %s' % (width + 2, '[summary]', self.summary()))
        return '\n'.join(text)


class Progress(object):
    """Where a long step is, on stderr, at most once per ``every`` s.

    :param stream: where to write; stderr when None
    :param every: seconds between two lines
    :param clock: monotonic seconds; tests may pass their own
    """

    def __init__(self, stream=None, every=2.0, clock=time.monotonic):
        self._stream = stream
        self._every = every
        self._clock = clock
        self._last = None

    def say(self, text, force=False):
        now = self._clock()
        if not force and self._last is not None and (
                now - self._last < self._every):
            return
        self._last = now
        stream = self._stream or sys.stderr
        stream.write('cloudkitty-collector-check: %s\n' % text)
        stream.flush()
