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

from cloudkitty.common import prometheus_client_base

# The fetcher and older code import the exception from this module.
PrometheusResponseError = prometheus_client_base.PrometheusResponseError


class PrometheusClient(prometheus_client_base.PrometheusClientBase):
    """Plain ``requests`` client, with optional basic auth and TLS options."""

    def __init__(self, url, auth=None, verify=True, timeout=60):
        """Keep the connection settings used by every request.

        :param url: base of the API, ``/api/v1`` included
        :param auth: ``(user, password)`` for basic auth, or None
        :param verify: True, False or the path of a CA bundle
        :param timeout: seconds to wait for the server
        """
        self.url = url
        self.auth = auth
        self.verify = verify
        self.timeout = timeout

    def _get(self, endpoint, params):
        target = '%s/%s' % (self.url, endpoint)
        try:
            # requests leaves out the parameters whose value is None.
            answer = requests.get(target, params=params, auth=self.auth,
                                  verify=self.verify, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PrometheusResponseError(
                'Prometheus at %s could not be queried (%s): check the '
                'configured Prometheus URL and that the server is up'
                % (self.url, type(exc).__name__)) from exc
        try:
            return answer.json()
        except ValueError as exc:
            raise PrometheusResponseError(
                'Prometheus answered %s with a body that is not JSON: %s'
                % (answer.url, prometheus_client_base.excerpt(answer.text))
            ) from exc

    def get_instant(self, query, time=None, timeout=None):
        return self._get(
            self.INSTANT_QUERY_ENDPOINT,
            params={'query': query, 'time': time, 'timeout': timeout})
