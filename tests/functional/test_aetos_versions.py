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
"""The Aetos collector against both releases, a lossy proxy, short tokens.

Each query of the Aetos collector pins its evaluation time with
``@ <period end>``, so that the result is right whatever the server does
with the ``time`` parameter. Proved here on real services:

* Aetos 1.0.0 (2025.2) refuses ``time``: the collector learns it from the
  first refusal, sends neither ``time`` nor ``timeout`` from then on, and
  returns exactly the planted points for every (metric, project, hour),
  the same as the direct Prometheus collector;
* the query as sent, in each mode: with ``time`` to an Aetos that takes it,
  without to Aetos 1.0.0 (both are printed);
* a proxy in front of Aetos that silently drops ``time``, so that the
  server evaluates at "now": the pinned queries are still right;
* Aetos 3.0.0 (2026.2) refusing a system-scoped token, and the collector
  refusing at start-up credentials that give one, naming the fix;
* Keystone tokens living a few seconds longer than keystoneauth's renewal
  margin: a collection outliving several tokens goes on without error,
  and Keystone is asked for a token only when the current one is about to
  expire.
"""

import datetime
import logging
import math
import os
import time
import urllib.parse

from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.common import prometheus_errors

from functional import base
from functional import fake_servers
from functional import oracle
from functional.services import config
from functional.services import httpclient
from functional.services import keystone
from functional import stack as stack_mod

PERIOD = 3600
OLD_BASE = '2025.2'
"""Services base (``stack.BASES``) whose Aetos refuses ``time``."""

METRIC = base.METRIC
METRICS = base.metrics_conf()
TIME_WARNING_LOGGER = 'cloudkitty.common.aetos_client'

RENEWAL_MARGIN = 120
"""keystoneauth renews a token that has less than this many seconds left."""

TOKEN_LIFETIME = 135
"""Keystone token lifetime of the expiry test: fresh for 15 s."""

FRESH = TOKEN_LIFETIME - RENEWAL_MARGIN

COLLECTION_SECONDS = 52
"""Three and a half fresh windows: the token count is far from a boundary."""

WINDOW_SLACK = 1.0
"""Seconds a fresh window may be shorter or longer than ``FRESH``.

Keystone keeps token times in whole seconds (up to a second shorter) and a
renewal waits for the next request (longer by the pause between two).
"""

PAUSE = 0.1
"""Seconds between two fetches: keeps the machine usable, the gaps short."""


def _load_collector(stack, workdir, metrics=METRICS, name='aetos',
                    **options):
    """A collector loaded as cloudkitty-processor loads it."""
    return base.load_collector(stack, workdir, metrics, name, period=PERIOD,
                               **options)


def _fetch(loaded, stack, project, hour):
    """Points of a planted project for one planted hour."""
    data = stack.dataset
    return loaded.fetch_all(METRIC, config.utc(data.hour(hour)),
                            config.utc(data.hour(hour + 1)),
                            data.project_ids[project])


def _planted(stack, project, hour):
    """What ``_fetch`` must find: resource_id -> value."""
    vector = stack.dataset.over_time(
        'max', METRIC, stack.dataset.hour(hour + 1), PERIOD, [project])
    return {labels['resource_id']: value for labels, value in vector}


def _by_resource(points):
    return {point.groupby['resource_id']: float(point.qty)
            for point in points}


def _unix(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339).timestamp()


def _compare(test, stack, under_test, workdir):
    """``oracle.compare_collectors`` against the direct collector."""
    direct = _load_collector(stack, workdir, oracle.COLLECTOR_METRICS,
                             'prometheus')
    compared = oracle.compare_collectors(under_test, direct, stack.dataset)
    print('%s, Aetos %s: compared %d points over %d (metric, project, '
          'hour) periods, %d differences'
          % (test.id(), stack.base.aetos, compared.points, compared.periods,
             len(compared.differences)))
    test.assertEqual([], compared.differences)
    test.assertEqual(len(under_test.conf) * len(stack.dataset.project_ids) *
                     len(oracle.HOURS_AROUND), compared.periods)
    test.assertGreater(compared.points, 0)


