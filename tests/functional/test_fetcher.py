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
"""The ``aetos`` fetcher on the real stack: Prometheus only behind Aetos.

* Loaded as cloudkitty-processor loads it, the fetcher returns exactly the
  projects that have planted series, no more, no less, and the query
  Aetos received is the one it built, without ``time``.
* Every planted series ended before the current hour: the projects are
  still discovered while their last period is unrated, where an instant
  query at "now" (Prometheus' 5-minute lookback) finds none; the edge of
  the window is where the arithmetic puts it.
* Filters and ``scope_attribute`` act on the real server, and a filter
  value written to break out of its string matches nothing.
* A real cloudkitty-processor with ``[fetcher] backend = aetos`` and
  ``[collect] collector = aetos`` and no Prometheus URL anywhere rates
  exactly the planted usage; Prometheus' own query log, compared with
  Aetos' access log, shows that every query it ran came through Aetos.

The figures are attached to each test as ``figures`` and printed.
"""

import collections
import json
import logging
import math
import os
import signal
import tempfile
import time

from oslo_config import cfg
from stevedore import driver

from cloudkitty import orchestrator
from cloudkitty import storage_state

from functional import base
from functional import dataset as planted
from functional import fetcher_env
from functional.services import cloudkitty_env
from functional.services import httpclient

METRIC = fetcher_env.METRIC
PERIOD = base.PERIOD
PROCESSOR_TIMEOUT = base.PROCESSOR_TIMEOUT
# Prometheus' default lookback: what an instant query at "now" sees.
INSTANT_LOOKBACK = planted.LOOKBACK
EDGE_MARGIN = fetcher_env.EDGE_MARGIN


