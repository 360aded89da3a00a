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
"""Set up and read back a CloudKitty database with CloudKitty's own API.

Run by ``services.cloudkitty_env`` in a child process, one per command, because
CloudKitty's configuration and database engine are process-wide::

    python ck_admin.py setup --config-file cloudkitty.conf --spec spec.json
    python ck_admin.py report --config-file cloudkitty.conf

``setup`` enables rating modules, creates hashmap services, fields and
flat mappings from a price list, and sets each scope's last processed
period. ``report`` prints the scope states and every rated point as JSON.
"""

import argparse
import datetime
import decimal
import json
import os
import sys

from cloudkitty.db import api as ck_db_api
from cloudkitty.rating.hash.db import api as hash_db_api
from cloudkitty import service
from cloudkitty import storage
from cloudkitty import storage_state
from oslo_config import cfg

# Run as a script: make ``functional`` importable.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from functional.services import config  # noqa: E402

CONF = cfg.CONF

UTC = config.UTC
# Bounds wide enough for any planted data: the storage API otherwise
# limits itself to the current month.
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime.datetime(2100, 1, 1, tzinfo=UTC)


def create_prices(prices, start):
    """Hashmap services, fields and mappings from a price list.

    ``prices`` maps a service name to ``{'service': [type, cost],
    'fields': {field: {value: [type, cost]}}}``, both keys optional. The
    rules apply from ``start`` (naive UTC): by default they would only
    apply from their creation on, after the periods the tests rate.
    """
    hashmap = hash_db_api.get_instance()
    for name, rule in sorted(prices.items()):
        service_id = hashmap.create_service(name).service_id
        if rule.get('service'):
            map_type, cost = rule['service']
            hashmap.create_mapping(
                decimal.Decimal(cost), map_type=map_type,
                service_id=service_id, start=start,
                created_by='functional-tests')
        for field, values in sorted(rule.get('fields', {}).items()):
            field_id = hashmap.create_field(service_id, field).field_id
            for value, (map_type, cost) in sorted(values.items()):
                hashmap.create_mapping(
                    decimal.Decimal(cost), map_type=map_type, value=value,
                    field_id=field_id, start=start,
                    created_by='functional-tests')


def setup(spec):
    modules = ck_db_api.get_instance().get_module_info()
    for module in spec.get('modules', []):
        modules.set_state(module, True)
    start = config.parse_time(spec['rules_start']).replace(tzinfo=None)
    create_prices(spec.get('prices', {}), start)
    states = storage_state.StateManager()
    for scope, last_processed in sorted(spec.get('scopes', {}).items()):
        states.set_last_processed_timestamp(
            scope, config.parse_time(last_processed),
            fetcher=CONF.fetcher.backend,
            collector=CONF.collect.collector,
            scope_key=CONF.collect.scope_key)
    return {'modules': spec.get('modules', []),
            'scopes': len(spec.get('scopes', {}))}


def report():
    states = {}
    for state in storage_state.StateManager().get_all(
            collector=CONF.collect.collector, limit=0):
        states[state.identifier] = config.isoformat(
            state.last_processed_timestamp)
    backend = storage.get_storage()
    points = []
    try:
        frames = backend.retrieve(begin=EARLIEST, end=LATEST)['dataframes']
    except storage.NoTimeFrame:
        frames = []
    for frame in frames:
        for metric, point in frame.iterpoints():
            desc = dict(point.groupby)
            desc.update(point.metadata)
            points.append({
                'scope': desc.get(CONF.collect.scope_key),
                'begin': config.isoformat(frame.start),
                'end': config.isoformat(frame.end),
                'metric': metric,
                'unit': point.unit,
                'qty': str(point.qty),
                'price': str(point.price),
                'desc': desc,
            })
    return {'states': states, 'points': points}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('command', choices=['setup', 'report'])
    parser.add_argument('--config-file', required=True)
    parser.add_argument('--spec', help='JSON file (setup)')
    parser.add_argument('--log-file', help='where CloudKitty logs go')
    args = parser.parse_args(argv)
    ck_argv = ['ck_admin', '--config-file', args.config_file]
    if args.log_file:
        ck_argv += ['--log-file', args.log_file]
    service.prepare_service(ck_argv)
    if args.command == 'setup':
        with open(args.spec) as f:
            result = setup(json.load(f))
    else:
        result = report()
    json.dump(result, sys.stdout)


if __name__ == '__main__':
    main()
