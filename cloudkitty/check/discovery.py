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
"""Discovery step: the scopes the fetcher finds, and what it drops."""
import time

from oslo_config import cfg

from cloudkitty.check import logs
from cloudkitty.check import report
from cloudkitty.fetcher import scope_ids

CONF = cfg.CONF

STEP = 'discovery'
EXAMPLES = 5
"""Scope IDs a line names; the others are counted."""

# Where to look when a fetcher finds nothing, by fetcher.
NOTHING_FOUND_HINTS = {
    'aetos': 'no series of [fetcher_aetos] metric with its scope_attribute '
             'label in the lookback window matches [fetcher_aetos] filters: '
             'check these options and that Aetos reaches the right '
             'Prometheus',
    'prometheus': 'no series of [fetcher_prometheus] metric with its '
                  'scope_attribute label matches [fetcher_prometheus] '
                  'filters at the current time: check these options',
    'keystone': 'the fetcher\'s user has the rating role on no project: '
                'give it that role on each project to rate, or set '
                '[fetcher_keystone] ignore_rating_role',
}


def examples(ids, count=EXAMPLES):
    """The first ``count`` of ``ids``, printable, on one line."""
    shown = ', '.join(scope_ids.shown(scope) for scope in ids[:count])
    return shown + (', ...' if len(ids) > count else '')


def check(out, fetcher):
    """The scopes ``fetcher`` finds, as one pass of the processor would.

    :param out: the Report
    :param fetcher: a BaseFetcher
    :returns: the list of scope IDs; empty after a PROBLEM line
    """
    began = time.monotonic()
    with logs.heard() as heard:
        try:
            scopes = list(fetcher.get_tenants())
        except Exception as exc:
            # The keystone and prometheus fetchers raise; the processor
            # logs it and its worker starts again.
            out.add(STEP, 'scopes', report.PROBLEM,
                    'scope discovery failed (%s): %s'
                    % (type(exc).__name__, exc))
            return []
    seconds = time.monotonic() - began
    failed = logs.add_to(out, STEP, heard)
    if failed:
        return []
    if not scopes:
        out.add(STEP, 'scopes', report.PROBLEM, 'the %s fetcher found no '
                'scope: %s' % (CONF.fetcher.backend,
                               NOTHING_FOUND_HINTS[CONF.fetcher.backend]),
                count=0, seconds=round(seconds, 3))
        return []
    out.add(STEP, 'scopes', report.OK, '%d scopes found in %.2f s: %s'
            % (len(scopes), seconds, examples(scopes)), count=len(scopes),
            examples=scopes[:EXAMPLES], seconds=round(seconds, 3))
    return scopes
