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
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors

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
collector_prometheus_opts += prometheus_client_base.answer_opts
collector_prometheus_opts += scope_batch.batch_opts

cfg.CONF.register_opts(collector_prometheus_opts, PROMETHEUS_COLLECTOR_OPTS)

# The base release's tests of this collector patch the client's methods
# through this name (cloudkitty/tests/collectors/test_prometheus.py), and
# its tests of the client read the exception through this module
# (cloudkitty/tests/common/test_prometheus_client.py).
PrometheusClient = prometheus_client.PrometheusClient
PrometheusResponseError = prometheus_errors.PrometheusResponseError


class PrometheusCollector(prometheus_base.PrometheusCollectorBase):
    collector_name = 'prometheus'

    def __init__(self, **kwargs):
        super(PrometheusCollector, self).__init__(
            PrometheusClient.from_options, **kwargs)
