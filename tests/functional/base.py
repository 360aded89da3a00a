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
"""What the functional test modules share.

Starting Keystone, Aetos and Prometheus takes tens of seconds, so every test
that only reads shares one stack, started on first use and stopped when the
test process exits. Tests that stop services must start them again; tests
that need a differently configured stack build their own.

Also here: the one ``TestCase`` base of the functional tests (testtools:
logs attached on failure, figures attached and printed, a CloudKitty
environment per test), a MariaDB per test class, loading CloudKitty's
collectors from a real cloudkitty.conf, recording logs, and the base class
of the fault tests. The services themselves are in
``functional.services``, composed by ``functional.stack``.
"""

import collections
import datetime
import decimal
import itertools
import logging
import os
import shutil
import tempfile

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
import testtools
from testtools import content
import yaml

from cloudkitty import collector
from cloudkitty.collector import exceptions as collect_exc
from cloudkitty.common import prometheus_errors

from functional import dataset as planted
from functional import fake_servers
from functional import fetcher_env
from functional import oracle
from functional.services import cloudkitty_env
from functional.services import config
from functional.services import mariadb as mariadb_mod
from functional.services import process
from functional import stack as stack_mod

PERIOD = 3600
LOG_LINES = 200
"""Lines at the end of a log that a test attaches to its details."""
PROCESSOR_TIMEOUT = 180
"""Seconds a test waits for cloudkitty-processor to rate the planted
hours."""
METRIC = 'ck_instance_up'
# Option groups holding keystoneauth options (collector and fetcher).
AETOS_GROUPS = ('collector_aetos', 'fetcher_aetos')

_SHARED = {}
_DB_NAMES = itertools.count()


def shared_stack():
    """The process-wide stack, started on first call."""
    if 'stack' not in _SHARED:
        stack = stack_mod.Stack()
        stack.start()   # registers its own stop at exit
        _SHARED['stack'] = stack
    return _SHARED['stack']


def stack_of_base(test_class, name, **options):
    """A started stack of the services base ``name`` for ``test_class``.

    The shared stack when it is of that base and no option asks for
    another setting; otherwise a stack of its own, stopped when the class
    is done.
    """
    if not options and stack_mod.base_name() == name:
        return shared_stack()
    stack = stack_mod.Stack(base=name, **options)
    test_class.addClassCleanup(stack.stop)
    stack.start()
    return stack


def aetos_refuses_time(stack):
    """Whether the stack's Aetos predates the ``time`` parameter (1.x)."""
    return stack.base.aetos.split('.')[0] == '1'


def class_mariadb(test_class):
    """A started MariaDB server, stopped when ``test_class`` is done."""
    mariadb = mariadb_mod.MariaDB()
    mariadb.setUp()
    test_class.addClassCleanup(mariadb.cleanUp)
    return mariadb


def db_name(prefix):
    """A database name used once in this test process."""
    return '%s_%d' % (prefix, next(_DB_NAMES))


def class_workdir(test_class, prefix):
    """A temporary directory removed when ``test_class`` is done."""
    path = tempfile.mkdtemp(prefix=prefix)
    test_class.addClassCleanup(shutil.rmtree, path, True)
    return path


def load_config(sections, directory):
    """Parse a real cloudkitty.conf into the global CONF, as services do.

    Returns the file's path. The options of keystoneauth's password plugin
    only exist once the collector loads them, which is why a file (and not
    set_override) carries them.
    """
    path = config.write_ini(os.path.join(directory, 'cloudkitty.conf'),
                            sections)
    cfg.CONF.reset()
    # A service starts without them: options a plugin loaded earlier in
    # this process registered in a group the file leaves out would be
    # required all the same.
    for group in set(AETOS_GROUPS) - set(sections):
        if group in cfg.CONF:
            cfg.CONF.unregister_opts(
                ks_loading.get_auth_plugin_conf_options('password'), group)
    cfg.CONF(['--config-file', path], project='cloudkitty',
             default_config_files=[])
    return path


