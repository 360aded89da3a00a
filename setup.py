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
"""Build one ``cloudkitty`` distribution: the base release plus the overlay.

See ``overlay/build.py`` for how the tree is assembled and ``setup.cfg``
``[overlay]`` and ``[overlay:<version>]`` for the base release it is
assembled on and what the overlay replaces and adds there.
"""

import os
import pathlib
import shutil
import sys

import setuptools

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from overlay import build  # noqa: E402
from overlay import config  # noqa: E402


def _requirements(path):
    with open(path, encoding='utf-8') as f:
        return [line.split('#', 1)[0].strip() for line in f
                if line.split('#', 1)[0].strip()]


def _package_data(src, packages):
    """Ship non-Python files (paste ini, gabbi YAML...) as the base did."""
    package_data = {}
    for package in packages:
        directory = src / package.replace('.', os.sep)
        data = [p.name for p in directory.iterdir()
                if p.is_file() and p.suffix not in ('.py', '.pyc')]
        if data:
            package_data[package] = data
    return package_data


def _setup_arguments():
    """Assemble the tree; every anticipated failure is an OverlayError."""
    settings = config.load_settings(HERE / 'setup.cfg')
    src, base = build.prepare(HERE, HERE / 'build', settings)
    entry_points = build.merge_entry_points(
        base.entry_points, settings.entry_points,
        settings.replaces_entry_points, settings.section)
    # setuptools' own build tree (build/lib...) keeps whatever an earlier
    # build put there, and bdist_wheel packages all of it: start it afresh,
    # so nothing of another base release or of an older overlay is shipped.
    setuptools_build = HERE / 'build' / 'setuptools'
    shutil.rmtree(setuptools_build, ignore_errors=True)
    meta = base.metadata
    packages = setuptools.find_namespace_packages(
        where=str(src), include=[build.PACKAGE, build.PACKAGE + '.*'])
    return dict(
        name=build.PACKAGE,
        version=settings.version,
        description=meta['Summary'],
        long_description=meta.get_payload(),
        long_description_content_type=meta.get(
            'Description-Content-Type', 'text/x-rst'),
        author=meta['Author'],
        author_email=meta['Author-email'],
        url=meta['Home-page'],
        license='Apache-2.0',
        classifiers=meta.get_all('Classifier') or [],
        python_requires=meta['Requires-Python'],
        install_requires=((meta.get_all('Requires-Dist') or []) +
                          _requirements(HERE / 'requirements.txt')),
        package_dir={'': os.path.relpath(src, HERE)},
        packages=packages,
        package_data=_package_data(src, packages),
        scripts=[os.path.relpath(s, HERE) for s in base.scripts],
        entry_points=entry_points,
        zip_safe=False,
        options={'build': {'build_base': os.path.relpath(setuptools_build,
                                                         HERE)}},
    )


def _error(exc):
    """'error: <message>', any further line of the message indented."""
    first, *rest = ('%s' % exc).splitlines() or ['']
    return '\n'.join(['error: ' + first] +
                     ['  ' + line.strip() for line in rest])


def main():
    # A wrong setup.cfg, a base wheel that cannot be had or verified, an
    # overlay that does not fit the base, a file the build cannot read or
    # write: the user has something to fix, and one line says what.
    try:
        arguments = _setup_arguments()
    except (config.OverlayError, OSError) as exc:
        sys.exit(_error(exc))
    setuptools.setup(**arguments)


if __name__ == '__main__':
    main()
