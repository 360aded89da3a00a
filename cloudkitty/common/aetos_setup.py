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
"""Options and start-up of anything that reaches Prometheus through Aetos.

The collector and the fetcher each have their own option group with the
same options; both are declared, loaded and checked here, so that the
two behave alike from the configuration file to the first query.
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

from cloudkitty.common import aetos_client
from cloudkitty.common import prometheus_errors

LOG = log.getLogger(__name__)

__all__ = ['SERVICE_TYPE', 'ALL_PROJECTS_ROLES', 'AetosSetupError',
           'register_opts', 'list_opts', 'connect']

SERVICE_TYPE = 'metric-storage'

# Roles for which Aetos' default policy (telemetry:query:all_projects)
# leaves a query unchanged; any other role gets it narrowed to the
# token's own project.
ALL_PROJECTS_ROLES = ('admin', 'service')

# Retry settings of keystoneauth adapters; the endpoint itself is chosen
# by "interface" and "region_name".
RETRY_OPTION_NAMES = ('connect_retries', 'connect_retry_delay',
                      'status_code_retries', 'status_code_retry_delay',
                      'retriable_status_codes')


AetosSetupError = prometheus_errors.ConfigurationError


def _endpoint_opts():
    return [
        cfg.StrOpt('interface', default='public',
                   choices=['internal', 'public', 'admin'],
                   help="Interface of the 'metric-storage' (Aetos) endpoint "
                        "to use from the Keystone catalog."),
        cfg.StrOpt('region_name',
                   help="Region of the 'metric-storage' (Aetos) endpoint in "
                        "the Keystone catalog; any region when unset."),
    ]


def _group_opts():
    """The options of one group, new objects on each call."""
    retry = [opt for opt in ks_loading.get_adapter_conf_options(
        include_deprecated=False) if opt.dest in RETRY_OPTION_NAMES]
    session = ks_loading.get_session_conf_options()
    cfg.set_defaults(session, timeout=60)
    return _endpoint_opts() + session + retry


def register_opts(conf, group):
    """Register the Aetos options, keystoneauth's included, in ``group``.

    :param conf: an oslo.config ConfigOpts
    :param group: the option group name, such as ``collector_aetos``
    """
    conf.register_opts(_group_opts(), group)
    ks_loading.register_auth_conf_options(conf, group)


def list_opts(group):
    """``group`` and its options, as oslo-config-generator lists them.

    :param group: the option group name
    :returns: a list of one ``(group, options)`` pair
    """
    return [(group, list(itertools.chain(
        _group_opts(),
        ks_loading.get_auth_common_conf_options(),
        ks_loading.get_auth_plugin_conf_options('password'),
    )))]


def _http_session(pool_size):
    """A requests session keeping ``pool_size`` connections alive."""
    size = max(requests_adapters.DEFAULT_POOLSIZE, pool_size)
    http = requests.Session()
    for scheme in ('https://', 'http://'):
        # keystoneauth's own adapter, for its TCP keep-alive settings.
        http.mount(scheme, ks_session.TCPKeepAliveAdapter(pool_maxsize=size))
    return http


def connect(conf, group, pool_size=1):
    """The AetosClient that ``group`` describes, checked at start-up.

    It authenticates once, finds Aetos in the Keystone catalog and warns
    when Aetos would narrow its queries to one project.

    :param conf: an oslo.config ConfigOpts with ``group`` registered
    :param group: the option group name
    :param pool_size: threads that will query at once
    :returns: an AetosClient, safe to share between threads
    :raises AetosSetupError: when the settings cannot work, saying why
    """
    settings = conf[group]
    if settings.auth_section:
        # keystoneauth reads auth_type from the section named there, which
        # nothing else may have registered ([collector_aetos] beside
        # another collector, say).
        ks_loading.register_auth_conf_options(conf, settings.auth_section)
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    if auth is None:
        raise AetosSetupError(
            '[%s] auth_type is not set: Aetos needs Keystone credentials'
            % group)
    session = ks_loading.load_session_from_conf_options(
        conf, group, auth=auth, session=_http_session(pool_size))
    adapter = ks_adapter.Adapter(
        session, service_type=SERVICE_TYPE, interface=settings.interface,
        region_name=settings.region_name,
        **{name: settings[name] for name in RETRY_OPTION_NAMES})
    access = _authenticate(auth, session, group)
    url = _find_aetos(adapter, group)
    if access is not None:
        _warn_if_one_project(access.role_names or [], group)
    return aetos_client.AetosClient(adapter, url, group=group)


def _authenticate(auth, session, group):
    """The first token's access info, None for plugins without one."""
    get_access = getattr(auth, 'get_access', None)
    if get_access is None:
        return None
    try:
        access = get_access(session)
    except ks_exc.ClientException as exc:
        raise AetosSetupError(*aetos_client.keystone_failure(
            auth, exc, group).args) from exc
    if not access.project_id:
        # Such a token has no catalog, and Aetos' policies are
        # project-scoped.
        raise AetosSetupError(
            'The [%s] credentials are not project-scoped (Keystone at %s '
            'gave a token for no project): set project_id, or project_name '
            'with project_domain_name or project_domain_id'
            % (group, getattr(auth, 'auth_url', None)))
    return access


def _find_aetos(adapter, group):
    """Aetos' URL from the catalog, or an error saying what to fix."""
    try:
        url = adapter.get_endpoint()
    except ks_exc.EndpointNotFound:
        url = None
    except ks_exc.ClientException as exc:
        raise AetosSetupError(*aetos_client.keystone_failure(
            adapter.session.auth, exc, group).args) from exc
    if not url:
        region = adapter.region_name
        raise AetosSetupError(
            "No '%s' endpoint with interface '%s' in %s in the Keystone "
            'catalog: register Aetos there or fix [%s] interface and '
            'region_name' % (SERVICE_TYPE, adapter.interface,
                             "region '%s'" % region if region
                             else 'any region', group))
    LOG.info('[%s]: querying Aetos at %s', group, url)
    return url


def _warn_if_one_project(roles, group):
    """Warn when Aetos will narrow every query to one project.

    Aetos answers a user without an all-projects role with that user's
    project only, and says nothing: the other projects would look idle.
    """
    if set(ALL_PROJECTS_ROLES) & {role.lower() for role in roles}:
        return
    LOG.warning(
        'The [%s] user has neither the admin nor the service role on its '
        'project (its roles: %s). Aetos will narrow every query to that '
        "user's own project, so all other projects would look idle. Give "
        'the user the service (or admin) role on its project (Aetos '
        'policy telemetry:query:all_projects).',
        group, ', '.join(sorted(roles)) or 'none')
