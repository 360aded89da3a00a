# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""A small HTTP client on the standard library, for the local services."""

import collections
import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request

HTTP_TIMEOUT = 30


class Response(collections.namedtuple('Response', 'status headers body')):
    """An HTTP answer, whatever its status."""

    def json(self):
        """The body decoded as JSON."""
        return json.loads(self.body.decode())

    @property
    def text(self):
        """The body as text."""
        return self.body.decode(errors='replace')


# The services listen on loopback: never route through a proxy set in the
# environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, token=None, params=None,
         timeout=HTTP_TIMEOUT, context=None):
    """Send one request and return a ``Response``, errors included.

    :param context: ``ssl.SSLContext`` checking an https server (the
                    system's trusted CAs when None)
    :raises OSError: when the server cannot be reached
    """
    if params:
        url += '?' + urllib.parse.urlencode(params)
    headers = {'Accept': 'application/json'}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers['Content-Type'] = 'application/json'
    if token:
        headers['X-Auth-Token'] = token
    request = urllib.request.Request(url, data=data, headers=headers,
                                     method=method)
    try:
        opener = _OPENER
        if context is not None:
            opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({}),
                urllib.request.HTTPSHandler(context=context))
        with opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers),
                            answer.read())
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            return Response(exc.code, dict(exc.headers), exc.read())
