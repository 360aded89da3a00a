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
"""Transport to Prometheus through Aetos, with a Keystone token.

A query is two explicit steps: get a token from Keystone (keystoneauth
keeps it and renews it before it expires), then send the GET to Aetos
with that token. A failure of the first step is Keystone's, of the
second Aetos'; nothing else has to tell them apart.
"""
import ssl

from keystoneauth1 import exceptions as ks_exc

from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors as errors

__all__ = ['AetosClient', 'keystone_failure']


def _ssl_reason(exc):
    """What OpenSSL said, from the chain of errors below ``exc``.

    keystoneauth raises its SSLError while handling the one of requests,
    which holds urllib3's, which holds the ``ssl`` module's own.
    """
    seen = set()
    pending = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLError):
            return (getattr(item, 'verify_message', None)
                    or getattr(item, 'reason', None))
        pending.extend([item.__context__, item.__cause__,
                        getattr(item, 'reason', None)] + list(item.args))
    return None


def _tls(where, exc, group):
    reason = _ssl_reason(exc)
    return ('TLS with %s failed%s: check [%s] cafile, certfile, keyfile and '
            'insecure' % (where, ' (%s)' % reason if reason else '', group))


def keystone_failure(auth, exc, group):
    """The KeystoneError for a failure to get a token.

    :param auth: the keystoneauth plugin that asked
    :param exc: the keystoneauth exception
    :param group: the option group holding the credentials
    :returns: a KeystoneError whose message names the cause and the fix
    """
    auth_url = getattr(auth, 'auth_url', None)
    where = 'Keystone at %s' % auth_url
    if isinstance(exc, ks_exc.SSLError):
        message = _tls(where, exc, group)
    elif isinstance(exc, ks_exc.Unauthorized):
        message = ('%s refused the [%s] credentials (HTTP 401): check the '
                   'user, password, domains and project, and that the '
                   'password has not expired' % (where, group))
    elif isinstance(exc, ks_exc.HttpError):
        message = ('%s answered HTTP %s when asked for a token: check '
                   'Keystone and its logs' % (where, exc.http_status))
    elif isinstance(exc, (ks_exc.ConnectionError, ks_exc.DiscoveryFailure)):
        message = ('%s could not be reached for a token (%s): check [%s] '
                   'auth_url and that Keystone is running'
                   % (where, type(exc).__name__, group))
    else:
        message = ('Authentication with %s failed (%s): check the [%s] auth '
                   'options' % (where, type(exc).__name__, group))
    return errors.KeystoneError(message, url=auth_url)


class AetosClient(prometheus_client_base.PrometheusClientBase):
    """Query Prometheus through Aetos.

    :param adapter: keystoneauth1 Adapter carrying the session (auth,
        TLS, timeout) and the retry settings; safe to share between
        threads
    :param url: Aetos' root URL, as found in the Keystone catalog
    :param group: the option group the settings come from, for messages
    """

    server = 'Aetos'
    STATUS_HINTS = dict(prometheus_client_base.PrometheusClientBase.
                        STATUS_HINTS)
    STATUS_HINTS.update({
        401: 'Aetos did not accept a fresh Keystone token: its '
             'keystone_authtoken section must point to the Keystone that '
             'CloudKitty uses',
        # Aetos lets a reader see its own project when the all-projects
        # rule refuses: a 403 means not even that rule passed.
        403: 'the user has no role Aetos accepts on its project: give it '
             'the service (or admin) role there so that it sees every '
             'project',
        404: "the 'metric-storage' endpoint in the Keystone catalog must "
             "be the root URL of Aetos",
    })
    SERVER_ERROR_HINT = ('check that Aetos is running and can reach '
                         'Keystone and Prometheus')
    OTHER_STATUS_HINT = STATUS_HINTS[404]
    ROOT_HINT = STATUS_HINTS[404]

    def __init__(self, adapter, url, group='collector_aetos'):
        super(AetosClient, self).__init__(url)
        self._adapter = adapter
        self.group = group

    @property
    def session(self):
        """The keystoneauth session: its auth plugin holds the token."""
        return self._adapter.session

    def _get(self, endpoint, params):
        target = '%s/api/v1/%s' % (self.url, endpoint)
        response = self._send(target, params, self._token())
        if response.status_code == 401:
            # Revoked or expired early: one new token, one more try.
            self._adapter.invalidate()
            response = self._send(target, params, self._token())
        return response

    def _token(self):
        """Step one: the token, from keystoneauth's cache or Keystone."""
        try:
            token = self._adapter.get_token()
        # keystoneauth lets a token answer without its header or body
        # through as a KeyError or ValueError.
        except (ks_exc.ClientException, LookupError, ValueError) as exc:
            raise keystone_failure(self.session.auth, exc,
                                   self.group) from exc
        if not token:
            auth_url = getattr(self.session.auth, 'auth_url', None)
            raise errors.KeystoneError(
                'Keystone at %s gave no token: check the [%s] auth options'
                % (auth_url, self.group), url=auth_url)
        return token

    def _send(self, target, params, token):
        """Step two: the GET to Aetos, which never touches Keystone."""
        try:
            return self._adapter.get(
                target, params=params, authenticated=False, raise_exc=False,
                headers={'X-Auth-Token': token, 'Accept': 'application/json'})
        except ks_exc.ClientException as exc:
            raise errors.UnreachableError(self._unreachable(exc),
                                          url=self.url) from exc

    def _unreachable(self, exc):
        where = 'Aetos at %s' % self.url
        if isinstance(exc, ks_exc.ConnectTimeout):
            limit = self.session.timeout
            return ('%s did not answer %s: check the load of Aetos and '
                    'Prometheus or raise [%s] timeout'
                    % (where, 'within %g s' % limit if limit else 'in time',
                       self.group))
        if isinstance(exc, ks_exc.SSLError):
            return _tls(where, exc, self.group)
        return ("%s could not be connected to (%s): check that Aetos is "
                "running and that the 'metric-storage' endpoint in the "
                "Keystone catalog is right" % (where, type(exc).__name__))
