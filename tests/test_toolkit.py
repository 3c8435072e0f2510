"""memwise's toolkit (template/.memwise), unit-tested without nox: settings, Pythons, options,
manifest, tracking, and the pytest plugin run by pytest itself (pytester) with real memray."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from memwise import sizes
from memwise.gate import capture_peak
from memwise.plugin.manifest import Manifest, TestRecord, function_of_test
from memwise.project import options, pythons, settings
from memwise.running import backend_extras, run_endings, shared_env
from memwise.sizes import MIB, parse_size
from memwise.views.verdict import short
from memwise_runtime.tracking import CAPTURES_VARIABLE, track_memory

from tests.helpers import TOOLKIT, TOOLKIT_PATH

pytest_plugins = ["pytester"]


def write_pyproject(root: Path, text: str) -> Path:
    (root / "pyproject.toml").write_text(text, encoding="utf-8")
    return root


# --- settings ---------------------------------------------------------------------------------


def test_a_project_without_memwise_settings_gets_working_defaults(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[project]\nname = "bot"\nversion = "1"\n')
    (tmp_path / "bot").mkdir()
    loaded = settings.load(tmp_path)
    assert loaded.workload is None
    assert loaded.package == "bot"
    assert loaded.default_limit == "512 MB"
    assert loaded.memory_group is None  # not listed in a group: installed on top
    assert (loaded.test_groups, loaded.test_extras, loaded.test_requirements) == ((), (), ())
    assert not loaded.installable
    assert loaded.reports == Path("reports")


def test_test_dependencies_are_found_where_projects_keep_them(tmp_path: Path) -> None:
    write_pyproject(tmp_path, """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
[project]
name = "cache"
version = "1"
[project.optional-dependencies]
tests = ["pytest-asyncio"]
[dependency-groups]
dev = ["pytest"]
""")  # fmt: skip
    (tmp_path / "requirements-dev.txt").write_text("pytest\n")
    loaded = settings.load(tmp_path)
    assert loaded.installable
    assert loaded.test_groups == ("dev",)
    assert loaded.test_extras == ("tests",)
    assert loaded.test_requirements == ("requirements-dev.txt",)


def test_a_group_listing_memwise_installs_from_the_lock(tmp_path: Path) -> None:
    write_pyproject(tmp_path, """
