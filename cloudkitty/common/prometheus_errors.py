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
    'ConfigurationError',
    'PrometheusResponseError',
    'PathError',
    'KeystoneError',
    'RoleTooWeak',
    'UnreachableError',
    'AnswerError',
    'HTTPError',
    'TimeNotSupported',
    'QueryError',
    'NotAPrometheusAnswer',
    'AnswerTooLarge',
    'AnswerTooSlow',
    'MetricNotPinned',
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


class ConfigurationError(Exception):
    """Settings that cannot work, found without asking any server.

    Raised at start-up only, so that a worker with such settings stops
    with the message instead of failing every period.
    """


class PrometheusResponseError(Exception):
    """A query did not give a usable Prometheus result.

    :param message: one sentence naming the cause and the fix
    :param url: the server the failure concerns (Keystone for a
        KeystoneError)
    """

    def __init__(self, message='', url=None):
        super(PrometheusResponseError, self).__init__(message)
        self.url = url


class PathError(PrometheusResponseError):
    """The way to the server failed: the query itself was not judged.

    Asking again with a smaller query would fail the same way.
    """


class KeystoneError(PathError):
    """Keystone refused the credentials or gave no token."""


class RoleTooWeak(PathError):
    """The token's roles would make Aetos narrow the answer to one project.

    :param roles: the token's role names
    """

    def __init__(self, message, url, roles):
        super(RoleTooWeak, self).__init__(message, url=url)
        self.roles = roles


class UnreachableError(PathError):
    """The server could not be connected to."""


class AnswerError(PrometheusResponseError):
    """The server answered, and the answer is the problem.

    A smaller query (one scope instead of all) may well pass.
    """


class HTTPError(AnswerError):
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


class QueryError(AnswerError):
    """Prometheus answered ``status: error`` for the query.

    :param error_type: Prometheus' ``errorType``
    """

    def __init__(self, message, url, error_type):
        super(QueryError, self).__init__(message, url=url)
        self.error_type = error_type


class NotAPrometheusAnswer(AnswerError):
    """The body is not JSON, or not shaped like a Prometheus result."""


class AnswerTooLarge(AnswerError):
    """The answer's body went over the size limit.

    :param limit: the limit, in bytes
    """

    def __init__(self, message, url, limit):
        super(AnswerTooLarge, self).__init__(message, url=url)
        self.limit = limit


class AnswerTooSlow(AnswerError):
    """The answer did not arrive whole within the time limit.

    :param limit: the limit, in seconds
    """

    def __init__(self, message, url, limit):
        super(AnswerTooSlow, self).__init__(message, url=url)
        self.limit = limit


class MetricNotPinned(PrometheusResponseError):
    """The server evaluates at "now" and the query cannot say when."""
