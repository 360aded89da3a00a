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
"""A CloudKitty runtime whose processor discovers its scopes through Aetos.

Shared by the ``test_fetcher`` modules and the demo (``--fetcher aetos``). The
``aetos`` fetcher finds every project that has a series of ``METRIC``, the
unrated one included, so every planted project gets a scope state at the
first planted hour; Prometheus' URL is written nowhere unless the
collector is ``prometheus``.
"""

import datetime

from functional import dataset as planted
from functional.services import cloudkitty_env
from functional.services import config

METRIC = 'ck_instance_up'
"""The metric whose ``project_id`` values are the scopes."""
EDGE_MARGIN = 60
"""Seconds either side of the edge of a discovery window."""


def last_sample(data):
    """Unix time of the newest planted sample."""
    return max(data.points(series)[-1][0] for series in planted.SERIES)


def planted_projects(data):
    """IDs of the projects having at least one planted series."""
    return sorted({data.project_ids[series.project]
                   for series in planted.SERIES})


def fetcher_sections(stack, **fetcher_options):
    """cloudkitty.conf sections selecting the aetos fetcher on ``stack``.

    The credentials are read from ``[collector_aetos]``
    (``auth_section``); the endpoint options are repeated, since
    keystoneauth takes only authentication options from there.
    """
    options = stack.collector_options()
    fetcher = {'auth_section': 'collector_aetos', 'metric': METRIC,
               'interface': options['interface'],
               'region_name': options['region_name']}
    fetcher.update(fetcher_options)
    return {'fetcher': {'backend': 'aetos'}, 'fetcher_aetos': fetcher}


def aetos_fetcher_env(stack, mariadb, collector='aetos', **kwargs):
    """A CloudKittyEnv rating the stack's planted hours, scopes from Aetos.

    :param kwargs: more CloudKittyEnv arguments; ``wait_periods`` makes
        the last planted hour the last one rated unless given
    """
    data = stack.dataset
    kwargs.setdefault('wait_periods',
                      cloudkitty_env.wait_periods_for(data.end))
    overrides = fetcher_sections(stack)
    overrides.update(kwargs.pop('overrides', {}))
    return cloudkitty_env.CloudKittyEnv(
        mariadb, collector, stack.collector_options(),
        datetime.datetime.fromtimestamp(data.start, config.UTC),
        planted_projects(data),
        prometheus_url=(stack.prometheus_url if collector == 'prometheus'
                        else None),
        overrides=overrides, **kwargs)
