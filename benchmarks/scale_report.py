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
"""The tables ``scale.py`` prints, and the targets of issue 11."""

import scale_data
import scale_processor

METRIC_COUNT = len(scale_data.METRICS['metrics'])


def _cell(value, form):
    return '-' if value is None else form % value


def print_size(size, data, figures, max_threads, memory_sample):
    """The table of one S."""
    start, end = data.period(size)
    print('\nS = {:,} scopes x {} metrics, period {} - {} UTC, [orchestrator]'
          ' max_threads = {}'.format(size, METRIC_COUNT,
                                     start.strftime('%Y-%m-%d %H:%M'),
                                     end.strftime('%H:%M'), max_threads))
    header = '%-11s %-10s %9s %8s %9s %8s %8s %7s %5s  %s' % (
        'collector', 'mode', 'wall s', 'queries', 'Aetos log', 'peak MiB',
        'kept MiB', 'points', 'load', 'points checked')
    print(header)
    print('-' * len(header))
    for name, rows in figures.items():
        for mode in ('per-scope', 'batched', 'raw floor'):
            row = rows[mode]
            print('%-11s %-10s %9.3f %8s %9s %8s %8s %7s %5s  %s' % (
                name, mode, row['wall'], _cell(row.get('queries'), '%d'),
                _cell(row.get('log'), '%d'), _cell(row.get('peak'), '%.2f'),
                _cell(row.get('kept'), '%.2f'),
                _cell(row.get('points'), '%d'),
                _cell(row.get('load'), '%.1f'), _verdict(row, size)))
    for name, rows in figures.items():
        per, batched = rows['per-scope'], rows['batched']
        print('%s: per-scope / batched = %.1fx; batched / raw floor = %.2fx'
              '; batched runs: %s s' % (
                  name, per['wall'] / batched['wall'],
                  batched['wall'] / rows['raw floor']['wall'],
                  ', '.join('%.3f' % w for w in batched['walls'])))
        if per['done'] < size:
            print('  %s per-scope: measured on the first %d of %d scopes '
                  '(%.1f s, %d queries), wall and queries extrapolated x%.2f'
                  % (name, per['done'], size, per['measured'],
                     per['measured_queries'], size / per['done']))
    print('  peak/kept MiB: tracemalloc, in a pass of its own; per-scope '
          'over the first %d scopes (it keeps nothing between scopes)'
          % min(size, memory_sample))


def _verdict(row, size):
    if 'problems' not in row:
        return '-'
    text = '%d scopes: %s' % (row['done'], 'ok' if not row['problems'] else
                              '%d WRONG, e.g. %s' % (len(row['problems']),
                                                     row['problems'][0]))
    if 'identical' in row:
        text += ', %s per-scope on %d (scope, metric)' % (
            'identical to' if row['identical'] else 'DIFFERENT from',
            row['compared'])
    return text


def summary(figures, processor):
    """The issue's targets, reported (not asserted)."""
    print('\nTargets (reported, not asserted):')
    bound = METRIC_COUNT + 1
    for size, by_name in sorted(figures.items()):
        if size < 1000:
            continue
        for name, rows in by_name.items():
            sent = rows['batched']['queries']
            print('  S=%d %s batched: %d queries per period (target <= %d):'
                  ' %s' % (size, name, sent, bound,
                           'met' if sent <= bound else 'NOT met'))
    if 1000 in figures:
        rows = figures[1000]['aetos']
        ratio = rows['per-scope']['wall'] / rows['batched']['wall']
        print('  S=1000 aetos per-scope / batched = %.1fx (target >= 20x): '
              '%s; batched / raw floor = %.2fx' % (
                  ratio, 'met' if ratio >= 20 else 'NOT met',
                  rows['batched']['wall'] / rows['raw floor']['wall']))
    for size, by_name in sorted(figures.items()):
        print('  S=%d batched memory kept per 1,000 scopes: %s' % (
            size, ', '.join('%s %.2f MiB' % (
                name, 1000.0 * rows['batched']['kept'] / size)
                for name, rows in by_name.items())))
    if processor:
        scale_processor.print_summary(processor)
