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
"""Scope batching against a Prometheus that refuses the whole query.

A Prometheus of its own serves the planted data with
``--query.max-samples`` set to the largest peak of any one scope's query,
measured first on the shared stack's Prometheus: every query for one
scope passes, and the queries for every scope that load more samples
fail. A real cloudkitty-processor with scope batching must still rate
every project exactly, sending each query for every scope once at most
per (metric, period), as Prometheus' own query log shows.
"""

import collections
import json
import os

import fixtures

from functional import base
from functional import dataset as planted
from functional.services import httpclient
from functional.services import prometheus as prometheus_mod

SCOPE_MATCHER = 'project_id="'


def peak_samples(url, query, at):
    """The peak samples Prometheus loads to answer ``query`` at ``at``."""
    answer = httpclient.http('GET', url + '/api/v1/query', params={
        'query': query, 'time': at, 'stats': 'all'})
    return answer.json()['data']['stats']['samples']['peakSamples']


class BatchingLimitsTest(base.ProcessorTestBase):

    def _limit(self):
        """Samples over any one scope's query and under some whole ones."""
        data = self.stack.dataset
        per_scope, whole = [], []
        for index in range(planted.HOURS):
            at = data.hour(index) + planted.HOUR
            for metric in sorted(planted.METRICS):
                whole.append(peak_samples(
                    self.stack.prometheus_url,
                    'max_over_time(%s[3600s])' % metric, at))
                for scope in self.stack.projects.values():
                    per_scope.append(peak_samples(
                        self.stack.prometheus_url,
                        'max_over_time(%s{project_id="%s"}[3600s])'
                        % (metric, scope), at))
        limit = max(per_scope)
        self.assertGreater(max(whole), limit,
                           'no query for every scope loads more samples '
                           'than one for a scope')
        return limit, max(whole)

    def _prometheus(self, limit):
        home = self.useFixture(fixtures.TempDir()).path
        query_log = os.path.join(home, 'queries.log')
        server = prometheus_mod.Prometheus(
            home, self.stack.dataset,
            extra_args=['--query.max-samples', str(limit)],
            query_log=query_log)
        server.start()
        self.addCleanup(server.stop)
        return server, query_log

    def test_whole_query_refused_every_scope_rated(self):
        limit, largest = self._limit()
        server, query_log = self._prometheus(limit)
        env = self.env('prometheus', overrides={'collector_prometheus': {
            'prometheus_url': server.url + '/api/v1',
            'scope_batching': 'true'}})
        wall = env.run_processor(self.last, base.PROCESSOR_TIMEOUT)
        rated = self.assertRatedExactly(env.report())

        whole = collections.Counter()
        per_scope = 0
        with open(query_log) as log:
            for line in log:
                params = json.loads(line)['params']
                if SCOPE_MATCHER in params['query']:
                    per_scope += 1
                else:
                    whole[(params['query'], params['end'])] += 1
        self.assertNotEqual({}, dict(whole))
        self.assertEqual(1, max(whole.values()), whole)
        with open(env.log_file, errors='replace') as log:
            fallbacks = [line for line in log
                         if 'Scope batching: the query of' in line]
        self.assertNotEqual([], fallbacks)
        self.assertIn('would load too many samples', fallbacks[0])
        self.figures('whole query refused by --query.max-samples', [
            '--query.max-samples %d (largest whole query: %d samples)' % (
                limit, largest),
            'processor wall time: %.1fs' % wall,
            'whole queries: %d for %d (query, period) pairs' % (
                sum(whole.values()), len(whole)),
            'per-scope queries: %d' % per_scope,
            'fallback warnings: %d' % len(fallbacks),
            'first: %s' % fallbacks[0].strip()[:300],
            'rated points: %d' % len(rated),
        ])
