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
"""Collector querying a Prometheus server directly."""
from oslo_config import cfg

from cloudkitty.collector import prometheus_base
from cloudkitty.collector import scope_batch
from cloudkitty.common import prometheus_client

PROMETHEUS_COLLECTOR_OPTS = 'collector_prometheus'

collector_prometheus_opts = [
    cfg.StrOpt('prometheus_url', default='',
               help='Base URL of the Prometheus HTTP API, /api/v1 included.'),
    cfg.StrOpt('prometheus_user',
               help='User name for HTTP basic authentication.'),
    cfg.StrOpt('prometheus_password', secret=True,
               help='Password for HTTP basic authentication.'),
    cfg.StrOpt('cafile',
               help='CA bundle used to verify the server certificate.'),
    cfg.BoolOpt('insecure', default=False,
                help='Skip verification of the server certificate.'),
    cfg.FloatOpt('timeout', default=60, min=0,
                 help='Seconds to wait for Prometheus to answer.'),
]

# Listed with the others, so the base's sample configuration shows them.
collector_prometheus_opts += scope_batch.batch_opts

cfg.CONF.register_opts(collector_prometheus_opts, PROMETHEUS_COLLECTOR_OPTS)

CONF = cfg.CONF

# Names this module has always offered; tests and out-of-tree code use them.
PROMETHEUS_EXTRA_SCHEMA = prometheus_base.PROMETHEUS_EXTRA_SCHEMA
PrometheusClient = prometheus_client.PrometheusClient
PrometheusResponseError = prometheus_client.PrometheusResponseError


class PrometheusCollector(prometheus_base.PrometheusCollectorBase):
    collector_name = 'prometheus'
    options_group = PROMETHEUS_COLLECTOR_OPTS

    def __init__(self, **kwargs):
        group = CONF.collector_prometheus
        # A CA bundle wins over "insecure"; neither means system CAs.
        verify = group.cafile or not group.insecure
        credentials = None
        if group.prometheus_user and group.prometheus_password:
            credentials = (group.prometheus_user, group.prometheus_password)
        # Every metric of a scope is queried from its own thread.
        CONF.import_opt('max_threads', 'cloudkitty.orchestrator',
                        'orchestrator')
        client = PrometheusClient(group.prometheus_url, auth=credentials,
                                  verify=verify, timeout=group.timeout,
                                  pool_size=CONF.orchestrator.max_threads)
        super(PrometheusCollector, self).__init__(client, **kwargs)
