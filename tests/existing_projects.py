"""Existing services of the shapes memwise is added to, written out file by file.

Each is a small but real project: its own packaging, pytest configuration, test style, CI and
task runner, as the brief's services (a bot, a cache library, a service made from a company
template) have them. tests/test_existing.py adds memwise to each and checks nothing of theirs
changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ExistingProject:
    """Files of an existing project, its own test command and memwise's touch points."""

    name: str
    files: dict[str, str]
    own_tests: list[str]  # the project's own plain test command, run in a fresh uv venv
    install: list[str]  # what `uv pip install` needs for that command
    memwise_settings: str = ""  # the [tool.memwise] table the project adds (a touch point)
    has_noxfile: bool = False
    workload: str | None = None
    ci_env: dict[str, str] = field(default_factory=dict)  # what the project's own CI sets
    python: str = "3.13"  # the Python of its own test run (within its requires-python)
    lock: list[str] | None = None  # the command that writes its lock file, run once written
    locked: dict[str, str] = field(default_factory=dict)  # pins its lock must hold
    memory_python: str | None = None  # the memory Python memwise must choose for it

    def write(self, root: Path) -> Path:
        for relative, text in self.files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if self.lock:  # uv from this suite's environment, as the tests' nox finds it
            uv = Path(sys.executable).parent / "uv"
            command = [str(uv) if word == "uv" and uv.exists() else word for word in self.lock]
            # Not this suite's nox environment (nox sets UV_PYTHON to it): the project's Python.
            env = {key: value for key, value in os.environ.items() if key != "UV_PYTHON"}
            subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
        return root


OWN_CI = """\
name: ci
on: [push]
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo "the project's own CI"
"""

# A Discord-style bot: uv project without [build-system], unittest.TestCase suite, flat
# layout, its own noxfile, CI and pre-commit config; a load script outside the package.
BOT = ExistingProject(
    name="bot",
    files={
        "pyproject.toml": """\
[project]
name = "chatbot"
version = "2.3.0"
description = "A chat bot with background tasks"
requires-python = ">=3.11"
dependencies = ["attrs>=23"]

[dependency-groups]
dev = ["pytest>=8"]

[tool.uv]
package = false
""",
        "chatbot/__init__.py": '"""The bot."""\n',
        "chatbot/handlers.py": """\
import attrs


@attrs.define
class Message:
    author: str
    text: str


class History:
    \"\"\"Keeps the last messages of a channel.\"\"\"

    def __init__(self, size: int) -> None:
        self.size = size
        self.messages: list[Message] = []

    def add(self, message: Message) -> None:
        self.messages.append(message)
        del self.messages[: -self.size]


def handle_burst(history: History, count: int) -> int:
    for number in range(count):
        history.add(Message("user", f"message {number} " + "x" * 200))
    return len(history.messages)
""",
        "tests/__init__.py": "",
        "tests/test_handlers.py": """\
import unittest

from chatbot.handlers import History, handle_burst


class HistoryTest(unittest.TestCase):
    def test_history_keeps_only_its_size(self):
        history = History(size=50)
        self.assertEqual(handle_burst(history, 5000), 50)

    def test_empty_history(self):
        self.assertEqual(History(size=3).messages, [])
""",
        "scripts/load.py": """\
from chatbot.handlers import History, handle_burst

history = History(size=1000)
for _ in range(300):
    handle_burst(history, 2000)
print("done")
""",
        "noxfile.py": """\
import nox

nox.options.default_venv_backend = "uv"


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-r", "pyproject.toml", "--group", "dev")
    session.run("python", "-m", "pytest")
""",
        ".github/workflows/ci.yml": OWN_CI,
        ".pre-commit-config.yaml": "repos: []\n",
        ".gitignore": ".venv/\n__pycache__/\n",
        "README.md": "# chatbot\n",
    },
    own_tests=["python", "-m", "pytest", "-q"],
    install=["-r", "pyproject.toml", "--group", "dev"],
    memwise_settings='workload = "scripts/load.py"\n',
    has_noxfile=True,
    workload="scripts/load.py",
)

