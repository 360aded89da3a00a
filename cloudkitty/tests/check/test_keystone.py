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
"""The check with the keystone fetcher, Keystone and Prometheus faked."""
from cloudkitty.check import report
from cloudkitty.tests.check import check_fakes as fakes


class KeystoneFetcherTest(fakes.CheckTestCase):

    def deploy(self, keystone=None):
        network, prometheus = fakes.deploy_prometheus(self)
        keystone = fakes.use_keystone_fetcher(self, network, keystone)
        return network, keystone

    def test_the_projects_with_the_rating_role(self):
        self.deploy(fakes.FakeKeystone(projects=['p1', 'p2', 'p3', 'p4'],
                                       rated=['p1', 'p2', 'p3']))
        out = self.check()
        self.assertEqual(report.EXIT_OK, out.exit_status, out.render('text'))
        self.assertEqual(report.OK, self.line(out, 'configuration',
                                              'fetcher options').status)
        line = self.line(out, 'discovery', 'scopes')
        self.assertEqual((3, ['p1', 'p2', 'p3']),
                         (line.details['count'], line.details['examples']))
        self.assert_usage_totals(out)

    def test_ignore_rating_role(self):
        self.deploy(fakes.FakeKeystone(projects=['p1', 'p2', 'p3', 'p4'],
                                       rated=[]))
        self.conf.set_override('ignore_rating_role', True,
                               fakes.KEYSTONE_FETCHER_GROUP)
        out = self.check()
        self.assertEqual(4, self.line(out, 'discovery', 'scopes')
                         .details['count'])
        idle = self.line(out, 'dry run', 'scopes without data')
        self.assertEqual(['p3', 'p4'], idle.details['examples'])

    def test_rating_role_on_no_project(self):
        self.deploy(fakes.FakeKeystone(rated=[]))
        self.assert_no_scope(self.check(),
                             "the keystone fetcher found no scope: the "
                             "fetcher's user has the rating role on no "
                             'project')

    def test_wrong_password(self):
        network, _keystone = self.deploy()
        out = self.check_wrong_password(network)
        [refused] = [line for line in out.lines
                     if line.status == report.PROBLEM]
        self.assertEqual(('configuration', 'fetcher options'),
                         (refused.step, refused.name))
        self.assertIn('the keystone fetcher could not start (Unauthorized)',
                      refused.message)
        self.assertIn('check [fetcher_keystone]', refused.message)
