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
"""TLS to Aetos and secrets in logs, proven on the real services.

The collector carries a Keystone password and the tokens it gets for it to
every Aetos it talks to, so two promises are checked for real here: the
certificate of an HTTPS Aetos is verified (with ``cafile``, or not at all
only when ``insecure = true`` says so), and neither the password nor any
token ever reaches a log, at any level, on success or on failure.

The HTTPS Aetos is a second Aetos process of the shared stack, serving a
self-signed certificate made here, registered in Keystone's catalog in a
region of its own.
"""

import logging
import os
import re
import ssl
import subprocess
import uuid

from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg

from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.common import prometheus_errors

from functional import base
from functional.services import process

LOG = logging.getLogger(__name__)


_OPENSSL_CONF = """\
[req]
distinguished_name = subject
x509_extensions = self_signed
prompt = no
[subject]
CN = %(name)s
[self_signed]
subjectAltName = IP:%(host)s
basicConstraints = critical, CA:TRUE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def write_self_signed(directory, name):
    """Write a key and a self-signed certificate for 127.0.0.1.

    The openssl command line makes them, so that the tests need no
    cryptography library.

    :returns: (certificate path, key path)
    """
    conf = os.path.join(directory, name + '.cnf')
    with open(conf, 'w') as out:
        out.write(_OPENSSL_CONF % {'name': name, 'host': process.HOST})
    cert_path = os.path.join(directory, name + '.crt')
    key_path = os.path.join(directory, name + '.key')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
         'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
         '-config', conf, '-keyout', key_path, '-out', cert_path],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, timeout=60)
    return cert_path, key_path


class TLSTest(base.FaultTestBase):
    """Aetos over HTTPS with a certificate no system store trusts."""

    @classmethod
    def setUpClass(cls):
        super(TLSTest, cls).setUpClass()
        cls.cafile, keyfile = write_self_signed(cls.workdir, 'aetos-tls')
        # A certificate as good, from a CA the collector is not told of.
        cls.other_cafile, _key = write_self_signed(cls.workdir, 'other')
        cls.aetos_tls = cls.stack.start_extra_aetos(
            'aetos-tls', cls.cafile, keyfile,
            ssl_context=ssl.create_default_context(cafile=cls.cafile))
        cls.addClassCleanup(cls.aetos_tls.stop)
        cls.region = 'Secure-' + uuid.uuid4().hex[:8]
        endpoint = cls.stack.add_endpoint(cls.aetos_tls.url, cls.region)
        cls.addClassCleanup(cls.stack.remove_endpoint, endpoint, cls.region)

    def _tls_collector(self, **options):
        return self._collector(region_name=self.region, **options)

    def _tls_error(self, **options):
        message, cause = self._collect_error(
            self._tls_collector(**options),
            prometheus_errors.UnreachableError, url=self.aetos_tls.url)
        self.assertIsInstance(cause.__cause__, ks_exc.SSLError)
        return message

    def test_cafile_verifies_the_certificate(self):
        through_tls = self._tls_collector(cafile=self.cafile)
        points = self._fetch(through_tls)
        self.assertEqual(self.aetos_tls.url, through_tls.client.url)
        self.assertTrue(self.aetos_tls.url.startswith('https://'))
        self.assertTrue(points)
        self.assertEqual(self._fetch(self._collector()), points)

    def test_no_cafile_fails_naming_tls(self):
        self.assertEqual(
            'TLS with Aetos at %s failed (self-signed certificate): check '
            '[collector_aetos] cafile, certfile, keyfile and insecure'
            % self.aetos_tls.url, self._tls_error())

    def test_cafile_of_another_ca_fails(self):
        message = self._tls_error(cafile=self.other_cafile)
        for fact in ('TLS with Aetos at %s' % self.aetos_tls.url,
                     '[collector_aetos] cafile'):
            self.assertIn(fact, message)

    def test_insecure_skips_verification(self):
        points = self._fetch(self._tls_collector(insecure='true'))
        self.assertTrue(points)
        self.assertEqual(self._fetch(self._collector()), points)


class SecretsInLogsTest(base.FaultTestBase):
    """No password and no token in any log line, even at DEBUG."""

    def _log_failure(self, func, *args, **kwargs):
        """Run ``func``; log its failure with traceback, as CloudKitty does.

        cloudkitty-processor logs a failed collection with
        ``LOG.exception``: the chained exceptions of the HTTP libraries
        reach the log too.
        """
        try:
            return func(*args, **kwargs)
        except collect_exc.CollectError as exc:
            LOG.exception('Error while collecting: %s', exc)
            return None

    @staticmethod
    def _token_of(collector_):
        """The token the collector's session currently holds."""
        return collector_.client.session.get_token()

    def test_no_password_or_token_in_debug_logs(self):
        logs = base.RecordedLogs(logging.DEBUG).install()
        self.addCleanup(logs.uninstall)
        wrong_password = 'wrong-' + uuid.uuid4().hex
        tokens = set()
        for split_loggers in ('false', 'true'):
            ours = self._collector(split_loggers=split_loggers)
            # What an OpenStack service logs at start-up at DEBUG.
            cfg.CONF.log_opt_values(LOG, logging.DEBUG)
            tokens.add(self._token_of(ours))
            self.assertTrue(self._fetch(ours))
            # A renewed token, used.
            ours.client.session.auth.invalidate()
            self.assertTrue(self._fetch(ours))
            tokens.add(self._token_of(ours))
            # An error answer from Aetos.
            bad = self._collector(
                split_loggers=split_loggers,
                metrics=base.metrics_conf(query_suffix='+ on('))
            tokens.add(self._token_of(bad))
            self._log_failure(self._fetch, bad)
        # Keystone refusing a password, at the first query.
        self._log_failure(self._fetch,
                          self._collector(password=wrong_password))
        # A server refusing the token: the client renews it, tries again.
        fake, region = self._fake_endpoint()
        fake.answer = (401, 'application/json',
                       b'{"error": {"code": 401, "message": "Nope"}}')
        refused = self._collector(region_name=region)
        tokens.add(self._token_of(refused))
        self._log_failure(self._fetch, refused)
        tokens.add(self._token_of(refused))
        self.assertEqual(2, len(fake.paths))

        text = logs.text()
        # Everything was captured: keystoneauth's requests to Keystone,
        # PromQL, the options, failures with their tracebacks. (The
        # queries to Aetos are sent with keystoneauth's logging off: at
        # DEBUG it would read the whole answer, past its size bound.)
        evidence = ('REQ: curl -g -i -X GET %s' % self.stack.keystone_url,
                    'Running PromQL query',
                    'Traceback (most recent call last)',
                    'refused the [collector_aetos] credentials',
                    'answered HTTP 400',
                    'answered HTTP 401')
        self.assertEqual([], [piece for piece in evidence
                              if piece not in text])
        self.assertTrue(re.search(r'collector_aetos\.password *= \*{4}$',
                                  text, re.MULTILINE))
        self.assertGreaterEqual(len(tokens), 6)
        secrets = {'password': self.stack.cloudkitty_password,
                   'wrong password': wrong_password}
        for number, token in enumerate(sorted(tokens)):
            secrets['token %d' % number] = token
            # Fernet tokens issued in the same second share their first
            # characters; the end of each is its own.
            secrets['end of token %d' % number] = token[-32:]
        leaks = ['%s in: %s' % (what, line)
                 for what, secret in sorted(secrets.items())
                 for line in text.splitlines() if secret in line]
        self.assertEqual([], leaks)