def _query_as_sent(test, stack, workdir):
    """Fetch one period with a new collector; the queries Aetos received.

    :returns: the parameters of each query Aetos logged, in order
    """
    loaded = _load_collector(stack, workdir)
    offset = stack.aetos.log_size()
    test.assertEqual(_planted(stack, 'rated-a', 2),
                     _by_resource(_fetch(loaded, stack, 'rated-a', 2)))
    refuses = base.aetos_refuses_time(stack)
    queries = [request.params for request
               in stack.aetos.requests(offset, 2 if refuses else 1)]
    end = stack.dataset.hour(3)
    test.assertEqual(2 if refuses else 1, len(queries), queries)
    sent = queries[-1]
    test.assertIn('[3600s] @ %d)' % end, sent['query'])
    print('Query as sent to Aetos %s: GET /api/v1/query?%s\n  decoded: %s'
          % (stack.base.aetos, urllib.parse.urlencode(sent),
             ' '.join('%s=%s' % item for item in sorted(sent.items()))))
    return queries


class OldAetosTest(base.TestCase):
    """Aetos 1.0.0 (2025.2), which refuses the ``time`` parameter."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # keystone 28.1.0 and aetos 1.0.0 with the 2025.2 constraints, in
        # a virtualenv of their own next to the current base's.
        cls.stack = base.stack_of_base(cls, OLD_BASE)
        cls.workdir = base.class_workdir(cls, 'ck-old-aetos-')

    def test_serves_queries_without_time(self):
        answer = httpclient.http(
            'GET', self.stack.aetos_url + '/api/v1/query',
            token=self.stack.token(), params={'query': 'vector(1)'})
        self.assertEqual(200, answer.status, answer.text)
        self.assertEqual('success', answer.json()['status'])

    def test_refuses_time(self):
        answer = httpclient.http(
            'GET', self.stack.aetos_url + '/api/v1/query',
            token=self.stack.token(),
            params={'query': 'vector(1)', 'time': self.stack.dataset.end})
        self.assertEqual(400, answer.status, answer.text)
        self.assertEqual('Unknown argument: "time"',
                         answer.json()['error_message']['faultstring'])

    def test_collector_returns_the_planted_points(self):
        logs = base.RecordedLogs(logging.WARNING).install()
        self.addCleanup(logs.uninstall)
        loaded = _load_collector(self.stack, self.workdir,
                                 oracle.COLLECTOR_METRICS)
        self.assertTrue(loaded.client.sends_time)
        _compare(self, self.stack, loaded, self.workdir)
        logs.uninstall()
        # Learnt from the first refusal, said once.
        self.assertFalse(loaded.client.sends_time)
        warnings = logs.messages(TIME_WARNING_LOGGER, logging.WARNING)
        self.assertEqual(1, len(warnings), logs.text())
        self.assertIn(self.stack.aetos_url, warnings[0])
        self.assertEqual(warnings, logs.warnings())

    def test_query_as_sent_without_time(self):
        refused, sent = _query_as_sent(self, self.stack, self.workdir)
        self.assertEqual(self.stack.dataset.hour(3), _unix(refused['time']))
        self.assertEqual(refused['query'], sent['query'])
        self.assertEqual(['query'], sorted(sent))

    def test_member_role_sees_nothing(self):
        # Aetos 1.0.0 narrows a member's queries on the label "project",
        # which the planted data (labelled project_id) does not have. The
        # collector refuses such a token; saying that its role sees every
        # project shows why.
        stack = self.stack
        admin = _load_collector(stack, self.workdir)
        observer = _load_collector(
            stack, self.workdir, username=stack.reader_user,
            password=stack.reader_password, project_name=stack.reader_project,
            all_projects_roles='reader')
        self.assertTrue(_fetch(admin, stack, stack.reader_project, 2))
        self.assertEqual([], _fetch(observer, stack, stack.reader_project, 2))


class TokenScopeTest(base.TestCase):
    """Aetos' rules are project-scoped, enforced from Aetos 3.0.0 (2026.2).

    The collector asks Keystone for a project-scoped token; credentials
    that give any other token are refused at the first query, with the
    fix.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = base.shared_stack()
        cls.workdir = base.class_workdir(cls, 'ck-token-scope-')

    def _system_token(self):
        """A system-scoped token of the admin user (keystone bootstrap)."""
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': self.stack.admin_user,
                'password': self.stack.admin_password,
                'domain': {'id': 'default'}}}},
            'scope': {'system': {'all': True}}}}
        answer = httpclient.http(
            'POST', self.stack.keystone_url + '/auth/tokens', body)
        self.assertEqual(201, answer.status, answer.text)
        self.assertEqual({'all': True}, answer.json()['token']['system'])
        return answer.headers['X-Subject-Token']

    def test_aetos_refuses_a_system_scoped_token(self):
        if int(self.stack.base.aetos.split('.')[0]) < 3:
            self.skipTest('Aetos %s does not enforce scoped policies'
                          % self.stack.base.aetos)
        query = self.stack.aetos_url + '/api/v1/query'
        params = {'query': 'vector(1)'}
        answer = httpclient.http('GET', query, token=self._system_token(),
                                 params=params)
        self.assertEqual(403, answer.status, answer.text)
        # The same user, project-scoped, is served.
        answer = httpclient.http('GET', query, params=params,
                                 token=self.stack.token(self.stack.admin_user))
        self.assertEqual(200, answer.status, answer.text)

    def test_collector_refuses_system_scoped_credentials(self):
        # Built without asking Keystone: the first query is refused.
        collector = _load_collector(
            self.stack, self.workdir, username=self.stack.admin_user,
            password=self.stack.admin_password, project_name=None,
            project_domain_id=None, system_scope='all')
        error = self.assertRaises(collect_exc.CollectError, _fetch,
                                  collector, self.stack, 'rated-b', 1)
        self.assertIsInstance(error.__cause__, prometheus_errors.KeystoneError)
        message = str(error)
        for fact in ('gave a system-scoped token for the [collector_aetos] '
                     'credentials, where Aetos needs a project-scoped one',
                     self.stack.keystone_url, 'no system_scope'):
            self.assertIn(fact, message)


