"""A verdict you can trust: every memory session is green only when it measured what it says.

Each test breaks one thing a new user broke (a marker pytest-memray cannot read, a test file
that does not compile, a baseline deleted or corrupted, a figure gone missing, a ref measured
with the working tree's code, an interpreter that is only a shim) and reads the session's
verdict and message. One render, shared; each test restores what it changed (slow).
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import growth
from tests.helpers import git, nox, render, run, session_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default render with a committed baseline (two measuring runs)."""
    root = render(tmp_path_factory.mktemp("verdicts") / "my-service")
    git(root, "init", "-q")
    nox(root, "-s", "baseline", "--", "--runs", "2")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start, with a baseline")
    return root


@pytest.fixture
def restored(project: Path) -> Iterator[Path]:
    """The render, put back as committed after the test."""
    yield project
    git(project, "checkout", "-q", "--", ".")
    git(project, "clean", "-q", "-fd", "--", "tests", "src")


def figures(project: Path) -> dict[str, int]:
    (table,) = tomllib.loads((project / "memory-baseline.toml").read_text())[
        "environments"
    ].values()
    return dict(table["figures"])


BAD_MARKER = """\
import pytest


@pytest.mark.limit_memory("24M")
def test_marked_with_a_unit_pytest_memray_cannot_read() -> None:
    pass
"""


def test_a_bad_marker_selected_alone_is_a_usage_error_not_a_green_run(restored: Path) -> None:
    (restored / "tests" / "test_marked.py").write_text(BAD_MARKER)
    result = nox(restored, "-R", "-s", "memtest", "--", "-k", "unit_pytest_memray", check=False)
    assert result.returncode != 0
    assert "INTERNALERROR" not in result.stdout + result.stderr
    assert "a usage error: memwise: memory markers that pytest-memray cannot use" in result.stderr
    assert "test_marked.py::test_marked_with_a_unit_pytest_memray_cannot_read: " in result.stderr
    assert "'24M' is not a size pytest-memray reads" in result.stderr
    assert "memtest passed" not in result.stderr


def test_a_test_file_that_does_not_compile_is_named(restored: Path) -> None:
    (restored / "tests" / "test_broken.py").write_text("def test_x(:\n    pass\n")
    result = nox(restored, "-R", "-s", "memtest", check=False)
    assert result.returncode != 0
    assert "pytest could not collect 1 file(s); no test was run:" in result.stderr
    assert re.search(r"tests/test_broken\.py: SyntaxError", result.stderr)
    assert "no capture" not in result.stderr


SKIPPED = """\
import pytest


def test_runs_and_is_measured() -> None:
    assert bytearray(1024)


@pytest.mark.skip(reason="not today")
def test_is_skipped() -> None:
    pass
"""


def test_skipped_tests_are_not_counted_as_measured(restored: Path) -> None:
    (restored / "tests" / "test_skipping.py").write_text(SKIPPED)
    result = nox(restored, "-R", "-s", "memtest", "--", "tests/test_skipping.py")
    assert "memtest passed on Python 3.15: 1 of 1 tests measured (1 skipped)" in result.stderr


# A suite that works in one process only, as one whose tests share a database file or a port:
# under pytest-xdist's workers it fails (here, plainly, by checking where it runs).
ONE_PROCESS_ONLY = """\
import pytest


def test_needs_the_one_process_its_suite_was_written_for(request: pytest.FixtureRequest) -> None:
    assert not hasattr(request.config, "workerinput"), "shares state with the other tests"
"""


def test_a_suite_failing_only_under_workers_is_told_how_to_switch_them_off(
    restored: Path,
) -> None:
    (restored / "tests" / "test_one_process.py").write_text(ONE_PROCESS_ONLY)
    result = nox(restored, "-R", "-s", "memtest", "--", "tests/test_one_process.py", check=False)
    assert result.returncode != 0
    assert 'This run used pytest-xdist workers ([tool.memwise] workers = "auto")' in result.stderr
    assert 'set workers = "off"' in result.stderr
    # In one process, as the message suggests, it passes and is measured.
    alone = nox(restored, "-R", "-s", "memtest", "--", "tests/test_one_process.py", "-n", "0")
    assert "1 of 1 tests measured" in alone.stderr


