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
"""Deployments for the collector check's unit tests, their network fakes.

The collectors and fetchers talk to the fake Keystone, Aetos and
Prometheus of ``aetos_fakes``; one fake server answers the probe, the
discovery and the usage queries by what they ask, through requests-mock
or on a loopback port. The metrics file is written to a temporary
directory. ``CheckTestCase`` runs the check's steps in the test's
process.
"""
import datetime
import io
import json
import os
import re
from urllib import parse

import fixtures
from keystoneauth1 import fixture as ks_fixture
import yaml

from cloudkitty.check import report
from cloudkitty.check import runner
from cloudkitty.collector import aetos as aetos_collector
from cloudkitty.collector import prometheus as prometheus_collector
from cloudkitty.fetcher import keystone as keystone_fetcher
from cloudkitty.fetcher import prometheus as prometheus_fetcher
from cloudkitty import storage_state
from cloudkitty import tests
from cloudkitty.tests.collectors import aetos_fakes
from cloudkitty.tests.fetchers import aetos_fetcher_fakes

COLLECTOR_GROUP = aetos_collector.COLLECTOR_AETOS_OPTS
FETCHER_GROUP = aetos_fetcher_fakes.GROUP
PROMETHEUS_GROUP = prometheus_collector.PROMETHEUS_COLLECTOR_OPTS
PROMETHEUS_FETCHER_GROUP = prometheus_fetcher.FETCHER_PROMETHEUS_OPTS
KEYSTONE_FETCHER_GROUP = keystone_fetcher.FETCHER_KEYSTONE_OPTS
QUERY_URL = aetos_fetcher_fakes.QUERY_URL
PROMETHEUS_QUERY_URL = aetos_fakes.PROMETHEUS_QUERY_URL
START = aetos_fakes.START
END = aetos_fakes.END
# The metric the prometheus fetcher discovers scopes from.
FETCHER_METRIC = aetos_fetcher_fakes.METRIC

METRICS = {'metrics': {
    'instance_up': {'unit': 'instance', 'groupby': ['resource_id']},
    'volume_gib': {'unit': 'GiB', 'groupby': ['resource_id'],
                   'extra_args': {'aggregation_method': 'sum'}},
}}

# The scopes the fetcher finds, and each metric's samples by scope.
SCOPES = ['p1', 'p2', 'p3']
USAGE = {
    'instance_up': [({'project_id': 'p1', 'resource_id': 'vm1'}, '1'),
                    ({'project_id': 'p1', 'resource_id': 'vm2'}, '1'),
                    ({'project_id': 'p2', 'resource_id': 'vm3'}, '1')],
    'volume_gib': [({'project_id': 'p1', 'resource_id': 'v1'}, '20'),
                   ({'project_id': 'p2', 'resource_id': 'v2'}, '2.5')],
}

# A metrics file whose aggregation method no collector's schema takes.
REFUSED_METRICS = {'metrics': {'instance_up': {
    'unit': 'instance', 'extra_args': {'aggregation_method': 'median'}}}}
# USAGE without volume_gib: a metric whose query finds no series.
USAGE_WITHOUT_VOLUMES = {'instance_up': USAGE['instance_up']}


