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
"""cloudkitty.conf as devstack writes it, and ``cloudkitty-api`` serving it.

``devstack_config`` gives the sections the cloudkitty devstack plugin and
this repository's plugin (``devstack/plugin.sh``) write for the zuul job
``cloudkitty-tempest-full-v2-fetcher-keystone-collector-aetos``: one
``[authinfos]`` section with the cloudkitty user's credentials, named by
``auth_section`` in ``[fetcher_keystone]`` and ``[collector_aetos]``; the
keystone fetcher; the aetos collector with the job's metric file; storage
version 2 on InfluxDB 1.x.

``CloudKittyAPI`` runs the API of the CloudKitty installed in this
environment (the overlay build) under gunicorn, one worker, from the WSGI
module that distribution ships (``cloudkitty.wsgi.api``), and registers it
in Keystone as the ``rating`` service, where tempest and its plugin look
for it.
"""

import os
import sys

from functional.services import config
from functional.services import influxdb
from functional.services import keystone
from functional.services import process
from functional.services import venv

# The metric definitions the zuul job names (devstack/settings).
METRICS_CONF = os.path.join(venv.REPO, 'etc', 'metrics-devstack.yml')

SERVICE_TYPE = 'rating'
SERVICE_NAME = 'cloudkitty'
WSGI_APP = 'cloudkitty.wsgi.api:application'

# The base wheel ships no api_paste.ini; this one serves the same
# application (cloudkitty.api.app:app_factory) behind Keystone's token
# middleware, leaving the version documents public.
PASTE = {
    'pipeline:cloudkitty+keystone': {
        'pipeline': 'request_id authtoken ck_api'},
    'pipeline:cloudkitty+noauth': {'pipeline': 'request_id ck_api'},
    'app:ck_api': {
        'paste.app_factory': 'cloudkitty.api.app:app_factory'},
    'filter:authtoken': {
        'acl_public_routes': '/, /v1, /v2',
        'paste.filter_factory':
            'cloudkitty.api.middleware:AuthTokenMiddleware.factory'},
    'filter:request_id': {
        'paste.filter_factory': 'oslo_middleware:RequestId.factory'},
}


def credentials(stack_):
    """The cloudkitty user's keystoneauth options, as in [authinfos]."""
    return {
        'auth_type': 'v3password',
        'auth_url': stack_.keystone_url,
        'username': stack_.cloudkitty_user,
        'password': stack_.cloudkitty_password,
        'project_name': stack_.cloudkitty_project,
        'user_domain_name': 'Default',
        'project_domain_name': 'Default',
    }


def devstack_config(stack_, database_url, influx, locks_dir,
                    metrics_conf=METRICS_CONF):
    """cloudkitty.conf of the zuul job, on the local stack.

    :param influx: a started ``influxdb.InfluxDB`` whose database is
        created
    """
    auth = credentials(stack_)
    authtoken = dict(auth, auth_type='password',
                     www_authenticate_uri=stack_.keystone_url,
                     interface='public', region_name=stack_.region)
    return {
        'DEFAULT': {'auth_strategy': 'keystone', 'debug': 'false',
                    # Nothing listens to the API's casts here (no RPC
                    # server is needed by the tests).
                    'transport_url': 'fake://'},
        'database': {'connection': database_url},
        'keystone_authtoken': authtoken,
        'authinfos': dict(auth, region_name=stack_.region),
        'fetcher': {'backend': 'keystone'},
        'fetcher_keystone': {'auth_section': 'authinfos',
                             'keystone_version': '3'},
        'collect': {'collector': 'aetos', 'metrics_conf': metrics_conf,
                    'wait_periods': '0'},
        # devstack/plugin.sh: interface and region are the collector's own
        # options, which auth_section does not cover.
        'collector_aetos': {'auth_section': 'authinfos',
                            'interface': 'public',
                            'region_name': stack_.region},
        'storage': {'backend': 'influxdb', 'version': '2'},
        'storage_influxdb': {'host': process.HOST, 'port': influx.port,
                             'database': influxdb.DATABASE},
        'orchestrator': {'coordination_url': 'file://' + locks_dir,
                         # One worker leaves the second core to the API
                         # and tempest.
                         'max_workers': '1'},
    }


class CloudKittyAPI(process.LocalService):
    """``cloudkitty-api`` under gunicorn, registered in the catalog.

    The WSGI module parses the process' command line as CloudKitty's
    options, so gunicorn gets no argument (its settings come from a file
    named in the environment) and CloudKitty finds its configuration where
    oslo.config looks first, ``~/.cloudkitty/``, with HOME pointing here.

    :param stack_: a started ``functional.stack.Stack``
    :param workdir: directory that receives ``cloudkitty-api/``
    """

    def __init__(self, stack_, workdir):
        self.stack = stack_
        self.home = os.path.join(workdir, 'cloudkitty-api')
        self.conf_dir = os.path.join(self.home, '.cloudkitty')
        self.conf = os.path.join(self.conf_dir, 'cloudkitty.conf')
        self.log_path = os.path.join(self.home, 'cloudkitty-api.log')

    def write_config(self, sections):
        """Write cloudkitty.conf, shared with the processor, and paste's."""
        os.makedirs(self.conf_dir, exist_ok=True)
        config.write_ini(self.conf, sections)
        config.write_ini(os.path.join(self.conf_dir, 'api_paste.ini'), PASTE)
        return self.conf

    def start(self):
        """Start gunicorn and wait until the API answers on /."""
        self.port = process.free_ports(1)[0]
        gunicorn_conf = config.write_gunicorn_conf(
            self.home, 'cloudkitty-api', WSGI_APP, self.port, 1)
        # gunicorn of this environment: the one that has CloudKitty.
        gunicorn = os.path.join(os.path.dirname(sys.executable), 'gunicorn')
        self.child = process.ChildProcess(
            'cloudkitty-api', [gunicorn], self.log_path, self.url + '/',
            env=config.gunicorn_env(gunicorn_conf, HOME=self.home),
            cwd=self.home)
        self.child.start()

    def register(self):
        """Create the ``rating`` service and its three endpoints."""
        service_id = self.stack.keystone.ensure(
            'services', SERVICE_NAME, {'type': SERVICE_TYPE,
                                       'description': 'OpenStack Rating'},
            type=SERVICE_TYPE)
        self.stack.keystone.ensure_endpoints(service_id, self.url,
                                             keystone.INTERFACES)
        return service_id