def test_a_corrupted_baseline_is_named_with_its_line_before_measuring(restored: Path) -> None:
    baseline = restored / "memory-baseline.toml"
    lines = baseline.read_text().splitlines()
    lines[7] = lines[7] + " oops"
    baseline.write_text("\n".join(lines) + "\n")
    result = nox(restored, "-r", "-s", "memgate", check=False)
    assert result.returncode != 0
    assert f"{baseline} is not valid TOML" in result.stderr
    assert "line 8" in result.stderr
    assert "Traceback" not in result.stderr
    assert "memray run" not in result.stderr  # nothing was measured first


def test_a_deleted_baseline_fails_in_ci_and_is_said_plainly_elsewhere(restored: Path) -> None:
    (restored / "memory-baseline.toml").unlink()
    env = {**session_env(), "CI": "true"}
    in_ci = run([*nox_command(), "-r", "-s", "memgate"], restored, env=env, check=False)
    assert in_ci.returncode != 0
    assert "there is no baseline file" in in_ci.stderr
    assert "record it with `nox -s baseline`" in in_ci.stderr
    env.pop("CI")
    local = run([*nox_command(), "-r", "-s", "memgate"], restored, env=env, check=False)
    assert local.returncode == 0
    assert "memgate compared NOTHING: there is no baseline file" in local.stderr


def nox_command() -> list[str]:
    return [sys.executable, "-m", "nox"]


def test_a_figure_of_the_baseline_not_measured_fails_and_new_ones_are_listed(
    restored: Path,
) -> None:
    memory_tests = restored / growth.MEMORY_TESTS
    text = memory_tests.read_text()
    renamed = text.replace(f"def {growth.LARGE_TEST}(", "def test_the_cache_under_a_new_name(")
    assert renamed != text
    memory_tests.write_text(renamed)
    result = nox(restored, "-r", "-s", "memgate", check=False)
    assert result.returncode != 0
    assert "1 figure(s) of memory-baseline.toml were not measured by this run" in result.stderr
    assert f"{growth.LARGE_TEST_FIGURE}" in result.stderr.split("were not measured", 1)[1]
    assert "figure(s) not in memory-baseline.toml yet" in result.stderr
    assert "test_the_cache_under_a_new_name peak" in result.stderr


@pytest.mark.parametrize(
    ("figure", "grow"),
    [
        (growth.SMALL_TEST_FIGURE, lambda p, n: growth.grow_test_peak(p, growth.SMALL_TEST, n)),
        (growth.LARGE_TEST_FIGURE, lambda p, n: growth.grow_test_peak(p, growth.LARGE_TEST, n)),
        ("workload peak", growth.grow_workload_peak),
    ],
    ids=["small-test-peak", "large-test-peak", "workload-peak"],
)
def test_two_percent_more_of_a_peak_fails_the_gate(restored: Path, figure: str, grow) -> None:
    size = figures(restored)[figure]
    assert size >= 1024 * 1024  # the claim is about figures of 1 MiB or more
    grow(restored, int(size * 0.02))
    result = nox(restored, "-r", "-s", "memgate", check=False)
    assert result.returncode != 0
    regressed = result.stderr.split("Memory gate failed", 1)[1]
    assert re.search(
        rf"{re.escape(figure)}: [\d.]+ MiB -> [\d.]+ MiB, \+[\d.]+ MiB \(\+(1\.9|2\.0)\d?%\)",
        regressed,
    ), regressed


