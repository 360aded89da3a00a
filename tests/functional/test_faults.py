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
"""Each fault a deployer can meet, caused for real, and what they read.

A collector that fails quietly rates nothing and costs the operator money,
so every row of the failure table in DESIGN.md is provoked here against the
real Keystone, Aetos and Prometheus of the functional stack: wrong or
changed credentials, services stopped, a missing catalog entry, bad PromQL,
a server that is not Aetos, a user too weak to see every project. Each
test asserts on the message text itself: the cause and the fix must be in
the one line a deployer finds in the processor's log, as a CollectError
during collection (the period stays unprocessed and is retried) or as the
collector's start-up error.

The shared stack is used throughout; tests that stop a service start it
again in a cleanup. Servers that must misbehave in ways the real services
never do (answer HTML, never answer at all) are small local HTTP servers
registered in Keystone's catalog in regions of their own, so the real
collector finds them exactly as it finds Aetos.
"""

import datetime
import http.server
import json
import logging
import re
import tempfile
import threading
import time
import unittest
import uuid


from cloudkitty.collector import aetos
from cloudkitty.collector import exceptions as collect_exc

from functional import base
from functional import dataset
from functional import stack as stack_mod

PERIOD = 3600
METRIC = 'ck_instance_up'


def metrics_conf(**extra_args):
    """A metrics.yml holding one metric, with extra_args added."""
    args = dict(aggregation_method='max', **extra_args)
    return {'metrics': {METRIC: {
        'unit': 'instance',
        'groupby': ['resource_id'],
        'metadata': ['flavor_name'],
        'extra_args': args,
    }}}


def _utc(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)


class RecordedLogs(logging.Handler):
    """Every record of every logger, kept while installed on the root.

    The root logger and the libraries' own loggers are lowered to ``level``
    for the duration, so nothing is filtered out before it reaches here.
    """

    LIBRARIES = ('cloudkitty', 'keystoneauth', 'urllib3',
                 'observabilityclient', 'requests', 'stevedore')

    def __init__(self, level=logging.DEBUG):
        super(RecordedLogs, self).__init__(level)
        self.records = []
        self.setFormatter(logging.Formatter(
            '%(levelname)s %(name)s %(message)s'))
        self._level = level
        self._saved = {}

    def emit(self, record):
        self.records.append(record)

    def install(self):
        for name in (None,) + self.LIBRARIES:
            logger = logging.getLogger(name)
            self._saved[name] = logger.level
            logger.setLevel(self._level)
        logging.getLogger().addHandler(self)
        return self

    def uninstall(self):
        logging.getLogger().removeHandler(self)
        for name, level in self._saved.items():
            logging.getLogger(name).setLevel(level)

    def text(self):
        """Everything logged, formatted, tracebacks included."""
        return '\n'.join(self.format(record) for record in self.records)

    def messages(self, logger, level):
        return [record.getMessage() for record in self.records
                if record.name == logger and record.levelno == level]


