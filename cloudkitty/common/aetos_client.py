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

Nothing is asked of Keystone before the first query, so that a worker
whose Keystone is down or refuses it stays alive and tries again at
its next pass; a refusal is remembered for a while, so that a pass of
many scopes costs one login, not one per scope and thread.
"""
import ssl
import threading
import time

from keystoneauth1 import exceptions as ks_exc
from oslo_log import log
import requests

from cloudkitty.common import prometheus_answer
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors as errors

LOG = log.getLogger(__name__)

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
        TLS, timeout), the catalog filters and the retry settings; safe
        to share between threads
    :param all_projects_roles: role names for which Aetos leaves a query
        unchanged; a token with none of them is refused
    :param retry_interval: seconds during which a refused login or a
        401 is not tried again
    :param kwargs: the answer bounds and group of PrometheusClientBase
    :param clock: monotonic seconds; tests may pass their own
    :raises ConfigurationError: for an auth plugin that gives no token
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
    TIME_HINT = ('it refuses the time parameter: queries must pin their '
                 'evaluation time with @')

    def __init__(self, adapter, all_projects_roles=('admin', 'service'),
                 retry_interval=300, clock=time.monotonic, **kwargs):
        super(AetosClient, self).__init__(None, **kwargs)
        if not hasattr(adapter.session.auth, 'get_access'):
            raise errors.ConfigurationError(
                'The [%s] auth_type gives no Keystone token, which Aetos '
                'needs: use a Keystone identity plugin such as password or '
                'v3applicationcredential' % self.group)
        self._adapter = adapter
        self._roles = frozenset(role.lower() for role in all_projects_roles)
        self._retry_interval = retry_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = None       # the access info last found usable
        self._refusal = None       # (until, error) of the last refusal
        self._reauthenticated = None   # when a 401 last renewed the token
        self._sends_time = True

    @property
    def session(self):
        """The keystoneauth session: its auth plugin holds the token."""
        return self._adapter.session

    @property
    def sends_time(self):
        """False once Aetos refused ``time``; queries must pin then."""
        return self._sends_time

    def get_instant(self, query, time=None, timeout=None):
        sends_time = self._sends_time
        params = (self._params(query, time=time, timeout=timeout)
                  if sends_time else self._params(query))
        try:
            return self._instant(params)
        except errors.HTTPError as exc:
            if not (sends_time and _refuses_time(exc)):
                raise
            self._stop_sending_time()
            raise errors.TimeNotSupported(
                '%s at %s answered HTTP %s (%s): %s'
                % (self.server, self.url, exc.status, exc.detail,
                   self.TIME_HINT), self.url, exc.status,
                exc.detail) from exc

    def _stop_sending_time(self):
        with self._lock:
            if not self._sends_time:
                return
            self._sends_time = False
        LOG.warning(
            'Aetos at %s refuses the time parameter (Aetos before 2.0.0): '
            'queries are sent without time and timeout from now on, and '
            'only queries that pin their evaluation time with @ are sent',
            self.url)

    def _get(self, endpoint, params):
        token = self._token()
        response = self._send(endpoint, params, token)
        if response.status_code == 401 and self._may_reauthenticate():
            # Revoked or expired early: one new token, one more try.
            response.close()
            self._adapter.invalidate()
            response = self._send(endpoint, params, self._token())
        return response

    def _may_reauthenticate(self):
        """Whether a 401 may renew the token now: once per interval."""
        with self._lock:
            now = self._clock()
            if (self._reauthenticated is not None and
                    now - self._reauthenticated < self._retry_interval):
                return False
            self._reauthenticated = now
            return True

    def _token(self):
        """Step one: a checked token, from keystoneauth or Keystone.

        :raises KeystoneError: Keystone refused or failed, now or less
            than the retry interval ago
        :raises RoleTooWeak: Aetos would narrow the token's queries
        """
        with self._lock:
            if self._refusal is not None:
                until, error = self._refusal
                if self._clock() < until:
                    raise error.with_traceback(None)
                self._refusal = None
            try:
                access = self.session.auth.get_access(self.session)
                if access is not self._checked:
                    self._check(access)
            except errors.PathError as exc:
                self._refusal = (self._clock() + self._retry_interval, exc)
                raise
            # keystoneauth lets a token answer without its header or body
            # through as a KeyError or ValueError.
            except (ks_exc.ClientException, LookupError, ValueError) as exc:
                error = keystone_failure(self.session.auth, exc, self.group)
                self._refusal = (self._clock() + self._retry_interval,
                                 error)
                raise error from exc
            return access.auth_token

    def _check(self, access):
        """Accept a new token: scoped, strong enough, with Aetos listed."""
        auth_url = getattr(self.session.auth, 'auth_url', None)
        if not access.auth_token or not access.project_id:
            # Such a token has no catalog, and Aetos' policies are
            # project-scoped.
            raise errors.KeystoneError(
                'Keystone at %s gave %s token for the [%s] credentials, '
                'where Aetos needs a project-scoped one: set project_id, or '
                'project_name with project_domain_name or '
                'project_domain_id, and no system_scope or domain'
                % (auth_url, _scope_of(access), self.group), url=auth_url)
        roles = sorted(access.role_names or [])
        if not self._roles & {role.lower() for role in roles}:
            raise errors.RoleTooWeak(
                'The [%s] user has none of the roles %s on its project '
                '(its roles: %s): Aetos would narrow every query to that '
                "project and all others would look idle. Give it the "
                'service (or admin) role on its project, or list the role '
                "Aetos' telemetry:query:all_projects policy accepts in "
                '[%s] all_projects_roles'
                % (self.group, ', '.join(sorted(self._roles)),
                   ', '.join(roles) or 'none', self.group),
                auth_url, roles)
        url = self._find_aetos()
        if url != self.url:
            LOG.info('[%s]: querying Aetos at %s', self.group, url)
            self.warn_if_unprotected(url, not self.session.verify)
            self.url = url
        self._checked = access

    def _find_aetos(self):
        """Aetos' URL from the catalog of the current token."""
        try:
            url = self._adapter.get_endpoint()
        except ks_exc.EndpointNotFound:
            url = None
        if not url:
            region = self._adapter.region_name
            auth_url = getattr(self.session.auth, 'auth_url', None)
            raise errors.KeystoneError(
                "No '%s' endpoint with interface '%s' in %s in the "
                'Keystone catalog: register Aetos there or fix [%s] '
                'interface and region_name'
                % (self._adapter.service_type, self._adapter.interface,
                   "region '%s'" % region if region else 'any region',
                   self.group), url=auth_url)
        return url.rstrip('/')

    def _send(self, endpoint, params, token):
        """Step two: the GET to Aetos, which never touches Keystone."""
        target = '%s/api/v1/%s' % (self.url, endpoint)
        try:
            # No redirect is followed: the token goes to Aetos only.
            return self._adapter.get(
                target, params=params, authenticated=False, raise_exc=False,
                redirect=False, stream=True, log=False,
                headers={'X-Auth-Token': token, 'Accept': 'application/json',
                         'Accept-Encoding':
                         prometheus_answer.ACCEPT_ENCODING})
        except ks_exc.ConnectTimeout as exc:
            if isinstance(exc.__context__, requests.exceptions.ReadTimeout):
                limit = self.session.timeout
                raise errors.AnswerTooSlow(
                    'Aetos at %s did not start its answer within %g s: make '
                    'the query lighter or raise [%s] timeout'
                    % (self.url, limit, self.group), self.url,
                    limit) from exc
            raise errors.UnreachableError(self._unreachable(exc),
                                          url=self.url) from exc
        except ks_exc.ClientException as exc:
            raise errors.UnreachableError(self._unreachable(exc),
                                          url=self.url) from exc

    def _unreachable(self, exc):
        where = 'Aetos at %s' % self.url
        if isinstance(exc, ks_exc.ConnectTimeout):
            limit = self.session.timeout
            return ('%s could not be connected to %s: check that Aetos is '
                    'running or raise [%s] timeout'
                    % (where, 'within %g s' % limit if limit else 'in time',
                       self.group))
        if isinstance(exc, ks_exc.SSLError):
            return _tls(where, exc, self.group)
        return ("%s could not be connected to (%s): check that Aetos is "
                "running and that the 'metric-storage' endpoint in the "
                "Keystone catalog is right" % (where, type(exc).__name__))


def _scope_of(access):
    """What a token that names no project is scoped to, for messages."""
    if getattr(access, 'system_scoped', False):
        return 'a system-scoped'
    if getattr(access, 'domain_scoped', False):
        return 'a domain-scoped'
    return 'an unscoped'


def _refuses_time(error):
    """Whether an HTTP error is Aetos 1.0.0 refusing ``time``."""
    return error.status == 400 and 'Unknown argument' in error.detail and (
        '"time"' in error.detail or '"timeout"' in error.detail)