def load_collector(stack, directory, metrics, name='aetos', period=3600,
                   sections=None, **aetos_options):
    """A collector loaded as cloudkitty-processor loads it (stevedore).

    Writes ``metrics`` as metrics.yml and a cloudkitty.conf pointing both
    collectors at ``stack`` into ``directory``, then loads ``name``.
    ``aetos_options`` override the stack's ``[collector_aetos]`` options;
    a value of None removes the option. ``sections`` adds options, by
    section, to the rest of the file.
    """
    metrics_file = os.path.join(directory, 'metrics.yml')
    with open(metrics_file, 'w') as out:
        yaml.safe_dump(metrics, out)
    options = dict(stack.collector_options(), **aetos_options)
    conf = {
        'collect': {'collector': name, 'period': period,
                    'scope_key': 'project_id',
                    'metrics_conf': metrics_file},
        'collector_prometheus': {
            'prometheus_url': stack.prometheus_url + '/api/v1'},
        'collector_aetos': {key: value for key, value in options.items()
                            if value is not None},
    }
    for section, added in (sections or {}).items():
        conf.setdefault(section, {}).update(added)
    load_config(conf, directory)
    return collector.get_collector()


def metrics_conf(**extra_args):
    """A metrics.yml holding ``METRIC`` only, with extra_args added."""
    args = dict(aggregation_method='max', **extra_args)
    return {'metrics': {METRIC: {
        'unit': 'instance',
        'groupby': ['resource_id'],
        'metadata': ['flavor_name'],
        'extra_args': args,
    }}}


class RecordedLogs(logging.Handler):
    """Every record of every logger, kept while installed on the root.

    The root logger and the libraries' own loggers are lowered to ``level``
    for the duration, so nothing is filtered out before it reaches here;
    their loggers that a logging configuration disabled (alembic's, when
    CloudKitty migrates a database in this process) are enabled again.
    """

    # The tests' own loggers (functional.*) too.
    LIBRARIES = ('cloudkitty', 'keystoneauth', 'urllib3', 'requests',
                 'stevedore', 'functional')

    def __init__(self, level=logging.DEBUG):
        super(RecordedLogs, self).__init__(level)
        self.records = []
        self.setFormatter(logging.Formatter(
            '%(levelname)s %(name)s %(message)s'))
        self._level = level
        self._saved = {}
        self._enabled = []

    def emit(self, record):
        self.records.append(record)

    def install(self):
        for name in (None,) + self.LIBRARIES:
            logger = logging.getLogger(name)
            self._saved[name] = logger.level
            logger.setLevel(self._level)
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if (name.split('.')[0] in self.LIBRARIES
                    and getattr(logger, 'disabled', False)):
                logger.disabled = False
                self._enabled.append(logger)
        logging.getLogger().addHandler(self)
        return self

    def uninstall(self):
        logging.getLogger().removeHandler(self)
        for name, level in self._saved.items():
            logging.getLogger(name).setLevel(level)
        for logger in self._enabled:
            logger.disabled = True
        self._enabled = []

    def text(self):
        """Everything logged, formatted, tracebacks included."""
        return '\n'.join(self.format(record) for record in self.records)

    def messages(self, logger, level):
        return [record.getMessage() for record in self.records
                if record.name == logger and record.levelno == level]

    def warnings(self):
        """Messages of WARNING and above, whoever logged them."""
        return [record.getMessage() for record in self.records
                if record.levelno >= logging.WARNING]


class TestCase(testtools.TestCase):
    """The base of every functional test.

    testtools, so that a failing test can attach the services' logs
    (``addDetail``, ``addOnException``).
    """

    def attach_log(self, name, path):
        """Attach the end of a log file as the detail ``name``."""
        self.addDetail(name, content.text_content(
            process.tail(path, LOG_LINES)))

    def attach_on_failure(self, logs, names=None):
        """Attach logs as ``<name>.log`` details if the test fails.

        :param logs: {name: log file path}, e.g. ``Stack.logs``
        :param names: those of ``logs`` to attach; all when None
        """
        names = list(logs) if names is None else names

        def attach(exc_info):
            for name in names:
                self.attach_log('%s.log' % name, logs[name])

        self.addOnException(attach)

    def figures(self, label, lines):
        """Attach the figures of a test as ``figures`` and print them."""
        text = '\n'.join(['%s:' % label] + ['  ' + line for line in lines])
        self.addDetail('figures', content.text_content(text))
        print(text)

    def use_env(self, env):
        """Set up a ``CloudKittyEnv`` for this test only.

        Its processor log is attached to the test's details at cleanup,
        before the environment and its log are removed.
        """
        env = self.useFixture(env)
        self.addCleanup(self.attach_log, 'cloudkitty-processor.log',
                        env.log_file)
        return env


