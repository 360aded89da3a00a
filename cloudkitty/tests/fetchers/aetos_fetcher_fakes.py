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
"""The fake network and settings of the aetos fetcher's unit tests.

Built on ``cloudkitty.tests.collectors.aetos_fakes``, the one home of the
fake Keystone and Aetos and of the log and request helpers; this module
only gives [fetcher_aetos] its settings and Aetos an https endpoint.
Over plain HTTP the client warns at its first query (its own tests show
it); over https, what the fetcher logs is all that a test hears.
"""
import os

from cloudkitty.collector import aetos as aetos_collector
from cloudkitty.fetcher import aetos
from cloudkitty.tests.collectors import aetos_fakes

GROUP = aetos.FETCHER_AETOS_OPTS
METRIC = 'ck_instance_up'

AETOS_URL = 'https://aetos.test/metric-storage'
QUERY_URL = AETOS_URL + '/api/v1/query'


def use_fake_network(test, roles=('admin',), with_aetos=True):
    """The fake Keystone of aetos_fakes, listing Aetos at AETOS_URL.

    :returns: the requests-mock fixture
    """
    network = aetos_fakes.use_fake_network(test, roles, with_aetos)
    network.post(aetos_fakes.TOKEN_URL, **aetos_fakes.token_answer(
        roles=roles, with_aetos=with_aetos, aetos_url=AETOS_URL))
    return network


def configure(test, **overrides):
    """Working [fetcher_aetos] settings against the fake Keystone.

    :param overrides: options to set besides (or instead of) the
        credentials and ``metric``
    """
    aetos_fakes.configure_keystone(test, GROUP,
                                   **dict({'metric': METRIC}, **overrides))


def write_conf(directory, section):
    """A cloudkitty.conf taking credentials from ``section``.

    [fetcher_aetos] names ``section`` in ``auth_section`` and uses the
    internal endpoint. [collector_aetos] gets the credentials too, as in
    a deployment with the aetos collector: other tests may have left
    keystoneauth's password options, auth_url required, registered
    there.
    """
    credentials = ''.join('%s = %s\n' % item
                          for item in sorted(aetos_fakes.CREDENTIALS.items()))
    path = os.path.join(directory, 'cloudkitty.conf')
    with open(path, 'w') as out:
        for group in sorted({section, aetos_collector.COLLECTOR_AETOS_OPTS}):
            out.write('[%s]\n%s' % (group, credentials))
        out.write('[%s]\n'
                  'auth_section = %s\n'
                  'metric = %s\n'
                  'interface = internal\n' % (GROUP, section, METRIC))
    return path


def queries(network):
    """The queries the fake Aetos (public endpoint) received, in order."""
    return aetos_fakes.aetos_queries(network, QUERY_URL)
