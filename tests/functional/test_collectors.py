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
"""The Aetos and Prometheus collectors on the same real data.

Both collectors are loaded the way cloudkitty-processor loads them (stevedore,
from a cloudkitty.conf file) and asked for every planted project and every
planted hour. Their points must be identical, and equal to what the planted
dataset implies.
"""

from concurrent import futures
import datetime
import logging
import math
import os
import re
import time
import unittest

from oslo_config import cfg

from cloudkitty import collector
from cloudkitty.collector import aetos  # noqa: F401 (registers options)

from functional import base
from functional import dataset
from functional import test_faults

PERIOD = 3600

# One definition per feature of the query builder that matters here.
METRICS = {
    'metrics': {
        # max_over_time: 1 for each instance that ran during the hour.
        'ck_instance_up': [{
            'unit': 'instance',
            'alt_name': 'instance',
            'groupby': ['resource_id'],
            'metadata': ['flavor_name'],
            'extra_args': {'aggregation_method': 'max'},
        }, {
            # sum_over_time of one-minute samples, in hours, per flavor.
            'unit': 'hour',
            'alt_name': 'instance_hours',
            'groupby': ['flavor_name'],
            'metadata': [],
            'factor': '1/60',
            'extra_args': {'aggregation_method': 'sum'},
        }],
        # avg_over_time rounded up: a volume resized in the hour counts
        # at its rounded average size.
        'ck_volume_size_gb': {
            'unit': 'GiB',
            'alt_name': 'volume',
            'groupby': ['resource_id'],
            'metadata': ['volume_type'],
            'extra_args': {'aggregation_method': 'avg',
                           'query_function': 'ceil'},
        },
        # rate() scaled to an hour: bytes sent during the hour, in kB.
        'ck_net_bytes_total': {
            'unit': 'kB',
            'alt_name': 'net_out',
            'groupby': ['resource_id'],
            'metadata': [],
            'factor': 3.6,
            'extra_args': {'aggregation_method': 'sum',
                           'range_function': 'rate'},
        },
    }
}


def _utc(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)


class CollectorsOnRealDataTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.stack = base.shared_stack()
        cls.data = cls.stack.dataset
        cls.workdir = base.class_workdir(cls, 'ck-collectors-')
        cls.aetos = base.load_collector(cls.stack, cls.workdir, METRICS,
                                        period=PERIOD)
        cls.prometheus = base.load_collector(
            cls.stack, cls.workdir, METRICS, 'prometheus', period=PERIOD)
        cls.compared = {'periods': 0, 'points': 0}

    @classmethod
    def tearDownClass(cls):
        print('compared %(points)d points over %(periods)d '
              '(project, hour, metric) periods' % cls.compared)

    def test_loaded_as_the_processor_does(self):
        self.assertEqual('aetos', self.aetos.collector_name)
        self.assertEqual(self.stack.aetos_url, self.aetos._conn.url)
        self.assertEqual('prometheus', self.prometheus.collector_name)

    def _fetch_both(self, metric, hour, project):
        start = _utc(self.data.hour(hour))
        end = _utc(self.data.hour(hour + 1))
        project_id = self.data.project_ids[project]
        through_aetos = self.aetos.fetch_all(metric, start, end, project_id)
        direct = self.prometheus.fetch_all(metric, start, end, project_id)
        self.compared['periods'] += 1
        self.compared['points'] += len(direct)
        return through_aetos, direct

    def _by_group(self, points, key):
        return {p.groupby[key]: p for p in points}

    def test_identical_points_for_every_project_and_hour(self):
        for metric in self.aetos.conf:
            for project in self.data.project_ids:
                for hour in range(6):
                    with self.subTest(metric=metric, project=project,
                                      hour=hour):
                        through_aetos, direct = self._fetch_both(
                            metric, hour, project)
                        self.assertEqual(direct, through_aetos)

    def _check(self, metric, key, expected, hour, project, places=6):
        through_aetos, _direct = self._fetch_both(metric, hour, project)
        got = {k: float(p.qty)
               for k, p in self._by_group(through_aetos, key).items()}
        self.assertEqual(sorted(expected), sorted(got))
        for group, value in expected.items():
            self.assertAlmostEqual(value, got[group], places=places,
                                   msg='%s %s' % (metric, group))

    def test_instances_equal_the_planted_ones(self):
        for project in self.stack.projects:
            for hour in range(6):
                vector = self.data.over_time(
                    'max', 'ck_instance_up', self.data.hour(hour + 1),
                    PERIOD, [project])
                expected = {labels['resource_id']: value
                            for labels, value in vector}
                self._check('ck_instance_up@#instance', 'resource_id',
                            expected, hour, project)

    def test_instance_hours_equal_the_planted_ones(self):
        for project in self.stack.projects:
            for hour in range(6):
                vector = self.data.over_time(
                    'sum', 'ck_instance_up', self.data.hour(hour + 1),
                    PERIOD, [project])
                expected = {}
                for labels, value in vector:
                    flavor = labels['flavor_name']
                    expected[flavor] = expected.get(flavor, 0) + value / 60
                self._check('ck_instance_up@#instance_hours', 'flavor_name',
                            expected, hour, project)

    def test_volumes_equal_the_planted_ones(self):
        for project in self.stack.projects:
            for hour in range(6):
                vector = self.data.over_time(
                    'avg', 'ck_volume_size_gb', self.data.hour(hour + 1),
                    PERIOD, [project])
                expected = {labels['resource_id']: math.ceil(value)
                            for labels, value in vector}
                self._check('ck_volume_size_gb@#volume', 'resource_id',
                            expected, hour, project)

    def test_network_equals_the_planted_counters(self):
        for project in self.stack.projects:
            for hour in range(6):
                vector = self.data.rate(
                    'ck_net_bytes_total', self.data.hour(hour + 1), PERIOD,
                    [project])
                expected = {labels['resource_id']: value * 3.6
                            for labels, value in vector}
                self._check('ck_net_bytes_total@#net_out', 'resource_id',
                            expected, hour, project, places=3)

    def test_metadata_and_scope_are_carried(self):
        through_aetos, _direct = self._fetch_both(
            'ck_volume_size_gb@#volume', 4, 'rated-b')
        types = {p.groupby['resource_id']: p.metadata['volume_type']
                 for p in through_aetos}
        self.assertEqual(
            {'00000000-0000-4000-8000-000000000012': 'standard',
             '00000000-0000-4000-8000-000000000013': 'ssd'}, types)
        self.assertEqual(
            {self.data.project_ids['rated-b']},
            {p.groupby['project_id'] for p in through_aetos})


