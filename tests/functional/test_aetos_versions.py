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
"""The Aetos collector against an old Aetos, a lossy proxy and short tokens.

Three situations that would otherwise rate the wrong window, or fail half-way
through a collection, each on real services:

* Aetos 1.0.0, which refuses the ``time`` parameter: the collector must name
  the Aetos release it needs and return nothing;
* a proxy in front of a current Aetos that silently drops ``time``, so that
  Prometheus evaluates at "now": the evaluation time check must catch it,
  also for a past period whose answer at "now" is empty (the planted data
  ended hours ago, so every answer through that proxy is empty);
* Keystone tokens living a few seconds longer than keystoneauth's renewal
  margin: a collection outliving several tokens must go on without error,
  and Keystone must be asked for a token only when the current one is about
  to expire.
"""

import datetime
import http.server
import math
import os
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request


from cloudkitty.collector import aetos  # noqa: F401 (registers options)
from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.common import aetos_client

from functional import base
from functional import stack as stack_mod

PERIOD = 3600
OLD_BASE = '2025.2'
"""Services base (``stack.BASES``) whose Aetos predates ``time``."""

METRIC = 'ck_instance_up'
METRICS = {'metrics': {METRIC: {
    'unit': 'instance',
    'groupby': ['resource_id'],
    'metadata': [],
    'extra_args': {'aggregation_method': 'max'},
}}}

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


# The proxy forwards over loopback: never through a proxy of the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _utc(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)


def _load_collector(stack, workdir, **options):
    """An AetosCollector loaded as cloudkitty-processor loads it."""
    return base.load_collector(stack, workdir, METRICS, period=PERIOD,
                               **options)


def _fetch(loaded, stack, project, hour):
    """Points of a planted project for one planted hour."""
    data = stack.dataset
    return loaded.fetch_all(METRIC, _utc(data.hour(hour)),
                            _utc(data.hour(hour + 1)),
                            data.project_ids[project])


def _planted(stack, project, hour):
    """What ``_fetch`` must find: resource_id -> value."""
    vector = stack.dataset.over_time(
        'max', METRIC, stack.dataset.hour(hour + 1), PERIOD, [project])
    return {labels['resource_id']: value for labels, value in vector}


def _by_resource(points):
    return {point.groupby['resource_id']: float(point.qty)
            for point in points}


class _TimeDroppingHandler(http.server.BaseHTTPRequestHandler):
    """Forward a GET upstream without its ``time`` parameter.

    Everything else, the token header included, passes unchanged: the way
    a reverse proxy with a parameter allow-list would behave.
    """

    def do_GET(self):
        path, _sep, query = self.path.partition('?')
        params = urllib.parse.parse_qsl(query, keep_blank_values=True)
        kept = [(name, value) for name, value in params if name != 'time']
        with self.server.lock:
            self.server.forwarded += 1
            self.server.dropped += len(params) - len(kept)
        url = self.server.upstream + path
        if kept:
            url += '?' + urllib.parse.urlencode(kept)
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() in ('x-auth-token', 'accept')}
        try:
            with _DIRECT.open(
                    urllib.request.Request(url, headers=headers),
                    timeout=stack_mod.HTTP_TIMEOUT) as answer:
                status, body = answer.status, answer.read()
                content_type = answer.headers.get('Content-Type')
        except urllib.error.HTTPError as exc:
            with exc:
                status, body = exc.code, exc.read()
                content_type = exc.headers.get('Content-Type')
        self.send_response(status)
        if content_type:
            self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        """Stay quiet: the counters say what went through."""


class TimeDroppingProxy(object):
    """A proxy on 127.0.0.1, in a thread of the test process."""

    def __init__(self, upstream):
        self.server = http.server.ThreadingHTTPServer(
            (stack_mod.HOST, 0), _TimeDroppingHandler)
        self.server.daemon_threads = True
        self.server.upstream = upstream.rstrip('/')
        self.server.lock = threading.Lock()
        self.server.forwarded = 0
        self.server.dropped = 0
        self.url = 'http://%s:%s' % self.server.server_address[:2]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={'poll_interval': 0.1},
            name='time-dropping-proxy', daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(stack_mod.STOP_TIMEOUT)
        self.server.server_close()

    def counters(self):
        """(requests forwarded, ``time`` parameters dropped) so far."""
        with self.server.lock:
            return self.server.forwarded, self.server.dropped


