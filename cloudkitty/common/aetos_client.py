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
"""Prometheus API client that goes through Aetos with a Keystone token.

Aetos is the Keystone-protected reverse proxy of Prometheus. Requests go
out through python-observabilityclient on a keystoneauth adapter, so the
token is fetched once, shared by every thread and renewed before it
expires. Every failure leaves this module as PrometheusResponseError
with a one-line message that names the cause and the fix.
"""
import collections
import datetime
import re
import threading
from urllib import parse

from keystoneauth1 import exceptions as ks_exc
from observabilityclient import prometheus_client as obs_prometheus
from oslo_utils import timeutils

from cloudkitty.common import prometheus_client_base

PrometheusResponseError = prometheus_client_base.PrometheusResponseError
excerpt = prometheus_client_base.excerpt

NEWER_AETOS_NEEDED = 'Aetos 2.0.0 or newer is required'

# Prometheus stamps samples with millisecond precision.
_TIME_TOLERANCE = 0.001

# How many evaluation times a client remembers as honoured by Aetos. All
# the metrics of a collection pass share one; a few passes run at once.
VERIFIED_TIMES_KEPT = 64

_CHECK_QUERY = ('check the metric definition (extra_args, query_prefix, '
                'query_suffix)')

_STATUS_HINTS = {
    400: 'Prometheus or Aetos rejected the query: ' + _CHECK_QUERY,
    401: 'Aetos did not accept the Keystone token: its keystone_authtoken '
         'section must point to the Keystone that CloudKitty uses',
    # Aetos' query policy lets a reader see its own project when the
    # all-projects rule refuses: a 403 means not even that rule passed.
    403: 'the [collector_aetos] user has no role Aetos accepts on its '
         'project: give it the service (or admin) role there so that it '
         'sees every project',
    404: "the 'metric-storage' endpoint in the Keystone catalog must be "
         "the root URL of Aetos",
    422: 'Prometheus could not execute the query (execution): check the '
         'metric definition',
}
_HTML_TAG = re.compile(r'<[^>]*>')

# OpenSSL's own words inside the text of a TLS failure, such as
# "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ...".
_OPENSSL_REASON = re.compile(r'\[SSL: [A-Z0-9_]+\] (.+?)\s*(?:\(_ssl\.c|$)')

# The URL in the text of keystoneauth's connection failures ("Unable to
# establish connection to URL: ...", "Request to URL timed out", ...).
_FAILED_URL = re.compile(
    r'(?:connection to|connecting to|Request to|exception for) '
    r'(\S+?):?(?: |$)')

_SERVER_HINT = ('check that Aetos is running and can reach Keystone and '
                'Prometheus')


def _describe_body(response):
    """Prometheus' own words from an error answer, shortened.

    Aetos wraps them in a WSME ``faultstring``, itself inside an
    ``error_message`` object; a Prometheus behind a plain proxy sends
    ``errorType`` and ``error``.
    """
    if response is None:
        return ''
    try:
        body = response.json()
    except ValueError:
        return excerpt(response.text)
    if isinstance(body, dict) and isinstance(body.get('error_message'),
                                             dict):
        body = body['error_message']
    if isinstance(body, dict):
        if 'errorType' in body:
            return excerpt('%s: %s' % (body['errorType'], body.get('error')))
        if body.get('faultstring'):
            return excerpt(body['faultstring'])
        # Keystone and other OpenStack services.
        if isinstance(body.get('error'), dict) and body['error'].get(
                'message'):
            return excerpt(body['error']['message'])
        # keystonemiddleware in front of Aetos (webob's JSON error page,
        # whose text carries HTML line breaks).
        if isinstance(body.get('message'), str) and body['message']:
            return excerpt(_HTML_TAG.sub(' ', body['message']))
    return excerpt(response.text)


def _tls_reason(exc):
    """`` (<what OpenSSL said>)`` for a TLS failure, or nothing."""
    found = _OPENSSL_REASON.search(getattr(exc, 'message', None) or '')
    return ' (%s)' % excerpt(found.group(1), 120) if found else ''


