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
"""The tempest suite of the aetos zuul job, on one machine (tox -e tempest).

The zuul job ``cloudkitty-tempest-full-v2-fetcher-keystone-collector-aetos``
runs ``cloudkitty_tempest_plugin`` on a devstack. Here the same suite runs
against services started on 127.0.0.1:

* Keystone, Aetos and Prometheus (``stack.Stack``);
* MariaDB and InfluxDB 1.x (``services.mariadb``, ``services.influxdb``);
* ``cloudkitty-api`` and ``cloudkitty-processor`` of the CloudKitty installed
  in this environment, with the job's settings
  (``services.cloudkitty_api``, ``services.processor``);
* tempest and the plugin, pinned, in a virtualenv of their own.

``python -m functional.tempest_run --workspace DIR`` (from ``tests/``)
writes tempest.conf into DIR/etc, runs ``tempest run`` there (its stestr
repository is DIR/.stestr), prints tempest's counts and exits non-zero
when a test failed or the run could not be set up.
"""

import argparse
import concurrent.futures
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from functional.services import cloudkitty_api
from functional.services import config
from functional.services import influxdb
from functional.services import mariadb as mariadb_mod
from functional.services import process
from functional.services import processor as processor_mod
from functional.services import venv as venv_mod
from functional import stack

LOG = logging.getLogger(__name__)

# Tempest and its plugin are branchless; these releases install with the
# upper-constraints of the base release (2026.1, CloudKitty 24.0.0).
TEMPEST = '47.0.0'
PLUGIN = '3.6.0'
CONSTRAINTS = venv_mod.constraints_path('upper-constraints-2026.1.txt')
# The zuul job's tempest_test_regex (base-cloudkitty-v2-api-tempest-job):
# every test of the plugin.
REGEX = 'cloudkitty_tempest_plugin'
# Like the job's tempest_concurrency.
CONCURRENCY = 1
TEMPEST_TIMEOUT = 1200
DATABASE = 'cloudkitty'


def venv_path():
    """``$AETOS_TEMPEST_VENV``, by default ``.stack/tempest-venv``."""
    return (os.environ.get('AETOS_TEMPEST_VENV') or
            os.path.join(venv_mod.REPO, '.stack', 'tempest-venv'))


def ensure_venv(path):
    """Build the tempest virtualenv unless a complete one is there."""
    LOG.info('Tempest virtualenv: %s', path)
    return venv_mod.build_venv(
        path, 'tempest-versions.json',
        {'tempest': TEMPEST, 'cloudkitty-tempest-plugin': PLUGIN},
        ['tempest==' + TEMPEST, 'cloudkitty-tempest-plugin==' + PLUGIN],
        CONSTRAINTS)


def tempest_config(stack_, workspace):
    """tempest.conf: identity v3, what runs here, the rating service."""
    available = {name: 'false' for name in (
        'nova', 'neutron', 'cinder', 'glance', 'swift', 'horizon')}
    available.update(keystone='true', cloudkitty='true')
    return {
        'DEFAULT': {'log_dir': workspace, 'log_file': 'tempest.log'},
        'auth': {'admin_username': stack_.admin_user,
                 'admin_password': stack_.admin_password,
                 'admin_project_name': stack_.admin_project,
                 'admin_domain_name': 'Default',
                 'default_credentials_domain_name': 'Default',
                 'use_dynamic_credentials': 'true',
                 'create_isolated_networks': 'false'},
        'identity': {'uri_v3': stack_.keystone_url, 'auth_version': 'v3',
                     'region': stack_.region,
                     'v3_endpoint_type': 'public'},
        'identity-feature-enabled': {'api_v2': 'false'},
        'service_available': available,
        # The plugin's options (cloudkitty_tempest_plugin.config).
        'rating_plugin': {'service_name': cloudkitty_api.SERVICE_TYPE,
                          'user_name': stack_.cloudkitty_user,
                          'endpoint_type': 'publicURL'},
    }


