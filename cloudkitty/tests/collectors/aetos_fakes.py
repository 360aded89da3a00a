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
import re
from urllib import parse

from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import loading as ks_loading
from requests_mock.contrib import fixture as rm_fixture

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

# What requests says when OpenSSL refuses a server certificate.
TLS_FAILURE = (
    "HTTPSConnectionPool(host='aetos.test', port=443): Max retries exceeded "
    "with url: /api/v1/query (Caused by SSLError(SSLCertVerificationError(1, "
    "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "self-signed certificate (_ssl.c:1006)')))")

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


TIME_CHECK_PREFIX = 'scalar(count(('


def is_time_check(request):
    """Whether a request is AetosClient's evaluation time check."""
    return query_params(request).get('query', '').startswith(
        TIME_CHECK_PREFIX)


def answer_time_checks(network, at=END_UNIX):
    """Answer the time checks of empty results as evaluated at ``at``.

    Prometheus gives ``scalar(count(...))`` of an empty vector as NaN
    stamped with the evaluation time. requests-mock tries the latest
    registration first: call this after registering the other answers.
    """
    network.get(re.compile('/api/v1/query'), additional_matcher=is_time_check,
                json={'status': 'success',
                      'data': {'resultType': 'scalar', 'result': [at, 'NaN']}})


def token_requests(network):
    return [r for r in network.request_history if r.url == TOKEN_URL]