[project]
name = "svc"
version = "1"
[dependency-groups]
memory = ["pytest", "memwise"]
profile = ["memwise[profile]"]
""")  # fmt: skip
    loaded = settings.load(tmp_path)
    assert (loaded.memory_group, loaded.profile_group) == ("memory", "profile")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('workloud = "x.py"', "unknown key(s) workloud"),
        ('workload = "missing.py"', "workload = 'missing.py': no such file"),
        ("workload = 3", "workload must be a non-empty string"),
        ('default-limit = "24M"', "default-limit: '24M' is not a size"),
        ('memory-python = "three"', "memory-python must be a version"),
        ("pytest-args = '-x'", "pytest-args must be a list of strings"),
        ('test-groups = ["nope"]', "dependency group 'nope'"),
        ("env = { TOKEN = 1 }", "env] values must be strings"),
        ("gate = { relative = -1 }", "relative must be a number from 0 to 10"),
        ("gate = { relative = nan }", "relative must be a number from 0 to 10, not nan"),
        ("gate = { noise-factor = inf }", "noise-factor must be a number from 0 to 100"),
        ("gate = { absolute-kib = 1e300 }", "absolute-kib must be a number from 0 to"),
        ("gate = { relative = 50 }", "relative must be a number from 0 to 10, not 50"),
        ('default-limit = "0 MB"', "default-limit = '0 MB' is not a budget"),
        ('default-limit = "99999 PB"', "default-limit = '99999 PB' is not a budget"),
        ('reports = "/tmp/reports"', "reports = '/tmp/reports' must be a path inside the project"),
        ('reports = "../elsewhere"', "reports = '../elsewhere' must be a path inside"),
        ('reports = "."', "reports = '.' must be a path inside the project"),
        ('baseline = "../memory.toml"', "baseline = '../memory.toml' must be a path inside"),
        ("gate = { absolute_mib = 1 }", "unknown key(s) absolute_mib"),
    ],
)
def test_a_wrong_setting_is_named_with_the_fix(tmp_path: Path, table: str, message: str) -> None:
    write_pyproject(tmp_path, f'[project]\nname = "x"\nversion = "1"\n[tool.memwise]\n{table}\n')
    with pytest.raises(settings.SettingsError) as error:
        settings.load(tmp_path)
    assert message in str(error.value)


def test_missing_or_broken_pyproject_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError, match=r"no pyproject\.toml"):
        settings.load(tmp_path)
    write_pyproject(tmp_path, "[project\n")
    with pytest.raises(settings.SettingsError, match="is not valid TOML"):
        settings.load(tmp_path)


def test_default_limit_can_be_switched_off(tmp_path: Path) -> None:
    write_pyproject(tmp_path, '[project]\nname = "x"\n[tool.memwise]\ndefault-limit = "off"\n')
    assert settings.load(tmp_path).default_limit is None


# --- Pythons ---------------------------------------------------------------------------------


def project(classifiers: list[str] | None = None, requires: str | None = None) -> dict:
    metadata: dict = {
        "classifiers": [f"Programming Language :: Python :: {v}" for v in classifiers or []]
    }
    if requires:
        metadata["requires-python"] = requires
    return {"project": metadata}


def test_supported_pythons_come_from_classifiers_else_requires_python() -> None:
    assert pythons.supported_pythons(project(["3.13", "3.11", "3.12"])) == ["3.11", "3.12", "3.13"]
    assert pythons.supported_pythons(project(requires=">=3.12")) == ["3.12", "3.13", "3.14", "3.15"]
    assert pythons.supported_pythons(project(requires=">=3.10,<3.13")) == ["3.10", "3.11", "3.12"]
    assert pythons.supported_pythons(project()) == []
    # A uv application pinned to one Python: never a memory Python outside its own range.
    assert pythons.supported_pythons(project(requires="==3.14.*")) == ["3.14"]
    assert pythons.memory_python(project(requires="==3.14.*"), None) == "3.14"
    # Classifiers that requires-python rules out are not supported either.
    assert pythons.supported_pythons(project(["3.8", "3.11"], requires=">=3.9")) == ["3.11"]


def test_one_memory_python_newest_with_memray_unless_configured() -> None:
    assert pythons.memory_python(project(["3.11", "3.15"]), None) == "3.15"
    assert pythons.memory_python(project(["3.11", "3.15"]), "3.13") == "3.13"
    assert pythons.memory_python(project(), None) == pythons.running_python()


def test_profile_never_runs_where_scalene_has_no_wheel() -> None:
    if not pythons.scalene_platform():
        pytest.skip("scalene has no wheels for this platform")
    assert pythons.profile_python(project(["3.11", "3.14", "3.15"])) == "3.14"
    assert pythons.profile_python(project(["3.15"])) is None


# --- options ---------------------------------------------------------------------------------


def test_flamegraph_options_then_the_program(tmp_path: Path) -> None:
    parsed = options.parse_program_options("flamegraph", ["--native", "-m", "pkg.tool", "--x"])
    assert parsed.native
    assert parsed.program is not None
    assert parsed.program.command == ["-m", "pkg.tool", "--x"]
    with pytest.raises(options.OptionsError, match="unrecognized arguments: --bogus"):
        options.parse_program_options("flamegraph", ["--bogus"])
    with pytest.raises(options.OptionsError, match="no such capture file"):
        options.parse_program_options("flamegraph", ["--capture", str(tmp_path / "x.bin")])
    with pytest.raises(options.HelpShown):
        options.parse_program_options("flamegraph", ["--help"])
    assert options.parse_program_options("flamegraph", ["--all-allocations"]).all_allocations
    capture = tmp_path / "given.bin"
    capture.write_bytes(b"")
    with pytest.raises(options.OptionsError, match="give one or the other"):
        options.parse_program_options(
            "flamegraph", ["--all-allocations", "--capture", str(capture)]
        )


def test_profile_passes_scalene_options_before_the_script() -> None:
    parsed = options.parse_profile_options(
        ["--cpu-only", "--profile-only", "pkg", "load.py", "-n", "3"]
    )
    assert parsed.tool_args == ["--cpu-only", "--profile-only", "pkg"]
    assert parsed.program is not None
    assert (parsed.program.target, parsed.program.args) == ("load.py", ["-n", "3"])
    assert options.parse_profile_options(["--async"]).program is None
    # An option's value that ends in .py is not the program.
    parsed = options.parse_profile_options(["--profile-exclude", "store.py", "load.py"])
    assert parsed.tool_args == ["--profile-exclude", "store.py"]
    assert parsed.program is not None
    assert parsed.program.target == "load.py"
    with pytest.raises(options.OptionsError, match="not `-m module`"):
        options.parse_profile_options(["-m", "pkg"])


def test_baseline_takes_its_number_of_runs(capsys) -> None:
    assert options.parse_baseline_runs([], default=3) == 3
    assert options.parse_baseline_runs(["--runs", "5"], default=3) == 5
    assert options.parse_baseline_runs(["--runs=1"], default=3) == 1
    with pytest.raises(options.OptionsError, match="--runs must be 1 or more, not 0"):
        options.parse_baseline_runs(["--runs", "0"], default=3)
    with pytest.raises(options.OptionsError, match="unrecognized arguments: main"):
        options.parse_baseline_runs(["main"], default=3)
    with pytest.raises(options.HelpShown):
        options.parse_baseline_runs(["--help"], default=3)
    assert "here 3)" in capsys.readouterr().out  # the default, from [tool.memwise.gate]


def test_sizes_use_pytest_memray_units() -> None:
    assert parse_size("512 MB") == 512 * MIB
    assert parse_size("1.5KB") == 1536
    for wrong in ["24M", "1 MiB", "lots"]:
        with pytest.raises(ValueError, match="is not a size"):
            parse_size(wrong)


@pytest.mark.parametrize(
    ("nodeid", "function", "shown"),
    [
        ("tests/a.py::test_b", "test_b", "test_b"),
        ("tests/a.py::TestA::test_b[200k]", "test_b", "test_b[200k]"),
        # A parameter id that holds "::" (an IPv6 address) is not a part of the path.
        ("tests/a.py::TestA::test_connect[::1]", "test_connect", "test_connect[::1]"),
        ("tests/a.py::test_url[a::b::c-d]", "test_url", "test_url[a::b::c-d]"),
    ],
)
def test_a_node_id_names_its_test_function_whatever_its_parameters(
    nodeid: str, function: str, shown: str
) -> None:
    assert function_of_test(nodeid) == function  # where its flamegraph pages start
    assert short(f"{nodeid} peak") == f"{shown} peak"  # its name in the verdict's tables


def test_manifest_reads_back(tmp_path: Path) -> None:
    manifest = Manifest("3.15", "linux", 1, [TestRecord("t::a", "failed", "memwise", 3, "c.bin")])
    manifest.write(tmp_path / "m.json")
    assert Manifest.read(tmp_path / "m.json") == manifest
    assert [t.nodeid for t in manifest.failed] == ["t::a"]


# --- tracking --------------------------------------------------------------------------------

TRACKED_BLOCK = """
import sys
from memwise_runtime import track_memory

with track_memory("critical-path") as capture:
    data = [bytes(1024) for _ in range(2000)]
print(capture)
print("memray" in sys.modules)
"""


def run_block(**env: str) -> list[str]:
    # A fresh interpreter: memray allows one tracker per process.
    environment = {k: v for k, v in os.environ.items() if k != CAPTURES_VARIABLE}
    # The runtime alone, as a service image has it: no toolkit on the path.
    environment |= {"PYTHONPATH": str(TOOLKIT / "runtime" / "src"), **env}
    result = subprocess.run([sys.executable, "-c", TRACKED_BLOCK], env=environment,
                            capture_output=True, text=True, check=True)  # fmt: skip
    return result.stdout.split()


def test_tracking_is_off_by_default_and_memray_is_not_even_imported() -> None:
    assert run_block() == ["None", "False"]


def test_tracking_on_writes_a_capture_memray_can_read(tmp_path: Path) -> None:
    from memray import FileReader

    capture, imported = run_block(**{CAPTURES_VARIABLE: str(tmp_path)})
    assert imported == "True"
    path = Path(capture)
    assert path.parent == tmp_path
    assert path.name.startswith("critical-path-")
    assert FileReader(path).metadata.peak_memory >= 2000 * 1024


HOLDER = """\
def hold_a_lot():
    held = []
    for _ in range(64):
        held.append(bytearray(64 * 1024))
    return held

def churn():
    for _ in range(50):
        bytearray(1024 * 1024)

