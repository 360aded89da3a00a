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
"""The processor's own log lines, heard while a step runs.

The collector and the fetcher say what is wrong in their log lines
(dropped label values, a failed discovery, batching falling back); the
check shows those same lines instead of rewording them.
"""
import contextlib
import logging
import threading

from cloudkitty.check import report as report_mod

__all__ = ['MAX_KEPT', 'heard', 'add_to']

MAX_KEPT = 20
"""Log records kept per step; the others are counted only."""


class _Recorder(logging.Handler):
    """Keeps the first MAX_KEPT records from WARNING up, counts the rest."""

    def __init__(self):
        super(_Recorder, self).__init__(logging.WARNING)
        self.records = []
        self.missed = 0
        self._guard = threading.Lock()

    def emit(self, record):
        with self._guard:
            if len(self.records) < MAX_KEPT:
                self.records.append(record)
            else:
                self.missed += 1


@contextlib.contextmanager
def heard(name='cloudkitty'):
    """Record what ``name`` and below log from WARNING up.

    The records go to the recorder only, not to the log: the check's
    report shows them.

    :param name: the logger to listen to
    :returns: (as the context) the recorder, with ``records`` and
        ``missed``
    """
    logger = logging.getLogger(name)
    recorder = _Recorder()
    saved = logger.propagate, logger.level
    # A logging configuration applied earlier (alembic's, say) may have
    # silenced the loggers that existed then.
    silenced = [child for child in _family(name) if child.disabled]
    for child in silenced:
        child.disabled = False
    logger.addHandler(recorder)
    logger.propagate = False
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield recorder
    finally:
        logger.removeHandler(recorder)
        logger.propagate, level = saved
        logger.setLevel(level)
        for child in silenced:
            child.disabled = True


def _family(name):
    """The existing loggers ``name`` and below."""
    return [logger for key, logger in
            list(logging.root.manager.loggerDict.items())
            if isinstance(logger, logging.Logger) and (
                key == name or key.startswith(name + '.'))]


def add_to(report, step, recorder, skip=None):
    """One report line per record heard, and one for those not kept.

    :param report: the Report
    :param step: the step the records belong to
    :param recorder: what ``heard`` gave
    :param skip: the name of a logger whose records a line of the
        step's own already says, or None
    :returns: how many PROBLEM lines (records from ERROR up) were added
    """
    problems = 0
    for record in recorder.records:
        if record.name == skip:
            continue
        status = report_mod.WARNING
        if record.levelno >= logging.ERROR:
            status = report_mod.PROBLEM
            problems += 1
        report.add(step, 'log', status, record.getMessage(),
                   logger=record.name, level=record.levelname)
    if recorder.missed:
        report.add(step, 'log', report_mod.WARNING,
                   '%d more log lines like these' % recorder.missed)
    return problems
