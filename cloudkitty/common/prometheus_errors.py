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
"""The kinds of failure of a query to a Prometheus HTTP API.

Callers and tests branch on the class, never on the text. Every message
still names the cause and what a deployer can do about it, because it
ends up in the processor's log as the only trace of a failed period.
"""

__all__ = [
    'PrometheusResponseError',
    'KeystoneError',
    'UnreachableError',
    'HTTPError',
    'TimeNotSupported',
    'QueryError',
    'NotAPrometheusAnswer',
    'excerpt',
]

# Longest piece of a response body quoted in an error message.
EXCERPT_LENGTH = 200


def excerpt(text, limit=EXCERPT_LENGTH):
    """``text`` on one line, cut to ``limit`` characters.

    :param text: anything; it is quoted through ``str``
    :param limit: the longest result, an ellipsis included
    :returns: a string that a log line can carry
    """
    flat = ' '.join(str(text).split())
    if len(flat) > limit:
        return flat[:limit - 3] + '...'
    return flat


class PrometheusResponseError(Exception):
    """A query did not give a Prometheus result.

    :param message: one sentence naming the cause and the fix
    :param url: the server the query was meant for
    """

    def __init__(self, message='', url=None):
        super(PrometheusResponseError, self).__init__(message)
        self.url = url


class KeystoneError(PrometheusResponseError):
    """Keystone refused the credentials or gave no token.

    :param auth_url: the Keystone the credentials point to
    """

    def __init__(self, message, auth_url=None):
        super(KeystoneError, self).__init__(message, url=auth_url)
        self.auth_url = auth_url


class UnreachableError(PrometheusResponseError):
    """The server could not be connected to or did not answer in time."""


class HTTPError(PrometheusResponseError):
    """The server answered with an HTTP error status.

    :param status: the HTTP status code
    :param detail: the server's own words from the body, shortened
    """

    def __init__(self, message, url, status, detail):
        super(HTTPError, self).__init__(message, url=url)
        self.status = status
        self.detail = detail


class TimeNotSupported(HTTPError):
    """The server refuses the ``time`` parameter, as Aetos 1.0.0 does."""


class QueryError(PrometheusResponseError):
    """Prometheus answered ``status: error`` for the query.

    :param error_type: Prometheus' ``errorType``
    """

    def __init__(self, message, url, error_type):
        super(QueryError, self).__init__(message, url=url)
        self.error_type = error_type


class NotAPrometheusAnswer(PrometheusResponseError):
    """The body is not JSON, or not shaped like a Prometheus result."""
