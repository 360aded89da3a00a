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
"""Which label values the rest of CloudKitty can carry as scope IDs.

A label value comes from the metrics backend and is untrusted. The
processor of every supported base release names a scope's lock from
``scope_id + '-'`` encoded as ASCII outside any ``try`` (a non-string or
non-ASCII value kills the worker), and the state table's ``identifier``
column holds 256 characters. Control characters are refused too: the ID
is written into log lines and PromQL text.
"""

__all__ = ['MAX_LENGTH', 'EXAMPLES', 'refusal', 'sort_out', 'shown']

# The state table's identifier column (String(256) in 23.0.0 to 25.0.0).
MAX_LENGTH = 256
# Dropped values named in a pass's warning; the rest are counted.
EXAMPLES = 3
# Characters of a value quoted in a log line.
SHOWN_LENGTH = 40


def refusal(value, pattern=None):
    """Why ``value`` cannot be a scope ID.

    :param value: a label value as the answer gave it
    :param pattern: a compiled regular expression the whole value must
        match, or None
    :returns: a short reason, or None when the value can be a scope ID
    """
    if not isinstance(value, str):
        return 'not a string'
    if not value:
        return 'empty or missing'
    if len(value) > MAX_LENGTH:
        return '%d characters, over %d' % (len(value), MAX_LENGTH)
    if not all(' ' <= char <= '~' for char in value):
        return 'not printable ASCII'
    if pattern is not None and not pattern.fullmatch(value):
        return 'not matching scope_id_pattern'
    return None


def sort_out(values, pattern=None):
    """The usable scope IDs of ``values``, and the others with why.

    :param values: label values, repeats allowed
    :param pattern: as for :func:`refusal`
    :returns: (sorted list of distinct usable IDs, list of
        (value, reason) pairs in the order met, each value once)
    """
    kept, dropped, seen = set(), [], set()
    for value in values:
        reason = refusal(value, pattern)
        if reason is None:
            kept.add(value)
            continue
        key = (type(value).__name__, repr(value))
        if key not in seen:
            seen.add(key)
            dropped.append((value, reason))
    return sorted(kept), dropped


def shown(value):
    """``value`` escaped to printable ASCII and shortened, for a log line.

    :param value: anything
    :returns: its ``ascii()`` form, at most SHOWN_LENGTH characters
    """
    text = ascii(value)
    if len(text) > SHOWN_LENGTH:
        return text[:SHOWN_LENGTH - 3] + '...'
    return text
