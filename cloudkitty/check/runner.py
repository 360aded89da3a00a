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
"""The steps of the collector check, in order, each on what the last gave.

A step that finds a problem stops the steps that need what it did not
give: no collector, no connection; no scope, no dry run.
"""
import datetime

from oslo_config import cfg

from cloudkitty.check import configuration
from cloudkitty.check import connection
from cloudkitty.check import discovery
from cloudkitty.check import dry_run
from cloudkitty.check import report
from cloudkitty import collector

CONF = cfg.CONF


def _batch_every_scope():
    """Have the collector batch; whether the configuration did.

    The dry run sends one query per metric whatever the number of
    scopes, as a batching processor does.
    """
    # Loading the collector's module registers its options.
    collector.get_collector_without_invoke()
    group = 'collector_%s' % CONF.collect.collector
    batched = CONF[group].scope_batching
    CONF.set_override('scope_batching', True, group)
    return batched


def run(out, start=None, progress=None):
    """Run every step that can run; the findings go to ``out``.

    :param out: the Report
    :param start: the start of the period to dry-run (datetime), or None
        for the last whole period the processor would rate now
    :param progress: a report.Progress
    """
    progress = progress or report.Progress()
    CONF.import_opt('max_threads', 'cloudkitty.orchestrator',
                    'orchestrator')
    if not configuration.supported(out):
        return
    if start is None:
        start, end = dry_run.last_period(CONF.collect.period,
                                         CONF.collect.wait_periods)
    else:
        end = start + datetime.timedelta(seconds=CONF.collect.period)
    out.period = {'start': start.isoformat(), 'end': end.isoformat()}
    batched = _batch_every_scope()
    progress.say('configuration', force=True)
    built = configuration.load_collector(out)
    fetcher = configuration.load_fetcher(out)
    if built is None:
        return
    progress.say('connection', force=True)
    if not connection.check(out, built, end.isoformat()):
        return
    if fetcher is None:
        return
    progress.say('discovery', force=True)
    scopes = discovery.check(out, fetcher)
    if not scopes:
        return
    progress.say('dry run of %s to %s for %d scopes'
                 % (start.isoformat(), end.isoformat(), len(scopes)),
                 force=True)
    dry_run.run(out, built, scopes, start, end, progress, batched)
