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
"""Collector reading Prometheus data through Aetos, with Keystone auth.

Queries, results and metric configuration are those of the Prometheus
collector, each query pinned to its period end with ``@``; only the way
to the data differs, and ``aetos_setup`` says how.
"""
import itertools

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from cloudkitty.collector import prometheus_base
from cloudkitty.collector import scope_batch
from cloudkitty.common import aetos_setup

COLLECTOR_AETOS_OPTS = 'collector_aetos'

aetos_setup.register_opts(cfg.CONF, COLLECTOR_AETOS_OPTS)
cfg.CONF.register_opts(scope_batch.batch_opts, COLLECTOR_AETOS_OPTS)


def list_opts():
    """The [collector_aetos] options, for oslo-config-generator."""
    [(group, opts)] = aetos_setup.list_opts(COLLECTOR_AETOS_OPTS)
    return [(group, opts + scope_batch.batch_opts)]


# cloudkitty 25.0.0's cloudkitty/common/config.py reads collector_aetos_opts
# and adds keystoneauth's session and auth options to it itself: it holds
# the [collector_aetos] options that are not keystoneauth's.
_KEYSTONEAUTH_DESTS = frozenset(opt.dest for opt in itertools.chain(
    ks_loading.get_session_conf_options(),
    ks_loading.get_auth_common_conf_options(),
    ks_loading.get_auth_plugin_conf_options('password')))
collector_aetos_opts = [opt for opt in list_opts()[0][1]
                        if opt.dest not in _KEYSTONEAUTH_DESTS]


class AetosCollector(prometheus_base.PrometheusCollectorBase):
    """Collector reading Prometheus data through Aetos.

    :raises ConfigurationError: when the [collector_aetos] settings cannot
        work, saying why; what needs Keystone fails each collection
        instead, as a CollectError
    """

    collector_name = 'aetos'
    pins_queries = True

    def __init__(self, **kwargs):
        super(AetosCollector, self).__init__(aetos_setup.client, **kwargs)
