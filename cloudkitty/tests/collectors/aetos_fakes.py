#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
#
"""Test support for the Prometheus and Aetos clients and collectors.

The one module the unit tests under ``cloudkitty.tests.collectors`` (and
the fetcher's) share their fakes, constants and small helpers through;
no test module imports another.

Only the network is fake: keystoneauth loads its plugin and session from
the configuration, asks the fake Keystone for a token and reads the
catalog from it, and the clients build their real HTTP requests, sent to
requests-mock or, where requests-mock cannot show the behaviour
(connections, overlapping answers, bytes that trickle), to a real HTTP
server on 127.0.0.1 (``serve``).

Public helpers:

- Keystone: ``CREDENTIALS``, ``password_auth``, ``configure_keystone``,
  ``token_body``, ``token_answer``, ``use_fake_network``,
  ``token_requests``.
- Queries: ``vector``, ``query_params``, ``carries_time``,
  ``act_as_aetos_1``, ``aetos_queries``, ``requests_to``.
- Transport: ``tls_refusal``, ``pool_sizes``.
- Logs: ``hear``, ``log_lines``, ``warning_lines``.
- Time and threads: ``FakeClock``, ``run_in_threads``.
- Loopback server: ``Handler``, ``Redirecting``, ``Trickling``, ``serve``.
"""
import datetime
from http import server as http_server
import json
import logging
import ssl
import threading
import time
from urllib import parse

import fixtures
from keystoneauth1 import fixture as ks_fixture
from keystoneauth1.identity import v3 as ks_v3
from keystoneauth1 import loading as ks_loading
import requests
from requests_mock.contrib import fixture as rm_fixture
from urllib3 import exceptions as urllib3_exc

from cloudkitty.collector import aetos

GROUP = aetos.COLLECTOR_AETOS_OPTS

KEYSTONE_URL = 'http://keystone.test:5000/v3'
TOKEN_URL = KEYSTONE_URL + '/auth/tokens'
TOKEN_ID = 'fake-token-6b0e2a'
SECOND_TOKEN = 'fake-token-second-91c4'
PASSWORD = 'fake-password-s3cr3t'

# keystoneauth's v3password options, as a deployer writes them.
CREDENTIALS = {
    'auth_type': 'v3password',
    'auth_url': KEYSTONE_URL,
    'username': 'cloudkitty',
    'password': PASSWORD,
    'user_domain_id': 'default',
    'project_name': 'service',
    'project_domain_id': 'default',
}

# Public endpoint with a path, internal one with a port, and a second
# region, so that the tests see which one the client picked.
AETOS_PUBLIC = 'http://aetos.test/metric-storage'
AETOS_INTERNAL = 'http://aetos-internal.test:3180'
AETOS_REGION_TWO = 'https://aetos.region-two.test'
AETOS_QUERY_URL = AETOS_PUBLIC + '/api/v1/query'

PROMETHEUS_URL = 'http://prometheus.test:9090/api/v1'
PROMETHEUS_QUERY_URL = PROMETHEUS_URL + '/query'

START = datetime.datetime(2026, 3, 1, 10, 0, 0)
END = datetime.datetime(2026, 3, 1, 11, 0, 0)
END_UNIX = 1772362800
# END as an evaluation time in RFC 3339, as callers send it.
AT = '2026-03-01T11:00:00+00:00'
# Keys that BaseCollector adds to every groupby for START.
TIME_GROUPBY = {'week_of_the_year': '09', 'day_of_the_year': '60',
                'month': '3', 'year': '2026'}

# How Aetos 1.0.0 answers a query carrying "time": WSME refuses the
# argument (UNKNOWN_TIME), and Aetos' error middleware wraps the fault
# (TIME_REFUSED).
UNKNOWN_TIME = {'faultcode': 'Client', 'debuginfo': None,
                'faultstring': 'Unknown argument: "time"'}
TIME_REFUSED = {'error_message': UNKNOWN_TIME}


def password_auth(auth_url=KEYSTONE_URL):
    """The keystoneauth plugin CREDENTIALS describe, against ``auth_url``."""
    return ks_v3.Password(
        auth_url=auth_url, username=CREDENTIALS['username'],
        password=PASSWORD, user_domain_id=CREDENTIALS['user_domain_id'],
        project_name=CREDENTIALS['project_name'],
        project_domain_id=CREDENTIALS['project_domain_id'])


