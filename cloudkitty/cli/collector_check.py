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
"""cloudkitty-collector-check: what the processor would collect, ahead.

Reads the processor's configuration (``--config-file``, ``--config-dir``),
prints one line per finding and a summary, and exits 0 when all is good,
1 when it found problems, 2 when it could not run.
"""
import datetime
import logging
import sys

from oslo_config import cfg
from oslo_log import log
from oslo_utils import timeutils

from cloudkitty.check import report
from cloudkitty.check import runner

CONF = cfg.CONF

cli_opts = [
    cfg.StrOpt('format', default='text', choices=['text', 'json'],
               help='How the report is written to standard output.'),
    cfg.StrOpt('start',
               help='Start of the period to dry-run, ISO 8601 (UTC when it '
                    'has no offset) or Unix seconds; by default the last '
                    'whole period the processor would rate now.'),
]


def _start(text):
    """``--start`` as an aware datetime; None when not given.

    :raises ValueError: for a text that is no time
    """
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        moment = timeutils.parse_isotime(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return moment
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def _quiet_logs():
    """Leave stdout and stderr to the report and its progress.

    The steps show the collector's and fetcher's log lines themselves;
    ``--debug`` lets every log line through to stderr instead.
    """
    if CONF.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    else:
        logging.getLogger().addHandler(logging.NullHandler())


def main(argv=None, stdout=None, stderr=None):
    """Run the check.

    :param argv: the arguments, without the program name; sys.argv's
        when None
    :param stdout: where the report goes
    :param stderr: where progress and usage errors go
    :returns: the exit status
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    argv = sys.argv[1:] if argv is None else argv
    CONF.register_cli_opts(cli_opts)
    log.register_options(CONF)
    out = report.Report()
    try:
        CONF(argv, project='cloudkitty', validate_default_values=True)
        start = _start(CONF.start)
    except (cfg.Error, ValueError) as exc:
        stderr.write('cloudkitty-collector-check: %s\n' % exc)
        return report.EXIT_NOT_RUN
    _quiet_logs()
    try:
        runner.run(out, start, report.Progress(stderr))
    except Exception as exc:
        # Anything the steps did not foresee is the check's own failure.
        out.add('check', 'unexpected', report.NOT_RUN,
                'the check stopped (%s): %s; run it with --debug for '
                'details' % (type(exc).__name__, exc))
        if CONF.debug:
            logging.getLogger(__name__).exception('The check stopped')
    stdout.write(out.render(CONF.format) + '\n')
    return out.exit_status


def cli():
    """The console script's entry point."""
    sys.exit(main())