class OwnStackTestCase(unittest.TestCase):
    """Tests needing a stack built differently from the shared one."""

    stack_options = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = stack_mod.Stack(**cls.stack_options)
        cls.addClassCleanup(cls.stack.stop)
        cls.stack.start()
        cls.workdir = base.class_workdir(cls, 'ck-%s-' % cls.__name__)


class OldAetosTest(OwnStackTestCase):
    """Aetos 1.0.0 (2025.2), which predates the ``time`` parameter."""

    # keystone 28.1.0 and aetos 1.0.0 with the 2025.2 constraints, in a
    # virtualenv of their own next to the current base's.
    stack_options = {'base': OLD_BASE}

    def test_serves_queries_without_time(self):
        # What fails below is the time parameter, nothing else.
        answer = stack_mod.http(
            'GET', self.stack.aetos_url + '/api/v1/query',
            token=self.stack.token(), params={'query': 'vector(1)'})
        self.assertEqual(200, answer.status, answer.text)
        self.assertEqual('success', answer.json()['status'])

    def test_refuses_time(self):
        answer = stack_mod.http(
            'GET', self.stack.aetos_url + '/api/v1/query',
            token=self.stack.token(),
            params={'query': 'vector(1)', 'time': self.stack.dataset.end})
        self.assertEqual(400, answer.status, answer.text)
        self.assertEqual('Unknown argument: "time"',
                         answer.json()['error_message']['faultstring'])

    def test_collector_names_the_release_needed(self):
        loaded = _load_collector(self.stack, self.workdir)
        self.assertTrue(_planted(self.stack, 'rated-a', 2))
        with self.assertRaises(collect_exc.CollectError) as caught:
            _fetch(loaded, self.stack, 'rated-a', 2)
        self.assertEqual(
            'Aetos at %s answered HTTP 400 (Unknown argument: "time"): %s; '
            'older releases cannot evaluate a query at a given time'
            % (self.stack.aetos_url, aetos_client.NEWER_AETOS_NEEDED),
            str(caught.exception))


