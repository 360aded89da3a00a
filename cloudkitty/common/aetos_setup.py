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
two behave alike from the configuration file to the first query. What
can be checked without the network is checked here, at start-up; the
login and the catalog wait for the first query (see aetos_client).
"""
import itertools

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from cloudkitty.common import aetos_client
from cloudkitty.common import prometheus_client_base
from cloudkitty.common import prometheus_errors

__all__ = ['SERVICE_TYPE', 'register_opts', 'list_opts', 'client']

SERVICE_TYPE = 'metric-storage'

# Retry settings of keystoneauth adapters; the endpoint itself is chosen
# by "interface" and "region_name".
RETRY_OPTION_NAMES = ('connect_retries', 'connect_retry_delay',
                      'status_code_retries', 'status_code_retry_delay',
                      'retriable_status_codes')


def _aetos_opts():
    return [
        cfg.StrOpt('interface', default='public',
                   choices=['internal', 'public', 'admin'],
                   help="Interface of the 'metric-storage' (Aetos) endpoint "
                        "to use from the Keystone catalog."),
        cfg.StrOpt('region_name',
                   help="Region of the 'metric-storage' (Aetos) endpoint in "
                        "the Keystone catalog; any region when unset."),
        cfg.ListOpt('all_projects_roles', default=['admin', 'service'],
                    help="Roles for which Aetos' telemetry:query:all_projects "
                         'policy leaves a query unchanged. A token with none '
                         'of them is refused, since Aetos would narrow its '
                         'answers to one project.'),
        cfg.IntOpt('auth_retry_interval', default=300, min=1,
                   help='Seconds during which a login that Keystone refused '
                        'or failed is not tried again (queries fail with '
                        'the same error meanwhile), and during which a '
                        'token that Aetos refuses with HTTP 401 is not '
                        'renewed again.'),
    ]


def _group_opts():
    """The options of one group, new objects on each call."""
    retry = [opt for opt in ks_loading.get_adapter_conf_options(
        include_deprecated=False) if opt.dest in RETRY_OPTION_NAMES]
    session = ks_loading.get_session_conf_options()
    cfg.set_defaults(session, timeout=60)
    return (_aetos_opts() + session + retry +
            list(prometheus_client_base.answer_opts))


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


def client(conf, group, pool_size=1):
    """The AetosClient that ``group`` describes, without asking anyone.

    :param conf: an oslo.config ConfigOpts with ``group`` registered
    :param group: the option group name
    :param pool_size: threads that will query at once
    :returns: an AetosClient, safe to share between threads; it logs in
        and finds Aetos in the catalog at its first query
    :raises ConfigurationError: when the settings cannot work, saying why
    """
    settings = conf[group]
    if settings.auth_section:
        # keystoneauth reads auth_type from the section named there, which
        # nothing else may have registered ([collector_aetos] beside
        # another collector, say).
        ks_loading.register_auth_conf_options(conf, settings.auth_section)
    try:
        auth = ks_loading.load_auth_from_conf_options(conf, group)
    except ks_exc.ClientException as exc:
        raise prometheus_errors.ConfigurationError(
            'The [%s] auth options cannot be loaded (%s): check auth_type '
            'and the options it needs' % (group, type(exc).__name__)) from exc
    if auth is None:
        raise prometheus_errors.ConfigurationError(
            '[%s] auth_type is not set: Aetos needs Keystone credentials'
            % group)
    session = ks_loading.load_session_from_conf_options(
        conf, group, auth=auth,
        session=prometheus_client_base.pooled_session(pool_size))
    adapter = ks_adapter.Adapter(
        session, service_type=SERVICE_TYPE, interface=settings.interface,
        region_name=settings.region_name,
        **{name: settings[name] for name in RETRY_OPTION_NAMES})
    return aetos_client.AetosClient(
        adapter, all_projects_roles=settings.all_projects_roles,
        retry_interval=settings.auth_retry_interval,
        answer_timeout=settings.answer_timeout,
        max_answer_size=settings.max_answer_size, group=group)
