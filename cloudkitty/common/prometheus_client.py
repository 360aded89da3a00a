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
"""Client for a Prometheus server reached directly over HTTP."""
import requests
from requests import adapters as requests_adapters

from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors

# The fetcher and older code import the exception from this module.
PrometheusResponseError = prometheus_errors.PrometheusResponseError


class PrometheusClient(prometheus_client_base.PrometheusClientBase):
    """Plain ``requests`` client, with optional basic auth and TLS options.

    :param url: base of the API, ``/api/v1`` included
    :param auth: ``(user, password)`` for basic auth, or None
    :param verify: True, False or the path of a CA bundle
    :param timeout: seconds to wait for the server
    :param pool_size: threads that query at once; each keeps its own
        connection alive between queries
    """

    SERVER_ERROR_HINT = ('check that Prometheus is running and that the '
                         'configured Prometheus URL is right')
    OTHER_STATUS_HINT = ('check the configured Prometheus URL: it ends '
                         'with /api/v1')
    ROOT_HINT = OTHER_STATUS_HINT

    def __init__(self, url, auth=None, verify=True, timeout=60,
                 pool_size=requests_adapters.DEFAULT_POOLSIZE):
        super(PrometheusClient, self).__init__(url)
        self.auth = auth
        self.verify = verify
        self.timeout = timeout
        # One keep-alive connection per querying thread, instead of a
        # new TCP connection for every query.
        self._http = requests.Session()
        pooled = requests_adapters.HTTPAdapter(pool_maxsize=max(
            pool_size, requests_adapters.DEFAULT_POOLSIZE))
        for scheme in ('http://', 'https://'):
            self._http.mount(scheme, pooled)

    def _get(self, endpoint, params):
        target = '%s/%s' % (self.url, endpoint)
        try:
            return self._http.get(target, params=params, auth=self.auth,
                                  verify=self.verify, timeout=self.timeout)
        except requests.Timeout as exc:
            reason = ('no answer within %g s' % self.timeout
                      if self.timeout else 'no answer in time')
            fix = 'check the load of Prometheus or raise the timeout option'
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
