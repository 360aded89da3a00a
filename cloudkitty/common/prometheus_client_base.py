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
"""What every client of a Prometheus HTTP API offers its callers.

A subclass is transport only: it says how a GET reaches the server.
Checking the answer, and remembering a server that refuses ``time``,
happen here once for all of them.
"""
import abc
import threading

from oslo_log import log

from cloudkitty.common import prometheus_answer
from cloudkitty.common import prometheus_errors

LOG = log.getLogger(__name__)

__all__ = ['PrometheusClientBase', 'PrometheusResponseError', 'excerpt']

# The names callers have always imported from here.
PrometheusResponseError = prometheus_errors.PrometheusResponseError
excerpt = prometheus_errors.excerpt


class PrometheusClientBase(abc.ABC):
    """Contract shared by the Prometheus and Aetos clients.

    :param url: the server's URL, as messages name it
    """

    INSTANT_QUERY_ENDPOINT = 'query'
    RANGE_QUERY_ENDPOINT = 'query_range'

    server = 'Prometheus'
    """The server's name in messages."""

    STATUS_HINTS = {
        400: 'check the metric definition (extra_args, query_prefix, '
             'query_suffix)',
        422: 'Prometheus could not execute the query: check the metric '
             'definition',
    }
    SERVER_ERROR_HINT = 'check that the server is running'
    OTHER_STATUS_HINT = 'check the URL of the server'
    ROOT_HINT = 'check the URL of the server'
    TIME_HINT = ('it refuses the time parameter: queries must pin their '
                 'evaluation time with @')

    def __init__(self, url):
        self.url = (url or '').rstrip('/')
        self._sends_time = True
        self._mode_lock = threading.Lock()

    @property
    def sends_time(self):
        """False once the server refused ``time``.

        From then on, callers must pin their queries with ``@``.
        """
        return self._sends_time

    def hint(self, status):
        """What to do about an HTTP error ``status``."""
        if status in self.STATUS_HINTS:
            return self.STATUS_HINTS[status]
        return (self.SERVER_ERROR_HINT if status >= 500
                else self.OTHER_STATUS_HINT)

    @abc.abstractmethod
    def _get(self, endpoint, params):
        """GET ``endpoint`` of the /api/v1 tree.

        :param endpoint: ``query`` or ``query_range``
        :param params: the query string, without None values
        :returns: the requests.Response, whatever its HTTP status
        :raises PrometheusResponseError: (a subclass) when no answer came
        """

    def get_instant(self, query, time=None, timeout=None):
        """Evaluate ``query`` and return the checked answer.

        Against a server that refuses ``time`` (Aetos 1.0.0), ``time`` and
        ``timeout`` are no longer sent once that is known: callers must
        then pin the query with ``@`` (see ``sends_time``).

        :param query: PromQL expression
        :param time: evaluation time (RFC 3339 or Unix time); the
            server's "now" when None
        :param timeout: evaluation timeout handed to Prometheus
        :returns: the decoded JSON document (``status``, ``data``)
        :raises TimeNotSupported: the first time the server refuses
            ``time``; the next calls do not send it
        :raises PrometheusResponseError: (a subclass) for any other fault
        """
        params = {'query': query}
        if self._sends_time:
            params.update((name, value) for name, value in
                          (('time', time), ('timeout', timeout))
                          if value is not None)
        response = self._get(self.INSTANT_QUERY_ENDPOINT, params)
        try:
            return prometheus_answer.check_answer(response, self)
        except prometheus_errors.TimeNotSupported:
            self._stop_sending_time()
            raise

    def _stop_sending_time(self):
        with self._mode_lock:
            if not self._sends_time:
                return
            self._sends_time = False
        LOG.warning(
            '%s at %s refuses the time parameter (Aetos before 2.0.0): '
            'queries are sent without time and timeout from now on, and '
            'only queries that pin their evaluation time with @ are sent',
            self.server, self.url)
