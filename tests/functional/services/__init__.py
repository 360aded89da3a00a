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
"""The local services the functional tests, the demo and the benchmarks run.

One service, one module; what they all need is written once:

* ``process``: a child process in a process group of its own
  (``ChildProcess``: spawn it, wait until it answers, stop it by its PID)
  and the base of a service it runs on a loopback port
  (``LocalService``); run a command to completion, tail a log, find free
  loopback ports and programs;
* ``httpclient``: a standard-library HTTP client (``http()``);
* ``config``: ini files (configparser), gunicorn settings, time helpers;
* ``venv``: the services virtualenv (Keystone and Aetos releases per base);
* ``keystone``, ``aetos``, ``prometheus``: the three services of the stack;
* ``mariadb``, ``influxdb``, ``etcd``: CloudKitty's database, v2 storage and
  coordination backend;
* ``cloudkitty`` (configuration, schema, prices, scope states, reports),
  ``processor`` (a running ``cloudkitty-processor``) and ``cloudkitty_api``
  (``cloudkitty-api`` under gunicorn).

``functional.stack`` composes Keystone, Prometheus and Aetos into the
``Stack`` the tests share; ``functional.base`` holds the test helpers and the
one ``TestCase`` base. The modules used by ``functional.stack`` import only
the standard library, so that a stack can be started from any interpreter.
"""
