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
"""A deployment for the collector check's unit tests, its network fake.

The aetos collector and fetcher talk to the fake Keystone and Aetos of
``aetos_fakes``; one fake Aetos answers the probe, the discovery and the
usage queries by what they ask. The metrics file is written to a
temporary directory.
"""
import json
import os
import re

import fixtures
import yaml

from cloudkitty.collector import aetos as aetos_collector
from cloudkitty.tests.collectors import aetos_fakes
from cloudkitty.tests.fetchers import aetos_fetcher_fakes

COLLECTOR_GROUP = aetos_collector.COLLECTOR_AETOS_OPTS
FETCHER_GROUP = aetos_fetcher_fakes.GROUP
QUERY_URL = aetos_fetcher_fakes.QUERY_URL
START = aetos_fakes.START
END = aetos_fakes.END

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


class FakeAetos(object):
    """The answers of Aetos by query, and the queries it was sent.

    :param scopes: the label values discovery finds
    :param usage: ``{metric: [(labels, value)]}`` for every scope
    :param refuse_time: answer as Aetos 1.0.0 to a query with ``time``
    """

    def __init__(self, scopes=SCOPES, usage=USAGE, refuse_time=False):
        self.scopes = list(scopes)
        self.usage = dict(usage)
        self.refuse_time = refuse_time
        self.queries = []

    def __call__(self, request, context):
        params = aetos_fakes.query_params(request)
        query = params['query']
        self.queries.append(query)
        if self.refuse_time and 'time' in params:
            context.status_code = 400
            return json.dumps(aetos_fakes.TIME_REFUSED)
        if query.startswith('count by'):
            answer = aetos_fakes.vector(
                [({'project_id': scope}, 1) for scope in self.scopes])
        elif query == 'vector(1)':
            answer = aetos_fakes.vector([({}, 1)])
        else:
            metric = re.match(r'\w+', query.split('(')[2]).group()
            answer = aetos_fakes.vector(self.usage.get(metric, []))
        return json.dumps(answer)

    def usage_queries(self):
        return [query for query in self.queries
                if not query.startswith('count by') and query != 'vector(1)']


def deploy(test, metrics=METRICS, roles=('admin',), with_aetos=True,
           aetos=None, **collector_options):
    """Configure the aetos collector and fetcher against a fake Aetos.

    :param test: a cloudkitty.tests.TestCase
    :param metrics: the metrics file's content
    :param aetos: the FakeAetos; a default one when None
    :param collector_options: [collector_aetos] options besides the
        credentials
    :returns: ``(requests-mock fixture, FakeAetos)``
    """
    directory = test.useFixture(fixtures.TempDir()).path
    path = os.path.join(directory, 'metrics.yml')
    with open(path, 'w') as out:
        yaml.safe_dump(metrics, out)
    test.conf.set_override('metrics_conf', path, 'collect')
    test.conf.set_override('collector', 'aetos', 'collect')
    test.conf.set_override('backend', 'aetos', 'fetcher')
    network = aetos_fetcher_fakes.use_fake_network(test, roles, with_aetos)
    aetos_fetcher_fakes.configure(test)
    aetos_fakes.configure_keystone(test, COLLECTOR_GROUP, **collector_options)
    aetos = aetos or FakeAetos()
    network.get(QUERY_URL, text=aetos)
    return network, aetos
