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
"""The documented move of scope states, end to end (admin/migration.rst).

A real ``cloudkitty-processor`` rates the first planted hours with the
``prometheus`` collector and stops. ``cloudkitty-api`` (Keystone tokens,
CloudKitty's default policy) serves the scope state API, found in the
catalog; ``tools/move_scope_states.py`` moves every state, more than one
page of them, to the ``aetos`` collector; a processor configured for
``aetos`` rates the remaining hours. Every planted point is then rated
once, none twice, and every state kept its progress. The rollback moves
them back; the ``aetos`` fetcher variant moves fetcher and collector in
one request; a user without CloudKitty's admin role changes nothing; a
scope with states under both names is named, left alone, and PATCH
answers it 404.
"""

import configparser
import datetime
import decimal
import os
import subprocess
import sys

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from testtools import content

from functional import base
from functional import dataset as planted
from functional import oracle
from functional.services import cloudkitty_api
from functional.services import cloudkitty_env
from functional.services import config
from functional.services import influxdb
from functional.services import process
from functional.services import venv

MOVE_SCRIPT = os.path.join(venv.REPO, 'tools', 'move_scope_states.py')
PERIOD = cloudkitty_env.PERIOD
PROCESSOR_TIMEOUT = 180
# Scope states no fetcher finds, so that the move spans several pages of
# GET /v2/scope (100 states each) with the rated projects.
EXTRA_SCOPES = 230
LOG_LINES = 200


def read_ini(path):
    """{section: {option: value}} of an ini file, DEFAULT as a section."""
    parser = configparser.RawConfigParser(default_section='no-defaults')
    parser.optionxform = str
    parser.read(path)
    return {section: dict(parser.items(section))
            for section in parser.sections()}


