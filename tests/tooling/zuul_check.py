#!/usr/bin/env python3
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
"""Static checks of this repository's Zuul configuration.

Zuul itself only reports a broken configuration once a change reaches it.
This script catches the usual slips earlier, in the pep8 step::

    python tests/tooling/zuul_check.py zuul.d

It loads every YAML file of the directory and checks that:

* each file is a list of single-key mappings of a known Zuul type;
* every job has a well-formed ``name`` (lower case letters, digits and
  dashes) that no other job of the directory uses, and a ``description``;
* every ``parent`` is a job of the directory or a known external job;
* every job run by a ``project`` or ``project-template`` pipeline is defined
  here or is a known external job, and every template used is known;
* every gate job also runs in check;
* every playbook a job names exists in the repository.

It prints one line per problem and exits with status 1 if there is any.
"""

import os
import re
import sys

import yaml

# Jobs defined by other repositories that this configuration may use as a
# parent or run directly. A name missing here is most likely a typo.
KNOWN_EXTERNAL_JOBS = frozenset([
    # openstack/cloudkitty
    'base-cloudkitty-tempest-job',
    'base-cloudkitty-v1-api-tempest-job',
    'base-cloudkitty-v2-api-tempest-job',
    # openstack/devstack and openstack/tempest
    'devstack',
    'devstack-tempest',
    # openstack/openstack-zuul-jobs
    'openstack-tox',
    'openstack-tox-docs',
    'openstack-tox-pep8',
    'openstack-tox-py310',
    'openstack-tox-py311',
    'openstack-tox-py312',
    'openstack-tox-functional-py311',
    'openstack-tox-functional-py312',
    'build-openstack-releasenotes',
])

# Project templates of openstack/openstack-zuul-jobs that may be used.
KNOWN_TEMPLATES = frozenset([
    'check-requirements',
    'openstack-cover-jobs',
    'openstack-python3-jobs',
    'periodic-stable-jobs',
    'publish-openstack-docs-pti',
    'release-notes-jobs-python3',
])

# Top-level configuration objects Zuul accepts in a project's zuul.d.
KNOWN_TYPES = frozenset([
    'job', 'nodeset', 'pragma', 'project', 'project-template', 'queue',
    'secret', 'semaphore',
])

# Keys of a project or template stanza that are not pipelines.
PROJECT_ATTRIBUTES = frozenset([
    'name', 'templates', 'description', 'default-branch', 'merge-mode',
    'queue', 'vars', 'branches',
])

PLAYBOOK_KEYS = ('pre-run', 'run', 'post-run', 'cleanup-run')

JOB_NAME = re.compile(r'^[a-z0-9]+(-[a-z0-9]+)*$')
YAML_SUFFIXES = ('.yaml', '.yml')


class ZuulConfig(object):
    """The objects of one zuul.d directory, with where each came from."""

    def __init__(self):
        # Each entry: (file name, index in the file, type, body)
        self.items = []
        self.errors = []

    def of_type(self, kind):
        return [(source, body) for source, _, item_kind, body in self.items
                if item_kind == kind]


def _describe_yaml_error(exc):
    problem = getattr(exc, 'problem', None) or type(exc).__name__
    mark = getattr(exc, 'problem_mark', None)
    if mark is not None:
        return '%s (line %d, column %d)' % (problem, mark.line + 1,
                                            mark.column + 1)
    return problem


def load(zuul_dir):
    """Read every YAML file of ``zuul_dir`` into a ZuulConfig.

    Problems with the files' shape are collected in ``errors`` rather than
    raised, so that one run reports all of them.
    """
    config = ZuulConfig()
    names = sorted(n for n in os.listdir(zuul_dir)
                   if n.endswith(YAML_SUFFIXES))
    if not names:
        config.errors.append('%s: no YAML file found' % zuul_dir)
    for name in names:
        path = os.path.join(zuul_dir, name)
        try:
            with open(path, encoding='utf-8') as f:
                document = yaml.safe_load(f)
        except yaml.YAMLError as exc:
            config.errors.append('%s: not valid YAML: %s'
                                 % (name, _describe_yaml_error(exc)))
            continue
        if document is None:
            continue
        if not isinstance(document, list):
            config.errors.append('%s: the file must hold a list of Zuul '
                                 'objects' % name)
            continue
        for index, item in enumerate(document, 1):
            if not isinstance(item, dict) or len(item) != 1:
                config.errors.append(
                    '%s: item %d must be a mapping with exactly one key '
                    '(job, project...)' % (name, index))
                continue
            kind, body = next(iter(item.items()))
            if kind not in KNOWN_TYPES:
                config.errors.append('%s: item %d has the unknown type %r'
                                     % (name, index, kind))
                continue
            if not isinstance(body, dict):
                config.errors.append('%s: the %s of item %d must be a '
                                     'mapping' % (name, kind, index))
                continue
            config.items.append((name, index, kind, body))
    return config


