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
"""Connection step: the login, the catalog, the roles and ``time``.

The collector's client logs in and finds Aetos at its first query; one
query of a constant, sent with the period end as its time, takes it
through each of these in the processor's order, and the kind of its
failure says which one stopped it.
"""
from keystoneauth1 import exceptions as ks_exc

from cloudkitty.check import report
from cloudkitty.common import aetos_client
from cloudkitty.common import prometheus_errors as errors

STEP = 'connection'
PROBE = 'vector(1)'
"""A query any server answers the same way, reading no series."""


def check(out, collector, at):
    """Reach the collector's server as its first query would.

    :param out: the Report
    :param collector: a PrometheusCollectorBase
    :param at: the evaluation time to send (RFC 3339)
    :returns: True when queries can be sent
    """
    client = collector.client
    if isinstance(client, aetos_client.AetosClient):
        return _through_aetos(out, collector, client, at)
    try:
        client.get_instant(PROBE, time=at)
    except errors.PrometheusResponseError as exc:
        out.add(STEP, 'query', report.PROBLEM, '%s' % exc)
        return False
    out.add(STEP, 'query', report.OK, '%s at %s answers queries'
            % (client.server, client.url))
    return True


def _login(out, client):
    """Keystone's token for the collector's credentials, or None."""
    session = client.session
    auth = session.auth
    try:
        access = auth.get_access(session)
    # keystoneauth lets a token answer without its header or body
    # through as a KeyError or ValueError.
    except (ks_exc.ClientException, LookupError, ValueError) as exc:
        failure = aetos_client.keystone_failure(auth, exc, client.group)
        out.add(STEP, 'Keystone login', report.PROBLEM, '%s' % failure)
        return None
    out.add(STEP, 'Keystone login', report.OK,
            'Keystone at %s gave a token for project %s'
            % (getattr(auth, 'auth_url', None),
               access.project_name or access.project_id))
    return access


def _through_aetos(out, collector, client, at):
    access = _login(out, client)
    if access is None:
        return False
    roles = ', '.join(sorted(access.role_names or [])) or 'none'
    try:
        client.get_instant(PROBE, time=at)
    except errors.RoleTooWeak as exc:
        out.add(STEP, 'roles', report.PROBLEM, '%s' % exc, roles=exc.roles)
        return False
    except errors.KeystoneError as exc:
        out.add(STEP, 'roles', report.OK, 'roles %s: Aetos leaves queries '
                'unchanged' % roles)
        out.add(STEP, 'catalog', report.PROBLEM, '%s' % exc)
        return False
    except errors.TimeNotSupported as exc:
        _found(out, client, roles)
        return _without_time(out, collector, client, exc)
    except errors.PrometheusResponseError as exc:
        _found(out, client, roles)
        out.add(STEP, 'query', report.PROBLEM, '%s' % exc)
        return False
    _found(out, client, roles)
    out.add(STEP, 'time', report.OK, 'Aetos at %s accepts the time '
            'parameter' % client.url)
    return True


def _found(out, client, roles):
    out.add(STEP, 'roles', report.OK, 'roles %s: Aetos leaves queries '
            'unchanged' % roles)
    out.add(STEP, 'catalog', report.OK, "the 'metric-storage' endpoint is "
            'Aetos at %s' % client.url, url=client.url)


def _without_time(out, collector, client, refusal):
    """Aetos refused ``time``: the metrics ``@`` cannot pin are lost."""
    try:
        client.get_instant(PROBE)
    except errors.PrometheusResponseError as exc:
        out.add(STEP, 'query', report.PROBLEM, '%s' % exc)
        return False
    unpinnable = collector.unpinnable
    if unpinnable:
        out.add(STEP, 'time', report.PROBLEM,
                '%s. Metrics %s cannot be collected from it: use Aetos '
                '2.0.0 or newer, or remove what reads the evaluation time '
                'from their definitions' % (refusal, ', '.join(
                    sorted(unpinnable))), metrics=sorted(unpinnable))
    else:
        out.add(STEP, 'time', report.OK,
                '%s; every metric pins itself, so all can be collected'
                % refusal)
    return True
