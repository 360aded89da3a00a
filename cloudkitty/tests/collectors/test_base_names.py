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
"""Names the base release's own modules read from the files we replace.

On 25.0.0 the overlay replaces the Aetos collector and client and the
shared Prometheus bases; the base's configuration, Prometheus fetcher and
tests still read names from them. Each must be there and work, on every
base (23.0.0 and 24.0.0 have no reader of some of them yet).
"""
from keystoneauth1 import loading as ks_loading

from cloudkitty.collector import aetos
from cloudkitty.collector import prometheus
from cloudkitty.collector import scope_batch
from cloudkitty.common import aetos_setup
from cloudkitty.common import base_opts
from cloudkitty.common import config as ck_config
from cloudkitty.common import prometheus_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors
from cloudkitty.fetcher import prometheus as prometheus_fetcher
from cloudkitty import tests

GROUP = aetos.COLLECTOR_AETOS_OPTS


class CollectorAetosOptsTest(tests.TestCase):
    """collector_aetos_opts, read by 25.0.0's cloudkitty/common/config.py."""

    def test_options_besides_keystoneauths(self):
        # The reader adds keystoneauth's session and auth options itself.
        names = [opt.dest for opt in aetos.collector_aetos_opts]
        keystoneauth = {opt.dest for opt in
                        ks_loading.get_session_conf_options() +
                        ks_loading.get_auth_common_conf_options()}
        self.assertEqual(set(), keystoneauth & set(names))
        self.assertEqual(
            ['interface', 'region_name', 'all_projects_roles',
             'auth_retry_interval'] +
            list(aetos_setup.RETRY_OPTION_NAMES) +
            [opt.dest for opt in prometheus_client_base.answer_opts] +
            [opt.dest for opt in scope_batch.batch_opts], names)

    def test_options_are_those_of_the_group(self):
        # Registering them again, as a reader may, changes nothing.
        self.conf.register_opts(aetos.collector_aetos_opts, GROUP)
        for opt in aetos.collector_aetos_opts:
            self.assertEqual(opt.default, self.conf[GROUP][opt.dest],
                             opt.dest)
        self.conf.set_override('region_name', 'RegionTwo', GROUP)
        self.assertEqual('RegionTwo', self.conf[GROUP].region_name)


class SampleOptionsTest(tests.TestCase):
    """The base's list of options, without the groups ours list."""

    def test_overlay_groups(self):
        self.assertEqual({'collector_aetos', 'fetcher_aetos'},
                         base_opts.overlay_groups())

    def test_base_groups_less_ours(self):
        expected = [group for group, _opts in ck_config.list_opts()
                    if group not in ('collector_aetos', 'fetcher_aetos')]
        listed = base_opts.list_opts()
        self.assertEqual(expected, [group for group, _opts in listed])
        self.assertIn('collector_prometheus', expected)

    def test_collector_aetos_listed_once_with_our_defaults(self):
        [(group, opts)] = aetos.list_opts()
        self.assertEqual(GROUP, group)
        names = [opt.dest for opt in opts]
        self.assertEqual(sorted(set(names)), sorted(names))
        self.assertEqual(60, {opt.dest: opt for opt in opts}[
            'timeout'].default)


class PrometheusNamesTest(tests.TestCase):
    """What 25.0.0's Prometheus fetcher and its tests import."""

    def test_response_error_is_ours_everywhere(self):
        for module in (prometheus_client_base, prometheus_client,
                       prometheus):
            self.assertIs(prometheus_errors.PrometheusResponseError,
                          module.PrometheusResponseError, module.__name__)

    def test_client_reached_through_the_collector_module(self):
        self.assertIs(prometheus_client.PrometheusClient,
                      prometheus.prometheus_client.PrometheusClient)
        self.assertIs(prometheus_client.PrometheusClient,
                      prometheus_fetcher.PrometheusClient)