class FakeServer(object):
    """The answers of Aetos or Prometheus by query, and the queries sent.

    :param scopes: the label values discovery finds
    :param usage: ``{metric: [(labels, value)]}`` for every scope
    :param refuse_time: answer as Aetos 1.0.0 to a query with ``time``
    """

    def __init__(self, scopes=SCOPES, usage=USAGE, refuse_time=False):
        self.scopes = list(scopes)
        self.usage = dict(usage)
        self.refuse_time = refuse_time
        self.queries = []

    # How the discovery queries start: the aetos fetcher's, the
    # prometheus fetcher's.
    DISCOVERY = ('count by', 'max(%s) by' % FETCHER_METRIC)

    def answer(self, params):
        """``(HTTP status, document)`` for a query's parameters."""
        query = params['query']
        self.queries.append(query)
        if self.refuse_time and 'time' in params:
            return 400, aetos_fakes.TIME_REFUSED
        if query.startswith(self.DISCOVERY):
            return 200, aetos_fakes.vector(
                [({'project_id': scope}, 1) for scope in self.scopes])
        if query == 'vector(1)':
            return 200, aetos_fakes.vector([({}, 1)])
        metric = re.match(r'\w+', query.split('(')[2]).group()
        return 200, aetos_fakes.vector(self.usage.get(metric, []))

    def __call__(self, request, context):
        context.status_code, document = self.answer(
            aetos_fakes.query_params(request))
        return json.dumps(document)

    def usage_queries(self):
        return [query for query in self.queries
                if not query.startswith(self.DISCOVERY)
                and query != 'vector(1)']


def fail_discovery(network, url, fake, prefix):
    """Answer HTTP 500 to the discovery queries, ``fake`` to the others.

    :param network: the requests-mock fixture of a deployment
    :param url: the query URL the fetcher asks
    :param fake: the deployment's FakeServer
    :param prefix: how the fetcher's discovery query starts
    """
    def answer(request, context):
        if aetos_fakes.query_params(request)['query'].startswith(prefix):
            context.status_code = 500
            return 'boom'
        return fake(request, context)

    network.get(url, text=answer)


def write_metrics(test, metrics):
    """Write ``metrics`` as a metrics file for ``test``; returns its path."""
    directory = test.useFixture(fixtures.TempDir()).path
    path = os.path.join(directory, 'metrics.yml')
    with open(path, 'w') as out:
        yaml.safe_dump(metrics, out)
    return path


def write_prometheus_conf(directory, metrics, url, metric):
    """Write a cloudkitty.conf for the prometheus collector and fetcher.

    A deployer's file, for the command run in an interpreter of its own.

    :param directory: where the file is written
    :param metrics: the metrics file's path
    :param url: the Prometheus API both ask
    :param metric: [fetcher_prometheus] metric, discovery's
    :returns: the file's path
    """
    conf = os.path.join(directory, 'cloudkitty.conf')
    with open(conf, 'w') as out:
        out.write('[collect]\ncollector = prometheus\nmetrics_conf = %s\n'
                  '[fetcher]\nbackend = prometheus\n'
                  '[fetcher_prometheus]\nprometheus_url = %s\n'
                  'metric = %s\n'
                  '[collector_prometheus]\nprometheus_url = %s\n'
                  % (metrics, url, metric, url))
    return conf


def _choose(test, metrics, collector, fetcher):
    """The metrics file, the collector and the fetcher of a deployment."""
    test.conf.set_override('metrics_conf', write_metrics(test, metrics),
                           'collect')
    test.conf.set_override('collector', collector, 'collect')
    test.conf.set_override('backend', fetcher, 'fetcher')


def deploy(test, metrics=METRICS, roles=('admin',), with_aetos=True,
           aetos=None, **collector_options):
    """Configure the aetos collector and fetcher against a fake Aetos.

    :param test: a cloudkitty.tests.TestCase
    :param metrics: the metrics file's content
    :param aetos: the FakeServer; a default one when None
    :param collector_options: [collector_aetos] options besides the
        credentials
    :returns: ``(requests-mock fixture, FakeServer)``
    """
    _choose(test, metrics, 'aetos', 'aetos')
    network = aetos_fetcher_fakes.use_fake_network(test, roles, with_aetos)
    aetos_fetcher_fakes.configure(test)
    aetos_fakes.configure_keystone(test, COLLECTOR_GROUP, **collector_options)
    aetos = aetos or FakeServer()
    network.get(QUERY_URL, text=aetos)
    return network, aetos


