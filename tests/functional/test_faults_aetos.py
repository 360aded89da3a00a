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
"""Aetos, Prometheus or their answers going wrong, caused for real.

Every fault of the way from the collector to the data is provoked here:
Aetos or Prometheus stopped, a server too slow, bad PromQL, a server that
is not Aetos. Each collection fails with a ``CollectError`` (the period
stays unprocessed and is retried) whose cause is the ``prometheus_errors``
kind of the fault, carrying the URL and status a deployer needs; one exact
sentence per message template. Servers that must misbehave in ways the
real services never do (answer HTML, never answer) are small local HTTP
servers registered in Keystone's catalog in regions of their own, so the
real collector finds them exactly as it finds Aetos.
"""

import json
import logging
import threading
import time
import uuid

from keystoneauth1 import exceptions as ks_exc

from cloudkitty.common import prometheus_errors

from functional import base


class AetosAndPrometheusDownTest(base.FaultTestBase):
    """Aetos or what is behind it failing: CollectError naming Aetos."""

    def test_aetos_stopped(self):
        ours = self._collector()
        self._restart_in_cleanup('aetos')
        message, cause = self._collect_error(
            ours, prometheus_errors.UnreachableError)
        self.assertIsInstance(cause.__cause__, ks_exc.ConnectFailure)
        self.assertEqual(
            "Aetos at %s could not be connected to (ConnectFailure): check "
            "that Aetos is running and that the 'metric-storage' endpoint "
            "in the Keystone catalog is right" % self.stack.aetos_url,
            message)

    def test_prometheus_stopped_behind_aetos(self):
        ours = self._collector()
        self._restart_in_cleanup('prometheus')
        message, cause = self._collect_error(ours,
                                             prometheus_errors.HTTPError)
        self.assertEqual(500, cause.status)
        # Aetos quotes its failed connection to Prometheus.
        self.assertIn('port=%s' % self.stack.prometheus_port, cause.detail)
        self.assertIn('can reach Keystone and Prometheus', message)

    def test_timeout(self):
        fake, region = self._fake_endpoint()
        fake.silent = True
        ours = self._collector(region_name=region, timeout=1)
        started = time.monotonic()
        # Connected, never answered: the answer's fault, which a lighter
        # query may avoid.
        message, cause = self._collect_error(
            ours, prometheus_errors.AnswerTooSlow, url=fake.url)
        elapsed = time.monotonic() - started
        self.assertIsInstance(cause.__cause__, ks_exc.ConnectTimeout)
        self.assertEqual(
            'Aetos at %s did not start its answer within 1 s: make the query '
            'lighter or raise [collector_aetos] timeout' % fake.url, message)
        self.assertEqual(1, len(fake.paths))
        self.assertLess(elapsed, 5)

    def test_status_code_retries_reach_the_real_aetos(self):
        self._restart_in_cleanup('prometheus')
        for retries in (0, 2):
            scope = 'retries-%d-%s' % (retries, uuid.uuid4().hex[:8])
            ours = self._collector(status_code_retries=retries,
                                   status_code_retry_delay=0.1,
                                   retriable_status_codes='500')
            offset = self.stack.aetos.log_size()
            logs = base.RecordedLogs(logging.WARNING).install()
            try:
                _message, cause = self._collect_error(
                    ours, prometheus_errors.HTTPError, scope_id=scope)
            finally:
                logs.uninstall()
            self.assertEqual(500, cause.status)
            self.assertEqual(
                ['Retriable status code 500. Retrying in 0.1s. %d retries '
                 'left' % left for left in range(retries, 0, -1)],
                logs.messages('keystoneauth.session', logging.WARNING))
            received = self.stack.aetos.requests(offset, retries + 1)
            self.assertEqual(retries + 1, len(
                [request for request in received
                 if scope in request.params['query']]))

    def test_connect_retries_wait_for_aetos_to_come_back(self):
        ours = self._collector(connect_retries=10, connect_retry_delay=1)
        expected = self._fetch(ours)
        self._restart_in_cleanup('aetos')
        aetos_process = self.stack.processes['aetos']
        starter = threading.Timer(0.5, aetos_process.spawn)
        self.addCleanup(starter.cancel)
        logs = base.RecordedLogs(logging.INFO).install()
        self.addCleanup(logs.uninstall)
        starter.start()
        self.assertEqual(expected, self._fetch(ours))
        # keystoneauth said so at each failed attempt.
        retried = [m for m in logs.messages('keystoneauth.session',
                                            logging.WARNING)
                   if m.startswith('Failure: Unable to establish connection '
                                   'to %s/api/v1/query' % self.stack.aetos_url)
                   and 'Retrying in 1.0s' in m]
        self.assertTrue(retried, logs.text())