def configure_keystone(test, group=GROUP, **overrides):
    """Give ``group`` of ``test.conf`` working password credentials.

    cloudkitty.tests.TestCase replaces keystoneauth's loaders with
    mocks; they are stopped here so the real loading code runs.

    :param test: a cloudkitty.tests.TestCase
    :param group: the option group, registered already
    :param overrides: options to set besides (or instead of) CREDENTIALS
    """
    test.auth.stop()
    test.session.stop()
    test._conf_fixture.register_opts(
        ks_loading.get_auth_plugin_conf_options('v3password'), group=group)
    for name, value in dict(CREDENTIALS, **overrides).items():
        test.conf.set_override(name, value, group)


def token_body(roles=('admin',), with_aetos=True, aetos_url=AETOS_PUBLIC):
    """Body of a project-scoped Keystone token with a catalog.

    :param roles: the token's role names
    :param with_aetos: whether the catalog lists Aetos
    :param aetos_url: the public endpoint of Aetos in RegionOne
    """
    token = ks_fixture.V3Token(user_name='cloudkitty',
                               project_name='service')
    for role in roles:
        token.add_role(name=role)
    if with_aetos:
        service = token.add_service('metric-storage', name='aetos')
        service.add_endpoint('public', aetos_url, region='RegionOne')
        service.add_endpoint('internal', AETOS_INTERNAL, region='RegionOne')
        service.add_endpoint('public', AETOS_REGION_TWO, region='RegionTwo')
    return token


def token_answer(token=TOKEN_ID, **body):
    """One answer of the fake Keystone, for a requests-mock answer list.

    :param token: the token ID Keystone gives
    :param body: token_body() arguments
    """
    return {'json': token_body(**body), 'status_code': 201,
            'headers': {'X-Subject-Token': token}}


def use_fake_network(test, roles=('admin',), with_aetos=True,
                     real_http=False):
    """Fake Keystone on ``test``; return the requests-mock fixture.

    :param real_http: let requests to URLs not registered (a loopback
        server's) through to the network
    """
    network = test.useFixture(rm_fixture.Fixture(real_http=real_http))
    network.post(TOKEN_URL, **token_answer(roles=roles,
                                           with_aetos=with_aetos))
    return network


def vector(samples, at=END_UNIX):
    """Prometheus instant-vector answer; ``samples`` = [(labels, value)]."""
    return {
        'status': 'success',
        'data': {
            'resultType': 'vector',
            'result': [{'metric': dict(labels), 'value': [at, str(value)]}
                       for labels, value in samples],
        },
    }


def query_params(request):
    """Query string of a recorded request, with case and order intact."""
    return dict(parse.parse_qsl(parse.urlsplit(request.url).query))


def carries_time(request):
    """Whether a recorded request sends the ``time`` parameter."""
    return 'time' in query_params(request)


def act_as_aetos_1(network, body, refusal=TIME_REFUSED, url=AETOS_QUERY_URL):
    """Answer ``body`` to queries without ``time``, HTTP 400 to the rest.

    requests-mock tries the latest registration first, so the refusal
    is registered last.
    """
    network.get(url, json=body)
    network.get(url, additional_matcher=carries_time, status_code=400,
                json=refusal)


def requests_to(network, url, method=None):
    """The recorded requests to ``url`` (query string aside), in order."""
    return [r for r in network.request_history
            if r.url.split('?')[0] == url
            and method in (None, r.method)]


def aetos_queries(network, url=AETOS_QUERY_URL):
    """The requests sent to Aetos' query endpoint, in order."""
    return requests_to(network, url, 'GET')


def token_requests(network, auth_url=KEYSTONE_URL):
    """The token requests sent to the fake Keystone at ``auth_url``."""
    return requests_to(network, auth_url + '/auth/tokens', 'POST')


def pool_sizes(http):
    """The connection pool sizes of a requests session, every scheme's.

    :param http: a requests.Session
    :returns: the set of sizes; one alone when one pooled adapter serves
        both schemes
    """
    return {http.adapters[scheme].poolmanager.connection_pool_kw['maxsize']
            for scheme in ('http://', 'https://')}