class PrometheusQueryLog(object):
    """Prometheus' own log of the queries it runs, switched on live.

    ``query_log_file`` goes into the global section of the stack's
    prometheus.yml and Prometheus reloads it on SIGHUP; ``stop`` puts the
    file back as it was.
    """

    def __init__(self, stack):
        self.stack = stack
        home = os.path.join(stack.workdir, 'prometheus')
        self.conf = os.path.join(home, 'prometheus.yml')
        self.path = os.path.join(home, 'queries.log')
        with open(self.conf) as f:
            self.original = f.read()

    def _apply(self, text, expect):
        with open(self.conf, 'w') as f:
            f.write(text)
        os.kill(self.stack.pids()['prometheus'], signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            answer = httpclient.http(
                'GET', self.stack.prometheus_url + '/api/v1/status/config')
            if (self.path in answer.json()['data']['yaml']) == expect:
                return
            if time.monotonic() > deadline:
                raise AssertionError('Prometheus did not reload %s'
                                     % self.conf)
            time.sleep(0.1)

    def start(self):
        self._apply(self.original.replace(
            'global:\n', 'global:\n  query_log_file: %s\n' % self.path, 1),
            True)
        return self

    def stop(self):
        self._apply(self.original, False)

    def size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def queries(self, offset=0):
        """Queries run since ``offset``, in order, with their client."""
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            f.seek(offset)
            entries = [json.loads(line) for line in f if line.strip()]
        return [(entry['params']['query'],
                 entry.get('httpRequest', {}).get('clientIP'))
                for entry in entries]


class FetcherTestBase(base.AetosFetcherTestBase):
    """The fetcher loaded in this process, as the processor loads it."""

    @classmethod
    def setUpClass(cls):
        super(FetcherTestBase, cls).setUpClass()
        cls.workdir = base.class_workdir(cls, 'ck-fetcher-')
        # The last planted hour is the newest period the processor rates.
        cls.wait_periods = cloudkitty_env.wait_periods_for(cls.data.end)

    def setUp(self):
        super(FetcherTestBase, self).setUp()
        self.logs = base.RecordedLogs(logging.INFO).install()
        self.addCleanup(self.logs.uninstall)

    def discover(self, fetcher):
        """get_tenants(), which must not have failed.

        An empty list is also what a failed discovery returns.
        """
        scopes = fetcher.get_tenants()
        self.assertEqual([], [record.getMessage()
                              for record in self.logs.records
                              if record.levelno >= logging.ERROR])
        return scopes

    def fetcher_options(self, **options):
        """[fetcher_aetos] for the stack; a value of None drops it."""
        settings = dict(self.stack.collector_options(), metric=METRIC)
        settings.update(options)
        return {key: value for key, value in settings.items()
                if value is not None}

    def load_fetcher(self, **options):
        """The fetcher, loaded as the processor loads it.

        Its scope states are in a database of the class's own, empty.
        """
        base.load_config({
            'collect': {'period': PERIOD,
                         'wait_periods': self.wait_periods},
            'database': {'connection': 'sqlite:///%s' % os.path.join(
                self.workdir, 'states.sqlite')},
            'fetcher': {'backend': 'aetos'},
            'fetcher_aetos': self.fetcher_options(**options),
        }, tempfile.mkdtemp(dir=self.workdir))
        storage_state.StateManager().init()
        return driver.DriverManager(
            orchestrator.FETCHERS_NAMESPACE, cfg.CONF.fetcher.backend,
            invoke_on_load=True).driver


class AetosFetcherTest(FetcherTestBase):

    def test_exactly_the_planted_projects(self):
        offset = self.stack.aetos.log_size()
        fetcher = self.load_fetcher()
        found = self.discover(fetcher)
        self.assertEqual(self.planted, found)
        # Keystone holds other projects (admin, service), without usage.
        self.assertEqual(sorted(planted.PROJECTS), self.named(found))
        [sent] = self.stack.aetos.requests(offset, 1, answered_only=True)
        self.assertEqual(({'query': fetcher.query}, 200), sent)
        self.figures('aetos fetcher, default window', [
            'query: %s' % fetcher.query,
            'projects found: %d (%s)' % (len(found),
                                         ', '.join(self.named(found))),
        ])

    def test_stopped_projects_kept_while_unrated(self):
        now = time.time()
        last = fetcher_env.last_sample(self.data)
        current_hour = now // PERIOD * PERIOD
        self.assertLess(last, current_hour)
        last_period = self.data.hour(planted.HOURS - 1)
        # The processor would rate the last planted period now: it is
        # ratable, and unrated.
        self.assertLess(last_period + self.wait_periods * PERIOD, now)
        default = self.load_fetcher()
        self.assertEqual(self.planted, self.discover(default))
        instant = self.load_fetcher(lookback=INSTANT_LOOKBACK)
        self.assertEqual([], self.discover(instant))
        age = time.time() - last
        inside = self.load_fetcher(
            lookback=int(math.ceil(age)) + EDGE_MARGIN)
        self.assertEqual(self.planted, self.discover(inside))
        outside = self.load_fetcher(lookback=int(age) - EDGE_MARGIN)
        self.assertEqual([], self.discover(outside))
        window = (self.wait_periods + 3) * PERIOD
        self.assertIn('[%ds]' % window, default.query)
        self.figures('stopped projects', [
            'newest planted sample: %.0f s ago (%.1f h), before the '
            'current hour' % (age, age / 3600.0),
            'wait_periods: %d, default window: %d s' % (self.wait_periods,
                                                        window),
            'discovered for %.1f h more; the last period became ratable '
            '%.1f h ago' % ((last + window - now) / 3600.0,
                            (now - last_period -
                             self.wait_periods * PERIOD) / 3600.0),
            'instant query at now (%d s lookback): 0 projects'
            % INSTANT_LOOKBACK,
            'window %d s: %d projects; window %d s: 0' % (
                int(math.ceil(age)) + EDGE_MARGIN, len(self.planted),
                int(age) - EDGE_MARGIN),
        ])

    def test_filters_and_scope_attribute(self):
        xlarge = self.load_fetcher(filters='flavor_name:m1.xlarge')
        self.assertEqual(['unrated-z'], self.named(self.discover(xlarge)))
        both = self.load_fetcher(
            filters='flavor_name:m1.small,resource_id:%s' % (
                planted.SERIES[0].labels[0][1]))
        self.assertEqual(['rated-a'], self.named(self.discover(both)))
        hostile = 'm1.small"} or vector(1) or ck_instance_up{project_id="'
        escaped = self.load_fetcher(filters='flavor_name:' + hostile)
        self.assertEqual([], self.discover(escaped))
        volumes = self.load_fetcher(metric='ck_volume_size_gb',
                                    scope_attribute='volume_type')
        self.assertEqual(['ssd', 'standard'], self.discover(volumes))
        self.figures('filters', [
            'escaped query: %s' % escaped.query,
        ])


class ProcessorThroughAetosOnlyTest(base.FetcherProcessorTestBase):
    """A real processor, fetcher and collector both through Aetos."""

    def test_rates_planted_usage_through_aetos_only(self):
        env = self.env()
        with open(env.conf) as f:
            conf_text = f.read()
        self.assertNotIn(self.stack.prometheus_url, conf_text)
        self.assertNotIn(':%d' % self.stack.prometheus_port, conf_text)
        query_log = PrometheusQueryLog(self.stack).start()
        self.addCleanup(query_log.stop)
        prometheus_offset = query_log.size()
        aetos_offset = self.stack.aetos.log_size()

        with env.processor() as processor:
            processor.wait_for(self.last, PROCESSOR_TIMEOUT)
            wall = processor.elapsed()
        report = env.report()
        expected, rated, _duplicates = self.assertRatedPlanted(report)
        for scope, state in report['states'].items():
            self.assertGreaterEqual(state, self.last, scope)

        ran = query_log.queries(prometheus_offset)
        received = self.stack.aetos.requests(aetos_offset, len(ran),
                                             answered_only=True)
        forwarded = [params['query'] for params, status in received
                     if status == 200]
        # Every query Prometheus ran is one Aetos answered, once each.
        self.assertEqual(collections.Counter(forwarded),
                         collections.Counter(query for query, _ip in ran))
        # Aetos 1.0.0 refuses (HTTP 400) the collector's first queries,
        # sent with time, one per metric thread, without asking
        # Prometheus; nothing else may fail.
        refused = [(params, status) for params, status in received
                   if status != 200]
        for params, status in refused:
            self.assertEqual(400, status, refused)
            self.assertIn('time', params, refused)
        discoveries = [q for q in forwarded
                       if q.startswith('count by (project_id) (')]
        self.assertNotEqual([], discoveries)
        self.figures('processor, aetos fetcher and collector', [
            'processor wall time: %.1fs' % wall,
            'projects discovered and rated: %d (%s)' % (
                len(self.planted), ', '.join(self.named(self.planted))),
            'periods rated per project: %d' % planted.HOURS,
            'rated points: %d (expected %d)' % (len(rated), len(expected)),
            'queries received by Aetos: %d (%d discoveries, %d refused)'
            % (len(received), len(discoveries), len(refused)),
            'queries run by Prometheus: %d, all received by Aetos first'
            % len(ran),
            'Prometheus URL or port in cloudkitty.conf: no',
        ])