class QueryAsSentTest(base.TestCase):
    """The query the shared stack's Aetos receives, in its mode."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = base.shared_stack()
        cls.workdir = base.class_workdir(cls, 'ck-query-sent-')

    def test_query_as_sent(self):
        queries = _query_as_sent(self, self.stack, self.workdir)
        if base.aetos_refuses_time(self.stack):
            self.assertEqual(['query'], sorted(queries[-1]))
            return
        (sent,) = queries
        self.assertEqual(['query', 'time'], sorted(sent))
        self.assertEqual(self.stack.dataset.hour(3), _unix(sent['time']))


class TimeDroppingProxyTest(base.TestCase):
    """Aetos reached through a proxy that loses ``time``."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = base.shared_stack()
        cls.workdir = base.class_workdir(cls, 'ck-time-proxy-')
        cls.proxy = fake_servers.TimeDroppingProxy(cls.stack.aetos_url)
        cls.proxy.start()
        cls.addClassCleanup(cls.proxy.stop)
        # A region of its own: the stack's endpoints stay untouched for
        # the other tests sharing it.
        region = 'TimeDroppingProxy'
        endpoint = cls.stack.add_endpoint(cls.proxy.url, region)
        cls.addClassCleanup(cls.stack.remove_endpoint, endpoint, region)
        cls.collector = _load_collector(
            cls.stack, cls.workdir, oracle.COLLECTOR_METRICS,
            region_name=region)

    def test_through_the_proxy(self):
        # Found in the catalog at the first query.
        self.collector.client.get_instant('vector(1)')
        self.assertEqual(self.proxy.url, self.collector.client.url)

    def test_the_proxy_loses_time(self):
        # What the proxy does to a query that does not pin itself: the
        # planted data ended hours ago, "now" finds none of it.
        at = self.stack.dataset.hour(3)
        query = 'count(ck_instance_up)'
        answer = self.collector.client.get_instant(query, at)
        self.assertEqual([], answer['data']['result'])
        pinned = self.collector.client.get_instant(
            'count(ck_instance_up @ %d)' % at, at)
        self.assertEqual(len(self.stack.dataset.instant(METRIC, at)),
                         int(pinned['data']['result'][0]['value'][1]))

    def test_pinned_queries_are_right(self):
        forwarded, dropped = self.proxy.counters()
        _compare(self, self.stack, self.collector, self.workdir)
        # Every query went through the proxy, which dropped every time;
        # Aetos never saw one, so it never refused one either.
        now_forwarded, now_dropped = self.proxy.counters()
        self.assertGreater(now_forwarded, forwarded)
        self.assertEqual(now_forwarded - forwarded, now_dropped - dropped)
        self.assertTrue(self.collector.client.sends_time)


