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
"""zuul.d, checked before Zuul sees it, and what the tempest job relies on.

Zuul reports a broken configuration only once a change reaches it. Here:
every file loads, every job named is defined in zuul.d or is one of the
few jobs of other repositories listed below, and every job is complete.
"""

import pathlib
import unittest

from cloudkitty.collector import aetos
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
ZUUL_DIR = REPO_ROOT / 'zuul.d'
TEMPEST_JOB = 'cloudkitty-tempest-full-v2-fetcher-keystone-collector-aetos'
# The jobs of other repositories that ours run or inherit from: of
# openstack/openstack-zuul-jobs, then of openstack/cloudkitty.
EXTERNAL_JOBS = frozenset([
    'openstack-tox', 'openstack-tox-functional-py311', 'openstack-tox-pep8',
    'base-cloudkitty-v2-api-tempest-job',
])


def _documents():
    return {path.name: yaml.safe_load(path.read_text(encoding='utf-8'))
            for path in sorted(ZUUL_DIR.glob('*.y*ml'))}


def _objects(kind):
    return [item[kind] for document in _documents().values()
            for item in document or [] if kind in item]


def _pipeline_jobs(pipeline):
    (project,) = _objects('project')
    return [entry if isinstance(entry, str) else next(iter(entry))
            for entry in project[pipeline]['jobs']]


def _tempest_job():
    (job,) = [job for job in _objects('job') if job['name'] == TEMPEST_JOB]
    return job


class TestZuulConfiguration(unittest.TestCase):

    def test_every_file_loads_as_a_list_of_zuul_objects(self):
        documents = _documents()
        self.assertIn('project.yaml', documents)
        for name, document in documents.items():
            with self.subTest(name):
                self.assertIsInstance(document, list)
                for item in document:
                    self.assertIsInstance(item, dict)
                    self.assertEqual(1, len(item), item)

    def test_every_job_has_the_required_keys(self):
        for job in _objects('job'):
            with self.subTest(job.get('name')):
                self.assertTrue(job.get('name'))
                self.assertTrue(job.get('description'))
                self.assertTrue(job.get('parent') or job.get('run'))

    def test_every_job_named_is_defined_here_or_known(self):
        jobs = _objects('job')
        named = {job['parent'] for job in jobs if 'parent' in job}
        named.update(_pipeline_jobs('check'), _pipeline_jobs('gate'))
        # Both ways: an unknown name is a typo, and a known job that
        # nothing names any more should leave the list.
        self.assertEqual(sorted(EXTERNAL_JOBS),
                         sorted(named - {job['name'] for job in jobs}))


class TestToxJobs(unittest.TestCase):
    """The tox environments of every base run on each change."""

    # The unit and functional runs of the bases other than the default's.
    # functional-2025.2 (Aetos 1.0.0) runs in tools/run-tests only.
    ENVS = ('py3', 'py3-2025.2', 'py3-2026.2', 'functional',
            'functional-2026.2')

    def test_each_env_has_a_gated_job(self):
        jobs = {job['name']: job for job in _objects('job')}
        for env in self.ENVS:
            with self.subTest(env):
                (name,) = [name for name, job in jobs.items()
                           if job.get('vars', {}).get('tox_envlist') == env]
                self.assertIn(name, _pipeline_jobs('check'))
                self.assertIn(name, _pipeline_jobs('gate'))

    def test_functional_2026_2_is_the_functional_job_on_its_env(self):
        (job,) = [job for job in _objects('job')
                  if job['name'] == 'cloudkitty-aetos-tox-functional-2026.2']
        self.assertEqual('cloudkitty-aetos-tox-functional', job['parent'])
        self.assertEqual({'tox_envlist': 'functional-2026.2'}, job['vars'])


class TestTempestJob(unittest.TestCase):
    """The devstack job and the files of this repository it uses."""

    def test_keystone_fetcher_aetos_collector_gated(self):
        job = _tempest_job()
        self.assertEqual('base-cloudkitty-v2-api-tempest-job', job['parent'])
        localrc = job['vars']['devstack_localrc']
        self.assertEqual('keystone', localrc['CLOUDKITTY_FETCHER'])
        self.assertEqual('aetos', localrc['CLOUDKITTY_COLLECTOR'])
        self.assertEqual(
            {'cloudkitty', 'aetos', 'devstack-plugin-prometheus',
             'cloudkitty-aetos'}, set(job['vars']['devstack_plugins']))
        self.assertIn(TEMPEST_JOB, _pipeline_jobs('check'))
        self.assertIn(TEMPEST_JOB, _pipeline_jobs('gate'))

    def test_metrics_exist_on_devstack(self):
        # The ck_* metrics of etc/metrics.yml exist only in the functional
        # tests' planted data: this repository's devstack plugin points
        # [collect] metrics_conf at a file of its own, one that the aetos
        # collector accepts and that has the metric "instance" the tempest
        # plugin asks the API for (test_get_metric).
        localrc = _tempest_job()['vars']['devstack_localrc']
        self.assertNotIn('CLOUDKITTY_METRICS_CONF', localrc)
        devstack = REPO_ROOT / 'devstack'
        settings = (devstack / 'settings').read_text(encoding='utf-8')
        self.assertIn('CLOUDKITTY_AETOS_METRICS_CONF=${CLOUDKITTY_AETOS_'
                      'METRICS_CONF:-$CLOUDKITTY_AETOS_DIR/etc/metrics-'
                      'devstack.yml}', settings.splitlines())
        plugin = (devstack / 'plugin.sh').read_text(encoding='utf-8')
        self.assertIn('iniset $conf collect metrics_conf '
                      '$CLOUDKITTY_AETOS_METRICS_CONF',
                      [line.strip() for line in plugin.splitlines()])
        with open(REPO_ROOT / 'etc' / 'metrics-devstack.yml',
                  encoding='utf-8') as f:
            metrics_conf = yaml.safe_load(f)
        self.assertEqual({'up', 'node_load1'},
                         set(metrics_conf['metrics']))
        checked = aetos.AetosCollector.check_configuration(metrics_conf)
        self.assertEqual({'up@#instance', 'node_load1@#node.load'},
                         set(checked))

    def test_enables_this_repository_devstack_plugin(self):
        # The key of devstack_plugins must be the name the plugin defines,
        # and the plugin must require cloudkitty and aetos so that the job
        # enables it after them: its post-config phase replaces the
        # CloudKitty the cloudkitty plugin installs and edits its
        # configuration.
        plugins = _tempest_job()['vars']['devstack_plugins']
        settings = REPO_ROOT / 'devstack' / 'settings'
        words = [line.split() for line in
                 settings.read_text(encoding='utf-8').splitlines()]
        (defined,) = [w[1] for w in words if w[:1] == ['define_plugin']]
        self.assertIn(defined, plugins)
        self.assertEqual(
            [[defined, 'cloudkitty'], [defined, 'aetos']],
            [w[1:] for w in words if w[:1] == ['plugin_requires']])
