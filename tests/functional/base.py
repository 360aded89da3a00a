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
"""One stack for the whole functional run, and a way to configure CloudKitty.

Starting Keystone, Aetos and Prometheus takes tens of seconds, so every test
that only reads shares one stack, started on first use and stopped when the
test process exits. Tests that stop services must start them again; tests
that need a differently configured stack build their own.
"""

import os
import shutil
import tempfile

from oslo_config import cfg
import yaml

from cloudkitty import collector

from functional import stack as stack_mod

_SHARED = {}


def shared_stack():
    """The process-wide stack, started on first call."""
    if 'stack' not in _SHARED:
        stack = stack_mod.Stack()
        stack.start()   # registers its own stop at exit
        _SHARED['stack'] = stack
    return _SHARED['stack']


def class_workdir(test_class, prefix):
    """A temporary directory removed when ``test_class`` is done."""
    path = tempfile.mkdtemp(prefix=prefix)
    test_class.addClassCleanup(shutil.rmtree, path, True)
    return path


def write_config(directory, sections):
    """Write a cloudkitty.conf made of ``{section: {option: value}}``."""
    path = os.path.join(directory, 'cloudkitty.conf')
    with open(path, 'w') as out:
        for section, options in sections.items():
            out.write('[%s]\n' % section)
            for name, value in options.items():
                out.write('%s = %s\n' % (name, value))
            out.write('\n')
    return path


def load_config(sections, directory):
    """Parse a real cloudkitty.conf into the global CONF, as services do.

    Returns the file's path. The options of keystoneauth's password plugin
    only exist once the collector loads them, which is why a file (and not
    set_override) carries them.
    """
    path = write_config(directory, sections)
    cfg.CONF.reset()
    cfg.CONF(['--config-file', path], project='cloudkitty',
             default_config_files=[])
    return path


def load_collector(stack, directory, metrics, name='aetos', period=3600,
                   **aetos_options):
    """A collector loaded as cloudkitty-processor loads it (stevedore).

    Writes ``metrics`` as metrics.yml and a cloudkitty.conf pointing both
    collectors at ``stack`` into ``directory``, then loads ``name``.
    ``aetos_options`` override the stack's ``[collector_aetos]`` options;
    a value of None removes the option.
    """
    metrics_file = os.path.join(directory, 'metrics.yml')
    with open(metrics_file, 'w') as out:
        yaml.safe_dump(metrics, out)
    options = dict(stack.collector_options(), **aetos_options)
    load_config({
        'collect': {'collector': name, 'period': period,
                    'scope_key': 'project_id',
                    'metrics_conf': metrics_file},
        'collector_prometheus': {
            'prometheus_url': stack.prometheus_url + '/api/v1'},
        'collector_aetos': {key: value for key, value in options.items()
                            if value is not None},
    }, directory)
    return collector.get_collector()