class OwnStackTestCase(base.TestCase):
    """Tests needing a stack built differently from the shared one."""

    stack_options = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = stack_mod.Stack(**cls.stack_options)
        cls.addClassCleanup(cls.stack.stop)
        cls.stack.start()
        cls.workdir = base.class_workdir(cls, 'ck-%s-' % cls.__name__)


class TokenExpiryTest(OwnStackTestCase):
    """A collection outliving several short-lived Keystone tokens."""

    stack_options = {'token_expiration': TOKEN_LIFETIME}

    def _keystone_requests(self, offset):
        """Token requests in Keystone's access log since ``offset``.

        :returns: (tokens issued to the collector, tokens issued to Aetos,
                   user tokens validated by Aetos)
        """
        found = keystone.token_requests(self.stack.logs['keystone'], offset)
        posts = [request for request in found if request.method == 'POST']
        # keystonemiddleware names itself in its user agent.
        by_aetos = [request for request in posts
                    if 'keystonemiddleware' in request.agent]
        validations = [request for request in found
                       if request.method == 'GET']
        return len(posts) - len(by_aetos), len(by_aetos), len(validations)

    def test_collection_outlives_tokens(self):
        offset = os.path.getsize(self.stack.logs['keystone'])
        started = time.monotonic()
        loaded = _load_collector(self.stack, self.workdir)
        auth = loaded.client.session.auth
        tokens = []     # (token, issued, expires) in the order of use
        fetches = 0
        projects = sorted(self.stack.projects)
        while True:
            project, hour = projects[fetches % len(projects)], fetches % 6
            self.assertEqual(
                _planted(self.stack, project, hour),
                _by_resource(_fetch(loaded, self.stack, project, hour)))
            fetches += 1
            access = auth.auth_ref
            if not tokens or tokens[-1][0] != access.auth_token:
                tokens.append((access.auth_token, access.issued,
                               access.expires))
            elapsed = time.monotonic() - started
            if elapsed >= COLLECTION_SECONDS:
                break
            time.sleep(PAUSE)
        ours, aetos_own, validations = self._keystone_requests(offset)
        workers = self.stack.aetos_workers
        print('%d fetches in %.1f s with %d tokens living %d s; Keystone '
              'saw %d token requests from the collector, %d from Aetos and '
              '%d validations by %d Aetos workers'
              % (fetches, elapsed, len(tokens), TOKEN_LIFETIME, ours,
                 aetos_own, validations, workers))

        # As many tokens as fresh windows began during the collection.
        lowest = 1 + math.floor(elapsed / (FRESH + WINDOW_SLACK))
        highest = 1 + math.floor(elapsed / (FRESH - WINDOW_SLACK))
        self.assertTrue(lowest <= len(tokens) <= highest,
                        '%d tokens in %.1f s, expected %d to %d'
                        % (len(tokens), elapsed, lowest, highest))
        # Keystone issued exactly those: one request per token.
        self.assertEqual(len(tokens), ours)
        # Each was replaced once it had the renewal margin left, not before.
        for (_old, _issued, expires), (_new, renewed, _exp) in zip(
                tokens, tokens[1:]):
            left = (expires - renewed).total_seconds()
            self.assertLessEqual(left, RENEWAL_MARGIN)
            self.assertGreaterEqual(left, RENEWAL_MARGIN - WINDOW_SLACK)
        # Aetos validated each token once in each worker that received
        # it, and asked for a token of its own only to validate one.
        self.assertTrue(len(tokens) <= validations <= workers * len(tokens),
                        '%d validations of %d tokens by %d workers'
                        % (validations, len(tokens), workers))
        self.assertLessEqual(aetos_own, validations)