held = hold_a_lot()
churn()
"""


@pytest.mark.parametrize("aggregate", [True, False], ids=["aggregated", "every-allocation"])
def test_capture_peak_names_what_held_the_peak(tmp_path: Path, aggregate: bool) -> None:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    capture = tmp_path / "holder.bin"
    subprocess.run([sys.executable, "-m", "memray", "run", *["--aggregate"] * aggregate, "-q",
                    "-o", str(capture), str(script)], check=True, env={**os.environ,
                    "PYTHONMALLOC": "malloc"}, capture_output=True)  # fmt: skip
    summary = capture_peak.summarize(capture)
    assert summary["peak_memory"] >= 4 * MIB
    if not aggregate:  # memray stats sums these up; replaying them here would take minutes
        assert (summary["format"], summary["top_at_peak"]) == ("all allocations", [])
        return
    assert summary["format"] == "aggregated"
    top = summary["top_at_peak"][0]
    # the 4 MiB held at the peak, not the 50 MiB allocated and freed one at a time
    assert top["location"] == f"hold_a_lot:{script}:4"
    assert 4 * MIB <= top["size"] <= 5 * MIB
    assert summary["allocations_at_peak"] >= 64


def test_capture_peak_refuses_a_file_that_is_not_a_capture(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_text("hello")
    with pytest.raises(SystemExit, match=r"junk\.bin: not a memray capture memray can read"):
        capture_peak.main([str(junk), str(tmp_path / "out.json")])


def test_the_old_import_still_works_for_a_release_and_says_where_it_moved() -> None:
    code = (
        "import memwise_runtime, memwise.tracking as old\n"
        "print(old.track_memory is memwise_runtime.track_memory)"
    )
    result = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", code],
                            env={**os.environ, "PYTHONPATH": TOOLKIT_PATH}, capture_output=True,
                            text=True, check=True)  # fmt: skip
    assert result.stdout.strip() == "True"
    assert "memwise.tracking moved to memwise_runtime" in result.stderr


def test_capture_names_must_be_file_names() -> None:
    with pytest.raises(ValueError, match="capture name"), track_memory("../escape"):
        pass


# --- the pytest plugin, run by pytest with real pytest-memray --------------------------------

SUITE = '''
import unittest
import pytest


@pytest.mark.parametrize("label", ["x" * 300], ids=["x" * 300])
def test_long_id_over_budget(label):
    data = bytearray(8 * 1024 * 1024)
    assert data


def test_small():
    assert [0] * 10


@pytest.mark.limit_memory("4 MB", current_thread_only=True)
def test_a_thread_allocates_much_the_test_little():
    import threading

    worker = threading.Thread(target=lambda: bytearray(16 * 1024 * 1024))
    worker.start()
    worker.join()


class SettingsTest(unittest.TestCase):
    @pytest.mark.limit_memory("4 MB")
    def test_loads_too_much(self):
        self.data = bytearray(12 * 1024 * 1024)

    def test_under_the_default(self):
        self.assertTrue(bytearray(1024))


def add(a, b):
    """
    >>> add(1, 2)
    3
    """
    return a + b
'''


def run_plugin(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, Manifest]:
    pytester.makepyfile(test_suite=SUITE)
    # The project keeps its pytest configuration in setup.cfg, with --strict-markers and no
    # marker registered: the plugin registers them.
    pytester.makefile(".cfg", setup="[tool:pytest]\naddopts = --strict-markers --doctest-modules\n")
    manifest = pytester.path / "reports" / "manifest.json"
    result = pytester.runpytest_subprocess(
        "-p", "memwise.plugin.pytest_plugin", "--memray", f"--memray-bin-path={pytester.path / 'captures'}",
        f"--memwise-manifest={manifest}", *args,
    )  # fmt: skip
    return result, Manifest.read(manifest)


def test_plugin_writes_a_manifest_keyed_by_node_id(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", TOOLKIT_PATH)
    _, manifest = run_plugin(pytester, "--memwise-default-limit=4 MB")
    tests = {test.nodeid: test for test in manifest.tests}
    long_id = next(nodeid for nodeid in tests if "x" * 300 in nodeid)
    # pytest-memray shortened this capture's name with a digest; the manifest still knows it.
    long = tests[long_id]
    assert long.outcome == "failed"
    assert long.limit == "limit_memory('4 MB')"  # the default budget
    assert long.capture is not None
    assert Path(long.capture).is_file()
    assert long.peak_bytes >= 8 * MIB
    assert tests["test_suite.py::test_small"].outcome == "passed"
    # current_thread_only: the figure is the test's own thread, as its budget.
    threaded = tests["test_suite.py::test_a_thread_allocates_much_the_test_little"]
    assert threaded.outcome == "passed"
    assert threaded.peak_bytes is not None
    assert threaded.peak_bytes < 4 * MIB
    assert manifest.exit_status == 1
    assert manifest.python == pythons.running_python()


def test_plugin_measures_unittest_tests_and_enforces_their_markers(pytester, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", TOOLKIT_PATH)
    result, manifest = run_plugin(pytester)
    tests = {test.nodeid: test for test in manifest.tests}
    too_much = tests["test_suite.py::SettingsTest::test_loads_too_much"]
    assert too_much.outcome == "failed"
    assert too_much.measured_by == "memwise"
    assert too_much.peak_bytes >= 12 * MIB
    assert tests["test_suite.py::SettingsTest::test_under_the_default"].outcome == "passed"
    assert tests["test_suite.py::SettingsTest::test_under_the_default"].measured_by == "memwise"
    output = result.stdout.str()
    assert "SettingsTest::test_loads_too_much is using" in output
    assert "out of its limit of 4.00 MiB" in output
    assert "test_suite.py:" in output  # the allocation's location
    # Without a default budget the parametrized test has no limit and passes.
    assert tests[next(n for n in tests if "x" * 300 in n)].outcome == "passed"


def test_a_test_that_fails_is_a_failure_not_an_unmeasured_test(pytester, monkeypatch) -> None:
    # pytest-memray keeps no result for a test function that raised: it ran tracked all the
    # same, and is reported as the failure it is (memtest said "ran WITHOUT memory tracking").
    result, manifest_path = run_with_plugin(
        pytester, monkeypatch, "--memray",
        test_fails="def test_fails_plainly():\n    assert bytearray(1000) == b'x'\n",
    )  # fmt: skip
    manifest = Manifest.read(manifest_path)
    (test,) = manifest.failed_otherwise
    assert test.nodeid == "test_fails.py::test_fails_plainly"
    assert manifest.unmeasured == []
    assert "WITHOUT memory tracking" not in result.stdout.str()


def test_plugin_names_the_tests_it_could_not_measure(pytester, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", TOOLKIT_PATH)
    result, manifest = run_plugin(pytester)
    assert [test.nodeid for test in manifest.unmeasured] == ["test_suite.py::test_suite.add"]
    result.stdout.fnmatch_lines(["*memwise: tests run WITHOUT memory tracking*",
                                 "1 of 6 tests were not measured*", "  test_suite.py::test_suite.add"])  # fmt: skip


def test_plugin_refuses_a_default_limit_that_is_not_a_size(pytester, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", TOOLKIT_PATH)
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "memwise.plugin.pytest_plugin", "--memwise-default-limit=24M"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memwise-default-limit: '24M' is not a size*"])


def test_plugin_manifest_is_complete_with_xdist_workers(pytester, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", TOOLKIT_PATH)
    _, manifest = run_plugin(pytester, "-n", "2", "--memwise-default-limit=4 MB")
    tests = {test.nodeid: test for test in manifest.tests}
    assert len(tests) == 6
    assert tests["test_suite.py::SettingsTest::test_loads_too_much"].measured_by == "memwise"
    long_id = next(nodeid for nodeid in tests if "x" * 300 in nodeid)
    assert tests[long_id].outcome == "failed"
    assert Path(tests[long_id].capture or "").is_file()


# --- markers, sizes and every ending of a run told apart ---------------------------------------

SIZES = ["512 MB", "512 mb", "1.5KB", ".5 GB", "+3 MB", "12 MBytes", "1 PB", "7B", "0 B",
         "24M", "1 MiB", "lots", " 1 MB", "MB", "-1 MB", "1,5 MB", "", "1e3 MB"]  # fmt: skip


def test_sizes_are_read_exactly_as_pytest_memray_reads_them() -> None:
    from pytest_memray.utils import parse_memory_string

    for text in SIZES:
        try:
            expected: int | None = int(parse_memory_string(text))
        except ValueError:
            expected = None
        try:
            got: int | None = parse_size(text)
        except ValueError:
            got = None
        assert got == expected, text
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(24)  # a number without a unit: pytest-memray would crash on it


def run_with_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str, **files: str
) -> tuple[pytest.RunResult, Path]:
    """pytest in a subprocess with memwise's plugin and a manifest, on the given test files."""
    monkeypatch.setenv("PYTHONPATH", TOOLKIT_PATH)
    pytester.makepyfile(**files)
    manifest_path = pytester.path / "manifest.json"
    result = pytester.runpytest_subprocess(
        "-p", "memwise.plugin.pytest_plugin", f"--memwise-manifest={manifest_path}", *args
    )
    return result, manifest_path


