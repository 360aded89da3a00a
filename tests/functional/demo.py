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
"""Rate the sample usage through Aetos and print what each project owes.

Starts Keystone, Prometheus (with the planted sample usage) and Aetos on
127.0.0.1, a private MariaDB, and a real ``cloudkitty-processor`` with
``[collect] collector = aetos`` and the Keystone fetcher; prices come from
hashmap rules (see ``oracle.PRICES``), metrics from
``etc/metrics.yml``. Prints the rated usage per project, checks it against
the planted usage, and stops everything it started, on errors and Ctrl-C
too. Run from the tests directory::

    python -m functional.demo [--collector prometheus] [--fetcher aetos]

``--fetcher aetos`` discovers the projects through Aetos too (the
``aetos`` fetcher, see ``fetcher_env``): with the ``aetos`` collector, no
Prometheus URL is then written anywhere.
"""

import argparse
import collections
import contextlib
import datetime
import decimal
import signal
import sys
import time

from functional import dataset as planted
from functional import fetcher_env
from functional import oracle
from functional.services import cloudkitty_env
from functional.services import config
from functional.services import mariadb as mariadb_mod
from functional import stack as stack_mod

PROCESSOR_TIMEOUT = 300
PRICE = decimal.Decimal('0.0001')


def _interrupt(signum, frame):
    raise KeyboardInterrupt()


def _step(text):
    print('... %s' % text, flush=True)


def _hour(timestamp):
    return datetime.datetime.fromtimestamp(
        timestamp, config.UTC).strftime('%Y-%m-%d %H:%M')


def usage_table(report, names, metrics):
    """Rows (project, service, unit, quantity, price), project totals."""
    sums = collections.defaultdict(
        lambda: [decimal.Decimal(0), decimal.Decimal(0)])
    units = {}
    for point in report['points']:
        key = (names.get(point['scope'], point['scope']), point['metric'])
        sums[key][0] += decimal.Decimal(point['qty'])
        sums[key][1] += decimal.Decimal(point['price'])
        units[point['metric']] = point['unit']
    rows = []
    for project in sorted({project for project, _service in sums}):
        total = decimal.Decimal(0)
        for service in sorted(metrics):
            qty, price = sums.get((project, service),
                                  (decimal.Decimal(0), decimal.Decimal(0)))
            rows.append((project, service, units.get(service, ''),
                         str(qty), str(price.quantize(PRICE))))
            total += price
        rows.append((project, 'total', '', '', str(total.quantize(PRICE))))
    return rows


def print_table(rows):
    header = ('project', 'service', 'unit', 'quantity', 'price')
    widths = [max(len(str(row[i])) for row in rows + [header])
              for i in range(len(header))]
    line = '  '.join('%%-%ds' % w if i < 3 else '%%%ds' % w
                     for i, w in enumerate(widths))
    print(line % header)
    print('  '.join('-' * w for w in widths))
    previous = None
    for row in rows:
        shown = list(row)
        if row[0] == previous:
            shown[0] = ''
        previous = row[0]
        print(line % tuple(shown))


def run(collector, fetcher='keystone'):
    started = time.monotonic()
    timings = {}
    with contextlib.ExitStack() as cleanup:
        _step('starting Keystone, Prometheus and Aetos on 127.0.0.1')
        stack = stack_mod.Stack()
        cleanup.callback(stack.stop)
        stack.start()
        timings['stack'] = stack.timings['start']
        _step('starting a private MariaDB')
        mark = time.monotonic()
        mariadb = mariadb_mod.MariaDB()
        mariadb.setUp()
        cleanup.callback(mariadb.cleanUp)
        _step('preparing CloudKitty: schema, hashmap prices, scope states')
        if fetcher == 'aetos':
            env = fetcher_env.aetos_fetcher_env(stack, mariadb, collector)
        else:
            env = cloudkitty_env.CloudKittyEnv.from_stack(
                stack, mariadb, collector)
        env.setUp()
        cleanup.callback(env.cleanUp)
        timings['mariadb + cloudkitty setup'] = time.monotonic() - mark
        data = stack.dataset
        last = datetime.datetime.fromtimestamp(
            data.hour(planted.HOURS - 1), config.UTC)
        _step('running cloudkitty-processor (collector %s, fetcher %s) over '
              '%d hours of %d projects' % (collector, fetcher, planted.HOURS,
                                           len(env.scopes)))
        timings['processor'] = env.run_processor(last, PROCESSOR_TIMEOUT)
        report = env.report()

        names = {pid: name for name, pid in data.project_ids.items()}
        metrics = [metric.get('alt_name', name) for name, metric in
                   oracle.load_metrics(env.metrics_conf).items()]
        print()
        print('Rated usage from %s to %s UTC, %d hourly periods, '
              'collector %s' % (_hour(data.start), _hour(data.end),
                                planted.HOURS, collector))
        print()
        print_table(usage_table(report, names, metrics))
        print()
        expected = oracle.expected_points(data, env.scopes)
        rated, duplicates = oracle.rated_points(report)
        problems = oracle.compare_points(expected, rated, duplicates)
        same = not problems
        if same:
            print('%d rated points, each one exactly the planted usage at '
                  'the expected price' % len(rated))
        else:
            print('%d rated points, %d expected; DIFFERENCES:\n  %s' % (
                len(rated), len(expected), '\n  '.join(problems[:20])))
        _step('stopping everything')
    timings['total'] = time.monotonic() - started
    print('wall time: %s' % ', '.join(
        '%s %.1fs' % item for item in timings.items()))
    return 0 if same else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--collector', default='aetos',
                        choices=['aetos', 'prometheus'],
                        help='CloudKitty collector (default: aetos)')
    parser.add_argument('--fetcher', default='keystone',
                        choices=['keystone', 'aetos'],
                        help='CloudKitty fetcher: projects with the rating '
                             'role (keystone, the default) or those with '
                             'series, found through Aetos (aetos)')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(args.collector, args.fetcher)
    except KeyboardInterrupt:
        print('interrupted; everything started was stopped',
              file=sys.stderr)
        return 130
    except (stack_mod.StackError, cloudkitty_env.EnvError) as exc:
        print('demo failed: %s' % exc, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
