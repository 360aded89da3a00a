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
"""Keystone, the catalog and roles going wrong, caused for real.

A collector that fails quietly rates nothing and costs the operator money,
so each fault on the Keystone side a deployer can meet is provoked here on
the real Keystone and Aetos of the shared stack: wrong or changed
credentials, Keystone stopped, a missing catalog entry, a user too weak to
see every project. The collector is built without asking Keystone
anything, so each of these fails a query: each test asserts that the
cause of its ``CollectError`` is the right ``prometheus_errors`` kind, and
the facts a deployer needs from its one line (URL, status, option
group); one exact sentence per message template.
The faults on the Aetos side are in ``test_faults_aetos``.
"""

import logging
import time
import uuid

from keystoneauth1 import exceptions as ks_exc

from cloudkitty.common import prometheus_errors

from functional import base
from functional import dataset
from functional import stack as stack_mod

# [collector_aetos] auth_retry_interval of the tests that wait it out:
# longer than a restart of Keystone.
RETRY_INTERVAL = 20


class CredentialsAndKeystoneTest(base.FaultTestBase):
    """Keystone refusing or missing: the message names Keystone's URL."""

    def _assert_refused(self, message):
        for fact in (self.stack.keystone_url, '[collector_aetos]',
                     'HTTP 401'):
            self.assertIn(fact, message)

    def test_wrong_password_at_the_first_query(self):
        message, cause = self._first_query_error(password='not-the-password')
        self.assertIsInstance(cause.__cause__, ks_exc.Unauthorized)
        self.assertEqual(
            'Keystone at %s refused the [collector_aetos] credentials (HTTP '
            '401): check the user, password, domains and project, and that '
            'the password has not expired' % self.stack.keystone_url,
            message)

    def test_unknown_user_at_the_first_query(self):
        message, cause = self._first_query_error(username='nobody-here')
        self.assertIsInstance(cause.__cause__, ks_exc.Unauthorized)
        self._assert_refused(message)

    def _new_admin_user(self):
        """A user of our own with admin on the service project."""
        name = 'faults-' + uuid.uuid4().hex[:8]
        password = 'first-' + uuid.uuid4().hex
        answer = self.stack.keystone_request('POST', '/users', {'user': {
            'name': name, 'password': password, 'domain_id': 'default',
            'default_project_id': self.stack.project_ids['service']}},
            expect=(201, 409))
        if answer.status == 409:   # created before a Keystone restart
            answer = self.stack.keystone_request('GET',
                                                 '/users?name=%s' % name)
            user_id = answer.json()['users'][0]['id']
        else:
            user_id = answer.json()['user']['id']
        self.addCleanup(self.stack.keystone_request, 'DELETE',
                        '/users/%s' % user_id, expect=(204, 404))
        self.stack.keystone_request(
            'PUT', '/projects/%s/users/%s/roles/%s' % (
                self.stack.project_ids['service'], user_id,
                self.stack.role_ids['admin']))
        return name, password, user_id

    def test_password_changed_during_collection(self):
        name, password, user_id = self._new_admin_user()
        ours = self._collector(username=name, password=password)
        self.assertTrue(self._fetch(ours))
        self.stack.keystone_request('PATCH', '/users/%s' % user_id, {
            'user': {'password': 'changed-' + uuid.uuid4().hex}})
        # Changing the password revokes the user's tokens: the next request
        # makes keystoneauth ask Keystone for a new one with the old
        # password, whether Aetos noticed the revocation or keystoneauth
        # renews the token first.
        ours.client.session.auth.invalidate()
        message, cause = self._collect_error(
            ours, prometheus_errors.KeystoneError,
            url=self.stack.keystone_url)
        self.assertEqual(self.stack.keystone_url, cause.url)
        self._assert_refused(message)

    def test_credentials_without_project(self):
        # Keystone scopes such a request to the user's default project if
        # it has one; the admin user of keystone-manage bootstrap has none.
        message, _cause = self._first_query_error(
            username=self.stack.admin_user,
            password=self.stack.admin_password,
            project_name=None, project_domain_id=None)
        self.assertEqual(
            'Keystone at %s gave an unscoped token for the [collector_aetos] '
            'credentials, where Aetos needs a project-scoped one: set '
            'project_id, or project_name with project_domain_name or '
            'project_domain_id, and no system_scope or domain'
            % self.stack.keystone_url, message)

    def test_keystone_stopped_at_start_up(self):
        self._restart_in_cleanup('keystone')
        # Built all the same: the worker lives and tries at each query.
        message, cause = self._first_query_error()
        self.assertIsInstance(cause.__cause__, ks_exc.ConnectFailure)
        self.assertEqual(
            'Keystone at %s could not be reached for a token '
            '(ConnectFailure): check [collector_aetos] auth_url and that '
            'Keystone is running' % self.stack.keystone_url, message)

    def test_keystone_stopped_during_collection(self):
        ours = self._collector(auth_retry_interval=str(RETRY_INTERVAL))
        self.assertTrue(self._fetch(ours))
        self._restart_in_cleanup('keystone')
        # The token reaches its expiry while Keystone is down.
        ours.client.session.auth.invalidate()
        message, cause = self._collect_error(
            ours, prometheus_errors.KeystoneError,
            url=self.stack.keystone_url)
        refused_at = time.monotonic()
        self.assertIsInstance(cause.__cause__, ks_exc.ConnectFailure)
        self.assertIn('[collector_aetos] auth_url', message)
        # Keystone back: the failure stands until the retry interval
        # ends, without asking Keystone, then collection resumes.
        self.stack.start_service('keystone')
        self.assertLess(time.monotonic() - refused_at, RETRY_INTERVAL,
                        'Keystone took the whole retry interval to start')
        _message, again = self._collect_error(
            ours, prometheus_errors.KeystoneError,
            url=self.stack.keystone_url)
        self.assertIs(cause, again)
        time.sleep(max(0, refused_at + RETRY_INTERVAL - time.monotonic()))
        self.assertTrue(self._fetch(ours))

    def test_keystone_stopped_before_aetos_saw_the_token(self):
        # The collector got its token but never used it: Aetos cannot
        # validate it and says so.
        ours = self._collector()
        ours.client.session.get_token()
        self._restart_in_cleanup('keystone')
        message, cause = self._collect_error(ours,
                                             prometheus_errors.HTTPError)
        self.assertEqual(503, cause.status)
        # keystonemiddleware's own words, quoted.
        self.assertIn('Keystone service is temporarily unavailable',
                      cause.detail)
        self.assertIn('can reach Keystone', message)