def tls_refusal(host, reason='CERTIFICATE_VERIFY_FAILED',
                verify_message='self-signed certificate'):
    """requests' SSLError for a failed handshake with ``host``.

    The chain is the real one (requests, urllib3, ssl), so that code
    looking for OpenSSL's own words finds them where they are. The ssl
    module sets ``reason`` (and ``verify_message`` for a refused
    certificate) from OpenSSL when it raises; they are set by hand here.

    :param reason: OpenSSL's reason code
    :param verify_message: why the certificate was refused; None for a
        handshake that failed before any certificate was judged
    """
    text = '[SSL: %s] %s (_ssl.c:1006)' % (reason, verify_message or reason)
    if verify_message:
        refusal = ssl.SSLCertVerificationError(1, text)
        refusal.verify_message = verify_message
        refusal.verify_code = 19
    else:
        refusal = ssl.SSLError(1, text)
    refusal.reason = reason
    refusal.library = 'SSL'
    retries = urllib3_exc.MaxRetryError(
        None, 'https://%s/' % host, reason=urllib3_exc.SSLError(refusal))
    return requests.exceptions.SSLError(retries)


def hear(test, *modules, level=logging.WARNING, name='cloudkitty'):
    """Capture the log records of ``name`` and below from ``level`` up.

    The alembic run of TestCase.setUp disables the loggers that exist by
    then; those of ``modules`` (every disabled one when none is given)
    speak again for the test.

    :returns: the fixtures.FakeLogger; its lines read
        ``LEVEL logger message``
    """
    if modules:
        loggers = [logging.getLogger(module.__name__) for module in modules]
    else:
        loggers = [logger for logger in
                   list(logging.root.manager.loggerDict.values())
                   if isinstance(logger, logging.Logger)]
    for logger in loggers:
        if logger.disabled:
            test.useFixture(fixtures.MockPatchObject(logger, 'disabled',
                                                     False))
    return test.useFixture(fixtures.FakeLogger(
        name=name, level=level, format='%(levelname)s %(name)s %(message)s'))


def log_lines(logs):
    """The lines hear() captured, empty ones left out."""
    return [line for line in logs.output.splitlines() if line]


def warning_lines(logs):
    """The WARNING lines hear() captured."""
    return [line for line in log_lines(logs) if line.startswith('WARNING')]


class FakeClock(object):
    """Monotonic seconds that pass only when a test says so."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def run_in_threads(count, work, timeout=30):
    """Run ``work()`` in ``count`` threads at once; wait for them all.

    :returns: what each call returned or raised, in no given order
    """
    outcomes = []

    def run():
        try:
            outcomes.append(work())
        except Exception as exc:  # noqa: B902 (handed to the test)
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return outcomes


class Handler(http_server.BaseHTTPRequestHandler):
    """A loopback request handler that logs nothing and answers JSON."""

    def send_json(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Trickling(Handler):
    """Answer 100,000 bytes, one every ``pause`` seconds.

    Subclass it with the ``pause`` wanted; the body never ends in time.
    """

    pause = 0.05

    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', '100000')
        self.end_headers()
        for _ in range(100000):
            try:
                self.wfile.write(b' ')
                self.wfile.flush()
            except OSError:
                return
            time.sleep(self.pause)


class Redirecting(Handler):
    """Send every query on to /elsewhere, under another host name.

    What reaches /elsewhere is recorded in the server's ``followed``
    list, as the dict of its headers.
    """

    def do_GET(self):
        if self.path.startswith('/elsewhere'):
            self.server.followed.append(dict(self.headers))
            self.send_json(200, vector([]))
            return
        body = b'Moved to /elsewhere'
        self.send_response(302)
        self.send_header('Location', 'http://localhost:%d/elsewhere'
                         % self.server.server_port)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(test, handler):
    """Serve ``handler`` on 127.0.0.1, a free port, until ``test`` ends.

    requests-mock neither opens connections nor lets answers overlap nor
    sends bytes slowly: such tests need a server of their own.

    :param test: the test case; its clean-ups stop the server
    :param handler: a Handler subclass
    :returns: ``(server, URL of its /api/v1)``
    """
    test.useFixture(fixtures.EnvironmentVariable('NO_PROXY', '*'))
    server = http_server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.daemon_threads = True
    server.followed = []
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    test.addCleanup(server.server_close)
    test.addCleanup(serving.join, 10)
    test.addCleanup(server.shutdown)
    return server, 'http://127.0.0.1:%d/api/v1' % server.server_port
