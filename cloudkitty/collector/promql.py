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
"""PromQL text: names, escaping label values, and what ``@`` cannot pin.

The ``@`` modifier pins one selector to a time; it is not inherited by
the rest of the expression. The collector pins its own selector, so a
``query_prefix`` or ``query_suffix`` is safe only when nothing in it
reads the evaluation time: no selector, subquery, ``time()``, date
function without argument, ``start()``/``end()``, ``@`` or ``offset``.
"""
import re

from cloudkitty.common import prometheus_errors

__all__ = ['check_metric_name', 'check_label_name', 'escape_label_value',
           'unpinnable_reason', 'scope_safe', 'selector', 'period_query',
           'presence_query']

# Names as PromQL reads them unquoted; matched whole (``fullmatch``), so
# that a trailing newline is refused too.
_METRIC_NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
_LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
METRIC_NAME_RULE = ('ASCII letters, digits, _ and :, not starting with a '
                    'digit')
LABEL_NAME_RULE = 'ASCII letters, digits and _, not starting with a digit'

# Inside a double-quoted PromQL string these characters must be escaped,
# or a label value could close the string and rewrite the query.
_LABEL_VALUE_ESCAPES = str.maketrans({'\\': '\\\\', '"': '\\"',
                                      '\n': '\\n'})

_TOKEN = re.compile(r'''
    (?P<space>\s+)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<punct>==|!=|>=|<=|=~|!~|[-+*/%^()<>,=])
  | (?P<selector>[{}\[\]@])
''', re.VERBOSE)

_KEYWORDS = {'and', 'or', 'unless', 'bool', 'inf', 'nan'}
# Followed by a parenthesised list of label names.
_LABEL_LISTS = {'by', 'without', 'on', 'ignoring', 'group_left',
                'group_right'}
_AGGREGATIONS = {'sum', 'avg', 'count', 'min', 'max', 'stddev', 'stdvar',
                 'topk', 'bottomk', 'quantile', 'count_values', 'group',
                 'limitk', 'limit_ratio'}
# Without an argument these read the evaluation time.
_CLOCK_FUNCTIONS = {'time', 'minute', 'hour', 'day_of_month', 'day_of_week',
                    'day_of_year', 'days_in_month', 'month', 'year'}


def _check_name(pattern, rule, what, name, where):
    if not isinstance(name, str) or not pattern.fullmatch(name):
        raise prometheus_errors.ConfigurationError(
            '%s: %r is not a valid Prometheus %s (%s)'
            % (where, name, what, rule))
    return name


def check_metric_name(name, where):
    """``name`` itself, when PromQL reads it as a metric name.

    A name is written into query text unquoted: anything else would
    change the query or be refused by the server at every period.

    :param name: the configured metric name
    :param where: the option or metric that holds it, for the message
    :returns: ``name``
    :raises ConfigurationError: naming ``where``, the value and the rule
    """
    return _check_name(_METRIC_NAME, METRIC_NAME_RULE, 'metric name', name,
                       where)


def check_label_name(name, where):
    """``name`` itself, when PromQL reads it as a label name.

    :param name: a configured label name (scope label, groupby, filter)
    :param where: the option or metric that holds it, for the message
    :returns: ``name``
    :raises ConfigurationError: naming ``where``, the value and the rule
    """
    return _check_name(_LABEL_NAME, LABEL_NAME_RULE, 'label name', name,
                       where)


def escape_label_value(value):
    """Quote-safe form of ``value`` for a ``label="..."`` matcher.

    :param value: anything; it is quoted through ``str``
    :returns: the text to put between the double quotes
    """
    return str(value).translate(_LABEL_VALUE_ESCAPES)


def _tokens(fragment):
    """(kind, text) pairs of ``fragment``, None where it does not lex."""
    found, position = [], 0
    while position < len(fragment):
        match = _TOKEN.match(fragment, position)
        if match is None:
            return None
        if match.lastgroup != 'space':
            found.append((match.lastgroup, match.group()))
        position = match.end()
    return found


def _name_reason(tokens, index):
    """Why the name at ``index`` cannot be pinned, None if it can."""
    name = tokens[index][1]
    # Keywords are case-insensitive, metric and function names are not.
    word = name.lower()
    after = tokens[index + 1][1] if index + 1 < len(tokens) else None
    if word in _KEYWORDS or word in ('group_left', 'group_right'):
        return None
    if word == 'offset':
        return 'offset moves a selector in time'
    if after == '(':
        if name in ('start', 'end'):
            return '%s() is the time of the query' % name
        closing = tokens[index + 2][1] if index + 2 < len(tokens) else None
        if name in _CLOCK_FUNCTIONS and (name == 'time' or closing == ')'):
            return '%s() reads the evaluation time' % name
        return None
    if word in _AGGREGATIONS and (after or '').lower() in _LABEL_LISTS:
        return None
    return 'the selector %s is evaluated at the query time' % name


