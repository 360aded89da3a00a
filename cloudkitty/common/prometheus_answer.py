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
"""Read and check the answer of a Prometheus query API, once for all.

Whether the answer came from Prometheus itself or through Aetos, it is
read here within its bounds of time and size (the body is untrusted: it
may trickle, or inflate from a small gzip body), then judged: HTTP
status, JSON, ``status`` and the shape of every sample. What passes can
be read without further checks.
"""
import collections
import decimal
import http.client
import json
import re
import time
import zlib

from cloudkitty.common import prometheus_errors as errors

__all__ = ['Reply', 'read', 'check_answer', 'describe_body']

# Bytes asked of the socket at a time: small enough to check the clock
# often, large enough to cost nothing.
READ_CHUNK = 64 * 1024

# Encodings asked for; an answer in another one is refused.
ACCEPT_ENCODING = 'gzip, deflate'
_DECODERS = {
    'gzip': lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    'deflate': zlib.decompressobj,
}

Reply = collections.namedtuple('Reply', ['status_code', 'text'])
"""An answer read whole: its HTTP status and its decoded text."""

_HTML_TAG = re.compile(r'<[^>]*>')

# Result types a query can give besides the instant vector asked for.
_OTHER_RESULTS = ('matrix', 'scalar', 'string')

_NOT_A_RESULT = ('%(server)s at %(url)s answered HTTP %(status)s with %(what)s'
                 ' (%(body)s): %(fix)s')


def _raw_reader(response):
    """A callable giving the body's next bytes, b'' at its end.

    ``read1`` returns what has arrived instead of waiting for a whole
    chunk, so that a trickling server cannot hold a read for long.
    """
    source = getattr(response.raw, '_fp', None) or response.raw
    if source is None:
        return lambda size: b''
    return getattr(source, 'read1', None) or source.read


def _too_slow(client):
    return errors.AnswerTooSlow(
        '%s at %s did not send the whole answer within %g s: make the '
        'query lighter or raise %s' % (client.server, client.url,
                                       client.answer_timeout,
                                       client.option(client.TIMEOUT_OPTION)),
        client.url, client.answer_timeout)


def _too_large(client):
    return errors.AnswerTooLarge(
        '%s at %s sent an answer larger than %d bytes: make the query '
        'lighter (fewer series) or raise %s'
        % (client.server, client.url, client.max_answer_size,
           client.option(client.SIZE_OPTION)),
        client.url, client.max_answer_size)


def _body(response, client):
    """The decoded bytes of the body, within the client's bounds."""
    deadline = time.monotonic() + client.answer_timeout
    limit = client.max_answer_size
    encoding = (response.headers.get('Content-Encoding') or
                'identity').strip().lower()
    if encoding != 'identity' and encoding not in _DECODERS:
        raise errors.NotAPrometheusAnswer(
            '%s at %s answered in the %s encoding, which was not asked for: '
            'check what stands between CloudKitty and %s'
            % (client.server, client.url, errors.excerpt(encoding),
               client.server), url=client.url)
    decoder = _DECODERS[encoding]() if encoding in _DECODERS else None
    next_bytes = _raw_reader(response)
    pieces, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise _too_slow(client)
        chunk = next_bytes(READ_CHUNK)
        if decoder is not None:
            # Never inflate more than the room left, plus one byte to
            # see the limit passed.
            chunk = (decoder.decompress(chunk, limit - size + 1) if chunk
                     else decoder.flush())
        size += len(chunk)
        if size > limit:
            raise _too_large(client)
        if not chunk and (decoder is None or not decoder.unconsumed_tail):
            # Read through urllib3 once at the end, so that it sees the
            # body ended and keeps the connection for the next query.
            response.raw.read()
            return b''.join(pieces)
        pieces.append(chunk)


