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
"""Sphinx configuration of the Aetos collector overlay documentation."""

from importlib import metadata

# -- General ----------------------------------------------------------------

extensions = [
    'openstackdocstheme',
    # ``show-options`` renders the [collector_aetos] reference from the
    # option definitions registered under the ``oslo.config.opts`` entry
    # point, so the installed overlay is what gets documented.
    'oslo_config.sphinxext',
]

source_suffix = '.rst'
master_doc = 'index'
exclude_patterns = []
pygments_style = 'native'

project = 'CloudKitty Aetos collector'
copyright = '2026, OpenStack Foundation'

# setup.cfg carries the overlay build settings, not pbr metadata, so the
# theme cannot derive the project name or version from it: give both here.
openstackdocs_auto_name = False
openstackdocs_auto_version = False
try:
    release = metadata.version('cloudkitty')
except metadata.PackageNotFoundError:
    release = ''
version = release

openstackdocs_repo_name = 'openstack/cloudkitty'
openstackdocs_bug_project = 'cloudkitty'
openstackdocs_bug_tag = 'aetos'
openstackdocs_use_storyboard = False

# -- HTML output --------------------------------------------------------------

html_theme = 'openstackdocs'
html_static_path = []
htmlhelp_basename = 'cloudkitty-aetos-doc'
