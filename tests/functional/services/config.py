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
"""Configuration files of the services, and the times written in them."""

import configparser
import datetime
import os

from functional.services import process

UTC = datetime.timezone.utc


def write_ini(path, sections):
    """Write ``{section: {option: value}}`` as an ini file; return path."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    for section, options in sections.items():
        if section != 'DEFAULT':
            parser.add_section(section)
        for option, value in options.items():
            parser.set(section, option, str(value))
    with open(path, 'w') as out:
        parser.write(out)
    return path


def write_gunicorn_conf(home, name, app, port, workers, **extra):
    """gunicorn's settings file for one WSGI application; return its path.

    Services that parse their own command line (Keystone, CloudKitty's
    API) get every setting from this file, named in GUNICORN_CMD_ARGS.
    """
    settings = {
        'wsgi_app': app,
        'bind': ['%s:%s' % (process.HOST, port)],
        'workers': workers,
        'worker_class': 'sync',
        'threads': 1,
        'timeout': 120,
        'graceful_timeout': 3,
        'accesslog': '-',
        'errorlog': '-',
        'loglevel': 'info',
        'proc_name': 'stack-' + name,
        'control_socket_disable': True,
    }
    settings.update(extra)
    path = os.path.join(home, 'gunicorn.conf.py')
    with open(path, 'w') as out:
        out.write('# Written by the functional test stack.\n')
        for key, value in settings.items():
            out.write('%s = %r\n' % (key, value))
    return path


def gunicorn_env(conf, **extra):
    """The environment of a gunicorn reading all its settings from conf."""
    return process.clean_env(GUNICORN_CMD_ARGS='--config %s' % conf,
                             **extra)


def utc(timestamp):
    """A Unix time as an aware datetime, as the orchestrator passes it."""
    return datetime.datetime.fromtimestamp(timestamp, UTC)


def isoformat(moment):
    """A datetime as CloudKitty's ISO 8601 text, in UTC (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S+00:00')


def parse_time(text):
    """An ISO 8601 text as an aware datetime in UTC (naive means UTC)."""
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
