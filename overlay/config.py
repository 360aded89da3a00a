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
"""What ``setup.cfg`` ``[overlay]`` decides, read and checked in one place.

``[overlay]`` names the default base release; each recorded base has its
own ``[overlay:<version>]`` section: the sha256 of its wheel, the base files
the overlay replaces on it, the entry points the overlay adds to it and the
base entry points it replaces. The bases differ (25.0.0 ships files of the
same names as ours), so none of this is shared.

A mistake in the file (a missing section or option, a malformed hash or
entry point, an unknown base version) is an ``OverlayError`` that names the
section and option, so that ``setup.py`` can print it as one ``error:`` line
rather than a traceback from deep inside the build.
"""

import configparser
import dataclasses
import os
import re

BASE_VERSION_ENV = 'CLOUDKITTY_BASE_VERSION'
MAIN = 'overlay'
BASE_PREFIX = 'overlay:'
SHA256 = re.compile(r'^[0-9a-f]{64}$')
# Places of a setting for every base at once, which the bases cannot share:
# refused, with where the setting goes instead.
SHARED_SETTINGS = (('overlay', 'replaces'), ('overlay:entry_points', None))


class OverlayError(Exception):
    """The overlay cannot be built; the message says why and what to do."""


@dataclasses.dataclass
class Settings:
    base_version: str
    sha256: str
    post_release: int
    replaces: frozenset
    entry_points: dict
    replaces_entry_points: frozenset = frozenset()

    @property
    def section(self):
        """The ``setup.cfg`` section of the base, for messages."""
        return BASE_PREFIX + self.base_version

    @property
    def version(self):
        # A post-release sorts after the base, so pip upgrades a stock
        # install, and pbr (used by cloudkitty.version) can parse it,
        # which it cannot for a local version such as 24.0.0+aetos.
        return '%s.post%d' % (self.base_version, self.post_release)


def _lines(value):
    return [line.strip() for line in value.splitlines() if line.strip()]


def _read(setup_cfg):
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.optionxform = str
    try:
        found = cfg.read(setup_cfg, encoding='utf-8')
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise OverlayError('%s cannot be read as an ini file: %s'
                           % (setup_cfg, exc)) from exc
    if not found:
        raise OverlayError('%s not found' % setup_cfg)
    if not cfg.has_section(MAIN):
        raise OverlayError('%s has no [%s] section' % (setup_cfg, MAIN))
    for section, option in SHARED_SETTINGS:
        if cfg.has_section(section) and (
                option is None or cfg.has_option(section, option)):
            raise OverlayError(
                '%s [%s]%s: replaced files and entry points are set per '
                'base release: move them to each [%s<version>] section'
                % (setup_cfg, section, ' ' + option if option else '',
                   BASE_PREFIX))
    return cfg


def _option(cfg, section, option, setup_cfg, default=None):
    value = cfg[section].get(option, default)
    if value is None or not value.strip():
        raise OverlayError('%s [%s] has no value for %s'
                           % (setup_cfg, section, option))
    return value.strip()


def _group_lines(cfg, section, option, setup_cfg, form):
    """``group: rest`` lines of a multi-line option, as (group, rest).

    setuptools would otherwise refuse a malformed entry point only after
    the whole tree has been assembled, and with a traceback.
    """
    found = []
    for line in _lines(cfg[section].get(option, '')):
        group, colon, rest = line.partition(':')
        if not (colon and group.strip() and rest.strip()):
            raise OverlayError('%s [%s] %s: %r is not of the form "%s"'
                               % (setup_cfg, section, option, line, form))
        found.append((group.strip(), rest.strip()))
    return found


def _entry_points(cfg, section, setup_cfg):
    """The entry points the overlay adds, by group."""
    form = 'group: name = module:object'
    entry_points = {}
    for group, value in _group_lines(cfg, section, 'entry_points',
                                     setup_cfg, form):
        name, equals, target = value.partition('=')
        if not (equals and name.strip() and target.strip()):
            raise OverlayError(
                '%s [%s] entry_points: %r is not of the form "%s"'
                % (setup_cfg, section, '%s: %s' % (group, value), form))
        entry_points.setdefault(group, []).append(
            '%s = %s' % (name.strip(), target.strip()))
    return entry_points


def known_versions(cfg):
    """The base versions with an ``[overlay:<version>]`` section."""
    return sorted(s[len(BASE_PREFIX):] for s in cfg.sections()
                  if s.startswith(BASE_PREFIX))


def load_settings(setup_cfg, environ=os.environ):
    """Read the ``[overlay]`` sections, honouring the base version override."""
    cfg = _read(setup_cfg)
    version = (environ.get(BASE_VERSION_ENV) or
               _option(cfg, MAIN, 'base_version', setup_cfg))
    section = BASE_PREFIX + version
    if not cfg.has_section(section):
        raise OverlayError(
            'No [%s] section in %s: the sha256 of cloudkitty %s is not '
            'recorded. Known base versions: %s. Record the hash of the '
            'released wheel there to build on it.'
            % (section, setup_cfg, version, ', '.join(known_versions(cfg))))
    sha256 = _option(cfg, section, 'sha256', setup_cfg).lower()
    if not SHA256.match(sha256):
        raise OverlayError('%s [%s] sha256 = %s is not a sha256 digest (64 '
                           'hexadecimal digits)'
                           % (setup_cfg, section, sha256))
    post_release = _option(cfg, MAIN, 'post_release', setup_cfg, '1')
    if not (post_release.isascii() and post_release.isdigit()):
        raise OverlayError('%s [%s] post_release = %s is not a whole number'
                           % (setup_cfg, MAIN, post_release))
    return Settings(
        base_version=version,
        sha256=sha256,
        post_release=int(post_release),
        replaces=frozenset(_lines(cfg[section].get('replaces', ''))),
        entry_points=_entry_points(cfg, section, setup_cfg),
        replaces_entry_points=frozenset(_group_lines(
            cfg, section, 'replaces_entry_points', setup_cfg,
            'group: name')))
