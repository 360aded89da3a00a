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

A subclass is transport: it says how a GET reaches the server and which
parameters it sends. Reading the answer within its bounds and checking
it happen here, once for all of them.
"""
import abc
import ipaddress
from urllib import parse

from oslo_config import cfg
from oslo_log import log
import requests
from requests import adapters as requests_adapters

from cloudkitty.common import prometheus_answer
from cloudkitty.common import prometheus_errors

LOG = log.getLogger(__name__)

# cloudkitty 25.0.0's cloudkitty/fetcher/prometheus.py and its tests
# import the exception from this module.
PrometheusResponseError = prometheus_errors.PrometheusResponseError

__all__ = ['PrometheusClientBase', 'answer_opts', 'pooled_session']

# Defaults of the answer bounds, for callers that build a client without
# the options (the base release's prometheus fetcher).
ANSWER_TIMEOUT = 120.0
MAX_ANSWER_SIZE = 64 * 1024 * 1024

answer_opts = [
    cfg.FloatOpt('answer_timeout', default=ANSWER_TIMEOUT, min=1,
                 help='Seconds a query answer may take to arrive whole, '
                      'however slowly its bytes come; "timeout" bounds '
                      'each wait for the next bytes only.'),
    cfg.IntOpt('max_answer_size', default=MAX_ANSWER_SIZE, min=1024,
               help='Largest query answer accepted, in bytes once '
                    'decompressed; a larger one fails the query.'),
]


def pooled_session(pool_size):
    """A requests session keeping ``pool_size`` connections alive.

    :param pool_size: threads that query at once; never fewer than
        requests' own default
    :returns: a requests.Session with one pooled adapter on every scheme
    """
    size = max(requests_adapters.DEFAULT_POOLSIZE, pool_size)
    pooled = requests_adapters.HTTPAdapter(pool_maxsize=size)
    http = requests.Session()
    for scheme in ('https://', 'http://'):
        http.mount(scheme, pooled)
    return http


def _loopback(host):
    """Whether ``host`` is this machine, where plain HTTP crosses no wire."""
    if not host or host.lower() == 'localhost':
        return host is not None
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PrometheusClientBase(abc.ABC):
    """Contract shared by the Prometheus and Aetos clients.

    :param url: the server's URL, as messages name it
    :param answer_timeout: seconds an answer may take to arrive whole
    :param max_answer_size: largest answer body, in bytes
    :param group: the option group the settings come from, for messages
    """

    INSTANT_QUERY_ENDPOINT = 'query'

    server = 'Prometheus'
    """The server's name in messages."""

    sends_time = True
    """Whether ``time`` reaches the server; callers pin queries if not."""

    STATUS_HINTS = {
        400: 'check the metric definition (extra_args, query_prefix, '
             'query_suffix)',
        422: 'Prometheus could not execute the query: check the metric '
             'definition',
    }
    SERVER_ERROR_HINT = 'check that the server is running'
    OTHER_STATUS_HINT = 'check the URL of the server'
    TIMEOUT_OPTION = 'answer_timeout'
    SIZE_OPTION = 'max_answer_size'

    def __init__(self, url, answer_timeout=ANSWER_TIMEOUT,
                 max_answer_size=MAX_ANSWER_SIZE, group=None):
        self.url = (url or '').rstrip('/')
        self.group = group
        self.answer_timeout = answer_timeout
        self.max_answer_size = max_answer_size

    def hint(self, status):
        """What to do about an HTTP error ``status``."""
        if status in self.STATUS_HINTS:
            return self.STATUS_HINTS[status]
        return (self.SERVER_ERROR_HINT if status >= 500
                else self.OTHER_STATUS_HINT)

    def option(self, name):
        """How messages name the option ``name`` of this client."""
        return '[%s] %s' % (self.group, name) if self.group else name

    def warn_if_unprotected(self, url, insecure):
        """Say once, at the start, what leaves the way to the server open.

        :param url: the server's URL
        :param insecure: whether certificates go unverified
        """
        where = '%s at %s' % (self.server, url)
        if insecure:
            LOG.warning('%s: its TLS certificate is not verified (%s is '
                        'true), so anyone on the way can read the '
                        'credentials and the answers: set the CA bundle '
                        'in %s instead', where, self.option('insecure'),
                        self.option('cafile'))
        parts = parse.urlsplit(url)
        if parts.scheme.lower() == 'http' and not _loopback(parts.hostname):
            LOG.warning('%s is reached over plain HTTP: credentials and '
                        'usage cross the network unencrypted; use https',
                        where)

    @abc.abstractmethod
    def _get(self, endpoint, params):
        """Send a GET to ``endpoint`` of the /api/v1 tree.

        :param endpoint: ``query``
        :param params: the query string, without None values
        :returns: the requests.Response, its body not read yet
            (``stream=True``), whatever its HTTP status; no redirect
            is followed
        :raises PathError: (a subclass) when no answer came
        """

    @abc.abstractmethod
    def get_instant(self, query, time=None, timeout=None):
        """Evaluate ``query`` and return the checked answer.

        :param query: PromQL expression giving an instant vector
        :param time: evaluation time (RFC 3339 or Unix time); the
            server's "now" when None
        :param timeout: evaluation timeout handed to Prometheus
        :returns: the decoded JSON document; ``data.result`` is a list
            of ``{'metric': {...}, 'value': [<time>, <number>]}``
        :raises PrometheusResponseError: (a subclass) saying why not
        """

    @staticmethod
    def _params(query, **optional):
        """The query string: ``query`` and the optional values set."""
        params = {'query': query}
        params.update((name, value) for name, value in optional.items()
                      if value is not None)
        return params

    def _instant(self, params):
        """Send ``params`` to the query endpoint; the checked answer."""
        response = self._get(self.INSTANT_QUERY_ENDPOINT, params)
        return prometheus_answer.check_answer(
            prometheus_answer.read(response, self), self)