def run_tempest(venv, workspace, conf):
    """Run the plugin's tests; return (exit status, output lines).

    tempest and its test workers are killed (their process group) when
    they outlive ``TEMPEST_TIMEOUT``.
    """
    argv = [os.path.join(venv, 'bin', 'tempest'), 'run',
            '--config-file', conf, '--regex', REGEX,
            '--concurrency', str(CONCURRENCY)]
    print('$ ' + ' '.join(argv), flush=True)
    lines = []
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, cwd=workspace, start_new_session=True,
        env=process.clean_env(), universal_newlines=True)
    expired = []

    def expire():
        expired.append(True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(TEMPEST_TIMEOUT, expire)
    timer.start()
    try:
        with proc:
            for line in proc.stdout:
                lines.append(line.rstrip('\n'))
                print(line, end='', flush=True)
    finally:
        timer.cancel()
    if expired:
        raise process.StackError('tempest did not finish within %ss'
                                 % TEMPEST_TIMEOUT)
    return proc.returncode, lines


_TOTAL = re.compile(r'^ - (Passed|Skipped|Failed|Expected Fail|'
                    r'Unexpected Success): (\d+)$')
_SKIPPED = re.compile(r'^\{\d+\} (\S+) .*\.\.\. SKIPPED: (.*)$')


def counts(lines):
    """Tempest's totals ({kind: number}) and skip reasons {test: why}."""
    totals = {}
    skips = {}
    for line in lines:
        match = _TOTAL.match(line)
        if match:
            totals[match.group(1).lower()] = int(match.group(2))
        match = _SKIPPED.match(line)
        if match:
            skips[match.group(1)] = match.group(2)
    return totals, skips


class TempestRun(object):
    """Everything the suite needs, started in order, stopped in reverse."""

    def __init__(self, workspace, workdir):
        self.workspace = workspace
        self.workdir = workdir
        self.timings = {}
        self.cleanup = contextlib.ExitStack()
        self.stack = self.api = self.processor = self.mariadb = None

    def _timed(self, name, func, *args):
        started = time.monotonic()
        result = func(*args)
        self.timings[name] = round(time.monotonic() - started, 1)
        return result

    def start(self, venv):
        """Start the services; build the tempest virtualenv meanwhile."""
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            building = pool.submit(self._timed, 'tempest_venv', ensure_venv,
                                   venv)
            self.stack = stack.Stack(workdir=os.path.join(self.workdir,
                                                          'stack'))
            self.cleanup.callback(self.stack.stop)
            self._timed('stack', self.stack.start)
            self._timed('cloudkitty', self._start_cloudkitty)
            building.result()

    def _start_cloudkitty(self):
        self._grant_service_role()
        mariadb = self.mariadb = mariadb_mod.MariaDB(self.workdir)
        mariadb.setUp()
        self.cleanup.callback(mariadb.cleanUp)
        influx = influxdb.InfluxDB(self.workdir)
        self.cleanup.callback(influx.stop)
        influx.start()
        influx.create_database()
        self.api = cloudkitty_api.CloudKittyAPI(self.stack, self.workdir)
        conf = self.api.write_config(cloudkitty_api.devstack_config(
            self.stack, mariadb.create_database(DATABASE), influx,
            os.path.join(self.workdir, 'locks')))
        log_path = os.path.join(self.workdir, 'cloudkitty-init.log')
        for program, args in (('cloudkitty-dbsync', ['upgrade']),
                              ('cloudkitty-storage-init', [])):
            process.run([process.find_program(program),
                         '--config-file', conf] + args, log_path,
                        env=process.clean_env(), cwd=self.workdir)
        # No log_file in the job's configuration: it logs to its output.
        self.processor = processor_mod.Processor(
            conf, self.workdir, environ=process.clean_env())
        self.cleanup.callback(self.processor.stop)
        self.processor.start()
        self.cleanup.callback(self.api.stop)
        self.api.start()
        self.api.register()

    def _grant_service_role(self):
        """What devstack/plugin.sh grants: the service role on service."""
        stack_ = self.stack
        stack_.keystone_request('PUT', '/projects/%s/users/%s/roles/%s' % (
            stack_.project_ids[stack.SERVICE_PROJECT],
            stack_.user_ids[stack_.cloudkitty_user],
            stack_.role_ids['service']))

    def run(self, venv):
        """Run the suite; return (tempest's status, its output lines)."""
        etc = os.path.join(self.workspace, 'etc')
        os.makedirs(etc, exist_ok=True)
        conf = os.path.join(etc, 'tempest.conf')
        config.write_ini(conf, tempest_config(self.stack, self.workspace))
        return self._timed('tempest', run_tempest, venv, self.workspace,
                           conf)

    def rated_scopes(self):
        """Scopes the processor rated at least one period of."""
        [(count,)] = self.mariadb.query(DATABASE, (
            'SELECT COUNT(*) FROM cloudkitty_storage_states WHERE '
            'collector = %s AND fetcher = %s AND '
            'last_processed_timestamp IS NOT NULL', ('aetos', 'keystone')))
        return count

    def stop(self):
        self.cleanup.close()


def check_processor(run):
    """Whether cloudkitty-processor ran the job's collection cleanly.

    It must still run, have logged no error and have rated a period of at
    least one scope the keystone fetcher found, through Aetos.
    """
    processor = run.processor
    errors = processor.errors()
    for line in errors[:20]:
        print('cloudkitty-processor: ' + line)
    scopes = run.rated_scopes()
    print('cloudkitty-processor: %s, %d scopes rated (aetos collector, '
          'keystone fetcher), %d ERROR lines' % (
              'running' if processor.running else 'EXITED', scopes,
              len(errors)))
    return processor.running and not errors and scopes > 0


def report(status, lines, run, elapsed):
    """Print the counts, skip reasons and the processor's health.

    :returns: the exit status of the run
    """
    totals, skips = counts(lines)
    for test, reason in sorted(skips.items()):
        print('skipped by the plugin: %s: %s' % (test, reason))
    processor_ok = check_processor(run)
    failed = totals.get('failed', 0) + totals.get('unexpected success', 0)
    print('tempest (%s): %d passed, %d failed, %d skipped in %.0fs' % (
        REGEX, totals.get('passed', 0), failed, totals.get('skipped', 0),
        elapsed), flush=True)
    if status == 0 and not totals.get('passed'):
        print('tempest ran no test', file=sys.stderr)
        return 1
    if not processor_ok:
        print('cloudkitty-processor did not rate cleanly: see its log',
              file=sys.stderr)
        return status or 1
    if status == 0 and failed:
        return 1
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workspace', required=True,
                        help='tempest workspace (etc/tempest.conf, '
                             '.stestr, tempest.log)')
    parser.add_argument('--keep', action='store_true',
                        help='keep the services\' files and logs')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(message)s')
    started = time.monotonic()
    os.makedirs(args.workspace, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix='ck-tempest-')
    run = TempestRun(os.path.abspath(args.workspace), workdir)
    keep = args.keep
    try:
        venv = venv_path()
        run.start(venv)
        status, lines = run.run(venv)
        status = report(status, lines, run, time.monotonic() - started)
        keep = keep or status != 0
    except BaseException:
        keep = True
        raise
    finally:
        run.stop()
        print('timings (s): %s' % json.dumps(run.timings, sort_keys=True))
        if keep:
            print('services\' files and logs kept in %s' % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == '__main__':
    sys.exit(main())