# An asyncio cache library: setuptools, src layout, pytest configured in setup.cfg with
# asyncio_mode = auto and --strict-markers, a server test deselected in CI, test extras,
# its own Makefile and CI.
CACHE_LIBRARY = ExistingProject(
    name="cachelib",
    files={
        "pyproject.toml": """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "asynccache"
version = "0.9.0"
requires-python = ">=3.10"
classifiers = [
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.24"]
""",
        "setup.cfg": """\
[tool:pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -ra
markers =
    redis: needs a running Redis server
testpaths = tests
""",
        "src/asynccache/__init__.py": """\
import asyncio


class Cache:
    \"\"\"An asyncio cache that evicts its oldest entries.\"\"\"

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: dict[str, bytes] = {}
        self._lock = asyncio.Lock()

    async def set(self, key: str, value: bytes) -> None:
        async with self._lock:
            self._data[key] = value
            while len(self._data) > self.max_entries:
                self._data.pop(next(iter(self._data)))

    async def get(self, key: str) -> bytes | None:
        return self._data.get(key)
""",
        "tests/test_cache.py": """\
import pytest

from asynccache import Cache


async def test_cache_evicts_old_entries():
    cache = Cache(max_entries=10)
    for number in range(1000):
        await cache.set(str(number), bytes(10_000))
    assert await cache.get("0") is None


@pytest.mark.redis
async def test_against_a_real_server():
    raise ConnectionError("no Redis server here")
""",
        "benchmarks/fill.py": """\
import asyncio

from asynccache import Cache


async def main() -> None:
    cache = Cache(max_entries=500)
    for number in range(50_000):
        await cache.set(str(number), bytes(2_000))


asyncio.run(main())
""",
        "Makefile": "test:\n\tpytest -m 'not redis'\n",
        ".github/workflows/tests.yml": OWN_CI,
        ".gitignore": "*.egg-info/\nbuild/\n.venv/\n__pycache__/\n",
    },
    own_tests=["python", "-m", "pytest", "-q", "-m", "not redis"],
    install=["-e", ".[test]"],
    memwise_settings='workload = "benchmarks/fill.py"\npytest-args = ["-m", "not redis"]\n',
    workload="benchmarks/fill.py",
)

# A service made from a company template: hatchling, flat layout, pytest configured in
# tox.ini, test requirements in a file, tests that need an environment variable.
HATCH_SERVICE = ExistingProject(
    name="hatchsvc",
    files={
        "pyproject.toml": """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "ordersvc"
version = "1.0.0"
requires-python = ">=3.11"

# The company template's lint: every ruff rule.
[tool.ruff.lint]
select = ["ALL"]
""",
        ".copier-answers.yml": "# Changes here will be overwritten by Copier\n_src_path: gh:company/template\n",
        ".gitignore": "__pycache__/\n.venv/\n",
        "tox.ini": "[pytest]\naddopts = -ra\ntestpaths = tests\n",
        "requirements-test.txt": "pytest>=8\n",
        "ordersvc/__init__.py": """\
import os


def database_url() -> str:
    return os.environ["ORDERSVC_DSN"]


def load_orders(count: int) -> list[dict[str, int]]:
    return [{"order": number, "amount": number * 3} for number in range(count)]
""",
        "tests/test_orders.py": """\
from ordersvc import database_url, load_orders


def test_settings_come_from_the_environment():
    assert database_url().startswith("sqlite://")


def test_orders_load():
    assert len(load_orders(10_000)) == 10_000
""",
    },
    own_tests=["python", "-m", "pytest", "-q"],
    install=["-e", ".", "-r", "requirements-test.txt"],
    memwise_settings='[tool.memwise.env]\nORDERSVC_DSN = "sqlite:///:memory:"\n',
    ci_env={"ORDERSVC_DSN": "sqlite:///:memory:"},
)
# Its tests carry memory budgets, which its pytest configuration registers (as a project
# does once it uses them in plain runs with --strict-markers).
HATCH_SERVICE.files["tests/test_budget.py"] = """\
import pytest

from ordersvc import load_orders


@pytest.mark.limit_memory("64 MB")
def test_loading_orders_stays_within_budget():
    assert len(load_orders(50_000)) == 50_000
"""
HATCH_SERVICE.files["tox.ini"] = (
    "[pytest]\naddopts = -ra --strict-markers\ntestpaths = tests\n"
    "markers =\n    limit_memory(size): memory budget (pytest-memray)\n"
)

