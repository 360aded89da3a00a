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
planted hour, and the empty hour on each side. Their points must be
identical, and equal to what the planted dataset implies (``oracle``).
Whatever Aetos the shared stack runs: 2.0.0 by default, 1.0.0 (which
refuses ``time``) with ``AETOS_STACK_BASE=2025.2``, 3.0.0 (project-scoped
policies) with ``AETOS_STACK_BASE=2026.2``.
"""

from concurrent import futures
import logging

from oslo_config import cfg

from cloudkitty import collector

from functional import base
from functional import dataset
from functional import oracle
from functional.services import config


class CollectorsOnRealDataTest(base.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.stack = base.shared_stack()
        cls.data = cls.stack.dataset
        cls.workdir = base.class_workdir(cls, 'ck-collectors-')
        cls.aetos = base.load_collector(cls.stack, cls.workdir,
                                        oracle.COLLECTOR_METRICS)
        cls.prometheus = base.load_collector(
            cls.stack, cls.workdir, oracle.COLLECTOR_METRICS, 'prometheus')

    def test_loaded_as_the_processor_does(self):
        self.assertEqual('aetos', self.aetos.collector_name)
        # Found in the catalog at the first query.
        self.aetos.client.get_instant('vector(1)')
        self.assertEqual(self.stack.aetos_url, self.aetos.client.url)
        self.assertEqual('prometheus', self.prometheus.collector_name)

    def test_identical_points_equal_to_the_planted_ones(self):
        compared = oracle.compare_collectors(self.aetos, self.prometheus,
                                             self.data)
        print('Aetos %s: compared %d points over %d (metric, project, '
              'hour) periods, %d differences'
              % (self.stack.base.aetos, compared.points, compared.periods,
                 len(compared.differences)))
        self.assertEqual([], compared.differences)
        self.assertEqual(
            len(self.aetos.conf) * len(self.data.project_ids) *
            len(oracle.HOURS_AROUND), compared.periods)
        self.assertGreater(compared.points, 0)

    def test_metadata_and_scope_are_carried(self):
        points = self.aetos.fetch_all(
            'ck_volume_size_gb@#volume', config.utc(self.data.hour(4)),
            config.utc(self.data.hour(5)), self.data.project_ids['rated-b'])
        types = {p.groupby['resource_id']: p.metadata['volume_type']
                 for p in points}
        self.assertEqual(
            {'00000000-0000-4000-8000-000000000012': 'standard',
             '00000000-0000-4000-8000-000000000013': 'ssd'}, types)
        self.assertEqual(
            {self.data.project_ids['rated-b']},
            {p.groupby['project_id'] for p in points})


class SharedByThreadsTest(base.TestCase):
    """One collector queried from as many threads as the orchestrator uses.

    cloudkitty-processor collects the metrics of a period from
    ``[orchestrator] max_threads`` threads, all through one collector and
    so one HTTP session: each thread must get what it would alone, the
    connection pools must hold a connection per thread (or urllib3 drops
    them with a warning for each), and against an Aetos that refuses
    ``time`` the threads that meet the refusal together switch the client
    to the mode without ``time`` once, with one warning between them.
    """

    TIME_WARNING_LOGGER = 'cloudkitty.common.aetos_client'

    @classmethod
    def setUpClass(cls):
        cls.stack = base.shared_stack()
        cls.workdir = base.class_workdir(cls, 'ck-threads-')
        base.load_collector(cls.stack, cls.workdir, oracle.COLLECTOR_METRICS)

    def _fetch(self, collector_, work):
        metric, project_id, hour = work
        start = config.utc(self.stack.dataset.hour(hour))
        end = config.utc(self.stack.dataset.hour(hour + 1))
        return collector_.fetch_all(metric, start, end, project_id)

    def _queries(self, offset, expected):
        """Parameters of the queries Aetos logged after ``offset``."""
        return [request.params for request
                in self.stack.aetos.requests(offset, expected)]

    def _check_mode(self, shared, logs, offset, fetches, threads):
        """Each fetch sent once, with ``time`` if the server allows it."""
        queries = self._queries(offset, fetches)
        with_time = [query for query in queries if 'time' in query]
        if base.aetos_refuses_time(self.stack):
            # The refused queries too, however late gunicorn logs them.
            queries = self._queries(offset, fetches + len(with_time))
        # Every query pins its evaluation time itself.
        self.assertEqual([], [query for query in queries
                              if ' @ ' not in query['query']])
        if not base.aetos_refuses_time(self.stack):
            self.assertTrue(shared.client.sends_time)
            self.assertEqual([], logs.warnings())
            self.assertEqual(fetches, len(queries))
            self.assertEqual(fetches, len(with_time))
            return
        self.assertFalse(shared.client.sends_time)
        self.assertEqual(1, len(logs.warnings()), logs.text())
        self.assertEqual(1, len(logs.messages(self.TIME_WARNING_LOGGER,
                                              logging.WARNING)))
        # Refused at most once per thread, and each refused query sent
        # again without time.
        self.assertTrue(1 <= len(with_time) <= threads, len(with_time))
        self.assertEqual(fetches + len(with_time), len(queries))

    def test_threads_get_the_serial_results(self):
        cfg.CONF.import_opt('max_threads', 'cloudkitty.orchestrator',
                            'orchestrator')
        # The base release's default (it differs between releases).
        threads = cfg.CONF.orchestrator.max_threads
        self.assertGreater(threads, 1)
        alone = collector.get_collector()
        # As the processor does: the metrics of one period together.
        work = [(metric, project_id, hour)
                for hour in range(dataset.HOURS)
                for project_id in self.stack.project_ids.values()
                for metric in alone.conf]
        serial = [self._fetch(alone, item) for item in work]
        self.assertTrue(any(serial))

        shared = collector.get_collector()
        offset = self.stack.aetos.log_size()
        logs = base.RecordedLogs(logging.WARNING).install()
        self.addCleanup(logs.uninstall)
        with futures.ThreadPoolExecutor(max_workers=threads) as pool:
            parallel = list(pool.map(lambda item: self._fetch(shared, item),
                                     work * 3))
        logs.uninstall()

        self.assertEqual(serial * 3, parallel)
        self._check_mode(shared, logs, offset, len(parallel), threads)
