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
"""Start a functional ``Stack`` by hand: ``python tests/functional/stack.py``.

``up`` runs a stack until Ctrl-C or SIGTERM and prints how to reach it
(URLs, users, passwords, projects, log files); ``venv`` only builds the
services virtualenv.
"""

import argparse
import json
import logging
import signal
import sys
import time

from functional import dataset
from functional.services import venv
from functional import stack as stack_mod


def describe(stack):
    """What a client needs to use the stack, as plain data."""
    def user(name):
        password, project = stack.credentials(name)
        return {'username': name, 'password': password,
                'project_name': project}

    return {
        'base': dict(stack.base._asdict(), name=stack.base_name),
        'keystone_url': stack.keystone_url,
        'prometheus_url': stack.prometheus_url,
        'aetos_url': stack.aetos_url,
        'region': stack.region,
        'admin': user(stack.admin_user),
        'cloudkitty': user(stack.cloudkitty_user),
        'observer': user(stack.reader_user),
        'collector_aetos': stack.collector_options(),
        'rated_projects': stack.projects,
        'other_projects': stack.other_projects,
        'dataset': {'start': stack.dataset.start,
                    'end': stack.dataset.end,
                    'step': dataset.STEP},
        'pids': {name: child.pid
                 for name, child in stack.processes.items()},
        'logs': stack.logs,
        'workdir': stack.workdir,
        'timings': stack.timings,
    }


def main(argv=None):
    """Command line: ``up`` runs a stack until interrupted."""
    parser = argparse.ArgumentParser(
        description=stack_mod.__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    up = sub.add_parser('up', help='start a stack and wait for Ctrl-C or '
                                   'SIGTERM, then stop it')
    up.add_argument('--token-expiration', type=int,
                    help='Keystone token lifetime in seconds')
    up.add_argument('--keep', action='store_true',
                    help='keep the working directory')
    sub.add_parser('venv', help='only build the services virtualenv')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(message)s')
    if args.command == 'venv':
        print(venv.ensure_venv())
        return 0

    def interrupt(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, interrupt)
    stack = stack_mod.Stack(token_expiration=args.token_expiration,
                            keep=args.keep)
    try:
        stack.start()
        print(json.dumps(describe(stack), indent=2, sort_keys=True),
              flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stack.stop()
    return 0
