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
"""Settings and records for the unit tests of the aetos fetcher.

The network itself is faked by ``cloudkitty.tests.collectors.aetos_fakes``;
this module gives [fetcher_aetos] working settings against that fake
Keystone, and reads back what the fetcher logged and sent.
"""
import logging
import os

import fixtures
from keystoneauth1 import loading as ks_loading

from cloudkitty.collector import aetos as aetos_collector
from cloudkitty.tests.collectors import aetos_fakes

GROUP = 'fetcher_aetos'

_CREDENTIALS = {
    'auth_type': 'v3password',
    'auth_url': aetos_fakes.KEYSTONE_URL,
    'username': 'cloudkitty',
    'password': aetos_fakes.PASSWORD,
    'user_domain_id': 'default',
    'project_name': 'service',
    'project_domain_id': 'default',
}


def configure(test, **overrides):
    """Working [fetcher_aetos] settings against the fake Keystone.

    The keystoneauth loaders that cloudkitty.tests.TestCase mocks are
    stopped so that the real ones run.
    """
    test.auth.stop()
    test.session.stop()
    test._conf_fixture.register_opts(
        ks_loading.get_auth_plugin_conf_options('v3password'), group=GROUP)
    settings = dict(_CREDENTIALS, metric='ck_instance_up')
    settings.update(overrides)
    for name, value in settings.items():
        test.conf.set_override(name, value, GROUP)


def write_conf(directory, section):
    """A cloudkitty.conf taking credentials from ``section``.

    [fetcher_aetos] names ``section`` in ``auth_section`` and uses the
    internal endpoint. [collector_aetos] gets the credentials too, as in
    a deployment with the aetos collector: other tests may have left
    keystoneauth's password options, auth_url required, registered
    there.
    """
    credentials = ''.join('%s = %s\n' % item
                          for item in sorted(_CREDENTIALS.items()))
    path = os.path.join(directory, 'cloudkitty.conf')
    with open(path, 'w') as out:
        for group in sorted({section, aetos_collector.COLLECTOR_AETOS_OPTS}):
            out.write('[%s]\n%s' % (group, credentials))
        out.write('[%s]\n'
                  'auth_section = %s\n'
                  'metric = ck_instance_up\n'
                  'interface = internal\n' % (GROUP, section))
    return path


def capture_logs(test, level=logging.INFO):
    """Every cloudkitty log line from now on, as 'LEVEL name: message'.

    The alembic run of TestCase.setUp disables the loggers that exist by
    then; those of cloudkitty must be heard.
    """
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith('cloudkitty') and isinstance(logger,
                                                        logging.Logger):
            test.useFixture(fixtures.MockPatchObject(logger, 'disabled',
                                                     False))
    return test.useFixture(fixtures.FakeLogger(
        level=level, format='%(levelname)s %(name)s: %(message)s'))


def token_requests(network):
    """The requests the fake Keystone received for a token."""
    return [r for r in network.request_history
            if r.url == aetos_fakes.TOKEN_URL]


def query_requests(network):
    """The requests the fake Aetos (public endpoint) received."""
    return [r for r in network.request_history
            if r.url.startswith(aetos_fakes.AETOS_QUERY_URL)]
