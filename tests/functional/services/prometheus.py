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
every query has a known answer. The OpenMetrics text promtool reads is
written here (``write_openmetrics``) for every data set: the functional
stack's, the scale-out test's and the scale benchmark's.
"""

import collections
import os

from functional.services import httpclient
from functional.services import process

PROMETHEUS = os.environ.get('AETOS_STACK_PROMETHEUS', '/usr/bin/prometheus')
PROMTOOL = os.environ.get('AETOS_STACK_PROMTOOL', '/usr/bin/promtool')
BACKFILL_TIMEOUT = 300

Family = collections.namedtuple('Family', 'metric kind help series')
"""One metric of a data set: its name, OpenMetrics type (gauge or
counter), help text, and an iterable of (labels dict, samples) where the
samples are (Unix time, value) pairs in time order."""


def _format_value(value):
    """OpenMetrics text for a sample value (integers without a dot)."""
    if float(value).is_integer():
        return '%d' % value
    return repr(float(value))


def _escape(value):
    """Escape a label value for the OpenMetrics text format."""
    return (value.replace('\\', '\\\\').replace('"', '\\"')
            .replace('\n', '\\n'))


def write_openmetrics(out, families):
    """Write ``Family`` items as OpenMetrics text, ``# EOF`` included.

    A counter's family drops the ``_total`` suffix of its samples' name,
    as the format requires. Written series by series, so that a large
    data set is never held whole.

    :param out: a text file open for writing
    :returns: how many samples were written
    """
    written = 0
    for family in families:
        name = family.metric
        if family.kind == 'counter' and name.endswith('_total'):
            name = name[:-len('_total')]
        out.write('# HELP %s %s\n# TYPE %s %s\n' % (
            name, family.help, name, family.kind))
        for labels, samples in family.series:
            text = ','.join('%s="%s"' % (label, _escape(value))
                            for label, value in sorted(labels.items()))
            lines = ['%s{%s} %s %d\n' % (
                family.metric, text, _format_value(value), moment)
                for moment, value in samples]
            out.write(''.join(lines))
            written += len(lines)
    out.write('# EOF\n')
    return written


def backfill(openmetrics, tsdb, log_path, timeout=BACKFILL_TIMEOUT):
    """Write the series of an OpenMetrics file as blocks into ``tsdb``."""
    process.run([PROMTOOL, 'tsdb', 'create-blocks-from', 'openmetrics',
                 openmetrics, tsdb], log_path, timeout=timeout,
                cwd=os.path.dirname(tsdb))


class Prometheus(process.LocalService):
    """Prometheus over the data of ``data.families()`` (``Family`` items).

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
            write_openmetrics(out, self.data.families())
        backfill(metrics, tsdb, self.promtool_log)
        self.child = process.ChildProcess(
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
        self.child.start()

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