class ProcessorTestBase(TestCase):
    """Real cloudkitty-processor runs on the planted usage, checked.

    Each test gets a MariaDB database of its own (``env``); the planted
    points, computed by the oracle, are what every run must rate.
    """

    @classmethod
    def setUpClass(cls):
        super(ProcessorTestBase, cls).setUpClass()
        cls.stack = shared_stack()
        cls.mariadb = class_mariadb(cls)
        data = cls.stack.dataset
        cls.scopes = sorted(cls.stack.projects.values())
        cls.names = {pid: name for name, pid in data.project_ids.items()}
        cls.first = datetime.datetime.fromtimestamp(
            data.start, config.UTC)
        cls.last = datetime.datetime.fromtimestamp(
            data.hour(planted.HOURS - 1), config.UTC)
        cls.expected = oracle.expected_points(data, cls.scopes)

    def setUp(self):
        super(ProcessorTestBase, self).setUp()
        self.attach_on_failure(self.stack.logs, ('keystone', 'aetos'))

    def env(self, collector, **kwargs):
        return self.use_env(cloudkitty_env.CloudKittyEnv.from_stack(
            self.stack, self.mariadb, collector,
            name=db_name('ck_%s' % collector), **kwargs))

    def totals(self, points):
        """{(project name, metric): (quantity, price)} over the points."""
        totals = collections.defaultdict(
            lambda: [decimal.Decimal(0), decimal.Decimal(0)])
        for (scope, _begin, metric, _groups), (qty, price) in points.items():
            total = totals[(self.names[scope], metric)]
            total[0] += qty
            total[1] += price
        return {key: tuple(value) for key, value in totals.items()}

    def period_prices(self, points):
        """{(project name, period start): price} over the points."""
        prices = collections.defaultdict(decimal.Decimal)
        for (scope, begin, _metric, _groups), (_qty, price) in points.items():
            prices[(self.names[scope], begin)] += price
        return dict(prices)

    def assertClose(self, expected, actual, what):
        if not oracle.price_matches(expected, actual):
            self.fail('%s: expected %s, got %s' % (what, expected, actual))

    def assertRatedExactly(self, report):
        """Every expected point rated once, nothing else, right prices."""
        rated, duplicates = oracle.rated_points(report)
        self.assertEqual([], oracle.compare_points(
            self.expected, rated, duplicates))
        # The same, summed per project and metric and per project and
        # period, as a reader of the rated data would see it.
        expected_totals = self.totals(self.expected)
        rated_totals = self.totals(rated)
        self.assertEqual(sorted(expected_totals), sorted(rated_totals))
        for key, (qty, price) in expected_totals.items():
            self.assertEqual(qty, rated_totals[key][0], 'total of %s' %
                             (key,))
            self.assertClose(price, rated_totals[key][1],
                             'total price of %s' % (key,))
        expected_periods = self.period_prices(self.expected)
        rated_periods = self.period_prices(rated)
        self.assertEqual(sorted(expected_periods), sorted(rated_periods))
        for key, price in expected_periods.items():
            self.assertClose(price, rated_periods[key],
                             'price of period %s' % (key,))
        # Every rated project rated up to the last planted hour; nothing
        # else known to CloudKitty.
        self.assertEqual(sorted(self.scopes), sorted(report['states']))
        for scope, state in report['states'].items():
            self.assertGreaterEqual(state, self.last, scope)
        return rated