# A uv application pinned to one Python older than the newest, with a uv.lock of older
# releases than today's (as a real bot's lock ages): memwise must run it on that Python with
# those versions, not resolve afresh on the newest Python.
PINNED_BOT = ExistingProject(
    name="pinnedbot",
    files={
        "pyproject.toml": """\
[project]
name = "pinnedbot"
version = "1.4.0"
requires-python = "==3.14.*"
dependencies = ["attrs>=23"]

[dependency-groups]
dev = ["pytest>=8"]

[tool.uv]
package = false
""",
        "pinnedbot/__init__.py": "",
        "pinnedbot/replies.py": """\
import attrs


@attrs.frozen
class Reply:
    channel: str
    text: str


def replies(count: int) -> list[Reply]:
    return [Reply("general", f"reply {number}") for number in range(count)]
""",
        "tests/__init__.py": "",
        "tests/test_replies.py": """\
import unittest

import attrs
import pytest

from pinnedbot.replies import replies


class RepliesTest(unittest.TestCase):
    @pytest.mark.limit_memory("32 MB")
    def test_a_burst_of_replies(self):
        self.assertEqual(len(replies(20_000)), 20_000)

    def test_attrs_is_there(self):
        self.assertTrue(attrs.__version__)
""",
        ".gitignore": ".venv/\n__pycache__/\n",
    },
    own_tests=["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
    install=["-r", "pyproject.toml", "--group", "dev"],
    python="3.14",
    lock=["uv", "lock", "--quiet", "--exclude-newer", "2024-06-01T00:00:00Z"],
    locked={"attrs": "23.2.0"},
    memory_python="3.14",
)

# A poetry 1 service: no [project] table, its dependencies and dev group in [tool.poetry], a
# poetry.lock pinning pytest 7.4 and pytest-asyncio 0.21 (which pytest 8 breaks), Python ~3.12.
POETRY_SERVICE = ExistingProject(
    name="poetrysvc",
    files={
        "pyproject.toml": """\
[tool.poetry]
name = "quotes"
version = "0.7.1"
description = "A quotes service"
authors = ["Quotes Team <team@example.com>"]
packages = [{ include = "quotes" }]

[tool.poetry.dependencies]
python = "~3.12"
attrs = "^23.1"

[tool.poetry.group.dev.dependencies]
pytest = "^7.4"
pytest-asyncio = "0.21.1"

[build-system]
requires = ["poetry-core>=1.0.0"]
build-backend = "poetry.core.masonry.api"

[tool.pytest.ini_options]
asyncio_mode = "strict"
""",
        "poetry.lock": """\
# This file is automatically @generated by Poetry 1.8.3 and should not be changed by hand.

[[package]]
name = "attrs"
version = "23.1.0"
description = "Classes Without Boilerplate"
optional = false
python-versions = ">=3.7"
files = []

[[package]]
name = "iniconfig"
version = "2.0.0"
description = "brain-dead simple config-ini parsing"
optional = false
python-versions = ">=3.7"
files = []

[[package]]
name = "packaging"
version = "23.2"
description = "Core utilities for Python packages"
optional = false
python-versions = ">=3.7"
files = []

[[package]]
name = "pluggy"
version = "1.3.0"
description = "plugin and hook calling mechanisms for python"
optional = false
python-versions = ">=3.8"
files = []

[[package]]
name = "pytest"
version = "7.4.4"
description = "pytest: simple powerful testing with Python"
optional = false
python-versions = ">=3.7"
files = []

[[package]]
name = "pytest-asyncio"
version = "0.21.1"
description = "Pytest support for asyncio"
optional = false
python-versions = ">=3.7"
files = []

[metadata]
lock-version = "2.0"
python-versions = "~3.12"
content-hash = "0000000000000000000000000000000000000000000000000000000000000000"
""",
        "quotes/__init__.py": """\
import asyncio

import attrs


@attrs.define
class Quote:
    author: str
    text: str


async def fetch_quotes(count: int) -> list[Quote]:
    await asyncio.sleep(0)
    return [Quote("anon", f"quote {number} " * 4) for number in range(count)]
""",
        "tests/conftest.py": """\
import pytest

from quotes import Quote


@pytest.fixture
def sample() -> Quote:
    return Quote("ada", "numbers")
""",
        "tests/test_quotes.py": """\
import attrs
import pytest

from quotes import fetch_quotes


@pytest.mark.asyncio
@pytest.mark.limit_memory("32 MB")
async def test_fetching_quotes_stays_within_budget():
    assert len(await fetch_quotes(20_000)) == 20_000


def test_the_locked_versions(sample):
    assert sample.author == "ada"
    assert attrs.__version__ == "23.1.0"
    assert pytest.__version__ == "7.4.4"
""",
        ".gitignore": ".venv/\n__pycache__/\n",
    },
    own_tests=["python", "-m", "pytest", "-q"],
    install=["-e", ".", "attrs==23.1.0", "pytest==7.4.4", "pytest-asyncio==0.21.1"],
    python="3.12",
    locked={"attrs": "23.1.0", "pytest": "7.4.4", "pytest-asyncio": "0.21.1"},
    memory_python="3.12",
)

# A setuptools bot of the older school: dependencies and extras computed by setup.py from
# requirements files (dynamic metadata), tox, classifiers up to 3.11, pytest-cov in its
# addopts with warnings as errors, and code that imports pip at run time.
DYNAMIC_BOT = ExistingProject(
    name="dynbot",
    files={
        "pyproject.toml": """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "dynbot"
version = "3.0.0"
requires-python = ">=3.8"
dynamic = ["dependencies", "optional-dependencies"]
classifiers = [
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.11",
]
""",
        "setup.py": """\
from pathlib import Path

from setuptools import setup


def requirements(name):
    return Path("requirements", name).read_text().split()


setup(
    packages=["dynbot"],
    install_requires=requirements("base.txt"),
    extras_require={"test": requirements("ci.txt")},
)
""",
        "requirements/base.txt": "attrs>=23\n",
        # Named as no requirements file memwise looks for: only the backend's extra has it.
        "requirements/ci.txt": "pytest>=8\npytest-cov>=5\n",
        "tox.ini": """\
[tox]
envlist = py310, py311

[testenv]
extras = test
commands = pytest

[pytest]
addopts = --cov=dynbot --cov-report=term
filterwarnings = error
testpaths = tests
markers =
    limit_memory(size): memory budget (pytest-memray)
""",
        "dynbot/__init__.py": """\
def installer_version() -> str:
    # The bot reports its environment; it imports pip at run time (tox's environments have it).
    import pip

    return pip.__version__


def commands(count: int) -> list[str]:
    return [f"!command {number}" for number in range(count)]
""",
        "tests/test_dynbot.py": """\
import pytest

from dynbot import commands, installer_version


def test_reports_its_installer():
    assert installer_version()


@pytest.mark.limit_memory("32 MB")
def test_commands_stay_within_budget():
    assert len(commands(50_000)) == 50_000
""",
        ".gitignore": ".tox/\n__pycache__/\n.coverage\n*.egg-info/\n",
    },
    own_tests=["python", "-m", "pytest", "-q"],
    install=["-e", ".[test]", "pip"],
    python="3.11",
    memory_python="3.11",
)

# A pdm service: PEP 621 metadata with pdm-backend, its test group in
# [tool.pdm.dev-dependencies], a pdm.lock pinning older releases than today's, and a suite of
# real work (each test fills and reads an SQLite table) whose tests share one database file, as
# many services' suites do: under pytest-xdist workers they would see each other's rows.
PDM_SERVICE = ExistingProject(
    name="pdmsvc",
    files={
        "pyproject.toml": """\
[project]
name = "ledger"
version = "1.2.0"
description = "An orders ledger"
requires-python = ">=3.12,<3.14"
dependencies = ["attrs>=23"]

[tool.pdm]
distribution = true

[tool.pdm.dev-dependencies]
test = ["pytest>=8"]

[build-system]
requires = ["pdm-backend"]
build-backend = "pdm.backend"

[tool.pytest.ini_options]
testpaths = ["tests"]
""",
        "pdm.lock": """\
# This file is @generated by PDM.
# It is not intended for manual editing.

[metadata]
groups = ["default", "test"]
strategy = ["inherit_metadata"]
lock_version = "4.5.0"
content_hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

[[metadata.targets]]
requires_python = ">=3.12,<3.14"

[[package]]
name = "attrs"
version = "23.2.0"
requires_python = ">=3.7"
summary = "Classes Without Boilerplate"
groups = ["default"]
files = []

[[package]]
name = "iniconfig"
version = "2.0.0"
requires_python = ">=3.7"
summary = "brain-dead simple config-ini parsing"
groups = ["test"]
files = []

[[package]]
name = "pluggy"
version = "1.5.0"
requires_python = ">=3.8"
summary = "plugin and hook calling mechanisms for python"
groups = ["test"]
files = []

[[package]]
name = "pytest"
version = "8.3.3"
requires_python = ">=3.8"
summary = "pytest: simple powerful testing with Python"
groups = ["test"]
dependencies = ["iniconfig", "packaging", "pluggy<2,>=1.5"]
files = []
""",
        "src/ledger/__init__.py": """\
import json
import sqlite3
from pathlib import Path

import attrs


@attrs.frozen
class Order:
    number: int
    customer: str
    cents: int


def record(database: Path, orders: list[Order]) -> None:
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [(order.number, order.customer, order.cents) for order in orders],
        )


def report(database: Path, customer: str) -> str:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT number, cents FROM orders WHERE customer = ? ORDER BY number", (customer,)
        ).fetchall()
    return json.dumps({"customer": customer, "orders": [list(row) for row in rows]})
""",
        "tests/conftest.py": """\
import sqlite3
from pathlib import Path

import pytest

# One database file for the whole run, as the service's own deployment has one.
DATABASE = Path(__file__).parent.parent / "test-ledger.sqlite3"


@pytest.fixture(scope="session")
def database() -> Path:
    DATABASE.unlink(missing_ok=True)
    with sqlite3.connect(DATABASE) as connection:
        connection.execute("CREATE TABLE orders (number INTEGER PRIMARY KEY, customer, cents)")
    return DATABASE
""",
        "tests/test_ledger.py": """\
import json
import sqlite3

import pytest

from ledger import Order, record, report

ORDERS = 1_500
CUSTOMERS = 60


@pytest.mark.parametrize("customer", range(CUSTOMERS))
def test_a_customers_report_lists_their_orders(database, customer):
    first = customer * ORDERS
    record(database, [Order(first + n, f"c{customer}", n) for n in range(ORDERS)])
    found = json.loads(report(database, f"c{customer}"))
    assert len(found["orders"]) == ORDERS
    assert sum(cents for _, cents in found["orders"]) == ORDERS * (ORDERS - 1) // 2


def test_the_ledger_holds_every_order_recorded(database):
    # Counts the rows every test above wrote into the shared file: one process only.
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute("SELECT count(*) FROM orders").fetchone()
    assert count == ORDERS * CUSTOMERS


@pytest.mark.limit_memory("48 MB")
def test_a_large_report_stays_within_budget(tmp_path):
    scratch = tmp_path / "large.sqlite3"
    with sqlite3.connect(scratch) as connection:
        connection.execute("CREATE TABLE orders (number INTEGER PRIMARY KEY, customer, cents)")
    record(scratch, [Order(n, "big", n) for n in range(50_000)])
    assert len(json.loads(report(scratch, "big"))["orders"]) == 50_000
""",
        ".gitignore": ".venv/\n__pycache__/\n*.sqlite3\n.pdm-python\n",
    },
    own_tests=["python", "-m", "pytest", "-q", "-p", "no:randomly"],
    install=["-e", ".", "attrs==23.2.0", "pytest==8.3.3"],
    python="3.13",
    locked={"attrs": "23.2.0", "pytest": "8.3.3"},
    memory_python="3.13",
)

# A Discord-style library (issue 37): hatchling, src layout, its own noxfile pinning an older nox
# in its script block, warnings as errors, parametrized test ids longer than a file name, a
# Dockerfile on a Python older than the newest installed (the memory Python), and Jinja-style
# templates whose compiled code carries the template's file name (as Jinja's does).
EMBED_LIBRARY = ExistingProject(
    name="embedlib",
    files={
        "pyproject.toml": """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "embedlib"
version = "3.1.0"
requires-python = ">=3.10"

[dependency-groups]
test = ["pytest>=8"]

[tool.pytest.ini_options]
addopts = "-ra --strict-markers"
filterwarnings = ["error"]
testpaths = ["tests"]

[tool.ruff.lint]
select = ["ALL"]
""",
        "Dockerfile": "FROM python:3.12-slim\nCOPY . /app\nRUN pip install /app\n",
        "noxfile.py": """\
# /// script
# dependencies = ["nox==2025.10.16"]
# ///
import nox

nox.options.default_venv_backend = "uv"


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".", "--group", "test")
    session.run("pytest", "-W", "error")
""",
        "src/embedlib/__init__.py": '"""Rich embeds for chat messages."""\n',
        "src/embedlib/templates/field.txt.jinja": (
            "{% for name, value, inline in fields %}{{ name }}: {{ value }}\n{% endfor %}\n"
        ),
        "src/embedlib/embeds.py": """\
from pathlib import Path

TEMPLATE = Path(__file__).parent / "templates" / "field.txt.jinja"
# What Jinja does with a template: Python code compiled under the template's file name.
_CODE = "def render(fields):\\n    return ''.join(f'{n}: {v}\\\\n' for n, v, _ in fields)\\n"
_SPACE: dict = {}
exec(compile(_CODE, str(TEMPLATE), "exec"), _SPACE)


class Embed:
    def __init__(self, title: str) -> None:
        self.title = title
        self.fields: list[tuple[str, str, bool]] = []

    def add_field(self, name: str, value: str, inline: bool = False) -> None:
        self.fields.append((name, value, inline))

    def render(self) -> str:
        return self.title + "\\n" + _SPACE["render"](self.fields)
""",
        "tests/test_embeds.py": """\
import pytest

from embedlib.embeds import Embed

LONG_TITLES = ["embed-" + "x" * 300, "embed-" + "y" * 280]


@pytest.mark.parametrize("title", LONG_TITLES)
def test_a_title_longer_than_a_file_name(title):
    embed = Embed(title)
    embed.add_field("a", "b")
    assert embed.render().startswith(title)


def test_many_fields_render():
    embed = Embed("orders")
    for number in range(2_000):
        embed.add_field(f"field {number}", "v" * 50, inline=number % 2 == 0)
    assert embed.render().count("\\n") == 2_001
""",
        "scripts/load.py": """\
from embedlib.embeds import Embed

for _ in range(40):
    embed = Embed("load")
    for number in range(20_000):
        embed.add_field(f"field {number}", "v" * 40)
    embed.render()
print("done")
""",
        ".gitignore": "__pycache__/\n.venv/\n.env\n",
    },
    own_tests=["python", "-m", "pytest", "-q"],
    install=["-e", ".", "--group", "test"],
    memwise_settings='workload = "scripts/load.py"\n',
    has_noxfile=True,
    workload="scripts/load.py",
    python="3.12",
    memory_python="3.12",
)

# A Poetry 2 command-line tool: [project] metadata built by poetry-core 2, PEP 735 groups, and
# two tests that run pre-commit, which its `linters` group lists (its CI installs test and
# linters). memwise installs `test` only unless told: the one touch point is test-groups.
CLI_TOOL = ExistingProject(
    name="treecli",
    files={
        "pyproject.toml": """\
[build-system]
requires = ["poetry-core>=2.0,<3"]
build-backend = "poetry.core.masonry.api"

[project]
name = "treecli"
version = "1.4.0"
description = "Prints a project's tree"
requires-python = ">=3.10"
dependencies = []

[project.scripts]
treecli = "treecli.cli:main"

[dependency-groups]
test = ["pytest>=8"]
linters = ["pre-commit>=3"]

[tool.pytest.ini_options]
addopts = "-ra"
""",
        "src/treecli/__init__.py": '"""Prints a project\'s tree."""\n',
        "src/treecli/templates/tree.txt.jinja": "{% for entry in tree %}{{ entry }}\n{% endfor %}\n",
        "src/treecli/cli.py": """\
import sys
from pathlib import Path

TEMPLATE = Path(__file__).parent / "templates" / "tree.txt.jinja"


def tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def main() -> None:
    print("\\n".join(tree(Path(sys.argv[1] if len(sys.argv) > 1 else "."))))
""",
        "tests/test_cli.py": """\
import subprocess
import sys

import pytest

from treecli.cli import TEMPLATE, tree


@pytest.mark.limit_memory("32 MB")
def test_tree_lists_every_file(tmp_path):
    for number in range(300):
        (tmp_path / f"file-{number}.txt").write_text("x")
    assert len(tree(tmp_path)) == 300


def test_the_template_ships_with_the_package():
    assert "for entry in tree" in TEMPLATE.read_text()


def test_pre_commit_runs():
    found = subprocess.run([sys.executable, "-m", "pre_commit", "--version"],
                           capture_output=True, text=True, check=True)
    assert found.stdout.startswith("pre-commit ")


def test_the_hooks_config_is_valid(tmp_path):
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text("repos: []\\n")
    subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", str(config)],
                   check=True)
""",
        ".gitignore": "__pycache__/\n.venv/\ndist/\n",
    },
    own_tests=["python", "-m", "pytest", "-q"],
    install=["-e", ".", "--group", "test", "--group", "linters"],
    memwise_settings='test-groups = ["test", "linters"]\n',
    python="3.13",
)

# A Django service: settings from a .env file its README says to create (git ignores it),
# `requires-python = ">=3.11,<4"` with no classifiers, and a Dockerfile on 3.14, older than
# the newest Python installed: memwise measures on 3.14. A red gate and memdiff measure
# another commit in a worktree, which gets the .env the working tree has.
DJANGO_SERVICE = ExistingProject(
    name="ledgersvc",
    files={
        "pyproject.toml": """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "ledgersvc"
version = "2.0.0"
requires-python = ">=3.11,<4"
dependencies = ["django>=5.2"]

[dependency-groups]
test = ["pytest>=8"]

[tool.setuptools]
packages = ["ledger"]

[tool.pytest.ini_options]
testpaths = ["tests"]
""",
        "Dockerfile": "FROM python:3.14-slim\nCOPY . /srv\nRUN pip install /srv\n",
        ".env.example": "LEDGER_SECRET_KEY=change-me\n",
        ".env": "LEDGER_SECRET_KEY=local-development-only\n",
        "ledger/__init__.py": '"""A ledger service."""\n',
        "ledger/config.py": """\
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

ENV_FILE = Path(__file__).resolve().parents[1] / ".env"


def secret_key() -> str:
    if ENV_FILE.is_file():
        for line in ENV_FILE.read_text().splitlines():
            name, _, value = line.partition("=")
            os.environ.setdefault(name.strip(), value.strip())
    try:
        return os.environ["LEDGER_SECRET_KEY"]
    except KeyError:
        raise ImproperlyConfigured("LEDGER_SECRET_KEY is not set: copy .env.example to .env")
""",
        "ledger/statements.py": """\
import django
from django.conf import settings

from ledger import config

if not settings.configured:
    settings.configure(
        SECRET_KEY=config.secret_key(),
        USE_TZ=True,
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
    )
    django.setup()

from django.template import engines  # noqa: E402 (after the settings)

STATEMENT = "{% for entry in entries %}{{ entry.name }}: {{ entry.amount }}\\n{% endfor %}"


def statement(entries: list[dict[str, object]]) -> str:
    return engines["django"].from_string(STATEMENT).render({"entries": entries})
""",
        "tests/test_statements.py": """\
import pytest

from ledger.statements import statement


def test_a_statement_lists_every_entry():
    entries = [{"name": f"entry {n}", "amount": n} for n in range(2_000)]
    assert statement(entries).count("\\n") == 2_000


@pytest.mark.limit_memory("48 MB")
def test_a_large_statement_stays_within_budget():
    entries = [{"name": f"entry {n}", "amount": n * 3} for n in range(20_000)]
    assert statement(entries).startswith("entry 0: 0")
""",
        "scripts/load.py": """\
from ledger.statements import statement

for _ in range(5):
    statement([{"name": f"entry {n}", "amount": n} for n in range(4_000)])
print("done")
""",
        ".gitignore": "__pycache__/\n.venv/\n*.egg-info/\n.env\n",
    },
    own_tests=["python", "-m", "pytest", "-q"],
    install=["-e", ".", "--group", "test"],
    memwise_settings='workload = "scripts/load.py"\n',
    workload="scripts/load.py",
    python="3.14",
    memory_python="3.14",
)

# A service on Poetry 1 (`python = "^3.10"`) whose CI and Dockerfile run 3.10 and whose
# poetry.lock pins a package with wheels up to CPython 3.12 only (msgpack 1.0.8, from 2024):
# on the newest Python uv would build it from source. memwise measures on 3.10, from the
# Dockerfile, and installs the locked versions there.
POETRY_OLD_PINS = ExistingProject(
    name="msgapi",
    files={
        "pyproject.toml": """\
[tool.poetry]
name = "msgapi"
version = "0.9.0"
description = "A message API"
authors = ["API Team <api@example.com>"]
packages = [{ include = "msgapi" }]

[tool.poetry.dependencies]
python = "^3.10"
msgpack = "1.0.8"

[tool.poetry.group.dev.dependencies]
pytest = "^8.3"

[build-system]
requires = ["poetry-core>=1.0.0"]
build-backend = "poetry.core.masonry.api"
""",
        "poetry.lock": """\
# This file is automatically @generated by Poetry 1.8.3 and should not be changed by hand.

[[package]]
name = "msgpack"
version = "1.0.8"
description = "MessagePack serializer"
optional = false
python-versions = ">=3.8"
files = [
    {file = "msgpack-1.0.8-cp38-cp38-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
    {file = "msgpack-1.0.8-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
    {file = "msgpack-1.0.8-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
    {file = "msgpack-1.0.8-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
    {file = "msgpack-1.0.8-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
    {file = "msgpack-1.0.8.tar.gz", hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
]

[[package]]
name = "pytest"
version = "8.3.5"
description = "pytest: simple powerful testing with Python"
optional = false
python-versions = ">=3.8"
files = []

[metadata]
lock-version = "2.0"
python-versions = "^3.10"
content-hash = "0000000000000000000000000000000000000000000000000000000000000000"
""",
        "Dockerfile": "FROM python:3.10-slim\nCOPY . /app\nRUN pip install /app\n",
        ".github/workflows/ci.yml": """\
name: ci
on: [push]
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: "3.10"
      - run: echo "the project's own CI"
""",
        "msgapi/__init__.py": """\
import msgpack


def encode(messages: list[dict[str, object]]) -> bytes:
    return msgpack.packb(messages)


def decode(payload: bytes) -> list[dict[str, object]]:
    return msgpack.unpackb(payload)
""",
        "tests/test_messages.py": """\
import msgpack
import pytest

from msgapi import decode, encode


def test_a_round_trip_keeps_every_message():
    messages = [{"id": n, "text": f"message {n}"} for n in range(5_000)]
    assert decode(encode(messages)) == messages


@pytest.mark.limit_memory("64 MB")
def test_a_large_batch_stays_within_budget():
    messages = [{"id": n, "text": "x" * 40} for n in range(50_000)]
    assert len(decode(encode(messages))) == 50_000


def test_the_locked_versions():
    assert msgpack.version == (1, 0, 8)
    assert pytest.__version__ == "8.3.5"
""",
        ".gitignore": ".venv/\n__pycache__/\n",
    },
    own_tests=["python", "-m", "pytest", "-q"],
    install=["-e", ".", "msgpack==1.0.8", "pytest==8.3.5"],
    python="3.10",
    locked={"msgpack": "1.0.8", "pytest": "8.3.5"},
    memory_python="3.10",
)

PROJECTS = [
    BOT,
    CACHE_LIBRARY,
    HATCH_SERVICE,
    PINNED_BOT,
    POETRY_SERVICE,
    DYNAMIC_BOT,
    PDM_SERVICE,
    EMBED_LIBRARY,
    CLI_TOOL,
    DJANGO_SERVICE,
    POETRY_OLD_PINS,
]
