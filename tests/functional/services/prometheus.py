# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""A Prometheus serving backfilled data only, on a free loopback port.

The series are written by promtool (``tsdb create-blocks-from
openmetrics``) before Prometheus starts and nothing is scraped, so that
every query has a known answer.
"""

import os

from functional.services import httpclient
from functional.services import process

PROMETHEUS = os.environ.get('AETOS_STACK_PROMETHEUS', '/usr/bin/prometheus')
PROMTOOL = os.environ.get('AETOS_STACK_PROMTOOL', '/usr/bin/promtool')
BACKFILL_TIMEOUT = 300


class Prometheus(process.Server):
    """Prometheus over the data of ``data.render()`` (OpenMetrics text).

    :param home: directory for its configuration, data and log
    :param log_path: Prometheus' log (``home/prometheus.log`` when None);
                     promtool logs next to it
    :param extra_args: more command-line flags, e.g. ``--query.max-samples``
    :param query_log: file where Prometheus logs every query it runs, or
                      None for no query log
    """

    def __init__(self, home, data, log_path=None, promtool_log=None,
                 extra_args=(), query_log=None):
        self.home = home
        self.extra_args = list(extra_args)
        self.query_log = query_log
        self.data = data
        self.log_path = log_path or os.path.join(home, 'prometheus.log')
        self.promtool_log = promtool_log or os.path.join(home,
                                                         'promtool.log')
        self.port = process.free_ports(1)[0]

    def start(self):
        """Backfill the data, start Prometheus and wait until it is ready."""
        tsdb = os.path.join(self.home, 'data')
        os.makedirs(tsdb)
        conf = os.path.join(self.home, 'prometheus.yml')
        with open(conf, 'w') as out:
            # Nothing is scraped: the backfilled series are all there is.
            out.write('global:\n'
                      '  scrape_interval: 1m\n'
                      '  evaluation_interval: 1m\n')
            if self.query_log:
                out.write('  query_log_file: %s\n' % self.query_log)
            out.write('scrape_configs: []\n')
        metrics = os.path.join(self.home, 'dataset.om')
        with open(metrics, 'w') as out:
            out.write(self.data.render())
        process.run([PROMTOOL, 'tsdb', 'create-blocks-from', 'openmetrics',
                     metrics, tsdb], self.promtool_log,
                    timeout=BACKFILL_TIMEOUT, cwd=self.home)
        self.service = process.Service(
            'prometheus',
            [PROMETHEUS,
             '--config.file', conf,
             '--storage.tsdb.path', tsdb,
             # Blocks older than the retention would be deleted at once.
             '--storage.tsdb.retention.time', '3650d',
             '--web.listen-address', '%s:%s' % (process.HOST, self.port)]
            + self.extra_args,
            self.log_path, self.url + '/-/ready',
            env=process.clean_env(), cwd=self.home)
        self.service.start()

    def check_count(self, metric, at, expected):
        """Fail unless ``count(metric)`` at ``at`` is ``expected``.

        Proves that the backfilled data is served.
        """
        query = 'count(%s)' % metric
        answer = httpclient.http('GET', self.url + '/api/v1/query',
                                 params={'query': query, 'time': at})
        result = answer.json()['data']['result'] if answer.status == 200 \
            else None
        if not result or float(result[0]['value'][1]) != expected:
            raise process.StackError(
                'Prometheus does not serve the planted data: %s at %s gave '
                '%s %s, expected %s; see %s' % (
                    query, at, answer.status, answer.text[:300], expected,
                    self.log_path))