def describe_keystone_failure(auth, exc):
    """Message for a failure to get a token from Keystone."""
    where = 'Keystone at %s' % getattr(auth, 'auth_url', None)
    if isinstance(exc, ks_exc.SSLError):
        return ('TLS with %s failed%s: check [collector_aetos] cafile, '
                'certfile, keyfile and insecure' % (where, _tls_reason(exc)))
    if isinstance(exc, ks_exc.Unauthorized):
        return ('%s refused the [collector_aetos] credentials (HTTP 401): '
                'check the user, password, domains and project, and that '
                'the password has not expired' % where)
    if isinstance(exc, ks_exc.HttpError):
        return ('%s answered HTTP %s when asked for a token (%s): check '
                'Keystone and its logs'
                % (where, exc.http_status, _describe_body(exc.response)))
    if isinstance(exc, (ks_exc.ConnectionError, ks_exc.DiscoveryFailure)):
        return ('%s could not be reached for a token (%s): check '
                '[collector_aetos] auth_url and that Keystone is running'
                % (where, type(exc).__name__))
    return ('Authentication with %s failed (%s): check the '
            '[collector_aetos] auth options' % (where, type(exc).__name__))


def _failed_url(exc):
    """The URL a keystoneauth failure happened on, None if unknown."""
    url = getattr(exc, 'url', None)
    if url:
        return url
    # The requests exception keystoneauth translated, when it had one.
    request = getattr(exc.__context__, 'request', None)
    if getattr(request, 'url', None):
        return request.url
    found = _FAILED_URL.search(getattr(exc, 'message', None) or '')
    return found.group(1) if found else None


def _under(url, root):
    """Length of ``root`` if ``url`` is ``root`` or below it, else 0."""
    root = (root or '').rstrip('/')
    if root and (url == root or url.startswith((root + '/', root + '?'))):
        return len(root)
    return 0


class _VettingTransport(object):
    """The HTTP "session" handed to observabilityclient.

    The library overwrites ``verify`` on the session it is given and
    picks http or https from it; giving it this wrapper keeps the TLS
    settings of the keystoneauth session out of its reach. Answers are
    checked here, while the body is still at hand to be quoted.
    """

    def __init__(self, adapter, url):
        self._adapter = adapter
        self._url = url
        self.verify = None

    def get(self, url, **kwargs):
        response = self._adapter.get(url, **kwargs)
        try:
            body = response.json()
        except ValueError as exc:
            raise PrometheusResponseError(
                'Aetos at %s answered HTTP %s with a body that is not JSON '
                '(%s): the metric-storage endpoint must be the root URL of '
                'Aetos' % (self._url, response.status_code,
                           excerpt(response.text))) from exc
        if isinstance(body, dict) and body.get('status') == 'error':
            raise PrometheusResponseError(
                'Aetos at %s passed on a Prometheus error: %s: %s'
                % (self._url, body.get('errorType'),
                   excerpt(body.get('error'))))
        if not isinstance(body, dict) or body.get('status') != 'success':
            raise PrometheusResponseError(
                _not_a_result(self._url, response.text))
        return response


def _not_a_result(url, answer):
    """Message for JSON from Aetos that is not a Prometheus result."""
    return ('Aetos at %s answered JSON that is not a Prometheus result (%s): '
            'the metric-storage endpoint must be the root URL of Aetos'
            % (url, excerpt(answer)))