def test_memdiff_measures_the_refs_code_even_with_a_reused_environment(restored: Path) -> None:
    nox(restored, "-R", "-s", "memtest")  # an environment with the editable install exists
    size = figures(restored)["workload peak"]
    growth.grow_workload_peak(restored, size // 2)  # uncommitted: the ref has none of it
    result = nox(restored, "-R", "-s", "memdiff", "--", "HEAD")
    change = re.search(r"workload peak: [\d.]+ MiB -> [\d.]+ MiB \(\+(\d+)\.\d\d%\)", result.stderr)
    assert change is not None, result.stderr[-3000:]
    assert 45 <= int(change[1]) <= 55
    head = git(restored, "rev-parse", "HEAD").strip()
    assert (
        f"ref HEAD ({head[:12]}) -> now, the working tree ({head[:12]} with uncommitted changes)"
        in result.stderr
    )
    assert re.search(r"both on Python 3\.\d+\.\d+ /", result.stderr)


SHIM = """#!/bin/sh
echo "pyenv: python3.19: command not found" >&2
exit 127
"""


def test_an_interpreter_that_is_only_a_shim_is_an_error_not_a_skip(
    restored: Path, tmp_path: Path
) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3.19"
    shim.write_text(SHIM)
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    pyproject = restored / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "[tool.memwise]\n", '[tool.memwise]\nmemory-python = "3.19"\n', 1
        )
    )
    env = {**session_env(), "PATH": f"{shims}{os.pathsep}{session_env()['PATH']}"}
    env.pop("CI", None)  # where nox itself would only skip a missing interpreter
    result = run([*nox_command(), "-s", "memgate"], restored, env=env, check=False)
    assert result.returncode != 0
    assert "skipped" not in result.stderr
    assert "runs on Python 3.19" in result.stderr
    assert "does not start as Python 3.19: a pyenv shim" in result.stderr


def test_an_environment_of_another_interpreter_is_never_reused_for_figures(restored: Path) -> None:
    nox(restored, "-R", "-s", "memtest", "--", "-k", "cache")  # on the newest Python
    (newest,) = restored.glob(".nox/memwise-memory-*")
    pyproject = restored / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "[tool.memwise]\n", '[tool.memwise]\nmemory-python = "3.14"\n', 1
        )
    )
    result = nox(restored, "-R", "-s", "memtest", "--", "-k", "cache")
    assert "building .nox/memwise-memory-3.14" in result.stderr  # -R or not: its own
    manifest = json.loads((restored / "reports" / "memtest" / "manifest.json").read_text())
    assert manifest["python"] == "3.14"
    config = (restored / ".nox" / "memwise-memory-3.14" / "pyvenv.cfg").read_text()
    assert re.search(r"^version_info = 3\.14\.", config, re.MULTILINE), config
    assert newest.name != "memwise-memory-3.14"


@pytest.mark.parametrize(
    ("session", "says"),
    [
        ("memtest", "usage: nox -s memtest -- [pytest arguments]"),
        ("memgate", "fail when one grew past its baseline plus tolerance"),
        ("baseline", "--runs RUNS"),
        ("memdiff", "usage: nox -s memdiff -- REF"),
        ("memhistory", "Measures nothing and installs nothing"),
        ("flamegraph", "--follow-fork"),
        ("drift", "compare the files memwise owns"),
    ],
)
def test_every_memory_session_explains_itself_without_measuring(
    project: Path, session: str, says: str
) -> None:
    before = (
        sorted(p.name for p in (project / "reports").glob("*"))
        if (project / "reports").is_dir()
        else []
    )
    result = nox(project, "-R", "-s", session, "--", "--help")
    assert says in " ".join(result.stdout.split())
    assert "--memray" not in result.stderr
    assert "memray run" not in result.stderr
    assert "uv pip install" not in result.stderr
    assert "uv sync" not in result.stderr
    after = (
        sorted(p.name for p in (project / "reports").glob("*"))
        if (project / "reports").is_dir()
        else []
    )
    assert after == before  # no report folder written (or emptied)
