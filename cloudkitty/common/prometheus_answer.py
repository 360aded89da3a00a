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
"""Check the answer of a Prometheus query API, once for every client.

Whether the answer came from Prometheus itself or through Aetos, it is
judged here: HTTP status, JSON, ``status`` and the shape of every
sample. What passes can be read without further checks.
"""
import decimal
import re

from cloudkitty.common import prometheus_errors as errors

__all__ = ['check_answer', 'describe_body']

_HTML_TAG = re.compile(r'<[^>]*>')

_NOT_A_RESULT = ('%(server)s at %(url)s answered HTTP %(status)s with %(what)s'
                 ' (%(body)s): %(fix)s')


def describe_body(response):
    """The server's own words from an error answer, shortened.

    Prometheus sends ``errorType`` and ``error``; Aetos wraps Prometheus'
    message in a WSME ``faultstring``, itself sometimes inside an
    ``error_message`` object; keystonemiddleware sends an HTML-flavoured
    ``message``.

    :param response: a requests.Response
    :returns: one line of text, possibly empty
    """
    try:
        body = response.json()
    except ValueError:
        return errors.excerpt(response.text)
    if isinstance(body, dict) and isinstance(body.get('error_message'),
                                             dict):
        body = body['error_message']
    if not isinstance(body, dict):
        return errors.excerpt(response.text)
    if 'errorType' in body:
        return errors.excerpt(
            '%s: %s' % (body['errorType'], body.get('error')))
    if body.get('faultstring'):
        return errors.excerpt(body['faultstring'])
    if isinstance(body.get('error'), dict) and body['error'].get('message'):
        return errors.excerpt(body['error']['message'])
    if isinstance(body.get('message'), str) and body['message']:
        return errors.excerpt(_HTML_TAG.sub(' ', body['message']))
    return errors.excerpt(response.text)


def _is_number(value):
    if isinstance(value, bool):
        return False
    try:
        decimal.Decimal(value)
    except (TypeError, ValueError, ArithmeticError):
        return False
    return True


def _is_point(point):
    """``[<time>, "<number>"]``, as every sample value is given."""
    return (isinstance(point, list) and len(point) == 2
            and _is_number(point[0]) and _is_number(point[1]))


def _is_series(item):
    return isinstance(item, dict) and isinstance(item.get('metric'), dict)


_SHAPES = {
    'vector': lambda result: isinstance(result, list) and all(
        _is_series(s) and _is_point(s.get('value'))
        for s in result),
    'matrix': lambda result: isinstance(result, list) and all(
        _is_series(s) and isinstance(s.get('values'), list)
        and all(_is_point(p) for p in s['values']) for s in result),
    'scalar': _is_point,
    'string': lambda result: (isinstance(result, list) and len(result) == 2
                              and _is_number(result[0])
                              and isinstance(result[1], str)),
}


def _is_result(data):
    if not isinstance(data, dict):
        return False
    shape = _SHAPES.get(data.get('resultType'))
    return shape is not None and shape(data.get('result'))


def _http_error(response, client):
    status = response.status_code
    detail = describe_body(response)
    if status == 400 and 'Unknown argument' in detail and (
            '"time"' in detail or '"timeout"' in detail):
        kind = errors.TimeNotSupported
        hint = client.TIME_HINT
    else:
        kind = errors.HTTPError
        hint = client.hint(status)
    message = '%s at %s answered HTTP %s (%s): %s' % (
        client.server, client.url, status, detail, hint)
    return kind(message, client.url, status, detail)


def _not_an_answer(client, response, what):
    return errors.NotAPrometheusAnswer(_NOT_A_RESULT % {
        'server': client.server, 'url': client.url,
        'status': response.status_code, 'what': what,
        'body': errors.excerpt(response.text), 'fix': client.ROOT_HINT,
    }, url=client.url)


def check_answer(response, client):
    """The decoded result of a query, once its shape is checked.

    :param response: the requests.Response the transport got, whatever
        its status
    :param client: the PrometheusClientBase that sent the query; its
        ``server``, ``url`` and hints word the messages
    :returns: the decoded JSON document, with ``status`` ``success`` and
        a ``data.result`` of the shape its ``resultType`` says
    :raises HTTPError: for an HTTP error status
    :raises TimeNotSupported: when the server refuses ``time``
    :raises QueryError: for a Prometheus answer with ``status: error``
    :raises NotAPrometheusAnswer: for anything else that is not a result
    """
    if not 200 <= response.status_code < 300:
        raise _http_error(response, client)
    try:
        body = response.json()
    except ValueError as exc:
        raise _not_an_answer(client, response,
                             'a body that is not JSON') from exc
    if isinstance(body, dict) and body.get('status') == 'error':
        error_type = body.get('errorType')
        raise errors.QueryError(
            '%s at %s answered a Prometheus error (%s: %s): check the '
            'metric definition (extra_args, query_prefix, query_suffix)'
            % (client.server, client.url, error_type,
               errors.excerpt(body.get('error'))), client.url, error_type)
    if (not isinstance(body, dict) or body.get('status') != 'success'
            or not _is_result(body.get('data'))):
        raise _not_an_answer(client, response,
                             'JSON that is not a Prometheus result')
    return body