BAD_MARKERS = """
import unittest
import pytest


@pytest.mark.limit_memory("24M")
def test_unit_it_cannot_read():
    pass


@pytest.mark.limit_leaks
def test_bare_limit_leaks():
    pass


@pytest.mark.limit_memory("1 MB", current_thread=True)
def test_misspelt_argument():
    pass


@pytest.mark.limit_memory("1 MB")
@pytest.mark.limit_leaks("1 MB")
def test_two_markers():
    pass


@pytest.mark.limit_memory("64 MB")
def test_fine():
    pass


class Leaky(unittest.TestCase):
    @pytest.mark.limit_leaked_objects()
    def test_objects(self):
        pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_markers_pytest_memray_cannot_use_stop_the_run_before_any_test(
    pytester: pytest.Pytester, monkeypatch, workers: list[str]
) -> None:
    result, manifest_path = run_with_plugin(
        pytester, monkeypatch, "--memray", *workers, test_marks=BAD_MARKERS
    )
    assert result.ret != 0
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    manifest = Manifest.read(manifest_path)
    assert manifest.tests == []  # no test ran
    ((kind, message),) = [(p.kind, p.message) for p in manifest.problems]
    assert kind == "markers"
    lines = message.splitlines()[1:]
    expected = [
        (
            "  test_marks.py::test_unit_it_cannot_read: @pytest.mark.limit_memory: '24M' is not "
            f"a size pytest-memray reads ({sizes.ACCEPTED}); write "
            'limit_memory("24 MB", current_thread_only=False)'
        ),
        (
            "  test_marks.py::test_bare_limit_leaks: @pytest.mark.limit_leaks: needs a size; "
            'write limit_leaks("1 MB", filter_fn=None, current_thread_only=False)'
        ),
        (
            "  test_marks.py::test_misspelt_argument: @pytest.mark.limit_memory: unknown "
            'argument(s) current_thread; write limit_memory("24 MB", current_thread_only=False)'
        ),
        (
            "  test_marks.py::test_two_markers: has limit_leaks and limit_memory: pytest-memray "
            "takes one memory marker per test"
        ),
        (
            "  test_marks.py::Leaky::test_objects: @pytest.mark.limit_leaked_objects is not "
            "enforced on a unittest.TestCase method (memray tracks object lifetimes only around "
            "a test function): write the test as a function, or use limit_leaks"
        ),
    ]
    assert lines == expected
    assert run_endings.problem(manifest, result.ret).startswith("a usage error: memwise: memory")


BROKEN_SUITE = {
    "test_syntax": "def test_x(:\n    pass\n",
    "test_imports": "import no_such_module_here\n\ndef test_y():\n    pass\n",
    "test_fine": "def test_z():\n    pass\n",
}


def test_collection_errors_name_each_file(pytester: pytest.Pytester, monkeypatch) -> None:
    result, manifest_path = run_with_plugin(pytester, monkeypatch, "--memray", **BROKEN_SUITE)
    manifest = Manifest.read(manifest_path)
    assert {(p.kind, Path(p.where).name) for p in manifest.problems} == {
        ("collection", "test_syntax.py"),
        ("collection", "test_imports.py"),
    }
    assert [t.nodeid for t in manifest.tests] == []  # pytest stops on collection errors
    problem = run_endings.problem(manifest, result.ret)
    assert problem is not None
    assert problem.startswith("pytest could not collect 2 file(s); no test was run:")
    assert "test_syntax.py: SyntaxError" in problem
    assert "test_imports.py: ModuleNotFoundError: No module named 'no_such_module_here'" in problem


def test_a_conftest_that_does_not_import_is_named(pytester: pytest.Pytester, monkeypatch) -> None:
    pytester.makeconftest("import openai_that_changed\n")
    result, manifest_path = run_with_plugin(
        pytester, monkeypatch, "--memray", test_one="def test_one():\n    pass\n"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    problem = run_endings.problem(Manifest.read(manifest_path), result.ret)
    assert problem is not None
    assert problem.startswith("the project could not be imported: ")
    assert (
        "conftest.py raised ModuleNotFoundError: No module named 'openai_that_changed'" in problem
    )
    assert "usage error" not in problem


UNITTEST_SUITE = """
import threading
import unittest

import pytest

KEPT = []


def keep_only_this_file(stack):
    return any(frame.filename.endswith("test_cases.py") for frame in stack.frames)


