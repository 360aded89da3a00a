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
"""A real HTTP server on 127.0.0.1, for what requests-mock cannot show.

requests-mock neither opens connections nor lets answers overlap: tests
of keep-alive and of concurrent queries need a server of their own.
"""
from http import server as http_server
import json
import threading

import fixtures


class Handler(http_server.BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers JSON."""

    def send_json(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(test, handler):
    """Serve ``handler`` on a free port until ``test`` ends.

    :param test: the test case; its clean-ups stop the server
    :param handler: a Handler subclass
    :returns: ``(server, URL of its /api/v1)``
    """
    test.useFixture(fixtures.EnvironmentVariable('NO_PROXY', '*'))
    server = http_server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    server.daemon_threads = True
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    test.addCleanup(server.server_close)
    test.addCleanup(serving.join, 10)
    test.addCleanup(server.shutdown)
    return server, 'http://127.0.0.1:%d/api/v1' % server.server_port