def _pipeline_jobs(source, owner, body, errors):
    """Yield (pipeline, job name) for every job a project stanza runs."""
    for pipeline, value in body.items():
        if pipeline in PROJECT_ATTRIBUTES:
            continue
        if not isinstance(value, dict):
            errors.append('%s: %s pipeline %r must be a mapping with a '
                          '"jobs" list' % (source, owner, pipeline))
            continue
        jobs = value.get('jobs') or []
        if not isinstance(jobs, list):
            errors.append('%s: %s pipeline %r: "jobs" must be a list'
                          % (source, owner, pipeline))
            continue
        for entry in jobs:
            if isinstance(entry, str):
                yield pipeline, entry
            elif isinstance(entry, dict) and len(entry) == 1:
                yield pipeline, next(iter(entry))
            else:
                errors.append('%s: %s pipeline %r has a malformed job entry '
                              '%r' % (source, owner, pipeline, entry))


def _check_jobs(config, repo_root, errors):
    defined = {}
    for source, job in config.of_type('job'):
        name = job.get('name')
        if not isinstance(name, str) or not name:
            errors.append('%s: a job has no name' % source)
            continue
        where = '%s: job %r' % (source, name)
        if not JOB_NAME.match(name):
            errors.append('%s: the name must be lower case letters, digits '
                          'and single dashes' % where)
        if name in defined:
            errors.append('%s is defined twice (also in %s)'
                          % (where, defined[name]))
        else:
            defined[name] = source
        if not job.get('description'):
            errors.append('%s has no description' % where)
        for key in PLAYBOOK_KEYS:
            playbooks = job.get(key) or []
            if isinstance(playbooks, str):
                playbooks = [playbooks]
            for playbook in playbooks:
                if isinstance(playbook, dict):
                    playbook = playbook.get('name')
                if not isinstance(playbook, str) or not os.path.isfile(
                        os.path.join(repo_root, playbook)):
                    errors.append('%s: %s playbook %r does not exist in '
                                  'the repository' % (where, key, playbook))
    for source, job in config.of_type('job'):
        name = job.get('name')
        if 'parent' not in job:
            continue
        parent = job['parent']
        if not isinstance(parent, str):
            errors.append('%s: job %r: parent must be a job name'
                          % (source, name))
        elif parent not in defined and parent not in KNOWN_EXTERNAL_JOBS:
            errors.append('%s: job %r has the parent %r, which is neither '
                          'defined in zuul.d nor a known external job'
                          % (source, name, parent))
    return defined


def _check_projects(config, defined, errors):
    templates = {body.get('name') for _, body in
                 config.of_type('project-template')}
    stanzas = ([(s, 'project', b) for s, b in config.of_type('project')] +
               [(s, 'project-template %r' % b.get('name'), b)
                for s, b in config.of_type('project-template')])
    if not config.of_type('project'):
        errors.append('no project stanza: no job would run')
    for source, owner, body in stanzas:
        for template in body.get('templates') or []:
            if template not in templates and template not in KNOWN_TEMPLATES:
                errors.append('%s: %s uses the template %r, which is neither '
                              'defined in zuul.d nor a known template'
                              % (source, owner, template))
        by_pipeline = {}
        for pipeline, job in _pipeline_jobs(source, owner, body, errors):
            by_pipeline.setdefault(pipeline, set()).add(job)
            if job not in defined and job not in KNOWN_EXTERNAL_JOBS:
                errors.append('%s: %s runs the job %r in %s, which is '
                              'neither defined in zuul.d nor a known '
                              'external job' % (source, owner, job, pipeline))
        for job in sorted(by_pipeline.get('gate', set()) -
                          by_pipeline.get('check', set())):
            errors.append('%s: %s runs the job %r in gate but not in check'
                          % (source, owner, job))


def validate(zuul_dir, repo_root=None):
    """Return the list of problems found in ``zuul_dir`` (empty if none).

    ``repo_root`` is where playbook paths are resolved; by default the
    parent directory of ``zuul_dir``.
    """
    if repo_root is None:
        repo_root = os.path.dirname(os.path.abspath(zuul_dir))
    config = load(zuul_dir)
    errors = list(config.errors)
    defined = _check_jobs(config, repo_root, errors)
    _check_projects(config, defined, errors)
    return errors


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: zuul_check.py ZUUL_DIR', file=sys.stderr)
        return 2
    if not os.path.isdir(argv[0]):
        print('%s: not a directory' % argv[0], file=sys.stderr)
        return 2
    errors = validate(argv[0])
    for error in errors:
        print(error)
    if errors:
        return 1
    print('%s: Zuul configuration OK' % argv[0])
    return 0


if __name__ == '__main__':
    sys.exit(main())