class FaultTestBase(TestCase):
    """Loads collectors from a real cloudkitty.conf on the shared stack."""

    @classmethod
    def setUpClass(cls):
        super(FaultTestBase, cls).setUpClass()
        cls.stack = shared_stack()
        cls.data = cls.stack.dataset
        cls.workdir = class_workdir(cls, 'ck-faults-')

    def _collector(self, name='aetos', metrics=None, **aetos_options):
        """A collector loaded as cloudkitty-processor loads it.

        ``aetos_options`` override the stack's ``[collector_aetos]``
        options; a value of None removes the option.
        """
        return load_collector(
            self.stack, tempfile.mkdtemp(dir=self.workdir),
            metrics or metrics_conf(), name, period=PERIOD, **aetos_options)

    def _fetch(self, collector_, project='rated-b', hour=1, scope_id=None):
        start = self.data.hour(hour)
        return collector_.fetch_all(
            METRIC, config.utc(start), config.utc(start + PERIOD),
            scope_id or self.data.project_ids[project])

    def _collect_error(self, collector_, kind, url=None, **kwargs):
        """The cause of the CollectError of one fetch.

        :param kind: the ``prometheus_errors`` class the cause must be
        :param url: the URL the cause must name (the stack's Aetos when
                    None)
        :returns: (the CollectError's one-line message, its cause)
        """
        with self.assertRaises(collect_exc.CollectError) as caught:
            self._fetch(collector_, **kwargs)
        message, cause = str(caught.exception), caught.exception.__cause__
        self.assertNotIn('\n', message)
        self.assertIsInstance(cause, kind, message)
        self.assertEqual(message, str(cause))
        self.assertEqual(url or self.stack.aetos_url, cause.url)
        return message, cause

    def _first_query_error(self, kind=None, **aetos_options):
        """The error of a new collector's first query: (message, cause).

        The collector is built without asking Keystone anything; the
        login, the token's scope and roles and the catalog are checked at
        its first query, whose CollectError names Keystone.

        :param kind: the ``prometheus_errors`` class of the cause
            (KeystoneError when None)
        """
        return self._collect_error(
            self._collector(**aetos_options),
            kind or prometheus_errors.KeystoneError,
            url=self.stack.keystone_url)

    def _restart_in_cleanup(self, service):
        """Stop a service of the shared stack now, start it at cleanup."""
        self.addCleanup(self.stack.start_service, service)
        self.stack.stop_service(service)

    def _fake_endpoint(self, interface='public'):
        """A FakeMetricStorage in the catalog, in a region of its own."""
        fake = fake_servers.FakeMetricStorage()
        fake.start()
        self.addCleanup(fake.stop)
        region = 'Fake-%s' % os.urandom(4).hex()
        endpoint = self.stack.add_endpoint(fake.url, region, interface)
        self.addCleanup(self.stack.remove_endpoint, endpoint, region)
        return fake, region


class AetosFetcherTestBase(TestCase):
    """Tests of the ``aetos`` fetcher on the shared stack.

    The projects with planted series (``planted``) are what discovery
    must find; the other projects Keystone holds have no usage.
    """

    @classmethod
    def setUpClass(cls):
        super(AetosFetcherTestBase, cls).setUpClass()
        cls.stack = shared_stack()
        cls.data = cls.stack.dataset
        cls.planted = fetcher_env.planted_projects(cls.data)
        cls.names = {pid: name for name, pid in cls.data.project_ids.items()}

    def setUp(self):
        super(AetosFetcherTestBase, self).setUp()
        self.attach_on_failure(self.stack.logs,
                               ('keystone', 'aetos', 'prometheus'))

    def named(self, scopes):
        """The planted names of ``scopes``, sorted; other IDs as they are."""
        return sorted(self.names.get(scope, scope) for scope in scopes)


class FetcherProcessorTestBase(AetosFetcherTestBase):
    """Real cloudkitty-processor runs whose scopes the aetos fetcher finds.

    Each test gets a MariaDB database of its own (``env``); every run must
    rate the planted usage of the planted projects through the last
    planted hour (``last``).
    """

    @classmethod
    def setUpClass(cls):
        super(FetcherProcessorTestBase, cls).setUpClass()
        cls.mariadb = class_mariadb(cls)
        cls.last = config.utc(cls.data.hour(planted.HOURS - 1))

    def env(self, prefix='ck_fetcher', **fetcher_options):
        """A CloudKittyEnv for this test, rating through Aetos only.

        :param prefix: the start of its database's name
        :param fetcher_options: [fetcher_aetos] options besides those
            ``fetcher_env.fetcher_sections`` writes
        """
        return self.use_env(fetcher_env.aetos_fetcher_env(
            self.stack, self.mariadb, name=db_name(prefix),
            overrides=fetcher_env.fetcher_sections(self.stack,
                                                   **fetcher_options)))

    def assertRatedPlanted(self, report):
        """Every planted point rated once, a state for each planted project.

        :param report: ``CloudKittyEnv.report()``
        :returns: (expected points, rated points, duplicates)
        """
        expected = oracle.expected_points(self.data, self.planted)
        rated, duplicates = oracle.rated_points(report)
        self.assertEqual([], oracle.compare_points(expected, rated,
                                                   duplicates))
        self.assertEqual(self.planted, sorted(report['states']))
        return expected, rated, duplicates