def read(response, client):
    """The whole answer, read within the client's bounds.

    :param response: a requests.Response whose body is not read yet
    :param client: the PrometheusClientBase that sent the query; its
        ``answer_timeout`` and ``max_answer_size`` bound the reading
    :returns: a Reply
    :raises AnswerTooSlow: when the body does not arrive in time
    :raises AnswerTooLarge: when it is larger than allowed
    :raises NotAPrometheusAnswer: for an encoding not asked for, or a
        body that is not UTF-8 or cannot be inflated
    :raises UnreachableError: when the connection breaks
    """
    if response.is_redirect:
        # requests reads the body of a redirect it is told not to follow,
        # to free the connection: what is left to do is to quote it.
        return Reply(response.status_code, response.text)
    try:
        body = _body(response, client)
    except TimeoutError as exc:
        raise _too_slow(client) from exc
    except zlib.error as exc:
        raise errors.NotAPrometheusAnswer(
            '%s at %s sent a compressed answer that does not inflate: '
            'check what stands between CloudKitty and %s'
            % (client.server, client.url, client.server),
            url=client.url) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise errors.UnreachableError(
            'The connection to %s at %s broke while its answer was read '
            '(%s): check the network and the server'
            % (client.server, client.url, type(exc).__name__),
            url=client.url) from exc
    finally:
        response.close()
    try:
        text = body.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise errors.NotAPrometheusAnswer(
            '%s at %s answered HTTP %s with a body that is not UTF-8: %s'
            % (client.server, client.url, response.status_code,
               client.OTHER_STATUS_HINT), url=client.url) from exc
    return Reply(response.status_code, text)


def _json(text):
    """The decoded document, or None when the text is not JSON.

    Deeply nested JSON exhausts the parser's recursion: it is no
    Prometheus answer either.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def describe_body(response):
    """The server's own words from an error answer, shortened.

    Prometheus sends ``errorType`` and ``error``; Aetos wraps Prometheus'
    message in a WSME ``faultstring``, itself sometimes inside an
    ``error_message`` object; keystonemiddleware sends an HTML-flavoured
    ``message``.

    :param response: a Reply (or requests.Response)
    :returns: one line of text, possibly empty
    """
    body = _json(response.text)
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


def _is_sample(item):
    """``{'metric': {...}, 'value': [<time>, "<number>"]}``."""
    return (isinstance(item, dict) and isinstance(item.get('metric'), dict)
            and _is_point(item.get('value')))


def _http_error(response, client):
    status = response.status_code
    detail = describe_body(response)
    message = '%s at %s answered HTTP %s (%s): %s' % (
        client.server, client.url, status, detail, client.hint(status))
    return errors.HTTPError(message, client.url, status, detail)


def _not_an_answer(client, response, what):
    return errors.NotAPrometheusAnswer(_NOT_A_RESULT % {
        'server': client.server, 'url': client.url,
        'status': response.status_code, 'what': what,
        'body': errors.excerpt(response.text),
        'fix': client.OTHER_STATUS_HINT,
    }, url=client.url)


def check_answer(response, client):
    """The decoded result of an instant query, once its shape is checked.

    :param response: a Reply (status and text), whatever its status
    :param client: the PrometheusClientBase that sent the query; its
        ``server``, ``url`` and hints word the messages
    :returns: the decoded JSON document, with ``status`` ``success`` and
        a ``data.result`` that is a list of well-formed samples
    :raises HTTPError: for an HTTP error status
    :raises QueryError: for a Prometheus answer with ``status: error``
    :raises NotAPrometheusAnswer: for a result that is not an instant
        vector, or anything else that is not a result
    """
    if not 200 <= response.status_code < 300:
        raise _http_error(response, client)
    body = _json(response.text)
    if body is None:
        raise _not_an_answer(client, response, 'a body that is not JSON')
    status = body.get('status') if isinstance(body, dict) else None
    if status == 'error':
        error_type = body.get('errorType')
        raise errors.QueryError(
            '%s at %s answered a Prometheus error (%s: %s): check the '
            'metric definition (extra_args, query_prefix, query_suffix)'
            % (client.server, client.url, error_type,
               errors.excerpt(body.get('error'))), client.url, error_type)
    data = body.get('data') if isinstance(body, dict) else None
    kind = data.get('resultType') if isinstance(data, dict) else None
    if status == 'success' and kind in _OTHER_RESULTS:
        raise errors.NotAPrometheusAnswer(
            '%s at %s answered a %s to a query that must give an instant '
            'vector: check the metric definition (query_prefix, '
            'query_suffix)' % (client.server, client.url, kind),
            url=client.url)
    if (status != 'success' or kind != 'vector'
            or not isinstance(data.get('result'), list)
            or not all(_is_sample(item) for item in data['result'])):
        raise _not_an_answer(client, response,
                             'JSON that is not a Prometheus result')
    return body