class Cases(unittest.TestCase):
    @pytest.mark.limit_leaks("1 MB")
    def test_leaks_four_mib(self):
        KEPT.append(bytearray(4 * 1024 * 1024))

    @pytest.mark.limit_leaks("1 MB", filter_fn=keep_only_this_file)
    def test_frees_what_it_allocates(self):
        data = bytearray(4 * 1024 * 1024)
        del data

    @pytest.mark.limit_memory("4 MB", current_thread_only=True)
    def test_a_thread_allocates_much_the_test_little(self):
        worker = threading.Thread(target=lambda: bytearray(16 * 1024 * 1024))
        worker.start()
        worker.join()

    @pytest.mark.limit_memory("4 MB")
    def test_over_its_budget(self):
        self.data = bytearray(12 * 1024 * 1024)

    def test_fails_an_assertion(self):
        self.assertEqual(1, 2)


@pytest.mark.limit_memory("4 MB")
def test_function_over_its_budget():
    data = bytearray(12 * 1024 * 1024)
    assert data
"""


@pytest.mark.parametrize("tracking", [["--memray"], []], ids=["memray", "markers-only"])
def test_unittest_methods_are_held_to_their_markers_like_functions(
    pytester: pytest.Pytester, monkeypatch, tracking: list[str]
) -> None:
    result, manifest_path = run_with_plugin(
        pytester, monkeypatch, *tracking, test_cases=UNITTEST_SUITE
    )
    tests = {t.nodeid.split("::")[-1]: t for t in Manifest.read(manifest_path).tests}
    outcome = {name: (t.outcome, t.failure) for name, t in tests.items()}
    assert outcome == {
        "test_leaks_four_mib": ("failed", "memory"),
        "test_frees_what_it_allocates": ("passed", None),
        "test_a_thread_allocates_much_the_test_little": ("passed", None),
        "test_over_its_budget": ("failed", "memory"),
        "test_fails_an_assertion": ("failed", "error"),
        "test_function_over_its_budget": ("failed", "memory"),
    }
    assert "Cases::test_leaks_four_mib leaked 4.00 MiB" in result.stdout.str()
    threaded = tests["test_a_thread_allocates_much_the_test_little"]
    assert threaded.peak_bytes is not None
    assert threaded.peak_bytes < 4 * MIB  # its own thread's figure, as its budget


# The ends of the pytest-memray range memwise reads (.memwise/pyproject.toml), with the oldest
# pytest each supports; and one release outside it.
PYTEST_MEMRAY_ENDS = [("1.8.0", "pytest==7.4.*"), ("1.11.0", "pytest>=8")]


def environment_with(tmp_path: Path, pytest_memray: str, pytest_pin: str) -> Path:
    """A fresh environment with that pytest-memray and the toolkit (without its own pins)."""
    uv = str(Path(sys.executable).parent / "uv")
    venv = tmp_path / f"pytest-memray-{pytest_memray}"
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    packages = [f"pytest-memray=={pytest_memray}", pytest_pin, "memray>=1.20", "pytest-xdist"]
    subprocess.run([uv, "pip", "install", "-q", "-p", str(python), *packages], check=True)
    subprocess.run([uv, "pip", "install", "-q", "-p", str(python), "--no-deps", "-e", str(TOOLKIT),
                    "-e", str(TOOLKIT / "runtime")], check=True)  # fmt: skip
    return python


@pytest.mark.slow
@pytest.mark.parametrize(("pytest_memray", "pytest_pin"), PYTEST_MEMRAY_ENDS)
def test_the_plugin_reads_both_ends_of_the_pytest_memray_range(
    tmp_path: Path, pytest_memray: str, pytest_pin: str
) -> None:
    python = environment_with(tmp_path, pytest_memray, pytest_pin)
    (tmp_path / "test_suite.py").write_text(SUITE)
    manifest_path = tmp_path / "manifest.json"
    result = subprocess.run(
        [str(python), "-m", "pytest", "-o", f"cache_dir={tmp_path / 'cache'}", "--memray",
         f"--memray-bin-path={tmp_path / 'captures'}", f"--memwise-manifest={manifest_path}",
         "--memwise-default-limit=4 MB", str(tmp_path / "test_suite.py")],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    tests = {t.nodeid.split("::")[-1]: t for t in Manifest.read(manifest_path).tests}
    long = next(t for name, t in tests.items() if "x" * 300 in name)
    assert (long.outcome, long.failure, long.measured_by) == ("failed", "memory", "pytest-memray")
    assert long.peak_bytes is not None
    assert long.peak_bytes >= 8 * MIB
    assert Path(long.capture or "").is_file()
    assert tests["test_small"].measured_by == "pytest-memray"


@pytest.mark.slow
def test_a_pytest_memray_outside_the_range_is_named(tmp_path: Path) -> None:
    python = environment_with(tmp_path, "1.7.0", "pytest==7.4.*")
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    result = subprocess.run([str(python), "-m", "pytest", "-o", f"cache_dir={tmp_path / 'cache'}"],
                            cwd=tmp_path, capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "memwise reads pytest-memray 1.8 to 1.11; this environment has 1.7" in result.stderr


def test_the_readme_lists_every_setting_and_no_other() -> None:
    """One source per fact: the settings table of .memwise/README.md is the keys the toolkit
    reads (a key added without its row, or a row left for a removed key, fails here)."""
    readme = (TOOLKIT / "README.md").read_text()
    # The table the documentation site includes too (docs/reference.md): between its markers.
    table = readme.split("<!-- settings -->\n", 1)[1].split("<!-- /settings -->", 1)[0]
    listed = {
        key
        for row in table.splitlines()[2:]
        for key in re.findall(r"`([\w.-]+)`", row.split("|")[1])
    }
    gate = {f"gate.{key}" for key in settings.GATE_KEYS}
    assert listed == (settings.KNOWN_KEYS - {"gate", "env"}) | gate | {"env"}


def test_the_test_extra_the_build_backend_lists_is_chosen_with_its_requirements() -> None:
    # What a setuptools project with dynamic extras writes into its installed metadata.
    requires = [
        "attrs>=23",
        'pytest>=8; extra == "tests"',
        'pytest-cov>=5; extra == "tests" and python_version >= "3.12"',
        'tomli; extra == "tests" and python_version < "3.11"',
        'sphinx; extra == "docs"',
    ]
    extras = ["docs", "Tests"]
    assert backend_extras.named_test_extra(extras) == "Tests"
    assert backend_extras.named_test_extra(["docs", "lint"]) is None
    assert backend_extras.extra_requirements(requires, "tests", "3.13") == [
        "pytest>=8",
        "pytest-cov>=5",
    ]  # the markers are the session's Python's, not nox's own
    assert backend_extras.extra_requirements(requires, "tests", "3.10") == ["pytest>=8", "tomli"]


def test_the_backends_metadata_is_read_from_the_last_line_printed() -> None:
    line = '{"extras": ["test"], "requires": ["pytest; extra == \\"test\\""]}'
    assert backend_extras.parse_metadata(f"a warning first\n{line}\n") == (
        ["test"],
        ['pytest; extra == "test"'],
    )
    assert backend_extras.parse_metadata("{}") == ([], [])
    assert backend_extras.parse_metadata("not json") == ([], [])
    assert backend_extras.parse_metadata("[1]") == ([], [])


def test_the_shared_environment_is_rebuilt_when_what_decides_its_packages_changes(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "svc"\n')
    (tmp_path / "src").mkdir()
    environment = shared_env.SharedEnvironment(tmp_path / ".nox" / "env", sys.executable, "3.11")
    command = ["-e", ".", "-e", ".memwise"]
    before = shared_env.inputs(tmp_path, environment, command)
    (tmp_path / "src" / "svc.py").write_text("print('code, installed editable')\n")
    assert shared_env.inputs(tmp_path, environment, command) == before
    changes = [
        lambda: (tmp_path / "pyproject.toml").write_text('[project]\nname = "svc2"\n'),
        lambda: (tmp_path / "uv.lock").write_text("version = 1\n"),
        lambda: (
            (tmp_path / "requirements").mkdir()
            or (tmp_path / "requirements" / "ci.txt").write_text("pytest\n")
        ),
        lambda: (tmp_path / "requirements-dev.txt").write_text("pytest\n"),
    ]
    seen = {before}
    for change in changes:
        change()
        now = shared_env.inputs(tmp_path, environment, command)
        assert now not in seen
        seen.add(now)
    assert shared_env.inputs(tmp_path, environment, [*command, "--group=test"]) not in seen
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "test.txt").write_text("pytest\n")
    named = [*command, "-r", "ci/test.txt"]  # test-requirements naming a file of its own
    first = shared_env.inputs(tmp_path, environment, named)
    (tmp_path / "ci" / "test.txt").write_text("pytest\npytest-cov\n")
    assert shared_env.inputs(tmp_path, environment, named) != first
    other = shared_env.SharedEnvironment(environment.location, sys.executable, "3.12")
    assert shared_env.inputs(tmp_path, other, command) not in seen
    # Current only once marked, and only for the same inputs.
    environment.bin.mkdir(parents=True)
    environment.python.write_text("")
    assert not shared_env.is_current(environment, now)
    shared_env.mark_current(environment, now)
    assert shared_env.is_current(environment, now)
    assert not shared_env.is_current(environment, before)
    with shared_env.other_code_installed(environment):
        assert not shared_env.is_current(environment, now)  # another commit's code inside
    assert shared_env.is_current(environment, now)


CHILDREN_SUITE = """
import multiprocessing, os, subprocess, sys, unittest
import pytest

