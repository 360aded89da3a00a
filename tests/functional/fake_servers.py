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
"""Local HTTP servers standing where Aetos should be, or in front of it.

Servers that must misbehave in ways the real services never do: answer
whatever a test sets (or nothing at all), or forward to Aetos without the
``time`` parameter. Tests register them in Keystone's catalog, in regions
of their own, so that the real collector finds them as it finds Aetos.
"""

import http.server
import threading
import urllib.error
import urllib.parse
import urllib.request

from functional.services import httpclient
from functional.services import process


class FakeMetricStorage(object):
    """An HTTP server on 127.0.0.1 that stands where Aetos should be.

    It answers every GET with ``answer`` (status, content type, body), or
    with nothing at all while ``silent`` is set, and counts the requests.
    """

    def __init__(self):
        self.answer = (200, 'application/json', b'{}')
        self.silent = False
        self.paths = []
        self._release = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self):
                fake.paths.append(self.path)
                if fake.silent:
                    # Accepted, read, never answered.
                    fake._release.wait(httpclient.HTTP_TIMEOUT)
                    return
                status, content_type, body = fake.answer
                self.send_response(status)
                self.send_header('Content-Type', content_type)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(
            (process.HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = 'http://%s:%s' % self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(process.STOP_TIMEOUT)


# The proxy forwards over loopback: never through a proxy of the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _TimeDroppingHandler(http.server.BaseHTTPRequestHandler):
    """Forward a GET upstream without its ``time`` parameter.

    Everything else, the token header included, passes unchanged: the way
    a reverse proxy with a parameter allow-list would behave.
    """

    def do_GET(self):
        path, _sep, query = self.path.partition('?')
        params = urllib.parse.parse_qsl(query, keep_blank_values=True)
        kept = [(name, value) for name, value in params if name != 'time']
        with self.server.lock:
            self.server.forwarded += 1
            self.server.dropped += len(params) - len(kept)
        url = self.server.upstream + path
        if kept:
            url += '?' + urllib.parse.urlencode(kept)
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() in ('x-auth-token', 'accept')}
        try:
            with _DIRECT.open(
                    urllib.request.Request(url, headers=headers),
                    timeout=httpclient.HTTP_TIMEOUT) as answer:
                status, body = answer.status, answer.read()
                content_type = answer.headers.get('Content-Type')
        except urllib.error.HTTPError as exc:
            with exc:
                status, body = exc.code, exc.read()
                content_type = exc.headers.get('Content-Type')
        self.send_response(status)
        if content_type:
            self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        """Stay quiet: the counters say what went through."""


class TimeDroppingProxy(object):
    """A proxy on 127.0.0.1, in a thread of the test process."""

    def __init__(self, upstream):
        self.server = http.server.ThreadingHTTPServer(
            (process.HOST, 0), _TimeDroppingHandler)
        self.server.daemon_threads = True
        self.server.upstream = upstream.rstrip('/')
        self.server.lock = threading.Lock()
        self.server.forwarded = 0
        self.server.dropped = 0
        self.url = 'http://%s:%s' % self.server.server_address[:2]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={'poll_interval': 0.1},
            name='time-dropping-proxy', daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(process.STOP_TIMEOUT)
        self.server.server_close()

    def counters(self):
        """(requests forwarded, ``time`` parameters dropped) so far."""
        with self.server.lock:
            return self.server.forwarded, self.server.dropped