class BadAnswersTest(base.FaultTestBase):
    """Answers that are not usable results: CollectError quoting them."""

    def test_invalid_promql_as_the_prometheus_collector_reports_it(self):
        metrics = base.metrics_conf(query_suffix='+ on(')
        _message, through_aetos = self._collect_error(
            self._collector(metrics=metrics), prometheus_errors.HTTPError)
        _direct_message, direct = self._collect_error(
            self._collector('prometheus', metrics=metrics),
            prometheus_errors.HTTPError,
            url=self.stack.prometheus_url + '/api/v1')
        self.assertEqual((400, 400), (through_aetos.status, direct.status))
        # Prometheus' own words, which Aetos passes on; the position of the
        # error differs, the Aetos query being pinned with "@".
        self.assertTrue(direct.detail.startswith(
            'bad_data: invalid parameter "query": '), direct.detail)
        _position, _sep, error = direct.detail.partition(': parse error: ')
        self.assertTrue(error, direct.detail)
        self.assertIn(': parse error: ' + error, through_aetos.detail)
        for cause in (through_aetos, direct):
            self.assertIn('query_suffix', str(cause))

    def test_body_that_is_not_json(self):
        fake, region = self._fake_endpoint()
        fake.answer = (200, 'text/html', b'<html><body><h1>Welcome to '
                       b'nginx!</h1>' + b' padding' * 50 + b'</body></html>')
        message, _cause = self._collect_error(
            self._collector(region_name=region),
            prometheus_errors.NotAPrometheusAnswer, url=fake.url)
        for fact in ('HTTP 200', 'not JSON',
                     '(<html><body><h1>Welcome to nginx!</h1> padding',
                     'root URL of Aetos'):
            self.assertIn(fact, message)
        self.assertLess(len(message), 400)

    def test_proxy_error_page(self):
        fake, region = self._fake_endpoint()
        fake.answer = (502, 'text/html',
                       b'<html>\n<body>502 Bad Gateway</body>\n</html>\n')
        message, cause = self._collect_error(
            self._collector(region_name=region), prometheus_errors.HTTPError,
            url=fake.url)
        self.assertEqual(502, cause.status)
        self.assertEqual(
            'Aetos at %s answered HTTP 502 (<html> <body>502 Bad Gateway'
            '</body> </html>): check that Aetos is running and can reach '
            'Keystone and Prometheus' % fake.url, message)

    def test_json_that_is_not_a_prometheus_result(self):
        fake, region = self._fake_endpoint()
        fake.answer = (200, 'application/json',
                       json.dumps({'versions': ['v1', 'v2']}).encode())
        message, _cause = self._collect_error(
            self._collector(region_name=region),
            prometheus_errors.NotAPrometheusAnswer, url=fake.url)
        self.assertEqual(
            'Aetos at %s answered HTTP 200 with JSON that is not a '
            'Prometheus result ({"versions": ["v1", "v2"]}): the '
            "'metric-storage' endpoint in the Keystone catalog must be the "
            'root URL of Aetos' % fake.url, message)

    def test_json_with_another_status(self):
        # A health check URL registered instead of Aetos' root.
        fake, region = self._fake_endpoint()
        fake.answer = (200, 'application/json', b'{"status": "ok"}')
        message, _cause = self._collect_error(
            self._collector(region_name=region),
            prometheus_errors.NotAPrometheusAnswer, url=fake.url)
        self.assertIn('{"status": "ok"}', message)
        self.assertEqual(1, len(fake.paths))

    def test_success_without_a_result(self):
        fake, region = self._fake_endpoint()
        fake.answer = (200, 'application/json', json.dumps(
            {'status': 'success', 'data': {'resultType': 'vector'}}).encode())
        message, _cause = self._collect_error(
            self._collector(region_name=region),
            prometheus_errors.NotAPrometheusAnswer, url=fake.url)
        self.assertIn('"resultType": "vector"', message)
