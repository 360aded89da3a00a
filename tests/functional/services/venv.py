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
"""Virtualenvs of their own for the services (Keystone, Aetos, tempest).

Their requirements differ from CloudKitty's, so they never share the
virtualenv running the tests. A virtualenv is built once and reused: a
marker file written after a successful install records what was installed
(a virtualenv without it, or with other versions, is rebuilt), and a lock
file lets concurrent test processes share one build.
"""

import collections
import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import time

from functional.services import process

LOG = logging.getLogger(__name__)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

VENV_INSTALL_TIMEOUT = 1800

ServicesBase = collections.namedtuple(
    'ServicesBase', 'keystone aetos constraints')
"""Versions of the services and the upper-constraints to install with."""

BASES = {
    # Aetos 1.x refuses the "time" parameter: the collector's pinned
    # queries must still be right there (functional.test_aetos_versions,
    # tox -e functional-2025.2).
    '2025.2': ServicesBase(
        '28.1.0', '1.0.0', 'upper-constraints-2025.2.txt'),
    '2026.1': ServicesBase(
        '29.1.0', '2.0.0', 'upper-constraints-2026.1.txt'),
    # Aetos 3.0.0 enforces project-scoped policies: a system- or
    # domain-scoped token gets HTTP 403 (tox -e functional-2026.2). No
    # stable/2026.2 constraints file is at hand: the requirements master
    # file of the release's freeze (constraints/README.rst).
    '2026.2': ServicesBase(
        '30.0.0', '3.0.0', 'upper-constraints-master-2026-08.txt'),
}

DEFAULT_BASE = '2026.1'
"""The services the stack runs unless ``$AETOS_STACK_BASE`` names others."""


def base_name():
    """Name of the services base in use (a key of ``BASES``)."""
    name = os.environ.get('AETOS_STACK_BASE', DEFAULT_BASE)
    if name not in BASES:
        raise process.StackError('AETOS_STACK_BASE=%s is not one of %s'
                                 % (name, ', '.join(sorted(BASES))))
    return name


def venv_path(base=None):
    """Where the services virtualenv of a base (name) lives.

    ``$AETOS_STACK_VENV`` (default ``.stack/venv`` in the repo) for the
    default base and the same path suffixed ``-<base>`` for another one, so
    that trying another base never rebuilds a virtualenv a running stack
    uses.
    """
    root = (os.environ.get('AETOS_STACK_VENV') or
            os.path.join(REPO, '.stack', 'venv'))
    name = base or base_name()
    return root if name == DEFAULT_BASE else root + '-' + name


def constraints_path(name):
    """Path of an upper-constraints file of the repository."""
    return os.path.join(REPO, 'constraints', name)


def build_venv(path, marker_name, wanted, requirements, constraints,
               python=None):
    """Build a virtualenv unless its marker says it holds ``wanted``.

    :param wanted: what the marker records (versions); the digest of the
                   constraints file is added
    :param requirements: pip requirement strings to install
    :returns: the virtualenv's path
    """
    python = python or sys.executable
    with open(constraints, 'rb') as source:
        wanted = dict(wanted, constraints_sha256=hashlib.sha256(
            source.read()).hexdigest())
    marker = os.path.join(path, marker_name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with process.file_lock(path + '.lock', VENV_INSTALL_TIMEOUT):
        with contextlib.suppress(OSError, ValueError):
            with open(marker) as current:
                if json.load(current) == wanted:
                    return path
        started = time.monotonic()
        LOG.info('Building the virtualenv %s (%s)', path,
                 ', '.join(requirements))
        shutil.rmtree(path, ignore_errors=True)
        log_path = path + '-install.log'
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log_path)
        env = process.clean_env(PIP_DISABLE_PIP_VERSION_CHECK='1')
        process.run([python, '-m', 'venv', path], log_path, env=env)
        process.run([os.path.join(path, 'bin', 'python'), '-m', 'pip',
                     'install', '--no-input', '-c', constraints] +
                    list(requirements),
                    log_path, timeout=VENV_INSTALL_TIMEOUT, env=env)
        with open(marker, 'w') as out:
            json.dump(wanted, out, indent=1, sort_keys=True)
        LOG.info('Virtualenv built in %.1fs', time.monotonic() - started)
    return path


def ensure_venv(path=None, base=None, python=None):
    """Build the services virtualenv (Keystone, Aetos, gunicorn) if needed.

    :returns: the virtualenv's path
    """
    base = base or BASES[base_name()]
    return build_venv(
        path or venv_path(), 'stack-versions.json',
        {'keystone': base.keystone, 'aetos': base.aetos,
         'constraints': base.constraints},
        ['keystone==%s' % base.keystone, 'aetos==%s' % base.aetos,
         'gunicorn'],
        constraints_path(base.constraints),
        python or os.environ.get('AETOS_STACK_PYTHON', sys.executable))
