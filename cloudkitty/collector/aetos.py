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
"""Collector reading Prometheus data through Aetos, with Keystone auth.

Queries, results and metric configuration are those of the Prometheus
collector; only the way to the data differs: Aetos is found in the
Keystone catalog and every request carries the collector's token.
"""
import itertools

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from oslo_config import cfg
from oslo_log import log
import requests
from requests import adapters as requests_adapters

from cloudkitty.collector import prometheus_base
from cloudkitty.common import aetos_client

LOG = log.getLogger(__name__)

COLLECTOR_AETOS_OPTS = 'collector_aetos'

SERVICE_TYPE = 'metric-storage'

# Roles for which Aetos' default policy (telemetry:query:all_projects)
# leaves a query unchanged; any other role gets it narrowed to the
# token's own project.
ALL_PROJECTS_ROLES = ('admin', 'service')

# Option names, choices and help texts follow the keystoneauth wording
# CloudKitty's other Keystone-backed options use.
collector_aetos_opts = [
    cfg.StrOpt('interface', default='public',
               choices=['internal', 'public', 'admin'],
               help='Type of endpoint to use in keystoneclient.'),
    cfg.StrOpt('region_name', default=None,
               help='Region in Identity service catalog to use for '
                    'communication with the OpenStack service.'),
]

# Retry settings of keystoneauth adapters; the endpoint itself is chosen
# by the options above.
_RETRY_OPTION_NAMES = ('connect_retries', 'connect_retry_delay',
                       'status_code_retries', 'status_code_retry_delay',
                       'retriable_status_codes')
_retry_opts = [opt for opt in ks_loading.get_adapter_conf_options(
    include_deprecated=False) if opt.dest in _RETRY_OPTION_NAMES]

_session_opts = ks_loading.get_session_conf_options()
cfg.set_defaults(_session_opts, timeout=60)

cfg.CONF.register_opts(collector_aetos_opts, COLLECTOR_AETOS_OPTS)
cfg.CONF.register_opts(_retry_opts, COLLECTOR_AETOS_OPTS)
cfg.CONF.register_opts(_session_opts, COLLECTOR_AETOS_OPTS)
ks_loading.register_auth_conf_options(cfg.CONF, COLLECTOR_AETOS_OPTS)

CONF = cfg.CONF


def list_opts():
    """The [collector_aetos] options, for oslo-config-generator."""
    return [(COLLECTOR_AETOS_OPTS, list(itertools.chain(
        collector_aetos_opts,
        _session_opts,
        _retry_opts,
        ks_loading.get_auth_common_conf_options(),
        ks_loading.get_auth_plugin_conf_options('password'),
    )))]


class AetosSetupError(Exception):
    """The Aetos collector cannot start with the current settings."""


def _http_session():
    """A requests session with a pooled connection for each thread.

    Every metric of a collection pass is queried from its own thread, up
    to [orchestrator] max_threads at once, all through one collector:
    with fewer pooled connections than threads, urllib3 would drop and
    reopen connections and log a warning for each.
    """
    CONF.import_opt('max_threads', 'cloudkitty.orchestrator', 'orchestrator')
    size = max(requests_adapters.DEFAULT_POOLSIZE,
               CONF.orchestrator.max_threads)
    http = requests.Session()
    for scheme in ('https://', 'http://'):
        # keystoneauth's own adapter, for its TCP keep-alive settings.
        http.mount(scheme, ks_session.TCPKeepAliveAdapter(pool_maxsize=size))
    return http


class AetosCollector(prometheus_base.PrometheusCollectorBase):
    """Collector reading Prometheus data through Aetos.

    Queries, results and metric configuration are those of the
    Prometheus collector. At start-up, the collector authenticates with
    the [collector_aetos] credentials, finds Aetos in the Keystone
    catalog and warns when Aetos would narrow its queries to one
    project; one keystoneauth session then serves every thread.

    :raises AetosSetupError: when the settings cannot work, saying why
    """

    collector_name = 'aetos'

    def __init__(self, **kwargs):
        super(AetosCollector, self).__init__(self._connect(), **kwargs)

    @classmethod
    def _connect(cls):
        """The AetosClient the [collector_aetos] settings describe."""
        group = CONF.collector_aetos
        auth = ks_loading.load_auth_from_conf_options(
            CONF, COLLECTOR_AETOS_OPTS)
        if auth is None:
            raise AetosSetupError(
                '[collector_aetos] auth_type is not set: the Aetos collector '
                'needs Keystone credentials')
        session = ks_loading.load_session_from_conf_options(
            CONF, COLLECTOR_AETOS_OPTS, auth=auth, session=_http_session())
        adapter = ks_adapter.Adapter(
            session,
            service_type=SERVICE_TYPE,
            interface=group.interface,
            region_name=group.region_name,
            **{name: getattr(group, name) for name in _RETRY_OPTION_NAMES})
        access = cls._authenticate(auth, session)
        url = cls._find_aetos(adapter)
        if access is not None:
            cls._warn_if_one_project(access.role_names or [])
        return aetos_client.AetosClient(adapter, url)

    @staticmethod
    def _authenticate(auth, session):
        """The first token's access info, None for plugins without one.

        :raises AetosSetupError: when Keystone refuses or gives a token
            that Aetos cannot use
        """
        get_access = getattr(auth, 'get_access', None)
        if get_access is None:
            return None
        try:
            access = get_access(session)
        except ks_exc.ClientException as exc:
            raise AetosSetupError(aetos_client.describe_keystone_failure(
                auth, exc)) from exc
        if not access.project_id:
            # Such a token has no catalog, and Aetos' policies are
            # project-scoped.
            raise AetosSetupError(
                'The [collector_aetos] credentials are not project-scoped '
                '(Keystone at %s gave a token for no project): set '
                'project_id, or project_name with project_domain_name or '
                'project_domain_id' % getattr(auth, 'auth_url', None))
        return access

    @staticmethod
    def _find_aetos(adapter):
        """Aetos' URL from the catalog, or an error saying what to fix."""
        try:
            url = adapter.get_endpoint()
        except ks_exc.EndpointNotFound:
            url = None
        except ks_exc.ClientException as exc:
            raise AetosSetupError(aetos_client.describe_keystone_failure(
                adapter.session.auth, exc)) from exc
        if not url:
            region = adapter.region_name
            raise AetosSetupError(
                "No '%s' endpoint with interface '%s' in %s in the Keystone "
                'catalog: register Aetos there or fix [collector_aetos] '
                'interface and region_name' % (
                    SERVICE_TYPE, adapter.interface,
                    "region '%s'" % region if region else 'any region'))
        LOG.info('Aetos collector: querying Aetos at %s', url)
        return url

    @staticmethod
    def _warn_if_one_project(roles):
        """Warn when Aetos will narrow every query to one project.

        Aetos answers a user without an all-projects role with that
        user's project only, and says nothing: the other projects would
        be rated as if they used nothing.
        """
        if set(ALL_PROJECTS_ROLES) & {role.lower() for role in roles}:
            return
        LOG.warning(
            'Aetos collector: the [collector_aetos] user has neither the '
            'admin nor the service role on its project (its roles: %s). '
            'Aetos will narrow every query to that user\'s own project, so '
            'the usage of all other projects would be rated as zero. Give '
            'the user the service (or admin) role on its project (Aetos '
            'policy telemetry:query:all_projects).',
            ', '.join(sorted(roles)) or 'none')