def _fragment_reason(fragment):
    tokens = _tokens(fragment)
    if tokens is None:
        return 'it cannot be read as PromQL'
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        if kind == 'selector':
            return ('%s starts a selector, a range or a subquery, or pins '
                    'one' % text)
        if kind == 'name' and text.lower() in _LABEL_LISTS and (
                index + 1 < len(tokens) and tokens[index + 1][1] == '('):
            # Skip the label names up to the closing parenthesis.
            while index < len(tokens) and tokens[index][1] != ')':
                index += 1
        elif kind == 'name':
            reason = _name_reason(tokens, index)
            if reason:
                return reason
        index += 1
    return None


def unpinnable_reason(extra_args):
    """Why ``@`` on the collector's selector cannot pin a whole query.

    :param extra_args: a metric's checked ``extra_args``
    :returns: a phrase naming the option and the cause, or None when
        ``query_prefix`` and ``query_suffix`` read no evaluation time
    """
    for option in ('query_prefix', 'query_suffix'):
        reason = _fragment_reason(extra_args.get(option) or '')
        if reason:
            return '%s: %s' % (option, reason)
    return None


_ARITHMETIC = {'+', '-', '*', '/', '%', '^', '==', '!=', '>', '<', '>=',
               '<=', '(', ')'}


def scope_safe(extra_args):
    """Whether a query keeps its meaning when grouped by the scope label.

    Only scalar arithmetic around the collector's own expression is
    known to: an aggregation, a function or vector matching in
    ``query_prefix`` or ``query_suffix`` could mix scopes.

    :param extra_args: a metric's checked ``extra_args``
    :returns: True when prefix and suffix hold numbers, arithmetic,
        comparisons, ``bool`` and parentheses only
    """
    for option in ('query_prefix', 'query_suffix'):
        tokens = _tokens(extra_args.get(option) or '')
        if tokens is None or not all(
                kind == 'number' or text in _ARITHMETIC or text == 'bool'
                for kind, text in tokens):
            return False
    return True


def selector(series, matchers):
    """``series{label="value", ...}``, the values escaped.

    :param series: the metric name
    :param matchers: ``{label: value}``, in the order wanted
    :returns: the instant vector selector; the bare name without matchers
    """
    if not matchers:
        return series
    return '%s{%s}' % (series, ', '.join(
        '%s="%s"' % (label, escape_label_value(value))
        for label, value in matchers.items()))


def period_query(extra_args, series, matchers, seconds, by, at=None):
    """The PromQL of one value per group over a period.

    :param extra_args: the metric's checked ``extra_args``
    :param series: the metric name
    :param matchers: ``{label: value}`` for the selector (escaped here)
    :param seconds: length of the period
    :param by: labels of the result, in order
    :param at: Unix seconds to pin the selector with ``@``, or None
    :returns: the query text
    """
    method = extra_args['aggregation_method']
    ranged = '%s[%ss]' % (selector(series, matchers), seconds)
    if at is not None:
        ranged += ' @ %d' % at
    over_period = extra_args.get('range_function') or method + '_over_time'
    expr = '%s(%s)' % (over_period, ranged)
    if extra_args.get('query_function'):
        expr = '%s(%s)' % (extra_args['query_function'], expr)
    expr = '%s(%s) by (%s)' % (method, expr, ', '.join(by))
    pieces = [extra_args['query_prefix'], expr, extra_args['query_suffix']]
    return ' '.join(piece for piece in pieces if piece)


def presence_query(series, matchers, by, seconds):
    """The PromQL giving one sample per value of ``by`` seen lately.

    ``count`` stays a plain number whatever the metric's values (NaN
    included), and ``last_over_time`` is the cheapest way to say "any
    sample in the window". It is evaluated at the server's "now".

    :param series: the metric name, checked by the caller
    :param matchers: ``{label: value}`` for the selector (escaped here)
    :param by: the label whose values are wanted, checked by the caller
    :param seconds: length of the window, up to now
    :returns: the query text
    """
    return 'count by (%s) (last_over_time(%s[%ds]))' % (
        by, selector(series, matchers), seconds)