class SharedByThreadsTest(unittest.TestCase):
    """One collector queried from as many threads as the orchestrator uses.

    cloudkitty-processor collects the metrics of a period from
    ``[orchestrator] max_threads`` threads, all through one collector and
    so one HTTP session: each thread must get what it would alone, the
    connection pools must hold a connection per thread (or urllib3 drops
    them with a warning for each), and threads meeting the same new
    evaluation time must check it once between them.
    """

    # gunicorn's access log line of a time check ("scalar(count((").
    TIME_CHECK = re.compile(r'GET /api/v1/query\?query=scalar%28count%28%28')

    @classmethod
    def setUpClass(cls):
        cls.stack = base.shared_stack()
        cls.workdir = base.class_workdir(cls, 'ck-threads-')
        base.load_collector(cls.stack, cls.workdir, METRICS, period=PERIOD)

    def _fetch(self, collector_, work):
        metric, project_id, hour = work
        start = _utc(self.stack.dataset.hour(hour))
        end = _utc(self.stack.dataset.hour(hour + 1))
        return collector_.fetch_all(metric, start, end, project_id)

    def _time_checks_since(self, offset, queries):
        """Time checks in Aetos' log after ``offset``.

        gunicorn logs a request once answered: wait for the ``queries``
        other queries sent since to show, up to a few seconds.
        """
        deadline = time.monotonic() + 5
        while True:
            with open(self.stack.logs['aetos'], errors='replace') as log:
                log.seek(offset)
                lines = [line for line in log
                         if 'GET /api/v1/query?' in line]
            checks = [line for line in lines if self.TIME_CHECK.search(line)]
            if (len(lines) - len(checks) >= queries
                    or time.monotonic() > deadline):
                return checks
            time.sleep(0.1)

    def test_threads_get_the_serial_results_without_warnings(self):
        cfg.CONF.import_opt('max_threads', 'cloudkitty.orchestrator',
                            'orchestrator')
        threads = cfg.CONF.orchestrator.max_threads
        self.assertEqual(16, threads)
        alone = collector.get_collector()
        # As the processor does: the metrics of one period together.
        work = [(metric, project_id, hour)
                for hour in range(dataset.HOURS)
                for project_id in self.stack.project_ids.values()
                for metric in alone.conf]
        serial = [self._fetch(alone, item) for item in work]
        self.assertTrue(any(serial))
        hours_with_empty_results = {
            hour for (_metric, _project, hour), points in zip(work, serial)
            if not points}
        self.assertTrue(hours_with_empty_results)

        shared = collector.get_collector()
        offset = os.path.getsize(self.stack.logs['aetos'])
        logs = test_faults.RecordedLogs(logging.WARNING).install()
        self.addCleanup(logs.uninstall)
        with futures.ThreadPoolExecutor(max_workers=threads) as pool:
            parallel = list(pool.map(lambda item: self._fetch(shared, item),
                                     work * 3))
        logs.uninstall()

        self.assertEqual(serial * 3, parallel)
        self.assertEqual([], [logs.format(record) for record in logs.records
                              if record.levelno >= logging.WARNING])
        # At most one check per hour, however many threads met it empty.
        checks = self._time_checks_since(offset, len(parallel))
        self.assertLessEqual(len(checks), len(hours_with_empty_results),
                             ''.join(checks))