class FakeMetricStorage(object):
    """An HTTP server on 127.0.0.1 that stands where Aetos should be.

    It answers every GET with ``answer`` (status, content type, body), or
    with nothing at all while ``silent`` is set, and counts the requests.
    """

    def __init__(self):
        self.answer = (200, 'application/json', b'{}')
        self.silent = False
        self.paths = []
        self._release = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self):
                fake.paths.append(self.path)
                if fake.silent:
                    # Accepted, read, never answered.
                    fake._release.wait(stack_mod.HTTP_TIMEOUT)
                    return
                status, content_type, body = fake.answer
                self.send_response(status)
                self.send_header('Content-Type', content_type)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(
            (stack_mod.HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = 'http://%s:%s' % self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(stack_mod.STOP_TIMEOUT)


class FaultTestBase(unittest.TestCase):
    """Loads collectors from a real cloudkitty.conf on the shared stack."""

    @classmethod
    def setUpClass(cls):
        super(FaultTestBase, cls).setUpClass()
        cls.stack = base.shared_stack()
        cls.data = cls.stack.dataset
        cls.workdir = base.class_workdir(cls, 'ck-faults-')

    def _collector(self, name='aetos', metrics=None, **aetos_options):
        """A collector loaded as cloudkitty-processor loads it.

        ``aetos_options`` override the stack's ``[collector_aetos]``
        options; a value of None removes the option.
        """
        return base.load_collector(
            self.stack, tempfile.mkdtemp(dir=self.workdir),
            metrics or metrics_conf(), name, period=PERIOD, **aetos_options)

    def _fetch(self, collector_, project='rated-b', hour=1, scope_id=None):
        start = self.data.hour(hour)
        return collector_.fetch_all(
            METRIC, _utc(start), _utc(start + PERIOD),
            scope_id or self.data.project_ids[project])

    def _collect_error(self, collector_, **kwargs):
        """The CollectError message of one fetch, checked to be one line."""
        with self.assertRaises(collect_exc.CollectError) as caught:
            self._fetch(collector_, **kwargs)
        message = str(caught.exception)
        self.assertNotIn('\n', message)
        return message

    def _setup_error(self, **aetos_options):
        """The start-up error message of the Aetos collector."""
        with self.assertRaises(aetos.AetosSetupError) as caught:
            self._collector(**aetos_options)
        message = str(caught.exception)
        self.assertNotIn('\n', message)
        return message

    def _restart_in_cleanup(self, service):
        """Stop a service of the shared stack now, start it at cleanup."""
        self.addCleanup(self.stack.start_service, service)
        self.stack.stop_service(service)

    def _fake_endpoint(self, interface='public'):
        """A FakeMetricStorage in the catalog, in a region of its own."""
        fake = FakeMetricStorage()
        fake.start()
        self.addCleanup(fake.stop)
        region = 'Fake-' + uuid.uuid4().hex[:8]
        endpoint = self.stack.add_endpoint(fake.url, region, interface)
        self.addCleanup(self.stack.remove_endpoint, endpoint, region)
        return fake, region

    @property
    def keystone(self):
        return 'Keystone at %s' % self.stack.keystone_url

    @property
    def aetos(self):
        return 'Aetos at %s' % self.stack.aetos_url


class CredentialsAndKeystoneTest(FaultTestBase):
    """Keystone refusing or missing: the message names Keystone's URL."""

    REFUSED = (' refused the [collector_aetos] credentials (HTTP 401): '
               'check the user, password, domains and project, and that the '
               'password has not expired')
    UNREACHABLE = (' could not be reached for a token (%s): check '
                   '[collector_aetos] auth_url and that Keystone is running')

    def test_wrong_password_at_start_up(self):
        self.assertEqual(self.keystone + self.REFUSED,
                         self._setup_error(password='not-the-password'))

    def test_unknown_user_at_start_up(self):
        self.assertEqual(self.keystone + self.REFUSED,
                         self._setup_error(username='nobody-here'))

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
        ours._conn._adapter.session.auth.invalidate()
        self.assertEqual(self.keystone + self.REFUSED,
                         self._collect_error(ours))

    def test_credentials_without_project(self):
        # Keystone scopes such a request to the user's default project if
        # it has one; the admin user of keystone-manage bootstrap has none.
        self.assertEqual(
            'The [collector_aetos] credentials are not project-scoped '
            '(Keystone at %s gave a token for no project): set project_id, '
            'or project_name with project_domain_name or project_domain_id'
            % self.stack.keystone_url,
            self._setup_error(username=self.stack.admin_user,
                              password=self.stack.admin_password,
                              project_name=None, project_domain_id=None))

    def test_keystone_stopped_at_start_up(self):
        self._restart_in_cleanup('keystone')
        self.assertEqual(self.keystone + self.UNREACHABLE % 'ConnectFailure',
                         self._setup_error())

    def test_keystone_stopped_during_collection(self):
        ours = self._collector()
        self.assertTrue(self._fetch(ours))
        self._restart_in_cleanup('keystone')
        # The token reaches its expiry while Keystone is down.
        ours._conn._adapter.session.auth.invalidate()
        self.assertEqual(self.keystone + self.UNREACHABLE % 'ConnectFailure',
                         self._collect_error(ours))
        # Collection resumes by itself once Keystone is back.
        self.stack.start_service('keystone')
        self.assertTrue(self._fetch(ours))

    def test_keystone_stopped_before_aetos_saw_the_token(self):
        # The collector got its token at start-up but never used it: Aetos
        # cannot validate it and says so.
        ours = self._collector()
        self._restart_in_cleanup('keystone')
        self.assertEqual(
            self.aetos + ' answered HTTP 503 (The server is currently '
            'unavailable. Please try again at a later time. The Keystone '
            'service is temporarily unavailable.): check that Aetos is '
            'running and can reach Keystone and Prometheus',
            self._collect_error(ours))


class CatalogTest(FaultTestBase):
    """No Aetos where the configuration says to look: stop at start-up."""

    def test_no_endpoint_in_the_region(self):
        self.assertEqual(
            "No 'metric-storage' endpoint with interface 'public' in region "
            "'Nowhere' in the Keystone catalog: register Aetos there or fix "
            "[collector_aetos] interface and region_name",
            self._setup_error(region_name='Nowhere'))

    def test_no_endpoint_for_the_interface(self):
        fake, region = self._fake_endpoint(interface='internal')
        # The region does hold an endpoint, for another interface.
        self.assertEqual(fake.url, self._collector(
            region_name=region, interface='internal')._conn.url)
        self.assertEqual(
            "No 'metric-storage' endpoint with interface 'admin' in region "
            "'%s' in the Keystone catalog: register Aetos there or fix "
            "[collector_aetos] interface and region_name" % region,
            self._setup_error(region_name=region, interface='admin'))


class AetosAndPrometheusDownTest(FaultTestBase):
    """Aetos or what is behind it failing: CollectError naming Aetos."""

    def test_aetos_stopped(self):
        ours = self._collector()
        self._restart_in_cleanup('aetos')
        self.assertEqual(
            self.aetos + " could not be connected to: check that Aetos is "
            "running and that the 'metric-storage' endpoint in the Keystone "
            "catalog is right", self._collect_error(ours))

    def test_prometheus_stopped_behind_aetos(self):
        ours = self._collector()
        self._restart_in_cleanup('prometheus')
        message = self._collect_error(ours)
        # Aetos quotes its failed connection to Prometheus.
        self.assertTrue(message.startswith(
            self.aetos + " answered HTTP 500 (HTTPConnectionPool(host='%s', "
            "port=%s): Max retries exceeded with url: /api/v1/query?query="
            % (stack_mod.HOST, self.stack.prometheus_port)), message)
        self.assertTrue(message.endswith(
            '): check that Aetos is running and can reach Keystone and '
            'Prometheus'), message)

    def test_timeout(self):
        fake, region = self._fake_endpoint()
        fake.silent = True
        ours = self._collector(region_name=region, timeout=1)
        started = time.monotonic()
        message = self._collect_error(ours)
        elapsed = time.monotonic() - started
        self.assertEqual(
            'Aetos at %s did not answer within 1 s: check the load of Aetos '
            'and Prometheus or raise [collector_aetos] timeout' % fake.url,
            message)
        self.assertEqual(1, len(fake.paths))
        self.assertLess(elapsed, 5)

    def _aetos_requests(self, marker, expected):
        """Requests the shared Aetos logged whose URL holds ``marker``.

        gunicorn logs a request after sending its answer: wait up to a few
        seconds for ``expected`` of them to show.
        """
        deadline = time.monotonic() + 5
        while True:
            with open(self.stack.logs['aetos'], errors='replace') as log:
                found = [line for line in log
                         if 'GET /api/v1/query?' in line and marker in line]
            if len(found) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def test_status_code_retries_reach_the_real_aetos(self):
        self._restart_in_cleanup('prometheus')
        for retries in (0, 2):
            scope = 'retries-%d-%s' % (retries, uuid.uuid4().hex[:8])
            ours = self._collector(status_code_retries=retries,
                                   status_code_retry_delay=0.1,
                                   retriable_status_codes='500')
            logs = RecordedLogs(logging.WARNING).install()
            try:
                message = self._collect_error(ours, scope_id=scope)
            finally:
                logs.uninstall()
            self.assertIn(' answered HTTP 500 ', message)
            self.assertEqual(
                ['Retriable status code 500. Retrying in 0.1s. %d retries '
                 'left' % left for left in range(retries, 0, -1)],
                logs.messages('keystoneauth.session', logging.WARNING))
            self.assertEqual(retries + 1,
                             len(self._aetos_requests(scope, retries + 1)))

    def test_connect_retries_wait_for_aetos_to_come_back(self):
        ours = self._collector(connect_retries=10, connect_retry_delay=1)
        expected = self._fetch(ours)
        self._restart_in_cleanup('aetos')
        aetos_service = self.stack.services['aetos']
        starter = threading.Timer(0.5, aetos_service.spawn)
        self.addCleanup(starter.cancel)
        logs = RecordedLogs(logging.INFO).install()
        self.addCleanup(logs.uninstall)
        starter.start()
        self.assertEqual(expected, self._fetch(ours))
        # keystoneauth said so at each failed attempt.
        retried = [m for m in logs.messages('keystoneauth.session',
                                            logging.WARNING)
                   if m.startswith('Failure: Unable to establish connection '
                                   'to %s/api/v1/query' % self.stack.aetos_url)
                   and 'Retrying in 1.0s' in m]
        self.assertTrue(retried, logs.text())


class BadAnswersTest(FaultTestBase):
    """Answers that are not usable results: CollectError quoting them."""

    def test_invalid_promql_as_the_prometheus_collector_reports_it(self):
        metrics = metrics_conf(query_suffix='+ on(')
        through_aetos = self._collect_error(
            self._collector(metrics=metrics))
        direct = self._collect_error(
            self._collector('prometheus', metrics=metrics))
        # Prometheus' own words, as the direct collector shows them.
        match = re.match(r'^bad_data: (invalid parameter "query": '
                         r'1:\d+: parse error: .+)$', direct)
        self.assertIsNotNone(match, direct)
        prometheus_error = match.group(1)
        self.assertEqual(
            '%s answered HTTP 400 ([400] %s): Prometheus or Aetos rejected '
            'the query: check the metric definition (extra_args, '
            'query_prefix, query_suffix)' % (self.aetos, prometheus_error),
            through_aetos)

    def test_body_that_is_not_json(self):
        fake, region = self._fake_endpoint()
        fake.answer = (200, 'text/html', b'<html><body><h1>Welcome to '
                       b'nginx!</h1>' + b' padding' * 50 + b'</body></html>')
        message = self._collect_error(self._collector(region_name=region))
        self.assertEqual(
            'Aetos at %s answered HTTP 200 with a body that is not JSON '
            '(<html><body><h1>Welcome to nginx!</h1> padding padding'
            % fake.url, message[:message.index(' padding padding') + 16])
        self.assertIn("...): the metric-storage endpoint must be the root "
                      "URL of Aetos", message)
        self.assertLess(len(message), 400)

    def test_proxy_error_page(self):
        fake, region = self._fake_endpoint()
        fake.answer = (502, 'text/html',
                       b'<html>\n<body>502 Bad Gateway</body>\n</html>\n')
        self.assertEqual(
            'Aetos at %s answered HTTP 502 (<html> <body>502 Bad Gateway'
            '</body> </html>): check that Aetos is running and can reach '
            'Keystone and Prometheus' % fake.url,
            self._collect_error(self._collector(region_name=region)))

    def test_json_that_is_not_a_prometheus_result(self):
        fake, region = self._fake_endpoint()
        fake.answer = (200, 'application/json',
                       json.dumps({'versions': ['v1', 'v2']}).encode())
        self.assertEqual(
            'Aetos at %s answered JSON that is not a Prometheus result '
            '({"versions": ["v1", "v2"]}): the metric-storage endpoint must '
            'be the root URL of Aetos' % fake.url,
            self._collect_error(self._collector(region_name=region)))

    def test_json_with_another_status(self):
        # A health check URL registered instead of Aetos' root.
        fake, region = self._fake_endpoint()
        fake.answer = (200, 'application/json', b'{"status": "ok"}')
        self.assertEqual(
            'Aetos at %s answered JSON that is not a Prometheus result '
            '({"status": "ok"}): the metric-storage endpoint must be the root '
            'URL of Aetos' % fake.url,
            self._collect_error(self._collector(region_name=region)))
        self.assertEqual(1, len(fake.paths))

    def test_success_without_a_result(self):
        fake, region = self._fake_endpoint()
        fake.answer = (200, 'application/json', json.dumps(
            {'status': 'success', 'data': {'resultType': 'vector'}}).encode())
        self.assertEqual(
            "Aetos at %s answered without a query result: {'status': "
            "'success', 'data': {'resultType': 'vector'}}" % fake.url,
            self._collect_error(self._collector(region_name=region)))


class RoleTooWeakTest(FaultTestBase):
    """A user Aetos narrows to one project: warned, and rightly so."""

    def _observer(self):
        return self._collector(username=self.stack.reader_user,
                               password=self.stack.reader_password,
                               project_name=self.stack.reader_project)

    def test_one_warning_at_start_up(self):
        logs = RecordedLogs(logging.INFO).install()
        self.addCleanup(logs.uninstall)
        self._observer()
        warnings = [record.getMessage() for record in logs.records
                    if record.levelno >= logging.WARNING]
        self.assertEqual([
            "Aetos collector: the [collector_aetos] user has neither the "
            "admin nor the service role on its project (its roles: reader). "
            "Aetos will narrow every query to that user's own project, so "
            "the usage of all other projects would be rated as zero. Give "
            "the user the service (or admin) role on its project (Aetos "
            "policy telemetry:query:all_projects)."], warnings)
        self.assertEqual(
            1, len(logs.messages('cloudkitty.collector.aetos',
                                 logging.WARNING)))

    def test_admin_user_is_not_warned(self):
        logs = RecordedLogs(logging.INFO).install()
        self.addCleanup(logs.uninstall)
        self._collector()
        self.assertEqual([], [record.getMessage() for record in logs.records
                              if record.levelno >= logging.WARNING])

    def test_real_aetos_hides_other_projects_from_that_user(self):
        observer = self._observer()
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
        # only: Aetos refuses even that project's data.
        project = 'rated-c'
        logs = RecordedLogs(logging.INFO).install()
        self.addCleanup(logs.uninstall)
        rating_only = self._collector(project_name=project)
        logs.uninstall()
        self.assertEqual(1, len(logs.messages('cloudkitty.collector.aetos',
                                              logging.WARNING)))
        self.assertEqual(
            self.aetos + ' answered HTTP 403 (RBAC Authorization Failed): '
            'the [collector_aetos] user has no role Aetos accepts on its '
            'project: give it the service (or admin) role there so that it '
            'sees every project',
            self._collect_error(rating_only, project=project))


class LeastPrivilegeTest(FaultTestBase):
    """The service role, not admin, is enough to rate every project."""

    def test_service_role_sees_every_project(self):
        logs = RecordedLogs(logging.INFO).install()
        self.addCleanup(logs.uninstall)
        # Aetos' own user: the service role on the service project only.
        service_only = self._collector(username=self.stack.aetos_user,
                                       password=self.stack.aetos_password,
                                       project_name=stack_mod.SERVICE_PROJECT)
        logs.uninstall()
        self.assertEqual([], [record.getMessage() for record in logs.records
                              if record.levelno >= logging.WARNING])
        roles = service_only._conn._adapter.session.auth.get_access(
            service_only._conn._adapter.session).role_names
        self.assertEqual(['service'], roles)

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
