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
"""The Zuul configuration check, on the real zuul.d and on broken copies."""

import contextlib
import io
import os
import pathlib
import shutil
import tempfile
import unittest

from cloudkitty.collector import aetos
import yaml

from tooling import zuul_check

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
ZUUL_DIR = REPO_ROOT / 'zuul.d'


class TestRealConfiguration(unittest.TestCase):

    def test_repository_zuul_d_is_valid(self):
        self.assertEqual([], zuul_check.validate(str(ZUUL_DIR)))

    def test_aetos_tempest_job_is_defined_and_gated(self):
        config = zuul_check.load(str(ZUUL_DIR))
        jobs = {body['name']: body for _, body in config.of_type('job')}
        name = 'cloudkitty-tempest-full-v2-fetcher-keystone-collector-aetos'
        self.assertEqual('base-cloudkitty-v2-api-tempest-job',
                         jobs[name]['parent'])
        localrc = jobs[name]['vars']['devstack_localrc']
        self.assertEqual('keystone', localrc['CLOUDKITTY_FETCHER'])
        self.assertEqual('aetos', localrc['CLOUDKITTY_COLLECTOR'])
        self.assertEqual(
            {'cloudkitty', 'aetos', 'devstack-plugin-prometheus',
             'cloudkitty-aetos'},
            set(jobs[name]['vars']['devstack_plugins']))
        (_, project), = config.of_type('project')
        self.assertIn(name, project['check']['jobs'])
        self.assertIn(name, project['gate']['jobs'])

    def _tempest_job(self):
        config = zuul_check.load(str(ZUUL_DIR))
        jobs = {body['name']: body for _, body in config.of_type('job')}
        return jobs[
            'cloudkitty-tempest-full-v2-fetcher-keystone-collector-aetos']

    def test_tempest_job_metrics_exist_on_devstack(self):
        # The ck_* metrics of etc/metrics.yml exist only in the functional
        # tests' planted data: the devstack job must use its own file, one
        # that the aetos collector accepts.
        localrc = self._tempest_job()['vars']['devstack_localrc']
        prefix = '{{ devstack_base_dir }}/{{ zuul.project.short_name }}/'
        path = localrc['CLOUDKITTY_METRICS_CONF']
        self.assertTrue(path.startswith(prefix), path)
        relative = path[len(prefix):]
        self.assertEqual('etc/metrics-devstack.yml', relative)
        with open(REPO_ROOT / relative, encoding='utf-8') as f:
            metrics_conf = yaml.safe_load(f)
        self.assertEqual({'up', 'node_load1'},
                         set(metrics_conf['metrics']))
        checked = aetos.AetosCollector.check_configuration(metrics_conf)
        self.assertEqual({'up@#scrape.target', 'node_load1@#node.load'},
                         set(checked))

    def test_tempest_job_enables_this_repository_devstack_plugin(self):
        # The key of devstack_plugins must be the name the plugin defines,
        # and the plugin must require cloudkitty and aetos so that the job
        # enables it after them: its post-config phase replaces the
        # CloudKitty the cloudkitty plugin installs and edits its
        # configuration.
        plugins = self._tempest_job()['vars']['devstack_plugins']
        with open(REPO_ROOT / 'devstack' / 'settings',
                  encoding='utf-8') as f:
            words = [line.split() for line in f]
        (defined,) = [w[1] for w in words if w[:1] == ['define_plugin']]
        self.assertIn(defined, plugins)
        self.assertEqual(
            [[defined, 'cloudkitty'], [defined, 'aetos']],
            [w[1:] for w in words if w[:1] == ['plugin_requires']])


