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
"""Lay this repository's ``cloudkitty/`` over a released CloudKitty wheel.

The repository holds only the files the Aetos change adds or rewrites. This
module fetches the pinned base wheel, proves it is the released one by its
sha256, unpacks it, copies the overlay on top and refuses any collision that
is not explicitly allowed. ``setup.py`` then packages the merged tree.

Everything is driven by the ``[overlay]`` sections of ``setup.cfg`` (read by
``overlay/config.py``) so that a new base release is a matter of
configuration, not code.
"""

import configparser
import dataclasses
import email.message
import email.parser
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

from overlay import config

PACKAGE = 'cloudkitty'
BASE_WHEEL_ENV = 'CLOUDKITTY_BASE_WHEEL'
# Byte-code and editor droppings are never part of the overlay.
IGNORED_SUFFIXES = ('.pyc', '.pyo', '.swp', '~')
IGNORED_DIRS = ('__pycache__',)


@dataclasses.dataclass
class Base:
    """What the build needs to know about the unpacked base release."""

    metadata: email.message.Message
    entry_points: dict
    scripts: list


def wheel_name(version):
    return '%s-%s-py3-none-any.whl' % (PACKAGE, version)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 16), b''):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_base(settings, cache_dir, environ=os.environ):
    """Return the path of the verified base wheel, downloading it if needed.

    pip does the download so that the deployer's index, proxy and
    certificate settings apply. ``CLOUDKITTY_BASE_WHEEL`` names a local
    wheel instead, for builds without access to an index.
    """
    local = environ.get(BASE_WHEEL_ENV)
    if local:
        wheel = pathlib.Path(local)
        if not wheel.is_file():
            raise config.OverlayError('%s=%s: no such file'
                                      % (BASE_WHEEL_ENV, local))
    else:
        cache_dir = pathlib.Path(cache_dir)
        wheel = cache_dir / wheel_name(settings.base_version)
        if not wheel.is_file():
            cache_dir.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, '-m', 'pip', 'download', '--quiet',
                   '--no-deps', '--only-binary=:all:', '--dest',
                   str(cache_dir), '%s==%s' % (PACKAGE, settings.base_version)]
            result = subprocess.run(cmd, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            if result.returncode or not wheel.is_file():
                raise config.OverlayError(
                    'Could not download the base wheel %s with pip (exit '
                    'status %d): %s\nSet %s to a local copy of the wheel to '
                    'build offline.' % (wheel.name, result.returncode,
                                        result.stdout.strip()[-2000:],
                                        BASE_WHEEL_ENV))
    actual = sha256_of(wheel)
    if actual != settings.sha256:
        raise config.OverlayError(
            'Base wheel %s has sha256 %s but setup.cfg [overlay:%s] records '
            '%s: the file is corrupt or is not the released cloudkitty %s. '
            'Delete it and build again, or fix %s.'
            % (wheel, actual, settings.base_version, settings.sha256,
               settings.base_version, BASE_WHEEL_ENV if local else
               'the download source'))
    return wheel


def overlay_files(overlay_root):
    """Relative paths of the overlay's files, in a stable order."""
    root = pathlib.Path(overlay_root)
    found = []
    for path in sorted(root.rglob('*')):
        rel = path.relative_to(root.parent)
        if (path.is_dir() or path.name.endswith(IGNORED_SUFFIXES) or
                any(part in IGNORED_DIRS for part in rel.parts)):
            continue
        found.append(rel.as_posix())
    return found


def check_overlay(base_files, overlay, replaces,
                  section='overlay:<version>'):
    """Refuse every collision with the base that is not explicitly listed.

    Returns the overlay files that replace base files. ``base_files`` and
    ``overlay`` are sets of paths relative to the tree root; ``section``
    names the ``setup.cfg`` section holding ``replaces``, for messages.
    """
    problems = []
    replaced = sorted(overlay & base_files)
    for path in replaced:
        if path not in replaces:
            problems.append(
                '%s would replace the base release\'s file of the same '
                'name, and it is not in setup.cfg [%s] replaces'
                % (path, section))
    base_dirs = {os.path.dirname(p) for p in base_files}
    for path in sorted(overlay - base_files):
        directory, name = os.path.split(path)
        if name == '__init__.py' and directory in base_dirs:
            problems.append(
                '%s would turn the base directory %s into a package and so '
                'change what the base test suite discovers' % (path,
                                                               directory))
    for path in sorted(replaces - set(replaced)):
        problems.append(
            '%s is listed in setup.cfg [%s] replaces but the overlay '
            'and the base do not both have it: remove it from the list'
            % (path, section))
    if problems:
        raise config.OverlayError(
            'The overlay does not fit the base release:\n  '
            + '\n  '.join(problems))
    return replaced


def _parse_entry_points(text):
    cfg = configparser.ConfigParser(interpolation=None, delimiters=('=',))
    cfg.optionxform = str
    cfg.read_string(text)
    return {group: ['%s = %s' % (name, value.strip())
                    for name, value in cfg[group].items()]
            for group in cfg.sections()}


def _name(entry_point):
    return entry_point.split('=', 1)[0].strip()


def merge_entry_points(base, ours, replaces=frozenset(),
                       section='overlay:<version>'):
    """Base entry points plus ours; a name clash is an error.

    :param replaces: ``(group, name)`` pairs of base entry points that one
        of ours replaces; each must be in the base and in ours
    :param section: the ``setup.cfg`` section of the base, for messages
    :raises OverlayError: on a clash not listed in ``replaces``, or an
        entry of ``replaces`` that replaces nothing
    """
    merged = {group: list(values) for group, values in base.items()}
    problems = []
    for group, name in sorted(replaces):
        in_base = {_name(v) for v in merged.get(group, [])}
        in_ours = {_name(v) for v in ours.get(group, [])}
        if name not in in_base or name not in in_ours:
            problems.append(
                '%s: %s is listed in setup.cfg [%s] replaces_entry_points '
                'but the base and the overlay do not both define it: '
                'remove it from the list' % (group, name, section))
        merged[group] = [v for v in merged.get(group, [])
                         if _name(v) != name]
    for group, values in ours.items():
        taken = {_name(v) for v in merged.get(group, [])}
        for value in values:
            if _name(value) in taken:
                problems.append(
                    'Entry point %r in group %s is already defined by the '
                    'base release: remove ours, or list "%s: %s" in '
                    'setup.cfg [%s] replaces_entry_points for ours to take '
                    'its place' % (_name(value), group, group, _name(value),
                                   section))
            merged.setdefault(group, []).append(value)
    if problems:
        raise config.OverlayError('\n  '.join(problems))
    return merged


def _unpack(wheel, src):
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(src)


def prepare(repo_root, build_root, settings, environ=os.environ):
    """Build the merged source tree and describe the base release.

    The tree is rebuilt from scratch each time so that a file removed from
    the overlay does not linger from an earlier build.
    """
    repo_root = pathlib.Path(repo_root)
    build_root = pathlib.Path(build_root)
    wheel = fetch_base(settings, build_root / 'base-wheels', environ)
    src = build_root / 'overlay-src'
    _unpack(wheel, src)
    dist_info = src / ('%s-%s.dist-info' % (PACKAGE, settings.base_version))
    data_dir = src / ('%s-%s.data' % (PACKAGE, settings.base_version))
    base_files = {p.relative_to(src).as_posix()
                  for p in (src / PACKAGE).rglob('*') if p.is_file()}
    ours = overlay_files(repo_root / PACKAGE)
    check_overlay(base_files, set(ours), settings.replaces,
                  settings.section)
    for rel in ours:
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo_root / rel, target)
    metadata = email.parser.Parser().parsestr(
        (dist_info / 'METADATA').read_text(encoding='utf-8'))
    entry_points = _parse_entry_points(
        (dist_info / 'entry_points.txt').read_text(encoding='utf-8'))
    # Scripts move out of the tree, and the base's own dist-info goes, so
    # that neither is packaged a second time next to ours.
    scripts_dir = build_root / 'overlay-scripts'
    if scripts_dir.exists():
        shutil.rmtree(scripts_dir)
    if (data_dir / 'scripts').is_dir():
        shutil.copytree(data_dir / 'scripts', scripts_dir)
    shutil.rmtree(dist_info)
    shutil.rmtree(data_dir, ignore_errors=True)
    scripts = sorted(str(p) for p in scripts_dir.glob('*'))
    return src, Base(metadata=metadata, entry_points=entry_points,
                     scripts=scripts)