def allocate():
    kept = bytearray(50 * 1024 * 1024)
    return len(kept)

@pytest.mark.limit_memory("10 MB")
@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_multiprocessing(method):
    process = multiprocessing.get_context(method).Process(target=allocate)
    process.start()
    process.join()
    assert process.exitcode == 0

@pytest.mark.limit_memory("10 MB")
def test_subprocess():
    subprocess.run([sys.executable, "-c", "x = bytearray(50 * 1024 * 1024)"], check=True)

@pytest.mark.limit_memory("10 MB")
def test_bare_fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)

@pytest.mark.limit_memory("10 MB")
def test_alone():
    assert sum(range(1000)) > 0

class Case(unittest.TestCase):
    def test_subprocess_in_a_testcase(self):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


def test_budgeted_tests_that_start_child_processes_are_named(pytester, monkeypatch) -> None:
    """memray counts the test's own process: a child's 50 MiB passes a 10 MB budget, and the
    manifest says which tests started children, however they started them."""
    monkeypatch.setenv("PYTHONPATH", TOOLKIT_PATH)
    pytester.makepyfile(test_children=CHILDREN_SUITE)
    manifest_path = pytester.path / "manifest.json"
    result = pytester.runpytest_subprocess(
        "-p", "memwise.plugin.pytest_plugin", "--memray", f"--memray-bin-path={pytester.path / 'c'}",
        f"--memwise-manifest={manifest_path}", "--memwise-default-limit=512 MB",
    )  # fmt: skip
    result.assert_outcomes(passed=7)
    manifest = Manifest.read(manifest_path)
    named = {
        test.nodeid.split("::", 1)[1]: test.children for test in manifest.budgeted_with_children
    }
    assert set(named) == {
        "test_multiprocessing[spawn]", "test_multiprocessing[fork]",
        "test_multiprocessing[forkserver]", "test_subprocess", "test_bare_fork",
        "Case::test_subprocess_in_a_testcase",
    }  # fmt: skip
    assert named["test_bare_fork"] == ["fork"]
    assert "subprocess" in named["test_subprocess"]


FORKED_SUITE = (
    CHILDREN_SUITE
    + """
@pytest.mark.limit_memory("10 MB")
def test_fork_then_exec():
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-c", "x = bytearray(50 * 1024 * 1024)"])
    assert os.waitpid(pid, 0)[1] == 0

@pytest.mark.limit_memory("10 MB", current_thread_only=True)
def test_own_thread_and_its_fork():
    import threading
    held = []
    thread = threading.Thread(target=lambda: held.append(bytearray(20 * 1024 * 1024)))
    thread.start()
    thread.join()
    pid = os.fork()
    if pid == 0:
        allocate_3_mib = bytearray(3 * 1024 * 1024)
        os._exit(0)
    os.waitpid(pid, 0)

def test_default_budget_forks_3_mib():
    pid = os.fork()
    if pid == 0:
        allocate_3_mib = bytearray(3 * 1024 * 1024)
        os._exit(0)
    os.waitpid(pid, 0)
"""
)


