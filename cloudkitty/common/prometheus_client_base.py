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
"""What every client of a Prometheus HTTP API offers the collectors.

Collectors and fetchers only ever see decoded Prometheus JSON and
PrometheusResponseError; which HTTP library sits below is the business
of each client.
"""
import abc

# Longest piece of a response body quoted in an error message.
EXCERPT_LENGTH = 200


class PrometheusResponseError(Exception):
    """A Prometheus API answer could not be turned into a result."""


def excerpt(text, limit=EXCERPT_LENGTH):
    """Return ``text`` on one line, cut to ``limit`` characters.

    Error messages quote response bodies; a whole HTML error page would
    drown the log line that carries them.
    """
    flat = ' '.join(str(text).split())
    if len(flat) > limit:
        return flat[:limit - 3] + '...'
    return flat


class PrometheusClientBase(abc.ABC):
    """Contract shared by the Prometheus and Aetos clients.

    ``get_instant`` returns the decoded Prometheus JSON document (a dict
    with ``status`` and ``data``) in every subclass, and every failure of
    the transport surfaces as PrometheusResponseError.
    """

    INSTANT_QUERY_ENDPOINT = 'query'
    RANGE_QUERY_ENDPOINT = 'query_range'

    @abc.abstractmethod
    def _get(self, endpoint, params):
        """GET ``endpoint`` of the /api/v1 tree; return the decoded JSON."""

    @abc.abstractmethod
    def get_instant(self, query, time=None, timeout=None):
        """Evaluate ``query`` at ``time`` and return the decoded JSON.

        :param query: PromQL expression
        :param time: evaluation time (RFC 3339 string or Unix time);
                     the server's "now" when None
        :param timeout: evaluation timeout handed to Prometheus
        """