def deploy_prometheus(test, metrics=METRICS, fetcher='prometheus',
                      prometheus=None, **collector_options):
    """Configure the prometheus collector against a fake Prometheus.

    ``test``, ``metrics`` and what it returns are as in :func:`deploy`.

    :param fetcher: the fetcher backend; the prometheus fetcher asks the
        same fake Prometheus
    :param prometheus: the FakeServer; a default one when None
    :param collector_options: [collector_prometheus] options but the URL
    """
    _choose(test, metrics, 'prometheus', fetcher)
    for name, value in dict(prometheus_url=aetos_fakes.PROMETHEUS_URL,
                            **collector_options).items():
        test.conf.set_override(name, value, PROMETHEUS_GROUP)
    test.conf.set_override('prometheus_url', aetos_fakes.PROMETHEUS_URL,
                           PROMETHEUS_FETCHER_GROUP)
    test.conf.set_override('metric', FETCHER_METRIC,
                           PROMETHEUS_FETCHER_GROUP)
    network = aetos_fakes.use_fake_network(test)
    prometheus = prometheus or FakeServer()
    network.get(PROMETHEUS_QUERY_URL, text=prometheus)
    return network, prometheus


class FakeKeystone(object):
    """Keystone's projects and the fetcher user's roles on each.

    :param projects: the project IDs Keystone lists, enabled
    :param rated: those where the user has the ``rating`` role
    """

    PROJECT_ROLES = re.compile(
        re.escape(aetos_fakes.KEYSTONE_URL) + '/projects/([^/]+)/users/'
        '[^/]+/roles$')

    def __init__(self, projects=SCOPES, rated=SCOPES):
        self.projects = list(projects)
        self.rated = set(rated)

    def listed(self, request, context):
        return json.dumps({
            'projects': [{'id': project, 'name': project, 'enabled': True,
                          'domain_id': 'default'}
                         for project in self.projects],
            'links': {'self': request.url, 'next': None, 'previous': None}})

    def roles(self, request, context):
        project = self.PROJECT_ROLES.match(request.url.split('?')[0])
        roles = [{'id': 'role-member', 'name': 'member'}]
        if project.group(1) in self.rated:
            roles.append({'id': 'role-rating', 'name': 'rating'})
        return json.dumps({'roles': roles,
                           'links': {'self': request.url}})


def use_keystone_fetcher(test, network, keystone=None):
    """The keystone fetcher, logging in to the fake Keystone.

    The token's catalog lists Keystone itself, where the fetcher lists
    the projects and its user's roles on each.

    :param network: the requests-mock fixture of a deployment
    :param keystone: the FakeKeystone; a default one when None
    :returns: the FakeKeystone
    """
    keystone = keystone or FakeKeystone()
    test.conf.set_override('backend', 'keystone', 'fetcher')
    aetos_fakes.configure_keystone(test, KEYSTONE_FETCHER_GROUP)
    token = aetos_fakes.token_body(aetos_url=aetos_fetcher_fakes.AETOS_URL)
    token.add_service('identity', name='keystone').add_standard_endpoints(
        public=aetos_fakes.KEYSTONE_URL, internal=aetos_fakes.KEYSTONE_URL,
        admin=aetos_fakes.KEYSTONE_URL, region='RegionOne')
    network.post(aetos_fakes.TOKEN_URL, json=token, status_code=201,
                 headers={'X-Subject-Token': aetos_fakes.TOKEN_ID})
    network.get(aetos_fakes.KEYSTONE_URL, json={
        'version': ks_fixture.V3Discovery(aetos_fakes.KEYSTONE_URL)})
    network.get(aetos_fakes.KEYSTONE_URL + '/projects', text=keystone.listed)
    network.get(keystone.PROJECT_ROLES, text=keystone.roles)
    return keystone


class LoopbackHandler(aetos_fakes.Handler):
    """A FakeServer (the server's ``fake``) answering on a real port."""

    def do_GET(self):
        params = dict(parse.parse_qsl(parse.urlsplit(self.path).query))
        self.send_json(*self.server.fake.answer(params))