class CatalogTest(base.FaultTestBase):
    """No Aetos where the configuration says to look: every query fails."""

    def test_no_endpoint_in_the_region(self):
        message, _cause = self._first_query_error(region_name='Nowhere')
        self.assertEqual(
            "No 'metric-storage' endpoint with interface 'public' in region "
            "'Nowhere' in the Keystone catalog: register Aetos there or fix "
            "[collector_aetos] interface and region_name", message)

    def test_no_endpoint_for_the_interface(self):
        fake, region = self._fake_endpoint(interface='internal')
        # The region does hold an endpoint, for another interface: the
        # query reaches it (and the fake's answer is no Prometheus one).
        internal = self._collector(region_name=region, interface='internal')
        self._collect_error(internal, prometheus_errors.NotAPrometheusAnswer,
                            url=fake.url)
        self.assertEqual(fake.url, internal.client.url)
        message, _cause = self._first_query_error(region_name=region,
                                                  interface='admin')
        for fact in ("'metric-storage'", "interface 'admin'",
                     "region '%s'" % region, '[collector_aetos]'):
            self.assertIn(fact, message)


class RoleTooWeakTest(base.FaultTestBase):
    """A user Aetos would narrow to one project: refused, and rightly so."""

    def _observer(self, **options):
        return self._collector(username=self.stack.reader_user,
                               password=self.stack.reader_password,
                               project_name=self.stack.reader_project,
                               **options)

    def test_reader_refused_at_the_first_query(self):
        message, cause = self._collect_error(
            self._observer(), prometheus_errors.RoleTooWeak,
            url=self.stack.keystone_url)
        self.assertEqual(['reader'], cause.roles)
        self.assertEqual(
            "The [collector_aetos] user has none of the roles admin, "
            "service on its project (its roles: reader): Aetos would narrow "
            "every query to that project and all others would look idle. "
            "Give it the service (or admin) role on its project, or list "
            "the role Aetos' telemetry:query:all_projects policy accepts in "
            "[collector_aetos] all_projects_roles", message)

    def test_admin_user_is_not_refused(self):
        logs = base.RecordedLogs(logging.INFO).install()
        self.addCleanup(logs.uninstall)
        self.assertTrue(self._fetch(self._collector()))
        self.assertEqual([], logs.warnings())

    def test_real_aetos_hides_other_projects_from_that_user(self):
        # Why the reader is refused: let it through by saying its role
        # sees every project, and Aetos narrows its answers silently.
        observer = self._observer(all_projects_roles='reader')
        admin = self._collector()
        own = self.stack.reader_project
        other = 'rated-b'
        self.assertNotEqual(own, other)
        # Its own project: the same points as the admin user gets.
        self.assertTrue(self._fetch(admin, project=own))
        self.assertEqual(self._fetch(admin, project=own),
                         self._fetch(observer, project=own))
        # Another project: data exists, and the user silently gets none.
        self.assertTrue(self._fetch(admin, project=other))
        self.assertEqual([], self._fetch(observer, project=other))

    def test_no_role_aetos_accepts(self):
        # On a rated project the cloudkitty user holds the rating role
        # only: refused before Aetos is asked, and Aetos itself refuses
        # even that project's data.
        project = 'rated-c'
        message, cause = self._collect_error(
            self._collector(project_name=project),
            prometheus_errors.RoleTooWeak, url=self.stack.keystone_url,
            project=project)
        self.assertEqual(['rating'], cause.roles)
        message, cause = self._collect_error(
            self._collector(project_name=project, all_projects_roles='rating'),
            prometheus_errors.HTTPError, project=project)
        self.assertEqual(403, cause.status)
        self.assertIn('service (or admin) role', message)


class LeastPrivilegeTest(base.FaultTestBase):
    """The service role, not admin, is enough to rate every project."""

    def test_service_role_sees_every_project(self):
        logs = base.RecordedLogs(logging.INFO).install()
        self.addCleanup(logs.uninstall)
        # Aetos' own user: the service role on the service project only.
        service_only = self._collector(username=self.stack.aetos_user,
                                       password=self.stack.aetos_password,
                                       project_name=stack_mod.SERVICE_PROJECT)
        logs.uninstall()
        self.assertEqual([], logs.warnings())
        session = service_only.client.session
        self.assertEqual(['service'],
                         session.auth.get_access(session).role_names)

        admin = self._collector()
        compared = 0
        for project in self.stack.projects:
            for hour in range(dataset.HOURS):
                expected = self._fetch(admin, project=project, hour=hour)
                self.assertEqual(expected, self._fetch(
                    service_only, project=project, hour=hour),
                    '%s hour %d' % (project, hour))
                compared += len(expected)
        self.assertGreater(compared, 0)