def test_following_forks_counts_each_forked_childs_peak(pytester, monkeypatch) -> None:
    """Measured with its forks, a forked child's 50 MiB fails a 10 MB budget and a 3 MiB one is
    in the test's figure; a new program (spawn, subprocess, exec after a fork) is not counted,
    and never breaks the reading."""
    monkeypatch.setenv("PYTHONPATH", TOOLKIT_PATH)
    pytester.makepyfile(test_children=FORKED_SUITE)
    manifest_path = pytester.path / "manifest.json"
    captures = pytester.path / "c"
    result = pytester.runpytest_subprocess(
        "-p", "memwise.plugin.pytest_plugin", "-p", "no:memray", f"--memwise-follow-forks={captures}",
        f"--memwise-manifest={manifest_path}", "--memwise-default-limit=8 MB",
    )  # fmt: skip
    result.assert_outcomes(passed=9, failed=1)
    over = "*test_multiprocessing*fork* is using * out of its limit of 10.00 MiB*"
    result.stdout.fnmatch_lines([over + "MiB in 1 forked child process(es)*"])
    tests = {test.nodeid.split("::", 1)[1]: test for test in Manifest.read(manifest_path).tests}
    assert tests["test_multiprocessing[fork]"].failure == "memory"
    assert (tests["test_multiprocessing[fork]"].forked_bytes or 0) >= 50 * MIB
    small = tests["test_default_budget_forks_3_mib"]
    assert small.measured_by == "memwise-forks"
    assert small.limit == "limit_memory('8 MB')"
    assert 3 * MIB <= (small.forked_bytes or 0) < 4 * MIB
    # current_thread_only: the test's own thread (not the 20 MiB of its other thread) and its fork.
    own = tests["test_own_thread_and_its_fork"]
    assert own.outcome == "passed"
    assert 3 * MIB <= (own.forked_bytes or 0) <= (own.peak_bytes or 0) < 10 * MIB
    for name in ["test_multiprocessing[spawn]", "test_subprocess", "test_fork_then_exec"]:
        assert (tests[name].forked_bytes or 0) < MIB, name
    assert "Case::test_subprocess_in_a_testcase" in tests  # a TestCase runs as before


SUPPORTS_310_UP = {"project": {"requires-python": ">=3.10"}}


