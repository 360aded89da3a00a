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
"""Transport to a Prometheus server reached directly over HTTP."""
import requests
from requests import adapters as requests_adapters

from cloudkitty.common import prometheus_answer
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors

# The base release's cloudkitty/fetcher/prometheus.py and its tests
# import the exception from this module.
PrometheusResponseError = prometheus_errors.PrometheusResponseError


class PrometheusClient(prometheus_client_base.PrometheusClientBase):
    """Plain ``requests`` client, with optional basic auth and TLS options.

    :param url: base of the API, ``/api/v1`` included
    :param auth: ``(user, password)`` for basic auth, or None
    :param verify: True, False or the path of a CA bundle
    :param timeout: seconds to wait for the server, each time
    :param pool_size: threads that query at once; each keeps its own
        connection alive between queries
    :param kwargs: the answer bounds and group of PrometheusClientBase
    """

    SERVER_ERROR_HINT = ('check that Prometheus is running and that the '
                         'configured Prometheus URL is right')
    OTHER_STATUS_HINT = ('check the configured Prometheus URL: it ends '
                         'with /api/v1')

    def __init__(self, url, auth=None, verify=True, timeout=60,
                 pool_size=requests_adapters.DEFAULT_POOLSIZE, **kwargs):
        super(PrometheusClient, self).__init__(url, **kwargs)
        self.auth = auth
        self.verify = verify
        self.timeout = timeout
        self._http = prometheus_client_base.pooled_session(pool_size)

    @classmethod
    def from_options(cls, conf, group, pool_size=1):
        """The client the options of ``group`` describe.

        :param conf: an oslo.config ConfigOpts with ``group`` registered
            (``prometheus_url``, ``prometheus_user``,
            ``prometheus_password``, ``cafile``, ``insecure``,
            ``timeout`` and the answer bounds)
        :param group: the option group name
        :param pool_size: threads that will query at once
        :returns: a PrometheusClient; nothing is sent yet
        """
        settings = conf[group]
        # A CA bundle wins over "insecure"; neither means system CAs.
        verify = settings.cafile or not settings.insecure
        credentials = None
        if settings.prometheus_user and settings.prometheus_password:
            credentials = (settings.prometheus_user,
                           settings.prometheus_password)
        client = cls(settings.prometheus_url, auth=credentials,
                     verify=verify, timeout=settings.timeout,
                     pool_size=pool_size,
                     answer_timeout=settings.answer_timeout,
                     max_answer_size=settings.max_answer_size, group=group)
        client.warn_if_unprotected(client.url, verify is False)
        return client

    def get_instant(self, query, time=None, timeout=None):
        return self._instant(self._params(query, time=time, timeout=timeout))

    def _get(self, endpoint, params):
        target = '%s/%s' % (self.url, endpoint)
        try:
            return self._http.get(
                target, params=params, auth=self.auth, verify=self.verify,
                timeout=self.timeout, stream=True, allow_redirects=False,
                headers={'Accept-Encoding':
                         prometheus_answer.ACCEPT_ENCODING})
        except requests.ReadTimeout as exc:
            # Connected, and the query keeps the server busy.
            raise prometheus_errors.AnswerTooSlow(
                'Prometheus at %s did not start its answer within %g s: '
                'make the query lighter or raise %s'
                % (self.url, self.timeout, self.option('timeout')),
                self.url, self.timeout) from exc
        except requests.Timeout as exc:
            reason = 'no connection within %g s' % self.timeout
            fix = ('check the load of Prometheus or raise %s'
                   % self.option('timeout'))
            cause = exc
        except requests.exceptions.SSLError as exc:
            reason = 'TLS failed'
            fix = 'check the cafile and insecure options'
            cause = exc
        except requests.RequestException as exc:
            reason = type(exc).__name__
            fix = ('check the configured Prometheus URL and that the server '
                   'is up')
            cause = exc
        raise prometheus_errors.UnreachableError(
            'Prometheus at %s could not be queried (%s): %s'
            % (self.url, reason, fix), url=self.url) from cause