def serve_prometheus(test, prometheus=None):
    """A FakeServer on 127.0.0.1 until ``test`` ends; its API's URL."""
    server, url = aetos_fakes.serve(test, LoopbackHandler)
    server.fake = prometheus or FakeServer()
    return url


class CheckTestCase(tests.TestCase):
    """Runs the check's steps in the test's process."""

    def setUp(self):
        super(CheckTestCase, self).setUp()
        # The aetos fetcher reads the scope states.
        storage_state.StateManager().init()
        self.stderr = io.StringIO()

    def check(self, start=START):
        """The report of the check's steps on the period from ``start``.

        :param start: a datetime, UTC when naive: the command gives the
            steps an aware one
        """
        if start.tzinfo is None:
            start = start.replace(tzinfo=datetime.timezone.utc)
        out = report.Report()
        runner.run(out, start, report.Progress(self.stderr))
        return out

    def lines(self, out, status=None):
        return [(line.step, line.name) for line in out.lines
                if status in (None, line.status)]

    def line(self, out, step, name):
        [found] = [line for line in out.lines
                   if (line.step, line.name) == (step, name)]
        return found

    def steps(self, out):
        """The steps ``out`` has lines of."""
        return [step for step, _ in self.lines(out)]

    def assert_problem(self, out, step, name, *texts):
        """A problem line says ``texts``; the check exits on problems.

        :returns: the line
        """
        found = self.line(out, step, name)
        self.assertEqual(report.PROBLEM, found.status)
        for text in texts:
            self.assertIn(text, found.message)
        self.assertEqual(report.EXIT_PROBLEMS, out.exit_status)
        return found

    def assert_no_scope(self, out, *texts):
        """Discovery found no scope, saying ``texts``; no dry run."""
        self.assert_problem(out, 'discovery', 'scopes', *texts)
        self.assertNotIn('dry run', self.steps(out))

    def assert_no_series(self, out, *texts):
        """volume_gib has no series in USAGE_WITHOUT_VOLUMES's scopes."""
        found = self.assert_problem(out, 'dry run', 'volume_gib', *texts)
        self.assertEqual(0, found.details['scopes_with_data'])

    def assert_every_step_ok(self, out, checks):
        """``out`` exits OK with the ``checks`` lines, then the dry run's.

        :param checks: the (step, name) lines before discovery
        """
        self.assertEqual(report.EXIT_OK, out.exit_status)
        self.assertEqual(checks + [
            ('discovery', 'scopes'), ('dry run', 'instance_up'),
            ('dry run', 'volume_gib'), ('dry run', 'scopes without data')],
            self.lines(out))
        self.assert_usage_totals(out)

    def check_wrong_password(self, network):
        """The report when Keystone refuses the password, never shown.

        :param network: the requests-mock fixture of a deployment
        """
        network.post(aetos_fakes.TOKEN_URL, status_code=401,
                     json={'error': {'code': 401}})
        out = self.check()
        self.assertEqual(report.EXIT_PROBLEMS, out.exit_status)
        self.assertNotIn(aetos_fakes.PASSWORD, out.render('json'))
        return out

    def assert_usage_totals(self, out):
        """The dry run of ``out`` found USAGE over SCOPES, p3 idle."""
        instances = self.line(out, 'dry run', 'instance_up').details
        self.assertEqual((2, 3, 3, '3', 'instance', 1), (
            instances['scopes_with_data'], instances['scopes_found'],
            instances['points'], instances['quantity'], instances['unit'],
            instances['queries']))
        volumes = self.line(out, 'dry run', 'volume_gib').details
        self.assertEqual((2, 2, '22.5', 'GiB', 1), (
            volumes['scopes_with_data'], volumes['points'],
            volumes['quantity'], volumes['unit'], volumes['queries']))
        idle = self.line(out, 'dry run', 'scopes without data')
        self.assertEqual((report.WARNING, 1, ['p3']), (
            idle.status, idle.details['count'], idle.details['examples']))
