#!/usr/bin/env python3
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
"""Move CloudKitty scope states to another collector or fetcher name.

CloudKitty keys the progress of a scope on the names of its collector and
fetcher: a processor configured with new names would rate every scope
again from the start of the month. This script renames them through the
scope state API of ``cloudkitty-api`` (``GET`` and ``PATCH /v2/scope``),
keeping each scope's progress. Run it with every cloudkitty-processor
stopped, with the credentials of a user that has CloudKitty's admin role
(the same ``OS_*`` variables or ``--os-*`` options as the openstack
client)::

    python3 move_scope_states.py --from-collector prometheus \\
        --to-collector aetos

Exit status: 0 when every selected scope was moved (or nothing had to
be), 1 when some could not be (each is named), 2 when the API could not be
used at all.
"""

import argparse
import os
import sys

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading

# GET /v2/scope answers at most this many states per request.
PAGE = 100
# What the scope state API answers, with HTTP 404, past the last state.
NO_STATE = 'No resource found'
# Passes over the states still under the old names: the API sorts nothing,
# so a page may move under the next one while states are renamed.
MAX_PASSES = 5


class ApiError(Exception):
    """cloudkitty-api could not be used; the message says why."""


def _explain(resp, action):
    """The message for an answer that is neither success nor paging."""
    hint = {
        401: 'check the credentials',
        403: "the user needs CloudKitty's admin role (policies "
             'scope:get_state and scope:patch_state)',
    }.get(resp.status_code, 'check cloudkitty-api and its log')
    return '%s: cloudkitty-api answered HTTP %s (%s): %s' % (
        action, resp.status_code, resp.text[:200].strip(), hint)


def list_states(api, collector=None, fetcher=None):
    """Every scope state under these names, one page of PAGE at a time.

    :returns: list of the API's state dicts
    :raises ApiError: on any answer but a page or the 404 after the last
    """
    params = {'limit': PAGE}
    if collector:
        params['collector'] = collector
    if fetcher:
        params['fetcher'] = fetcher
    states = []
    offset = 0
    while True:
        params['offset'] = offset
        resp = api.get('/v2/scope', params=params, raise_exc=False)
        # The API's own 404: no state at this offset, so the previous
        # page was the last. Any other 404 means there is no such route.
        if resp.status_code == 404 and NO_STATE in resp.text:
            return states
        if resp.status_code == 404:
            raise ApiError(
                'listing scope states: cloudkitty-api has no /v2/scope: '
                'it serves its v2 API only with [storage] version = 2 '
                '(with storage version 1, rename the states in the '
                'database instead)')
        if resp.status_code != 200:
            raise ApiError(_explain(resp, 'listing scope states'))
        page = resp.json()['results']
        states.extend(page)
        if len(page) < PAGE:
            return states
        offset += PAGE


def move(api, old, new, dry_run=False, out=sys.stdout):
    """Rename the states selected by ``old`` to the names of ``new``.

    :param old: {'collector': name or None, 'fetcher': name or None}
    :param new: the same keys; None leaves that name as it is
    :returns: (moved scope IDs, {scope ID: why it was not moved})
    :raises ApiError: when cloudkitty-api cannot be used
    """
    changes = {key: value for key, value in new.items() if value}
    moved, failed = [], {}
    for _ in range(MAX_PASSES):
        todo = {state['scope_id']: state for state in list_states(api, **old)
                if state['scope_id'] not in failed}
        if not todo:
            break
        # PATCH selects by scope ID alone: a scope that also has a state
        # under the new names is refused with 404.
        taken = {state['scope_id'] for state in list_states(api, **new)}
        for scope_id in sorted(todo):
            if scope_id in taken:
                failed[scope_id] = ('it already has a state under %s' %
                                    _names(new))
                continue
            if dry_run:
                moved.append(scope_id)
                continue
            body = dict(changes, scope_id=scope_id)
            resp = api.patch('/v2/scope', json=body, raise_exc=False)
            if resp.status_code == 200:
                moved.append(scope_id)
            elif resp.status_code == 404:
                failed[scope_id] = 'HTTP 404: %s' % resp.text[:200].strip()
            else:
                raise ApiError(_explain(resp, 'moving scope %s' % scope_id))
        if dry_run:
            break
    for scope_id, why in sorted(failed.items()):
        print('not moved: %s: %s' % (scope_id, why), file=out)
    print('%s %d scope states from %s to %s; %d not moved' % (
        'would move' if dry_run else 'moved', len(moved), _names(old),
        _names(new), len(failed)), file=out)
    return moved, failed


def _names(names):
    return ', '.join('%s %s' % (key, value)
                     for key, value in sorted(names.items()) if value) or \
        'any names'


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0])
    parser.add_argument('--from-collector')
    parser.add_argument('--to-collector')
    parser.add_argument('--from-fetcher')
    parser.add_argument('--to-fetcher')
    parser.add_argument('--dry-run', action='store_true',
                        help='list what would move, change nothing')
    parser.add_argument('--os-interface',
                        default=os.environ.get('OS_INTERFACE', 'public'),
                        help='catalog interface of cloudkitty-api '
                             '(env OS_INTERFACE)')
    parser.add_argument('--os-region-name',
                        default=os.environ.get('OS_REGION_NAME'),
                        help='catalog region of cloudkitty-api '
                             '(env OS_REGION_NAME)')
    parser.add_argument('--endpoint',
                        help='URL of cloudkitty-api, instead of the '
                             'catalog entry of the rating service')
    ks_loading.register_session_argparse_arguments(parser)
    ks_loading.register_auth_argparse_arguments(parser, argv,
                                                default='password')
    args = parser.parse_args(argv)
    if not (args.to_collector or args.to_fetcher):
        parser.error('give --to-collector, --to-fetcher or both')
    if bool(args.from_collector) != bool(args.to_collector) or \
            bool(args.from_fetcher) != bool(args.to_fetcher):
        parser.error('give each --to-* with its --from-*')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    auth = ks_loading.load_auth_from_argparse_arguments(args)
    session = ks_loading.load_session_from_argparse_arguments(args,
                                                              auth=auth)
    api = ks_adapter.Adapter(
        session, service_type='rating', interface=args.os_interface,
        region_name=args.os_region_name, endpoint_override=args.endpoint)
    try:
        _, failed = move(
            api, {'collector': args.from_collector,
                  'fetcher': args.from_fetcher},
            {'collector': args.to_collector, 'fetcher': args.to_fetcher},
            dry_run=args.dry_run)
    except (ApiError, ks_exc.ClientException) as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