class TestBrokenCopies(unittest.TestCase):
    """Each test breaks one thing in a copy of zuul.d and expects one error."""

    def setUp(self):
        super().setUp()
        root = tempfile.mkdtemp(prefix='zuul-check-')
        self.addCleanup(shutil.rmtree, root)
        self.repo = pathlib.Path(root)
        self.zuul_dir = self.repo / 'zuul.d'
        shutil.copytree(ZUUL_DIR, self.zuul_dir)

    def _read(self, name):
        with open(self.zuul_dir / name, encoding='utf-8') as f:
            return yaml.safe_load(f)

    def _write(self, name, document):
        with open(self.zuul_dir / name, 'w', encoding='utf-8') as f:
            yaml.safe_dump(document, f)

    def _jobs(self):
        return [item['job'] for item in self._read('jobs.yaml')]

    def _edit_jobs(self, change):
        document = self._read('jobs.yaml')
        change([item['job'] for item in document], document)
        self._write('jobs.yaml', document)

    def _edit_project(self, change):
        document = self._read('project.yaml')
        change(document[0]['project'])
        self._write('project.yaml', document)

    def _assert_single_error(self, *fragments):
        errors = zuul_check.validate(str(self.zuul_dir))
        self.assertEqual(1, len(errors), errors)
        for fragment in fragments:
            self.assertIn(fragment, errors[0])
        return errors[0]

    def test_copy_is_valid_before_breaking_it(self):
        self.assertEqual([], zuul_check.validate(str(self.zuul_dir)))

    def test_undefined_job_in_gate(self):
        def change(project):
            project['check']['jobs'].append('cloudkitty-aetos-tox-py9')
            project['gate']['jobs'].append('cloudkitty-aetos-tox-py9')
        self._edit_project(change)
        errors = zuul_check.validate(str(self.zuul_dir))
        self.assertIn(
            "project.yaml: project runs the job 'cloudkitty-aetos-tox-py9' "
            "in gate, which is neither defined in zuul.d nor a known "
            "external job", errors)
        self.assertEqual(2, len(errors), errors)

    def test_gate_job_missing_from_check(self):
        first = self._jobs()[0]['name']
        self._edit_project(lambda p: p['check']['jobs'].remove(first))
        self._assert_single_error(
            "project runs the job %r in gate but not in check" % first)

    def test_bad_job_name(self):
        bad = 'CloudKitty_Aetos_Py3'

        def rename_job(jobs, document):
            jobs[0]['name'] = bad

        def rename_use(project):
            for pipeline in ('check', 'gate'):
                jobs = project[pipeline]['jobs']
                jobs[jobs.index('cloudkitty-aetos-tox-py3')] = bad
        self._edit_jobs(rename_job)
        self._edit_project(rename_use)
        self._assert_single_error(
            "jobs.yaml: job 'CloudKitty_Aetos_Py3': the name must be lower "
            "case letters, digits and single dashes")

    def test_undefined_parent(self):
        def change(jobs, document):
            jobs[0]['parent'] = 'openstack-tox-nonexistent'
        self._edit_jobs(change)
        self._assert_single_error(
            "has the parent 'openstack-tox-nonexistent', which is neither "
            "defined in zuul.d nor a known external job")

    def test_duplicate_job(self):
        def change(jobs, document):
            document.append({'job': dict(jobs[0])})
        self._edit_jobs(change)
        self._assert_single_error(
            "jobs.yaml: job %r is defined twice (also in jobs.yaml)"
            % self._jobs()[0]['name'])

    def test_missing_description(self):
        def change(jobs, document):
            del jobs[-1]['description']
        self._edit_jobs(change)
        self._assert_single_error("%r has no description"
                                  % self._jobs()[-1]['name'])

    def test_missing_name(self):
        def change(jobs, document):
            document.append({'job': {'description': 'nameless',
                                     'parent': 'openstack-tox'}})
        self._edit_jobs(change)
        self._assert_single_error('jobs.yaml: a job has no name')

    def test_unknown_template(self):
        self._edit_project(
            lambda p: p['templates'].append('openstack-python9-jobs'))
        self._assert_single_error(
            "uses the template 'openstack-python9-jobs', which is neither "
            "defined in zuul.d nor a known template")

    def test_missing_playbook(self):
        def change(jobs, document):
            jobs[0]['pre-run'] = 'playbooks/not-there.yaml'
        self._edit_jobs(change)
        self._assert_single_error(
            "pre-run playbook 'playbooks/not-there.yaml' does not exist")

    def test_existing_playbook_is_accepted(self):
        (self.repo / 'playbooks').mkdir()
        (self.repo / 'playbooks' / 'here.yaml').write_text('- hosts: all\n')

        def change(jobs, document):
            jobs[0]['pre-run'] = 'playbooks/here.yaml'
        self._edit_jobs(change)
        self.assertEqual([], zuul_check.validate(str(self.zuul_dir)))

    def test_invalid_yaml(self):
        (self.zuul_dir / 'broken.yaml').write_text('- job: {name: [\n')
        self._assert_single_error('broken.yaml: not valid YAML')

    def test_unknown_object_type(self):
        (self.zuul_dir / 'extra.yaml').write_text(
            '- jobb:\n    name: typo\n')
        self._assert_single_error("extra.yaml: item 1 has the unknown "
                                  "type 'jobb'")


class TestCommandLine(unittest.TestCase):

    def _run(self, *argv):
        out = io.StringIO()
        err = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = zuul_check.main(list(argv))
        return status, out.getvalue(), err.getvalue()

    def test_valid_directory(self):
        status, out, _ = self._run(str(ZUUL_DIR))
        self.assertEqual(0, status)
        self.assertIn('Zuul configuration OK', out)

    def test_broken_directory_prints_each_problem(self):
        with tempfile.TemporaryDirectory() as root:
            zuul_dir = os.path.join(root, 'zuul.d')
            os.mkdir(zuul_dir)
            with open(os.path.join(zuul_dir, 'project.yaml'), 'w') as f:
                f.write('- project:\n    check:\n      jobs:\n'
                        '        - no-such-job\n')
            status, out, _ = self._run(zuul_dir)
        self.assertEqual(1, status)
        self.assertIn("runs the job 'no-such-job' in check", out)

    def test_usage(self):
        status, _, err = self._run()
        self.assertEqual(2, status)
        self.assertIn('usage', err)