class AetosClient(prometheus_client_base.PrometheusClientBase):
    """Query Prometheus through Aetos.

    :param adapter: keystoneauth1 Adapter carrying the session (auth,
                    TLS, timeout) and the retry settings; safe to share
                    between threads
    :param url: Aetos root URL, as found in the Keystone catalog
    """

    def __init__(self, adapter, url):
        self.url = url.rstrip('/')
        self._adapter = adapter
        parts = parse.urlsplit(self.url)
        transport = _VettingTransport(adapter, self.url)
        self._api = obs_prometheus.PrometheusAPIClient(
            parts.netloc, transport, parts.path.strip('/'))
        # The library builds https URLs when "verify" is truthy; the real
        # certificate checks are those of the keystoneauth session.
        self._api.set_ca_cert(parts.scheme == 'https')
        # Evaluation times Aetos was seen to honour, oldest first. Checks
        # of empty results run one at a time, so that threads meeting the
        # same unchecked time send one check between them.
        self._verified_times = collections.OrderedDict()
        self._verified_lock = threading.Lock()
        self._probe_lock = threading.Lock()

    def _get(self, endpoint, params):
        """GET an API endpoint through Aetos; return the decoded JSON.

        keystoneauth fetches or renews the token within the request, and
        again after a 401 from Aetos: a failure may come from Keystone as
        well as from Aetos, and is told apart by its URL.
        """
        try:
            # observabilityclient's public query() cannot pass "time";
            # Aetos itself calls the same method.
            return self._api._get(endpoint, params)
        except obs_prometheus.PrometheusAPIClientError as exc:
            raise PrometheusResponseError(
                'Aetos at %s answered HTTP %s where 200 was expected'
                % (self.url, exc.resp.status_code)) from exc
        except ks_exc.ClientException as exc:
            if self._from_keystone(exc):
                message = describe_keystone_failure(
                    self._adapter.session.auth, exc)
            else:
                message = self._describe_aetos_failure(exc)
            raise PrometheusResponseError(message) from exc

    def _from_keystone(self, exc):
        """Whether a failure of a request to Aetos happened in Keystone."""
        url = _failed_url(exc)
        if url:
            keystone = _under(url, getattr(self._adapter.session.auth,
                                           'auth_url', None))
            aetos = _under(url, self.url)
            if keystone or aetos:
                # The longer root wins: either may be under the other.
                return keystone >= aetos
        # Without a telling URL: HTTP errors on Aetos carry its URL, and
        # errors other than HTTP and connection ones (authorization,
        # discovery, token body) only come from the authentication.
        return not isinstance(exc, ks_exc.ConnectionError)

    def _describe_aetos_failure(self, exc):
        """Message for a keystoneauth failure of a request to Aetos."""
        where = 'Aetos at %s' % self.url
        if isinstance(exc, ks_exc.HttpError):
            return self._describe_http_error(exc)
        if isinstance(exc, ks_exc.ConnectTimeout):
            limit = self._adapter.session.timeout
            return ('%s did not answer %s: check the load of Aetos and '
                    'Prometheus or raise [collector_aetos] timeout' % (
                        where, 'within %g s' % limit if limit else 'in time'))
        if isinstance(exc, ks_exc.SSLError):
            return ('TLS with %s failed%s: check [collector_aetos] cafile, '
                    'certfile, keyfile and insecure'
                    % (where, _tls_reason(exc)))
        if isinstance(exc, ks_exc.ConnectFailure):
            return ('%s could not be connected to: check that Aetos is '
                    "running and that the 'metric-storage' endpoint in the "
                    'Keystone catalog is right' % where)
        return 'Request to %s failed (%s)' % (where, type(exc).__name__)

    def _describe_http_error(self, exc):
        """Message for an HTTP error status Aetos answered a query with.

        It quotes Prometheus' or Aetos' own words from the body and adds
        what to do for the statuses whose cause is known.
        """
        status = exc.http_status
        detail = _describe_body(exc.response)
        answer = 'Aetos at %s answered HTTP %s (%s)' % (self.url, status,
                                                        detail)
        if (status == 400 and 'Unknown argument' in detail
                and 'time' in detail):
            return ('%s: %s; older releases cannot evaluate a query at a '
                    'given time' % (answer, NEWER_AETOS_NEEDED))
        if status == 400 and 'bad_data' in detail:
            return '%s: Prometheus rejected the query (bad_data): %s' % (
                answer, _CHECK_QUERY)
        hint = _STATUS_HINTS.get(status)
        if hint is None and status >= 500:
            hint = _SERVER_HINT
        return '%s: %s' % (answer, hint) if hint else answer

    def get_instant(self, query, time=None, timeout=None):
        params = {'query': query}
        if time is not None:
            params['time'] = time
        if timeout is not None:
            params['timeout'] = timeout
        answer = self._get(self.INSTANT_QUERY_ENDPOINT, params)
        data = answer.get('data')
        if not isinstance(data, dict) or 'result' not in data:
            raise PrometheusResponseError(
                'Aetos at %s answered without a query result: %s'
                % (self.url, excerpt(answer)))
        if time is not None:
            self._check_evaluation_time(query, answer, time)
        return answer

    def _check_evaluation_time(self, query, answer, time):
        """Refuse a result evaluated at another time than requested.

        Aetos before 2.0.0, or a proxy dropping the parameter, evaluates
        at "now": its data would be rated for the wrong period. An empty
        vector carries no time at all (and a past period evaluated at
        "now" is often empty), so it is checked with a second query that
        always carries one: the count of the same query as a scalar.
        Wrapping the query itself, rather than asking for ``time()``,
        keeps the check valid where Aetos rewrites the metric selectors
        of users limited to their own project. Every metric of a
        collection pass asks for the same time: once Aetos honoured a
        time, empty results for it are not checked again.
        """
        wanted = _unix_time(time)
        if wanted is None:
            return
        stamps = self._evaluation_times(answer)
        if stamps is None:
            return
        if stamps:
            self._compare_times(stamps, wanted, time)
        else:
            self._check_empty_result(query, wanted, time)

    def _check_empty_result(self, query, wanted, time):
        """Check the time of an empty result, once per time and client."""
        with self._probe_lock:
            with self._verified_lock:
                if self._is_verified(wanted):
                    return
            probe = self._get(self.INSTANT_QUERY_ENDPOINT, {
                'query': 'scalar(count((%s)))' % query, 'time': time})
            stamps = self._evaluation_times(probe)
            if not stamps:
                raise PrometheusResponseError(
                    'Aetos at %s answered a query for its evaluation time '
                    'without one (%s): the empty result cannot be trusted '
                    'to be for the requested %s'
                    % (self.url, excerpt(probe), time))
            self._compare_times(stamps, wanted, time)

    def _compare_times(self, stamps, wanted, time):
        """Refuse stamps other than ``wanted``; remember it if they match."""
        for stamp in stamps:
            if abs(float(stamp) - wanted) > _TIME_TOLERANCE:
                raise PrometheusResponseError(
                    'Aetos at %s evaluated the query at Unix time %s, not at '
                    'the requested %s: %s' % (self.url, stamp, time,
                                              NEWER_AETOS_NEEDED))
        with self._verified_lock:
            self._verified_times[wanted] = True
            self._verified_times.move_to_end(wanted)
            while len(self._verified_times) > VERIFIED_TIMES_KEPT:
                self._verified_times.popitem(last=False)

    def _evaluation_times(self, answer):
        """Evaluation times stamped on an instant result.

        None for results without any (a range vector); a result whose
        samples lack a numeric time is not a Prometheus result.
        """
        data = answer.get('data')
        kind = data.get('resultType') if isinstance(data, dict) else None
        if kind not in ('vector', 'scalar', 'string'):
            return None
        result = data.get('result')
        try:
            if kind == 'vector':
                if not isinstance(result, list):
                    raise TypeError(result)
                stamps = [sample['value'][0] for sample in result]
            else:
                stamp, _value = result
                stamps = [stamp]
            for stamp in stamps:
                float(stamp)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise PrometheusResponseError(
                _not_a_result(self.url, answer)) from exc
        return stamps

    def _is_verified(self, wanted):
        """Whether Aetos honoured ``wanted``; hold _verified_lock."""
        if wanted not in self._verified_times:
            return False
        self._verified_times.move_to_end(wanted)
        return True


def _unix_time(value):
    """Unix time of an RFC 3339 string, a datetime or a number."""
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
        try:
            moment = timeutils.parse_isotime(value)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        # CloudKitty's naive datetimes are UTC.
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()