@pytest.mark.parametrize(
    ("files", "version", "source"),
    [
        ({}, "3.15", "the newest version the project supports"),
        ({".python-version": "3.12.4\n"}, "3.12", ".python-version"),
        ({"Dockerfile": "FROM docker.io/library/python:3.10-slim AS base\nRUN true\n"},
         "3.10", "Dockerfile (FROM python:3.10)"),
        ({".github/workflows/ci.yml": "steps:\n  - uses: actions/setup-python@v6\n"
          "    with:\n      python-version: '3.13'\n"}, "3.13", "python-version 3.13"),
        ({".github/workflows/ci.yml": "      python-version: ${{ matrix.python }}\n"},
         "3.15", "the newest version"),  # a matrix names no one Python
        ({".gitlab-ci.yml": "test:\n  image: python:3.11-slim\n"}, "3.11", ".gitlab-ci.yml"),
        # In memwise's order: .python-version before the Dockerfile before CI.
        ({".python-version": "3.11\n", "Dockerfile": "FROM python:3.14\n"}, "3.11",
         ".python-version"),
        ({"Dockerfile": "FROM python:3.14\n", ".gitlab-ci.yml": "image: python:3.12\n"},
         "3.14", "Dockerfile"),
        # A Python memray has no wheels for is passed over, and said.
        ({".python-version": "3.8.18\n", "Dockerfile": "FROM python:3.12\n"}, "3.12",
         "passed over: .python-version (memray has no wheels for 3.8)"),
    ],
)  # fmt: skip
def test_the_memory_python_is_the_services_own(
    tmp_path: Path, files: dict[str, str], version: str, source: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    chosen, said = pythons.memory_python_choice(tmp_path, SUPPORTS_310_UP, None)
    assert chosen == version
    assert source in said
    assert pythons.memory_python_choice(tmp_path, SUPPORTS_310_UP, "3.13") == (
        "3.13",
        "memory-python in [tool.memwise]",
    )


UV_LOCK = """
version = 1
requires-python = ">=3.10"

[[package]]
name = "Scientific_Pkg"
version = "1.26.4"
sdist = { url = "https://files.example/scientific_pkg-1.26.4.tar.gz" }
wheels = [
    { url = "https://files.example/scientific_pkg-1.26.4-cp310-cp310-manylinux_2_17_x86_64.whl" },
    { url = "https://files.example/scientific_pkg-1.26.4-cp312-cp312-macosx_11_0_arm64.whl" },
]

[[package]]
name = "pure"
version = "2.0"
wheels = [{ url = "https://files.example/pure-2.0-py3-none-any.whl" }]

[[package]]
name = "stable-abi"
version = "3.0"
wheels = [{ url = "https://files.example/stable_abi-3.0-cp39-abi3-manylinux_2_28_x86_64.whl" }]

[[package]]
name = "sdist-only"
version = "0.1"
sdist = { url = "https://files.example/sdist_only-0.1.tar.gz" }
"""

POETRY_LOCK = """
[[package]]
name = "ruamel-yaml-clib"
version = "0.2.8"
files = [
    {file = "ruamel.yaml.clib-0.2.8-cp311-cp311-manylinux_2_24_x86_64.whl", hash = "sha256:0"},
    {file = "ruamel.yaml.clib-0.2.8.tar.gz", hash = "sha256:1"},
]
"""


def test_a_lock_pin_without_a_wheel_for_the_memory_python_is_named(tmp_path: Path) -> None:
    from memwise.project import locks
    from memwise.running import environment

    path = tmp_path / "uv.lock"
    path.write_text(UV_LOCK)
    lock = locks.read_lock(path, "3.15")
    assert lock.no_wheel == {"scientific-pkg": ["3.10", "3.12"]}  # the others install
    assert locks.read_lock(path, "3.12").no_wheel == {}
    said = environment.no_wheel_message("uv.lock", lock, "3.15", None)
    assert "scientific-pkg==1.26.4: wheels for Python 3.10, 3.12" in said
    assert 'set memory-python = "3.12" in [tool.memwise]' in said
    poetry = tmp_path / "poetry.lock"
    poetry.write_text(POETRY_LOCK)
    assert locks.read_lock(poetry, "3.14").no_wheel == {"ruamel-yaml-clib": ["3.11"]}


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_hooks" name="test_hooks_run"><failure message="FileNotFoundError:
[Errno 2] No such file or directory: 'pre-commit'">...</failure></testcase>
<testcase classname="tests.test_yaml" name="test_load"><failure message="ModuleNotFoundError:
No module named 'ruamel.yaml'">...</failure></testcase></testsuite></testsuites>"""


def test_a_tool_the_tests_miss_is_found_in_the_group_that_lists_it(tmp_path: Path) -> None:
    from memwise.running import pytest_runs

    write_pyproject(tmp_path, """
[project]
name = "cli"
version = "1"
[project.optional-dependencies]
yaml = ["ruamel.yaml>=0.18"]
[dependency-groups]
test = ["pytest"]
linters = ["pre-commit>=3", "ruff"]
""")  # fmt: skip
    loaded = settings.load(tmp_path)
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    assert pytest_runs.missing_tools(junit) == {"pre-commit", "ruamel.yaml"}
    hint = pytest_runs.missing_tools_hint(loaded, junit)
    assert (
        "Tests failed without pre-commit, which the project's dependency group 'linters' lists "
        "and memwise does not install: add 'linters' to [tool.memwise] test-groups" in hint
    )
    # A module is looked up as the distribution of the same name (ruamel.yaml, an extra).
    assert "without ruamel.yaml, which the project's extra 'yaml' lists" in hint
    assert "add 'yaml' to [tool.memwise] test-extras" in hint


def test_installed_pythons_are_probed_once_until_an_interpreter_comes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`nox -l` must not start a process per Python on every call (issue 35), and must still
    notice an interpreter installed since the last call."""
    from memwise.project import installed_pythons

    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    monkeypatch.setenv("PATH", str(bin_folder))
    probes: list[str] = []

    def find(version: str) -> str | None:
        probes.append(version)
        found = bin_folder / f"python{version}"
        return str(found) if found.exists() else None

    cache = tmp_path / ".nox" / "pythons.json"
    assert installed_pythons.installed(["3.41", "3.42"], find, cache) == []
    assert installed_pythons.installed(["3.41", "3.42"], find, cache) == []
    assert probes == ["3.41", "3.42"], "the second call probed again"

    (bin_folder / "python3.42").write_text("#!/bin/sh\n")
    os.utime(bin_folder, ns=(0, bin_folder.stat().st_mtime_ns + 10**9))
    assert installed_pythons.installed(["3.41", "3.42"], find, cache) == ["3.42"]
    assert installed_pythons.installed(["3.41", "3.42", "3.43"], find, cache) == ["3.42"]
    assert probes.count("3.43") == 1, "a new supported version was not probed"


def test_shards_split_every_test_once_and_a_merge_names_what_does_not_add_up() -> None:
    from memwise.plugin.shards import Shard, ShardError, ShardRecord, merge, take_shard_option

    ids = [f"tests/test_x.py::test_{number}" for number in range(10)]
    groups = [Shard(index, 3).owns(list(reversed(ids))) for index in (1, 2, 3)]
    assert sorted(node for group in groups for node in group) == sorted(ids)
    assert sorted(len(group) for group in groups) == [3, 3, 4]
    assert take_shard_option(["-x", "--shard", "2/3", "-k", "a"]) == (
        Shard(2, 3),
        ["-x", "-k", "a"],
    )
    assert take_shard_option(["--shard=1/1"])[0] == Shard(1, 1)
    for wrong in ("0/3", "4/3", "2", "a/b", ""):
        with pytest.raises(ShardError, match="K/N"):
            Shard.parse(wrong)
    records = [(Path(f"s{i}"), ShardRecord(Shard(i, 3), ids, groups[i - 1])) for i in (1, 2, 3)]
    assert merge(records).problems == []
    assert merge(records).tests == 10
    assert merge(records[:2]).problems == ["shard 3/3 missing: its tests did not run"]
    overlapping = ShardRecord(Shard(3, 3), ids, [*groups[2], ids[0]])
    problems = merge([*records[:2], (Path("s3"), overlapping)]).problems
    assert any(ids[0] in problem and "shards 1 and 3" in problem for problem in problems)
    short = ShardRecord(Shard(3, 3), ids, groups[2][1:])
    problems = merge([*records[:2], (Path("s3"), short)]).problems
    assert problems == [f"{groups[2][0]} is in no shard"]
    other = ShardRecord(Shard(3, 3), [*ids, "tests/test_y.py::test_new"], groups[2])
    assert "collected different tests" in " ".join(
        merge([*records[:2], (Path("s3"), other)]).problems
    )


def test_shards_balance_by_recorded_durations_and_agree_only_on_the_same_ones() -> None:
    from memwise.plugin.shards import Shard, ShardRecord, balance_of, merge, recorded_durations

    ids = [f"tests/test_x.py::test_{number}" for number in range(12)]
    # One slow test and eleven quick ones: by count, one group would hold the slow test and
    # five others; by time, the slow test's group holds it alone.
    durations = dict.fromkeys(ids, 0.01)
    durations[ids[7]] = 5.0
    groups = [Shard(index, 2).owns(ids, durations) for index in (1, 2)]
    assert sorted(node for group in groups for node in group) == sorted(ids)
    assert [ids[7]] in groups
    times = [sum(durations[node] for node in group) for group in groups]
    assert abs(times[0] - times[1]) <= max(durations.values())
    assert groups == [Shard(index, 2).owns(list(reversed(ids)), durations) for index in (1, 2)]
    # A test without a recorded duration counts as the median one: still in exactly one group.
    partial = {node: seconds for node, seconds in durations.items() if node != ids[0]}
    halves = [Shard(index, 2).owns(ids, partial) for index in (1, 2)]
    assert sorted(node for group in halves for node in group) == sorted(ids)
    assert recorded_durations({"a": 1, "b": "x", "c": -1}) == {"a": 1.0}
    assert recorded_durations(["not", "a", "dict"]) == {}
    assert balance_of({}, ids) == "count"
    timed = [ShardRecord(Shard(i, 2), ids, groups[i - 1], balance_of(durations, ids))
             for i in (1, 2)]  # fmt: skip
    assert merge([(Path(f"s{i}"), record) for i, record in enumerate(timed)]).problems == []
    counted = ShardRecord(Shard(2, 2), ids, Shard(2, 2).owns(ids), "count")
    problems = merge([(Path("s1"), timed[0]), (Path("s2"), counted)]).problems
    assert any("different recorded durations" in problem for problem in problems)


def test_the_readme_states_the_defaults_the_toolkit_uses(tmp_path: Path) -> None:
    """The default column of the settings table is what ``load`` gives a project without the
    key (a default changed in one place only fails here)."""
    readme = (TOOLKIT / "README.md").read_text()
    table = readme.split("<!-- settings -->\n", 1)[1].split("<!-- /settings -->", 1)[0]
    stated = {
        key: re.findall(r"`([^`]+)`", row.split("|")[2])
        for row in table.splitlines()[2:]
        for key in [tuple(re.findall(r"`([\w.-]+)`", row.split("|")[1]))]
    }
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "plain"\nversion = "1"\n')
    read = settings.load(tmp_path)
    used = {
        ("default-limit",): [f'"{read.default_limit}"'],
        ("reports",): [f'"{read.reports}"'],
        ("baseline",): [f'"{read.baseline}"'],
        ("gate.runs",): [str(read.gate_runs)],
        ("gate.noise-factor",): [f"{read.gate_noise_factor:g}"],
        ("gate.relative", "gate.absolute-kib"): [
            f"{read.gate_relative:g}", f"{read.gate_absolute_kib:g}"
        ],
    }  # fmt: skip
    for keys, values in used.items():
        assert stated[keys] == values, (keys, stated[keys], values)
