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
"""Configuration step: the metrics file, the options, what ``@`` pins.

The collector and the fetcher are built as the processor builds them, so
that a setting they refuse is refused here with the same words; neither
asks any server while it is built, except the keystone fetcher, whose
client looks up Keystone's API versions.
"""
from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg
from stevedore import driver
import voluptuous
import yaml

from cloudkitty.check import logs
from cloudkitty.check import report
from cloudkitty import collector
from cloudkitty.common import prometheus_errors
from cloudkitty import orchestrator
from cloudkitty import utils as ck_utils

CONF = cfg.CONF

STEP = 'configuration'
COLLECTORS = ('aetos', 'prometheus')
FETCHERS = ('aetos', 'keystone', 'prometheus')

# What a metrics file its collector refuses raises.
_METRICS_ERRORS = (voluptuous.Invalid, collector.InvalidConfiguration,
                   prometheus_errors.ConfigurationError, ValueError,
                   TypeError, KeyError)


def supported(out):
    """Whether the check knows the configured collector and fetcher.

    :param out: the Report
    :returns: True, or False after a NOT_RUN line
    """
    known = True
    for what, name, names in (
            ('collector', CONF.collect.collector, COLLECTORS),
            ('fetcher', CONF.fetcher.backend, FETCHERS)):
        if name not in names:
            out.add(STEP, what, report.NOT_RUN,
                    'the %s %s is not one this check knows (it knows %s)'
                    % (what, name, ', '.join(names)))
            known = False
    return known


def load_collector(out):
    """The collector the processor would build, or None.

    :param out: the Report
    :returns: the collector, or None after a PROBLEM line
    """
    name = CONF.collect.collector
    path = CONF.collect.metrics_conf
    try:
        metrics = ck_utils.load_conf(path)
    except (OSError, yaml.YAMLError) as exc:
        out.add(STEP, 'metrics', report.PROBLEM,
                'the metrics file %s cannot be read (%s): check [collect] '
                'metrics_conf and the file' % (path, exc))
        return None
    cls = collector.get_collector_without_invoke()
    try:
        checked = cls.check_configuration(metrics)
    except _METRICS_ERRORS as exc:
        out.add(STEP, 'metrics', report.PROBLEM,
                'the metrics file %s does not fit the %s collector (%s): '
                '%s' % (path, name, type(exc).__name__, exc))
        return None
    out.add(STEP, 'metrics', report.OK,
            '%d metrics in %s fit the %s collector: %s'
            % (len(checked), path, name, ', '.join(sorted(checked))),
            metrics=sorted(checked))
    # The collector's start-up warning about pinning is the pinning line.
    with logs.heard() as heard:
        try:
            built = cls(period=CONF.collect.period, conf=metrics)
        except prometheus_errors.ConfigurationError as exc:
            out.add(STEP, 'collector options', report.PROBLEM, '%s' % exc)
            return None
    out.add(STEP, 'collector options', report.OK,
            '[collector_%s] options are usable' % name)
    logs.add_to(out, STEP, heard, skip='cloudkitty.collector.'
                'prometheus_base')
    _pinning(out, built)
    return built


def _pinning(out, built):
    unpinnable = built.unpinnable
    if not built.pins_queries:
        out.add(STEP, 'pinning', report.OK,
                'the %s collector sends the period end as the time '
                'parameter' % built.collector_name)
    elif not unpinnable:
        out.add(STEP, 'pinning', report.OK,
                'every metric\'s query pins itself to the period end with @')
    else:
        out.add(STEP, 'pinning', report.WARNING,
                '%s cannot be pinned to the period end with @; they can '
                'only be collected from a server that accepts the time '
                'parameter (Aetos 2.0.0 or newer)' % '; '.join(
                    '%s (%s)' % item for item in sorted(unpinnable.items())),
                metrics=sorted(unpinnable))


def load_fetcher(out):
    """The fetcher the processor would build, or None.

    :param out: the Report
    :returns: the fetcher, or None after a PROBLEM line
    """
    name = CONF.fetcher.backend
    with logs.heard() as heard:
        try:
            built = driver.DriverManager(
                orchestrator.FETCHERS_NAMESPACE, name,
                invoke_on_load=True).driver
        except prometheus_errors.ConfigurationError as exc:
            out.add(STEP, 'fetcher options', report.PROBLEM, '%s' % exc)
            return None
        except ks_exc.ClientException as exc:
            out.add(STEP, 'fetcher options', report.PROBLEM,
                    'the %s fetcher could not start (%s): %s; check '
                    '[fetcher_%s]' % (name, type(exc).__name__, exc, name))
            return None
    out.add(STEP, 'fetcher options', report.OK,
            '[fetcher_%s] options are usable' % name)
    logs.add_to(out, STEP, heard)
    return built