class EvaluationTimeCheckTest(unittest.TestCase):
    """Empty answers of a current Aetos pass their time check."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = base.shared_stack()
        cls.workdir = base.class_workdir(cls, 'ck-time-check-')

    def _empty_and_planted(self, loaded):
        # The hour before the planted data is empty; the check must not
        # turn it into an error, nor change the hours with data.
        self.assertEqual([], _fetch(loaded, self.stack, 'rated-a', -1))
        self.assertEqual(_planted(self.stack, 'rated-a', 2),
                         _by_resource(_fetch(loaded, self.stack, 'rated-a',
                                             2)))

    def test_all_projects_role(self):
        self._empty_and_planted(_load_collector(self.stack, self.workdir))

    def test_own_project_role(self):
        # Aetos rewrites the selectors of a user without an all-projects
        # role: the check's query must survive that rewriting.
        stack = self.stack
        self._empty_and_planted(_load_collector(
            stack, self.workdir, username=stack.reader_user,
            password=stack.reader_password,
            project_name=stack.reader_project))


class TimeDroppingProxyTest(unittest.TestCase):
    """A current Aetos reached through a proxy that loses ``time``."""

    region = 'TimeDroppingProxy'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack = base.shared_stack()
        cls.workdir = base.class_workdir(cls, 'ck-time-proxy-')
        cls.proxy = TimeDroppingProxy(cls.stack.aetos_url)
        cls.proxy.start()
        cls.admin_token = cls.stack.token(cls.stack.admin_user)
        cls.endpoint_id = None
        try:
            # A region of its own: the stack's endpoints stay untouched for
            # the other tests sharing it.
            cls._keystone('POST', '/regions', {'region': {
                'id': cls.region,
                'description': 'functional test: a proxy dropping time'}})
            cls.endpoint_id = cls._keystone('POST', '/endpoints', {
                'endpoint': {'service_id': cls.stack.service_id,
                             'interface': 'public',
                             'region_id': cls.region,
                             'url': cls.proxy.url}}
            ).json()['endpoint']['id']
        except BaseException:
            cls._clean_up()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._clean_up()
        super().tearDownClass()

    @classmethod
    def _clean_up(cls):
        try:
            if cls.endpoint_id:
                cls._keystone('DELETE', '/endpoints/' + cls.endpoint_id)
            cls._keystone('DELETE', '/regions/' + cls.region,
                          expect=(204, 404))
        finally:
            cls.proxy.stop()

    @classmethod
    def _keystone(cls, method, path, body=None, expect=(200, 201, 204)):
        answer = stack_mod.http(method, cls.stack.keystone_url + path, body,
                                token=cls.admin_token)
        if answer.status not in expect:
            raise AssertionError('Keystone answered %s %s with %s: %s'
                                 % (method, path, answer.status,
                                    answer.text[:300]))
        return answer

    def setUp(self):
        super().setUp()
        self.collector = _load_collector(self.stack, self.workdir,
                                         region_name=self.region)
        self.assertEqual(self.proxy.url, self.collector._conn.url)

    def test_same_query_is_right_without_the_proxy(self):
        loaded = _load_collector(self.stack, self.workdir)
        self.assertEqual(self.stack.aetos_url, loaded._conn.url)
        self.assertEqual(_planted(self.stack, 'rated-a', 2),
                         _by_resource(_fetch(loaded, self.stack, 'rated-a',
                                             2)))

    def test_past_period_empty_at_now(self):
        forwarded, dropped = self.proxy.counters()
        self.assertTrue(_planted(self.stack, 'rated-a', 2))
        with self.assertRaises(collect_exc.CollectError) as caught:
            _fetch(self.collector, self.stack, 'rated-a', 2)
        message = str(caught.exception)
        self.assertTrue(message.startswith(
            'Aetos at %s evaluated the query at Unix time ' % self.proxy.url),
            message)
        self.assertTrue(message.endswith(
            'not at the requested %s: %s' % (
                _utc(self.stack.dataset.hour(3)).isoformat(),
                aetos_client.NEWER_AETOS_NEEDED)), message)
        # The query (empty at "now") and its time check went through the
        # proxy, which dropped the time of both.
        self.assertEqual((forwarded + 2, dropped + 2),
                         self.proxy.counters())

    def test_answer_with_samples_at_now(self):
        at = self.stack.dataset.hour(3)
        with self.assertRaises(aetos_client.PrometheusResponseError) as caught:
            self.collector._conn.get_instant('vector(1)', at)
        self.assertIn('not at the requested %s: %s' % (
            at, aetos_client.NEWER_AETOS_NEEDED), str(caught.exception))


class TokenExpiryTest(OwnStackTestCase):
    """A collection outliving several short-lived Keystone tokens."""

    stack_options = {'token_expiration': TOKEN_LIFETIME}

    def _keystone_requests(self, offset):
        """Token requests in Keystone's access log since ``offset``.

        :returns: (tokens issued to the collector, tokens issued to Aetos,
                   user tokens validated by Aetos)
        """
        with open(self.stack.logs['keystone'], errors='replace') as log:
            log.seek(offset)
            lines = log.read().splitlines()
        posts = [line for line in lines if '"POST /v3/auth/tokens ' in line]
        # keystonemiddleware names itself in its user agent.
        by_aetos = [line for line in posts if 'keystonemiddleware' in line]
        validations = [line for line in lines
                       if '"GET /v3/auth/tokens ' in line]
        return len(posts) - len(by_aetos), len(by_aetos), len(validations)

    def test_collection_outlives_tokens(self):
        offset = os.path.getsize(self.stack.logs['keystone'])
        started = time.monotonic()
        loaded = _load_collector(self.stack, self.workdir)
        auth = loaded._conn._adapter.session.auth
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
