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
"""The base release's options for the sample, less the groups we list.

On a base that lists a group the overlay's own namespaces list too
(25.0.0 lists ``[collector_aetos]``, with keystoneauth's defaults),
oslo-config-generator would write each option of that group twice, with
two defaults. setup.cfg points the base's ``oslo.config.opts`` namespace
``cloudkitty.common.config`` at ``list_opts`` on such a base.
"""

from cloudkitty.collector import aetos as aetos_collector
from cloudkitty.common import config as ck_config
from cloudkitty.fetcher import aetos as aetos_fetcher


def overlay_groups():
    """The option groups the overlay's namespaces list.

    :returns: a set of group names
    """
    return {group for list_opts in (aetos_collector.list_opts,
                                    aetos_fetcher.list_opts)
            for group, _opts in list_opts()}


def list_opts():
    """The base release's groups and options, less the overlay's groups.

    :returns: a list of ``(group, options)`` pairs
    """
    ours = overlay_groups()
    return [(group, opts) for group, opts in ck_config.list_opts()
            if group not in ours]