class MigrationTest(base.TestCase):

    @classmethod
    def setUpClass(cls):
        super(MigrationTest, cls).setUpClass()
        cls.stack = base.shared_stack()
        cls.mariadb = base.class_mariadb(cls)
        # cloudkitty-api serves /v2, the scope state API included, only
        # with storage version 2.
        cls.influx = influxdb.InfluxDB(base.class_workdir(cls, 'influx-'))
        cls.addClassCleanup(cls.influx.stop)
        cls.influx.start()
        data = cls.stack.dataset
        cls.scopes = sorted(cls.stack.projects.values())
        cls.extra = ['extra-%03d' % index for index in range(EXTRA_SCOPES)]
        cls.first = datetime.datetime.fromtimestamp(data.start, config.UTC)
        # The prometheus collector rates the first half of the hours.
        cls.middle = datetime.datetime.fromtimestamp(
            data.hour(planted.HOURS // 2 - 1), config.UTC)
        cls.last = datetime.datetime.fromtimestamp(
            data.hour(planted.HOURS - 1), config.UTC)
        cls.expected = oracle.expected_points(data, cls.scopes)

    def setUp(self):
        super(MigrationTest, self).setUp()
        database = 'ck_migration_%s' % self.id().rsplit('_', 1)[-1]
        self.influx.create_database(database)
        self.env = self.useFixture(cloudkitty_env.CloudKittyEnv.from_stack(
            self.stack, self.mariadb, 'prometheus', name=database,
            wait_periods=cloudkitty_env.wait_periods_for(
                self.middle.timestamp() + PERIOD),
            overrides={
                'storage': {'version': '2', 'backend': 'influxdb'},
                'storage_influxdb': {'host': process.HOST,
                                     'port': self.influx.port,
                                     'database': database}}))
        self.api = None
        self.addCleanup(self._attach_logs)
        # States the fetcher never returns: only the move touches them.
        self.extra_start = self.first - datetime.timedelta(seconds=PERIOD)
        self.env.admin('setup', spec={
            'rules_start': config.isoformat(self.first),
            'scopes': {scope: config.isoformat(self.extra_start)
                       for scope in self.extra}})
        self.api = self._start_api()

    def _attach_logs(self):
        logs = [('cloudkitty-processor.log', self.env.log_file)]
        if self.api is not None:
            logs.append(('cloudkitty-api.log', self.api.log_path))
        for name, path in logs:
            self.addDetail(name, content.text_content(
                process.tail(path, LOG_LINES)))

    def _start_api(self):
        """cloudkitty-api on the run's database, behind Keystone tokens."""
        api = cloudkitty_api.CloudKittyAPI(self.stack, self.env.dir)
        sections = read_ini(self.env.conf)
        sections['DEFAULT'].update(auth_strategy='keystone',
                                   log_file=api.log_path)
        sections['keystone_authtoken'] = dict(
            cloudkitty_api.credentials(self.stack), auth_type='password',
            www_authenticate_uri=self.stack.keystone_url,
            interface='public', region_name=self.stack.region)
        api.write_config(sections)
        self.addCleanup(api.stop)
        api.start()
        api.register()
        return api

    def move(self, username, *args):
        """Run the documented script as ``username``; (status, output)."""
        password, project = self.stack.credentials(username)
        env = dict(os.environ, OS_AUTH_TYPE='password',
                   OS_AUTH_URL=self.stack.keystone_url,
                   OS_USERNAME=username, OS_PASSWORD=password,
                   OS_PROJECT_NAME=project,
                   OS_USER_DOMAIN_NAME='Default',
                   OS_PROJECT_DOMAIN_NAME='Default',
                   OS_REGION_NAME=self.stack.region, OS_INTERFACE='public')
        result = subprocess.run(
            [sys.executable, MOVE_SCRIPT] + list(args), env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=300)
        self.addDetail('move %s' % ' '.join(args),
                       content.text_content(result.stdout))
        return result.returncode, result.stdout

    def admin_session(self):
        """A keystoneauth session carrying an admin token."""
        token = self.stack.token(self.stack.admin_user)
        return ks_session.Session(auth=token_endpoint.Token(
            self.api.url, token))

    def rows(self):
        """{(scope, fetcher, collector): last processed} from the DB."""
        found = self.mariadb.query(self.env.name, (
            'SELECT identifier, fetcher, collector, '
            'last_processed_timestamp FROM cloudkitty_storage_states', None))
        return {(scope, fetcher, collector): stamp.replace(tzinfo=config.UTC)
                for scope, fetcher, collector, stamp in found}

    def assertRows(self, fetcher, collector, progress):
        """Every state under these names, each with its progress."""
        expected = {(scope, fetcher, collector): stamp
                    for scope, stamp in progress.items()}
        self.assertEqual(expected, self.rows())

    def switch(self, collector, until):
        """Configure the processor for ``collector``, rating to ``until``."""
        self.env.collector = collector
        self.env.wait_periods = cloudkitty_env.wait_periods_for(
            until.timestamp() + PERIOD)
        self.env.write_config()

    def test_move_to_aetos_rates_each_period_once_and_rolls_back(self):
        self.env.run_processor(self.middle, PROCESSOR_TIMEOUT)
        rated_first = self.env.states()
        for scope in self.scopes:
            self.assertGreaterEqual(rated_first[scope], self.middle)
            self.assertLess(rated_first[scope], self.last)
        progress = dict(rated_first)
        self.assertEqual(len(self.scopes) + EXTRA_SCOPES, len(progress))
        self.assertGreater(len(progress), 200)

        # A reader has not CloudKitty's admin role: nothing changes.
        status, output = self.move(self.stack.reader_user,
                                   '--from-collector', 'prometheus',
                                   '--to-collector', 'aetos')
        self.assertEqual(2, status, output)
        self.assertIn('HTTP 403', output)
        self.assertRows('keystone', 'prometheus', progress)

        status, output = self.move(self.stack.admin_user,
                                   '--from-collector', 'prometheus',
                                   '--to-collector', 'aetos', '--dry-run')
        self.assertEqual(0, status, output)
        self.assertIn('would move %d scope states' % len(progress), output)
        self.assertRows('keystone', 'prometheus', progress)

        status, output = self.move(self.stack.admin_user,
                                   '--from-collector', 'prometheus',
                                   '--to-collector', 'aetos')
        self.assertEqual(0, status, output)
        self.assertIn('moved %d scope states from collector prometheus to '
                      'collector aetos; 0 not moved' % len(progress), output)
        self.assertRows('keystone', 'aetos', progress)

        # The aetos collector rates the rest, from where prometheus
        # stopped: each planted point once.
        self.switch('aetos', self.last)
        self.env.run_processor(self.last, PROCESSOR_TIMEOUT)
        report = self.env.report()
        rated, duplicates = oracle.rated_points(report)
        self.assertEqual([], duplicates)
        self.assertEqual(sorted(self.expected, key=str),
                         sorted(rated, key=str))
        # The oracle's quantities are those the v1 SQL storage keeps
        # (oracle.STORED_QTY); InfluxDB keeps the float itself. Prices are
        # compared the way the harness compares floats kept by a storage.
        for key, (qty, price) in self.expected.items():
            got_qty, got_price = rated[key]
            self.assertEqual(qty, got_qty.quantize(
                oracle.STORED_QTY, decimal.ROUND_HALF_UP), key)
            self.assertTrue(oracle.price_matches(price, got_price),
                            '%s: price %s, rated %s' % (key, price, got_price))
        progress = dict(self.env.states())
        for scope in self.scopes:
            self.assertGreaterEqual(progress[scope], self.last)
        for scope in self.extra:
            self.assertEqual(self.extra_start, progress[scope])

        # Rollback: back under prometheus, with the progress made.
        status, output = self.move(self.stack.admin_user,
                                   '--from-collector', 'aetos',
                                   '--to-collector', 'prometheus')
        self.assertEqual(0, status, output)
        self.assertRows('keystone', 'prometheus', progress)

        # From the keystone fetcher to the aetos fetcher and collector in
        # one request per scope, as for a prometheus fetcher.
        status, output = self.move(self.stack.admin_user,
                                   '--from-fetcher', 'keystone',
                                   '--to-fetcher', 'aetos',
                                   '--from-collector', 'prometheus',
                                   '--to-collector', 'aetos')
        self.assertEqual(0, status, output)
        self.assertRows('aetos', 'aetos', progress)

    def test_scope_under_both_names_is_left_alone(self):
        both = self.extra[0]
        # A processor started under the new name before the move would
        # have created this row.
        self.switch('aetos', self.middle)
        self.env.admin('setup', spec={
            'rules_start': config.isoformat(self.first),
            'scopes': {both: config.isoformat(self.first)}})
        before = self.rows()
        self.assertIn((both, 'keystone', 'aetos'), before)

        session = self.admin_session()
        resp = session.patch(self.api.url + '/v2/scope', json={
            'scope_id': both, 'collector': 'aetos'}, raise_exc=False)
        self.assertEqual(404, resp.status_code, resp.text)
        self.assertIn('Too many resources', resp.text)

        # The catalog keeps the first API registered in this process: name
        # this one.
        status, output = self.move(self.stack.admin_user,
                                   '--endpoint', self.api.url,
                                   '--from-collector', 'prometheus',
                                   '--to-collector', 'aetos')
        self.assertEqual(1, status, output)
        self.assertIn('not moved: %s: it already has a state under '
                      'collector aetos' % both, output)
        after = self.rows()
        self.assertEqual(before[(both, 'keystone', 'prometheus')],
                         after[(both, 'keystone', 'prometheus')])
        self.assertEqual(before[(both, 'keystone', 'aetos')],
                         after[(both, 'keystone', 'aetos')])
        moved = {key[0] for key in after if key[2] == 'aetos'}
        self.assertEqual(set(self.extra) | set(self.scopes), moved)
