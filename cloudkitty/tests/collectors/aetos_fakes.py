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
"""Keystone, Aetos and Prometheus faked at the HTTP edge for unit tests.

Only the network is fake: keystoneauth loads its plugin and session from
the configuration, asks the fake Keystone for a token and reads the
catalog from it, and the clients build their real HTTP requests.
"""
import datetime
import logging
import ssl
from urllib import parse

import fixtures
from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import loading as ks_loading
import requests
from requests_mock.contrib import fixture as rm_fixture
from urllib3 import exceptions as urllib3_exc

from cloudkitty.collector import aetos

KEYSTONE_URL = 'http://keystone.test:5000/v3'
TOKEN_URL = KEYSTONE_URL + '/auth/tokens'
TOKEN_ID = 'fake-token-6b0e2a'
PASSWORD = 'fake-password-s3cr3t'

# Public endpoint with a path, internal one with a port, and a second
# region, so that the tests see which one the collector picked.
AETOS_PUBLIC = 'http://aetos.test/metric-storage'
AETOS_INTERNAL = 'http://aetos-internal.test:3180'
AETOS_REGION_TWO = 'https://aetos.region-two.test'
AETOS_QUERY_URL = AETOS_PUBLIC + '/api/v1/query'

PROMETHEUS_URL = 'http://prometheus.test:9090/api/v1'
PROMETHEUS_QUERY_URL = PROMETHEUS_URL + '/query'

# What requests says when OpenSSL refuses a server certificate: the text
# only; tls_failure() gives the exception itself.
TLS_FAILURE = (
    "HTTPSConnectionPool(host='aetos.test', port=443): Max retries exceeded "
    "with url: /api/v1/query (Caused by SSLError(SSLCertVerificationError(1, "
    "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "self-signed certificate (_ssl.c:1006)')))")


def tls_failure(host='aetos.test'):
    """A requests SSLError as a refused self-signed certificate gives.

    The chain is the real one (requests, urllib3, ssl), so that code
    looking for OpenSSL's own words finds them where they are.
    """
    refusal = ssl.SSLCertVerificationError(
        1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: '
        'self-signed certificate (_ssl.c:1006)')
    # The ssl module sets these from OpenSSL when it raises.
    refusal.reason = 'CERTIFICATE_VERIFY_FAILED'
    refusal.verify_message = 'self-signed certificate'
    retries = urllib3_exc.MaxRetryError(
        None, 'https://%s/api/v1/query' % host,
        reason=urllib3_exc.SSLError(refusal))
    return requests.exceptions.SSLError(retries)


START = datetime.datetime(2026, 3, 1, 10, 0, 0)
END = datetime.datetime(2026, 3, 1, 11, 0, 0)
END_UNIX = 1772362800
# Keys that BaseCollector adds to every groupby for START.
TIME_GROUPBY = {'week_of_the_year': '09', 'day_of_the_year': '60',
                'month': '3', 'year': '2026'}


def token_body(roles=('admin',), with_aetos=True):
    """Body of a project-scoped Keystone token with a catalog."""
    token = ks_fixture.V3Token(user_name='cloudkitty',
                               project_name='service')
    for role in roles:
        token.add_role(name=role)
    if with_aetos:
        service = token.add_service('metric-storage', name='aetos')
        service.add_endpoint('public', AETOS_PUBLIC, region='RegionOne')
        service.add_endpoint('internal', AETOS_INTERNAL, region='RegionOne')
        service.add_endpoint('public', AETOS_REGION_TWO, region='RegionTwo')
    return token


def use_fake_network(test, roles=('admin',), with_aetos=True):
    """Fake Keystone on ``test``; return the requests-mock fixture."""
    network = test.useFixture(rm_fixture.Fixture())
    network.post(TOKEN_URL, json=token_body(roles, with_aetos),
                 headers={'X-Subject-Token': TOKEN_ID}, status_code=201)
    return network


def configure_keystone(test, **overrides):
    """Give [collector_aetos] working password credentials.

    cloudkitty.tests.TestCase replaces keystoneauth's loaders with
    mocks; they are stopped here so the real loading code runs.
    """
    test.auth.stop()
    test.session.stop()
    group = aetos.COLLECTOR_AETOS_OPTS
    test._conf_fixture.register_opts(
        ks_loading.get_auth_plugin_conf_options('v3password'), group=group)
    settings = {
        'auth_type': 'v3password',
        'auth_url': KEYSTONE_URL,
        'username': 'cloudkitty',
        'password': PASSWORD,
        'user_domain_id': 'default',
        'project_name': 'service',
        'project_domain_id': 'default',
    }
    settings.update(overrides)
    for name, value in settings.items():
        test.conf.set_override(name, value, group)


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


# How Aetos 1.0.0 answers a query carrying "time": WSME refuses the
# argument, and Aetos' error middleware wraps the fault.
TIME_REFUSED = {'error_message': {'faultcode': 'Client',
                                  'faultstring': 'Unknown argument: "time"',
                                  'debuginfo': None}}


def carries_time(request):
    """Whether a recorded request sends the ``time`` parameter."""
    return 'time' in query_params(request)


def act_as_aetos_1(network, body, refusal=TIME_REFUSED):
    """Answer ``body`` to queries without ``time``, HTTP 400 to the rest.

    requests-mock tries the latest registration first, so the refusal
    is registered last.
    """
    network.get(AETOS_QUERY_URL, json=body)
    network.get(AETOS_QUERY_URL, additional_matcher=carries_time,
                status_code=400, json=refusal)


def aetos_queries(network):
    """The requests sent to Aetos' query endpoint, in order."""
    return [r for r in network.request_history
            if r.url.startswith(AETOS_QUERY_URL)]


def hear_warnings(test, *modules):
    """Capture the WARNING records of the loggers of ``modules``.

    The alembic run of TestCase.setUp disables the loggers that exist by
    then; the ones a test listens to are enabled again for the test.
    """
    for module in modules:
        test.useFixture(fixtures.MockPatchObject(
            logging.getLogger(module.__name__), 'disabled', False))
    return test.useFixture(fixtures.FakeLogger(
        name='cloudkitty', level=logging.WARNING,
        format='%(levelname)s %(name)s %(message)s'))


def warning_lines(logs):
    """The lines hear_warnings() captured, empty ones left out."""
    return [line for line in logs.output.splitlines() if line]


def token_requests(network):
    """The token requests sent to the fake Keystone."""
    return [r for r in network.request_history if r.url == TOKEN_URL]
