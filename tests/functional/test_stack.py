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
"""Smoke test of the functional stack itself.

The collector's functional tests trust the stack and the dataset's
arithmetic; this checks both against the running services once, so that a
failure there points at the stack rather than at the collector.
"""

import os
import unittest

from keystoneauth1.identity import v3 as ks_v3
from keystoneauth1 import session as ks_session
import requests

from functional import base
from functional import dataset
from functional.services import prometheus
from functional import stack as stack_mod


class StackTest(base.TestCase):
    """One stack for the whole class: starting it takes seconds."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for binary in (prometheus.PROMETHEUS, prometheus.PROMTOOL):
            if not os.access(binary, os.X_OK):
                raise unittest.SkipTest('%s is not installed' % binary)
        cls.stack = stack_mod.Stack()
        cls.stack.start()
        cls.data = cls.stack.dataset
        cls.session = ks_session.Session(auth=ks_v3.Password(
            **{key: value
               for key, value in cls.stack.collector_options().items()
               if key not in ('auth_type', 'interface', 'region_name')}))

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        super().tearDownClass()

    def _query(self, base_url, query, at, token=None):
        headers = {'X-Auth-Token': token} if token else {}
        return requests.get(base_url + '/api/v1/query',
                            params={'query': query, 'time': at},
                            headers=headers, timeout=30)

    def _vector(self, answer, label='project_id'):
        self.assertEqual(200, answer.status_code, answer.text)
        body = answer.json()
        self.assertEqual('success', body['status'])
        return {sample['metric'].get(label): float(sample['value'][1])
                for sample in body['data']['result']}

    def _by_id(self, by_name):
        ids = dict(self.stack.projects, **self.stack.other_projects)
        return {ids[name]: value for name, value in by_name.items()}

    def _times(self):
        """Planted instants: hour edges, and inside the hour with a gap."""
        return (self.data.hour(1), self.data.hour(3),
                self.data.hour(3) + 1800, self.data.hour(6))

    def test_keystone_issues_token_for_cloudkitty(self):
        token = self.session.get_token()
        self.assertTrue(token)
        access = self.session.auth.get_access(self.session)
        self.assertEqual(stack_mod.SERVICE_PROJECT, access.project_name)
        self.assertIn('admin', access.role_names)

    def test_catalog_has_metric_storage_per_interface(self):
        for interface in stack_mod.INTERFACES:
            with self.subTest(interface=interface):
                url = self.session.get_endpoint(
                    service_type='metric-storage', interface=interface,
                    region_name=self.stack.region)
                self.assertEqual(self.stack.aetos_url, url.rstrip('/'))

    def test_cloudkitty_rates_the_rated_projects(self):
        self.assertEqual(set(dataset.RATED_PROJECTS),
                         set(self.stack.projects))
        self.assertEqual(len(dataset.PROJECTS),
                         len(set(self.stack.projects.values()) |
                             set(self.stack.other_projects.values())))

    def test_aetos_returns_the_planted_usage(self):
        token = self.session.get_token()
        for at in self._times():
            with self.subTest(at=at):
                expected = self._by_id(self.data.by_project(
                    self.data.instant('ck_instance_up', at)))
                self.assertEqual(expected, self._vector(self._query(
                    self.stack.aetos_url,
                    'sum by (project_id) (ck_instance_up)', at, token)))

    def test_aetos_without_token_is_unauthorized(self):
        answer = self._query(self.stack.aetos_url, 'count(ck_instance_up)',
                             self.data.hour(1))
        self.assertEqual(401, answer.status_code)

    def test_aetos_limits_a_reader_to_its_project(self):
        token = self.stack.token(self.stack.reader_user)
        at = self.data.hour(3)
        expected = self._by_id(self.data.by_project(self.data.instant(
            'ck_instance_up', at, projects=[self.stack.reader_project])))
        self.assertEqual(expected, self._vector(self._query(
            self.stack.aetos_url, 'sum by (project_id) (ck_instance_up)',
            at, token)))

    def test_prometheus_returns_the_planted_usage(self):
        for at in self._times():
            with self.subTest(at=at):
                expected = self._by_id(self.data.by_project(
                    self.data.instant('ck_instance_up', at)))
                self.assertEqual(expected, self._vector(self._query(
                    self.stack.prometheus_url,
                    'sum by (project_id) (ck_instance_up)', at)))

    def test_dataset_arithmetic_matches_prometheus(self):
        """The helpers later tests rely on agree with PromQL itself."""
        cases = []
        for func in ('sum', 'avg', 'max', 'min', 'count', 'last'):
            cases.append((
                '%s_over_time(ck_volume_size_gb[1h])' % func,
                lambda at, func=func: self.data.over_time(
                    func, 'ck_volume_size_gb', at, 3600)))
        for func in ('increase', 'rate'):
            cases.append((
                '%s(ck_net_bytes_total[1h])' % func,
                lambda at, func=func: getattr(self.data, func)(
                    'ck_net_bytes_total', at, 3600)))
        for query, compute in cases:
            for hour in range(1, dataset.HOURS + 1):
                at = self.data.hour(hour)
                with self.subTest(query=query, hour=hour):
                    got = self._vector(self._query(
                        self.stack.prometheus_url,
                        'sum by (project_id) (%s)' % query, at))
                    expected = self._by_id(self.data.by_project(compute(at)))
                    self.assertEqual(set(expected), set(got))
                    for key, value in expected.items():
                        self.assertAlmostEqual(value, got[key], places=6)
