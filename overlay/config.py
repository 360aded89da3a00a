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
ENTRY_POINTS = 'overlay:entry_points'
SHA256 = re.compile(r'^[0-9a-f]{64}$')


class OverlayError(Exception):
    """The overlay cannot be built; the message says why and what to do."""


@dataclasses.dataclass
class Settings:
    base_version: str
    sha256: str
    post_release: int
    replaces: frozenset
    entry_points: dict

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
    return cfg


def _option(cfg, section, option, setup_cfg, default=None):
    value = cfg[section].get(option, default)
    if value is None or not value.strip():
        raise OverlayError('%s [%s] has no value for %s'
                           % (setup_cfg, section, option))
    return value.strip()


def _entry_points(cfg, setup_cfg):
    """Our entry points by group, each line checked to be ``name = target``.

    setuptools would otherwise refuse a malformed line only after the whole
    tree has been assembled, and with a traceback.
    """
    entry_points = {}
    if not cfg.has_section(ENTRY_POINTS):
        return entry_points
    for group, value in cfg[ENTRY_POINTS].items():
        entry_points[group] = _lines(value)
        for line in entry_points[group]:
            name, equals, target = line.partition('=')
            if not (equals and name.strip() and target.strip()):
                raise OverlayError(
                    '%s [%s] %s: %r is not of the form "name = '
                    'module:object"' % (setup_cfg, ENTRY_POINTS, group, line))
    return entry_points


def load_settings(setup_cfg, environ=os.environ):
    """Read the ``[overlay]`` sections, honouring the base version override."""
    cfg = _read(setup_cfg)
    version = (environ.get(BASE_VERSION_ENV) or
               _option(cfg, MAIN, 'base_version', setup_cfg))
    section = 'overlay:%s' % version
    if not cfg.has_section(section):
        known = sorted(s.split(':', 1)[1] for s in cfg.sections()
                       if s.startswith('overlay:') and s != ENTRY_POINTS)
        raise OverlayError(
            'No [%s] section in %s: the sha256 of cloudkitty %s is not '
            'recorded. Known base versions: %s. Record the hash of the '
            'released wheel there to build on it.'
            % (section, setup_cfg, version, ', '.join(known)))
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
        replaces=frozenset(_lines(cfg[MAIN].get('replaces', ''))),
        entry_points=_entry_points(cfg, setup_cfg))
