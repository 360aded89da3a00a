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
"""What refusals cost Keystone: logins per worker, counted for real.

A real cloudkitty-processor with two workers, the ``aetos`` fetcher (its
own, right, credentials) and the ``aetos`` collector, runs two passes
(``[collect] period`` of a few seconds) against the shared stack while
Keystone refuses the collector's password, or while Aetos (a fake
endpoint in the catalog) answers every query with HTTP 401. Keystone's
access log counts the logins; the processor's log counts the passes and
the worker starts. Every scope fails every pass, yet:

* no worker is started again (the constructors ask Keystone nothing);
* a refused password costs one login per worker per pass, however many
  scopes and metric threads fail on it;
* a token Aetos refuses is renewed once per worker within
  ``auth_retry_interval``, not once per query.
"""

import os
import time

from functional import base
from functional import fake_servers
from functional import fetcher_env
from functional.services import keystone

WORKERS = 2
# Seconds between two passes: long enough for a pass over the planted
# projects, short enough for a test.
PASS_PERIOD = 20
PASSES = 2
WORKER_STARTED = 'is initiated as CloudKitty rating processor'
# CloudKitty logs this line at the start of each pass; some releases leave
# its {} placeholders unformatted.
PASS_STARTED = 'loaded for fetcher'
AUTH_KEYS = ('auth_type', 'auth_url', 'username', 'password',
             'user_domain_name', 'user_domain_id', 'project_name',
             'project_domain_name', 'project_domain_id')


class LoginBoundTest(base.TestCase):

    @classmethod
    def setUpClass(cls):
        super(LoginBoundTest, cls).setUpClass()
        cls.stack = base.shared_stack()
        cls.mariadb = base.class_mariadb(cls)

    def setUp(self):
        super(LoginBoundTest, self).setUp()
        self.attach_on_failure(self.stack.logs, ('keystone', 'aetos'))

    def _env(self, name, collector_options):
        """A two-worker processor environment, passes PASS_PERIOD apart.

        The fetcher logs in with the stack's credentials from a section
        of its own; the collector gets ``collector_options`` on top of
        them.
        """
        options = self.stack.collector_options()
        sections = fetcher_env.fetcher_sections(
            self.stack, auth_section='fetcher_credentials',
            # The planted series ended hours ago: a window of two days
            # finds them whatever the short period.
            lookback=str(2 * 86400))
        sections['fetcher_credentials'] = {
            key: value for key, value in options.items()
            if key in AUTH_KEYS}
        sections['collect'] = {'period': str(PASS_PERIOD)}
        sections['orchestrator'] = {'max_workers': str(WORKERS)}
        sections['collector_aetos'] = collector_options
        return self.use_env(fetcher_env.aetos_fetcher_env(
            self.stack, self.mariadb, name=base.db_name(name),
            overrides=sections))

    def _two_passes(self, env):
        """Run the processor for PASSES passes of each worker.

        :returns: (Keystone's logins meanwhile, not Aetos' own, the
            worker starts, the passes and the processor's log)
        """
        offset = os.path.getsize(self.stack.logs['keystone'])
        processor = env.processor(fail_fast=False)
        self.addCleanup(processor.stop)
        processor.start()
        deadline = time.monotonic() + PASS_PERIOD * (PASSES + 2) + 60
        while processor.log().count(PASS_STARTED) < WORKERS * PASSES:
            self.assertLess(time.monotonic(), deadline,
                            'no %d passes: %s' % (WORKERS * PASSES,
                                                  processor.log()[-3000:]))
            time.sleep(0.2)
        # The last pass fails fast; the next starts PASS_PERIOD later.
        time.sleep(PASS_PERIOD / 4)
        processor.stop()
        log = processor.log()
        requests = keystone.token_requests(self.stack.logs['keystone'],
                                           offset)
        ours = [request for request in requests if request.method == 'POST'
                and 'keystonemiddleware' not in request.agent]
        return (ours, log.count(WORKER_STARTED), log.count(PASS_STARTED),
                log)

    def test_wrong_password_one_login_per_worker_per_pass(self):
        env = self._env('logins_refused', {
            'password': 'not-the-password',
            # Shorter than a period: each pass may try once again.
            'auth_retry_interval': str(PASS_PERIOD // 2)})
        logins, starts, passes, log = self._two_passes(env)
        refused = [login for login in logins if login.status == 401]
        accepted = [login for login in logins if login.status == 201]
        self.assertEqual(WORKERS, starts)
        self.assertEqual(WORKERS * PASSES, passes)
        # The collector: one refused login per worker and pass; the
        # fetcher: one login per worker, its token serving both passes.
        self.assertEqual(WORKERS * PASSES, len(refused))
        self.assertEqual(WORKERS, len(accepted))
        # Every scope's every metric failed naming the credentials.
        failed = log.count('refused the [collector_aetos] credentials')
        self.figures('wrong password', [
            'workers: %d, worker starts: %d' % (WORKERS, starts),
            'passes: %d' % passes,
            'password logins refused (collector): %d' % len(refused),
            'logins accepted (fetcher): %d' % len(accepted),
            'collections failed naming the credentials: %d' % failed,
        ])
        self.assertGreater(failed, len(refused))

    def test_aetos_refusing_tokens_one_renewal_per_worker(self):
        fake = fake_servers.FakeMetricStorage()
        fake.answer = (401, 'application/json',
                       b'{"error": {"code": 401, "message": "Nope"}}')
        fake.start()
        self.addCleanup(fake.stop)
        region = 'Refusing-%s' % fake.url.rsplit(':', 1)[1]
        endpoint = self.stack.add_endpoint(fake.url, region)
        self.addCleanup(self.stack.remove_endpoint, endpoint, region)
        env = self._env('logins_401', {'region_name': region})
        logins, starts, passes, log = self._two_passes(env)
        self.assertEqual(WORKERS, starts)
        self.assertEqual(WORKERS * PASSES, passes)
        self.assertEqual([201] * len(logins),
                         [login.status for login in logins])
        # Per worker: the fetcher's login, the collector's, and the one
        # renewal of the collector's token after the first 401.
        self.assertEqual(3 * WORKERS, len(logins))
        queries = len(fake.paths)
        self.assertGreater(queries, 2 * WORKERS)
        self.figures('Aetos answering 401', [
            'workers: %d, worker starts: %d' % (WORKERS, starts),
            'passes: %d' % passes,
            'queries refused by the fake Aetos: %d' % queries,
            'logins (fetcher + collector + renewals): %d' % len(logins),
        ])
