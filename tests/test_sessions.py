"""Run every nox session of a default render for real and read what it writes (slow)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from memwise.project import pythons
from memwise.views import memray_pages

from tests.helpers import (
    ARTIFACTS,
    browse,
    installed,
    memory_environment,
    memray_page_tree,
    nox,
    render,
    run,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default render whose sessions the tests in this module run in turn."""
    return render(tmp_path_factory.mktemp("sessions") / "my-service")


def assert_self_contained_html(path: Path, *names: str) -> None:
    """The report opens offline (no script or style from the network) and shows the code."""
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", html), path
    for name in names:
        assert name in html, f"{name} not in {path}"


def read_in_browser(*pages: Path) -> list[dict[str, object]]:
    """Open reports in headless Chromium; screenshots in .cache/test-artifacts/reports."""
    shots = ARTIFACTS / "reports"
    shots.mkdir(parents=True, exist_ok=True)
    return browse(
        [{"url": page.as_uri(), "screenshot": str(shots / f"{page.stem}.png")} for page in pages]
    )


def test_lint_session_passes_on_the_render(project: Path) -> None:
    nox(project, "-s", "lint")


# Where Python looks for tabnanny's bytecode under memwise's prefix, and whether it is there.
SEEDED_TABNANNY = """\
import importlib.util, pathlib, sys
import tabnanny
sys.pycache_prefix = str(pathlib.Path(sys.prefix) / "memwise-bytecode")
print(pathlib.Path(importlib.util.cache_from_source(tabnanny.__file__)).is_file())
"""


def test_memtest_passes_and_shows_the_top_allocators(project: Path, tmp_path: Path) -> None:
    result = nox(project, "-s", "memtest")
    # It installed from the lock the render shipped, which uv found current: nothing resolved.
    shipped = render(tmp_path / "fresh") / "uv.lock"
    assert (project / "uv.lock").read_bytes() == shipped.read_bytes()
    # Its bytecode prefix holds the interpreter's own standard-library bytecode, even of a
    # module nothing here imports (tabnanny): the first run compiled none of it again.
    python = memory_environment(project) / "bin" / "python"
    seeded = run([str(python), "-c", SEEDED_TABNANNY], project).stdout.strip()
    assert seeded == "True", seeded
    # The tests that held most, largest first, whichever Tracker measured them (the run's one,
    # or pytest-memray's for a test with a marker of its own).
    largest = re.findall(
        r"^ +([\d.]+) MiB  (tests/\S+)  \((.+); measured by (\S+)\)$", result.stdout, re.MULTILINE
    )
    assert "memwise: the 5 tests that held the most at their peak" in result.stdout
    assert len(largest) == 5, result.stdout
    assert [float(peak) for peak, *_ in largest] == sorted(
        (float(peak) for peak, *_ in largest), reverse=True
    )
    assert {by for *_, by in largest} <= {"memwise-run", "pytest-memray", "memwise"}
    assert re.search(r"\d+ passed", result.stdout)
    reports = project / "reports" / "memtest"
    assert (reports / "junit.xml").is_file()
    assert not (reports / "captures").exists(), "passing tests keep no capture"
    assert str(reports / "junit.xml") in result.stderr


def test_memtest_writes_its_bytecode_where_writing_bytecode_is_forbidden(project: Path) -> None:
    # CI images often set PYTHONDONTWRITEBYTECODE. memwise keeps its runs' bytecode in its
    # environment (PYTHONPYCACHEPREFIX), where Python reads none of the standard library's
    # own: forbidden to write it there too, each run compiled every import again.
    nox(project, "-s", "memtest", "--", "-k", "cache")
    bytecode = memory_environment(project) / "memwise-bytecode"
    shutil.rmtree(bytecode)
    nox(project, "-R", "-s", "memtest", "--", "-k", "cache",
        env={"PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
    # Under a prefix a package's bytecode is <prefix>/<its folder>/__init__.<tag>.pyc.
    written = {
        path.parent.name if path.name.startswith("__init__.") else path.name.split(".")[0]
        for path in bytecode.rglob("*.pyc")
    }
    assert {"json", "pytest_memray", "my_service"} <= written, sorted(written)


def test_memtest_passes_pytest_arguments_through(project: Path) -> None:
    nox(project, "-R", "-s", "memtest", "--", "-k", "cache", "-q")
    manifest = json.loads((project / "reports" / "memtest" / "manifest.json").read_text())
    ran = [test["nodeid"] for test in manifest["tests"]]
    assert ran
    assert all("cache" in nodeid for nodeid in ran), ran


def test_profile_writes_json_with_memory_data_and_an_offline_view(project: Path) -> None:
    result = nox(project, "-s", "profile")
    reports = project / "reports" / "profile"
    profile = json.loads((reports / "profile.json").read_text(encoding="utf-8"))
    workload = [name for name in profile["files"] if name.endswith("workload.py")]
    assert workload, list(profile["files"])
    lines = [line for data in profile["files"].values() for line in data["lines"]]
    assert max(line["n_malloc_mb"] for line in lines) > 0
    assert profile["max_footprint_mb"] > 0
    assert_self_contained_html(reports / "profile.html", "render_report", "handle_request")
    assert "Top lines by memory allocated" in result.stdout
    assert "Top lines by time" in result.stdout
    assert str(reports / "profile.html") in result.stderr
    # In a browser: the one request that leaves the file is scalene's own question to a local
    # Ollama server, which the session and the README state (nothing leaves the machine).
    [page] = read_in_browser(reports / "profile.html")
    leaving = [url for url in page["requests"] if not url.startswith("file://")]
    assert leaving in ([], ["http://localhost:11434/api/tags"]), leaving
    assert "asks http://localhost:11434" in result.stderr
    assert [e for e in page["errors"] if "ERR_CONNECTION_REFUSED" not in e] == []


def test_profile_args_reach_scalene(project: Path) -> None:
    """`profile-args` leaves files out of every profile (a package's templates, say)."""
    pyproject = project / "pyproject.toml"
    kept = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(
        kept.replace(
            "[tool.memwise]\n", '[tool.memwise]\nprofile-args = ["--profile-exclude", "store.py"]\n'
        ),
        encoding="utf-8",
    )
    try:
        nox(project, "-s", "profile")
    finally:
        pyproject.write_text(kept, encoding="utf-8")
    profile = json.loads((project / "reports" / "profile" / "profile.json").read_text())
    assert any(name.endswith("workload.py") for name in profile["files"])
    # scalene 2.4 leaves an excluded file's lines out of its time (it still lists the file
    # for the memory its samples saw there).
    timed = {Path(name).name: data["percent_cpu_time"] for name, data in profile["files"].items()}
    assert timed.get("store.py", 0) == 0, timed
    assert timed["workload.py"] > 0, timed


def test_flamegraph_writes_offline_flamegraphs_and_the_peak(project: Path) -> None:
    result = nox(project, "-s", "flamegraph")
    reports = project / "reports" / "flamegraph"
    assert_self_contained_html(reports / "flamegraph.html", "render_report", "handle_request")
    # What the workload did not free: it frees its data, so only that the report is there.
    assert_self_contained_html(reports / "flamegraph-leaks.html")
    # Recorded aggregated (what the flamegraphs draw, in a small capture): memray stats cannot
    # read it, so the summary is the peak and what held it, read by memray's reader.
    assert "memray run --aggregate" in result.stderr
    assert not (reports / "stats.json").exists()
    peak = json.loads((reports / "peak.json").read_text(encoding="utf-8"))
    assert peak["format"] == "aggregated"
    assert peak["peak_memory"] > 1024 * 1024
    top = peak["top_at_peak"][0]
    assert top["location"].startswith("add_orders:")
    assert "store.py" in top["location"]
    assert f"{top['size'] / 2**20:.2f} MiB  {top['location']}" in result.stdout
    assert f"Peak memory {peak['peak_memory'] / 2**20:.2f} MiB" in result.stdout
    # Recorded with the C allocator (as the gate measures): memray's leaks view then sees each
    # object, and shows no "misleading results" banner.
    assert "misleading results" not in (reports / "flamegraph-leaks.html").read_text()
    for page in read_in_browser(reports / "flamegraph.html", reports / "flamegraph-leaks.html"):
        assert page["errors"] == [], page["url"]
        assert [url for url in page["requests"] if not url.startswith("file://")] == []
    for name in ["flamegraph.html", "peak.json", "workload.bin"]:
        assert str(reports / name) in result.stderr


def test_flamegraph_of_every_allocation_adds_memray_stats(project: Path) -> None:
    result = nox(project, "-R", "-s", "flamegraph", "--", "--all-allocations",
                 "src/my_service/workload.py", "--requests", "500")  # fmt: skip
    reports = project / "reports" / "flamegraph"
    assert "--aggregate" not in result.stderr
    stats = json.loads((reports / "stats.json").read_text(encoding="utf-8"))
    assert stats["total_bytes_allocated"] > 1024 * 1024
    # The terminal summary is read from stats.json (memray's text report would read the
    # capture once more): the peak and the largest allocating location, as recorded.
    top = stats["top_allocations_by_size"][0]
    assert f"{top['size'] / 2**20:.2f} MiB  {top['location']}" in result.stdout
    assert f"Peak memory {stats['metadata']['peak_memory'] / 2**20:.2f} MiB" in result.stdout
    assert "render_report" in (reports / "flamegraph.html").read_text(encoding="utf-8")


def test_program_and_its_arguments_follow_the_double_dash(project: Path) -> None:
    script = "src/my_service/workload.py"
    result = nox(project, "-R", "-s", "flamegraph", "--", script, "--requests", "500")
    hits, misses = re.search(r"hits=(\d+) misses=(\d+)", result.stdout).groups()
    assert int(hits) + int(misses) == 375  # 3 events in 4 ask for a report


@pytest.mark.parametrize("session", ["profile", "flamegraph"])
def test_a_missing_program_is_named(project: Path, session: str) -> None:
    result = nox(project, "-R", "-s", session, "--", "no/such/script.py", check=False)
    assert result.returncode != 0
    assert "No such program: no/such/script.py" in result.stderr


def test_a_crashing_program_fails_the_session_but_its_capture_is_reported(
    project: Path,
) -> None:
    crash = project / "crash.py"
    crash.write_text("data = [bytes(1024) for _ in range(1000)]\nraise SystemExit(3)\n")
    result = nox(project, "-R", "-s", "flamegraph", "--", "crash.py", check=False)
    assert result.returncode != 0
    assert "crash.py failed" in result.stderr
    assert (project / "reports" / "flamegraph" / "flamegraph.html").is_file()
    crash.unlink()


@pytest.mark.parametrize(
    "session", ["memtest", "profile", "flamegraph", "memgate", "baseline", "live", "profile_view"]
)
def test_memory_sessions_explain_themselves_on_windows(project: Path, session: str) -> None:
    # memray cannot be installed on Windows, so the real check is the session's guard. It runs
    # before anything is installed: nox is run without a virtualenv, on a patched platform.
    code = (
        "import sys; sys.platform = 'win32'; from nox.__main__ import main; "
        f"sys.argv = ['nox', '--no-venv', '-s', '{session}']; main()"
    )
    result = run([sys.executable, "-c", code], project, check=False)
    assert result.returncode != 0
    assert "does not run on Windows" in result.stderr
    assert "WSL" in result.stderr


def test_sessions_say_so_when_uv_is_missing(project: Path, tmp_path: Path) -> None:
    # `pip install nox` on a machine without uv: nox alone, and no uv on PATH.
    nox_alone = tmp_path / "nox-without-uv"
    run(["uv", "venv", "--quiet", str(nox_alone)], tmp_path)
    run(["uv", "pip", "install", "--quiet", "--python", str(nox_alone), "nox"], tmp_path)
    without_uv = [
        folder
        for folder in os.environ["PATH"].split(os.pathsep)
        if not shutil.which("uv", path=folder)
    ]
    result = run(
        [str(nox_alone / "bin" / "nox"), "-s", "memtest"],
        project,
        check=False,
        env={**os.environ, "PATH": os.pathsep.join([str(nox_alone / "bin"), *without_uv])},
    )
    assert result.returncode != 0
    assert "uv is not installed" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_pre_commit_hooks_pass_on_the_render(tmp_path: Path) -> None:
    copy = render(tmp_path / "hooks")
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    run([sys.executable, "-m", "pre_commit", "run", "--all-files"], copy)


def test_hooks_refuse_conflict_markers_and_rej_files(tmp_path: Path) -> None:
    copy = render(tmp_path / "hooks")
    (copy / "noxfile.py.rej").write_text("rejected hunk\n")
    readme = copy / "README.md"
    readme.write_text(readme.read_text() + "<<<<<<< before\nmine\n=======\ntheirs\n>>>>>>> after\n")
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    result = run([sys.executable, "-m", "pre_commit", "run", "--all-files"], copy, check=False)
    assert result.returncode != 0
    assert re.search(r"no merge conflict markers\.+Failed", result.stdout)
    assert re.search(r"no \.rej files.*\.+Failed", result.stdout)


def test_memtest_fails_and_names_the_tests_over_their_limits(tmp_path: Path) -> None:
    project = render(tmp_path / "regressed")
    (project / "tests" / "test_regressions.py").write_text(REGRESSIONS)
    result = nox(project, "-s", "memtest", "--", "tests/test_regressions.py", check=False)
    assert result.returncode != 0
    out = result.stdout
    assert "test_over_its_limit" in out
    assert "Test was limited to 1.0MiB but allocated 3.0MiB" in out
    assert "test_that_leaks" in out
    assert "Test was allowed to leak 1.0MiB per location" in out
    reports = project / "reports" / "memtest"
    for test in ["test_over_its_limit", "test_that_leaks"]:
        stem = f"memtest-tests-test_regressions.py-{test}"
        assert (reports / "captures" / f"{stem}.bin").is_file()
        assert_self_contained_html(reports / f"{stem}.html", test)
        assert str(reports / f"{stem}.html") in result.stderr
    # What was never freed: the leaking test's allocations, not the over-limit test's.
    leaks = reports / "memtest-tests-test_regressions.py-test_that_leaks-leaks.html"
    assert_self_contained_html(leaks, "test_that_leaks")
    assert_self_contained_html(
        reports / "memtest-tests-test_regressions.py-test_over_its_limit-leaks.html"
    )
    # memray's own pages start at the test function: the runner's frames are one frame.
    # The over-limit test freed everything: its leaks page draws nothing.
    stem = "memtest-tests-test_regressions.py-"
    for page, test in [
        (f"{stem}test_over_its_limit.html", "test_over_its_limit"),
        (f"{stem}test_that_leaks.html", "test_that_leaks"),
        (f"{stem}test_that_leaks-leaks.html", "test_that_leaks"),
    ]:
        first_row, files = memray_page_tree(reports / page)
        assert test in first_row, (page, first_row)
        assert set(first_row) <= {test, memray_pages.OUTSIDE[0]}, (page, first_row)
        assert not [name for name in files if "pluggy" in name or "_pytest" in name]
    assert memray_page_tree(reports / f"{stem}test_over_its_limit-leaks.html")[0] == []
    kept = sorted(path.name for path in (reports / "captures").glob("*.bin"))
    assert len(kept) == 2, kept  # the passing test's capture is gone


REGRESSIONS = """\
import pytest

_kept = []


@pytest.mark.limit_memory("1 MB")
def test_over_its_limit() -> None:
    data = [bytearray(1024 * 1024) for _ in range(3)]
    assert len(data) == 3


@pytest.mark.limit_leaks("1 MB")
def test_that_leaks() -> None:
    for _ in range(4):
        _kept.append(bytearray(1024 * 1024))


@pytest.mark.limit_memory("10 MB")
def test_within_its_limit() -> None:
    assert len(bytearray(1024)) == 1024
"""


EXTRA_TESTS = """\
import unittest

import pytest


@pytest.mark.parametrize("label", ["{long}"], ids=["{long}"])
def test_with_a_long_id(label: str) -> None:
    data = bytearray(8 * 1024 * 1024)  # over the project's default budget of 6 MB
    assert data


class CacheTest(unittest.TestCase):
    @pytest.mark.limit_memory("2 MB")
    def test_fills_the_cache(self) -> None:
        self.data = [bytearray(1024 * 1024) for _ in range(4)]

    def test_small(self) -> None:
        self.assertEqual(len(bytearray(10)), 10)
""".replace("{long}", "x" * 300)


def set_memwise(project: Path, line: str) -> None:
    """Set one key of the render's [tool.memwise] (replacing the rendered value, if any)."""
    pyproject = project / "pyproject.toml"
    key = line.split("=")[0].strip()
    text = re.sub(rf"^{key} = .*\n", "", pyproject.read_text(encoding="utf-8"), flags=re.MULTILINE)
    pyproject.write_text(text.replace("[tool.memwise]\n", f"[tool.memwise]\n{line}\n", 1))


def test_memtest_keeps_long_ids_measures_unittest_and_applies_the_default_budget(tmp_path) -> None:
    project = render(tmp_path / "extra")
    set_memwise(project, 'default-limit = "6 MB"')
    (project / "tests" / "test_extra.py").write_text(EXTRA_TESTS)
    result = nox(project, "-s", "memtest", "--", "tests/test_extra.py", check=False)
    assert result.returncode != 0
    reports = project / "reports" / "memtest"
    manifest = json.loads((reports / "manifest.json").read_text())
    tests = {test["nodeid"]: test for test in manifest["tests"]}
    long_id = f"tests/test_extra.py::test_with_a_long_id[{'x' * 300}]"
    # Over the default budget; pytest-memray shortened its capture's name with a digest, and
    # the capture and its flamegraphs are still kept and named.
    assert tests[long_id]["outcome"] == "failed"
    assert tests[long_id]["limit"] == "limit_memory('6 MB')"
    capture = Path(tests[long_id]["capture"])
    assert capture.is_file()
    assert len(capture.name) < 255
    (peak,) = (
        path
        for path in reports.glob("*.html")
        if "long_id" in path.name and not path.stem.endswith(("-leaks", "-test"))
    )
    assert_self_contained_html(peak, "test_with_a_long_id")
    assert (reports / f"{peak.stem}-leaks.html").is_file()
    assert str(peak) in result.stderr
    for page in read_in_browser(peak, reports / f"{peak.stem}-leaks.html"):
        assert page["errors"] == [], page["url"]
        assert [url for url in page["requests"] if not url.startswith("file://")] == []
    # A unittest.TestCase test is measured, and its own marker enforced.
    fills = tests["tests/test_extra.py::CacheTest::test_fills_the_cache"]
    assert (fills["outcome"], fills["measured_by"]) == ("failed", "memwise")
    assert "CacheTest::test_fills_the_cache is using" in result.stdout
    assert tests["tests/test_extra.py::CacheTest::test_small"]["outcome"] == "passed"
    # Tests without a marker are measured by the run's one Tracker; the one it put over the
    # default budget was measured again by pytest-memray (by its 300-character id), which
    # decided, and its capture is pytest-memray's.
    assert tests["tests/test_extra.py::CacheTest::test_small"]["measured_by"] == "memwise-run"
    assert tests[long_id]["measured_by"] == "pytest-memray"
    assert "1 test(s) within 4 MiB of the default budget (6 MB) or over it" in result.stderr
    assert "2 test(s) went over their memory budget on Python" in result.stderr
    assert "WITHOUT memory tracking" not in result.stderr
    assert "Memray WARNING" not in result.stdout  # memray's symbol notes, silenced
    # A failing memtest speaks where CI shows it: summary.md (the job page, the pull-request
    # comment) and index.html, each test over budget with its limit, peak, over-by and what
    # held the most, linked to its page.
    summary = (reports / "summary.md").read_text()
    assert summary.startswith("## ❌ memtest failed: ")
    assert re.search(
        r"\| \[test_with_a_long_id\\\[x+…\]\([^ )]+-test\.html \"tests/test_extra\.py::[^\"]+\"\) \| "
        r"`limit_memory\('6 MB'\)` \| [\d.]+ MiB \(\+[\d.]+\) \| "
        r"`tests/test_extra\.py:\d+` \|",
        summary,
    ), summary
    index = reports / "index.html"
    [seen] = read_in_browser(index)
    assert seen["errors"] == []
    page = index.read_text()
    assert "CacheTest::test_fills_the_cache" in page
    assert re.search(r"<a href='[^']+-test\.html'>", page)


def test_a_pytest_usage_error_is_reported_as_one(project: Path) -> None:
    result = nox(project, "-R", "-s", "memtest", "--", "--no-such-option", check=False)
    assert result.returncode != 0
    assert "pytest refused its arguments (a usage error, exit code 4)" in result.stderr
    assert "failed on Python" not in result.stderr


def test_memtest_and_the_gate_run_on_the_one_memory_python(project: Path) -> None:
    memtest = nox(project, "-R", "-s", "memtest").stderr
    # The gate's sessions name their Python before anything else: `-- --help` shows it (and the
    # options) without installing or measuring.
    gate = nox(project, "-s", "baseline", "--", "--help")
    assert "--runs RUNS" in gate.stdout
    assert "options shown" in gate.stderr
    found = {
        re.search(r"(?:memtest|baseline) runs on Python (3\.\d+)", out)[1]
        for out in (memtest, gate.stderr)
    }
    newest = json.loads((project / "reports" / "memtest" / "manifest.json").read_text())["python"]
    assert found == {newest} == {"3.15"}  # the newest supported Python, which has memray


def test_a_missing_memory_python_is_named_with_the_fix(tmp_path: Path) -> None:
    project = render(tmp_path / "missing")
    set_memwise(project, 'memory-python = "3.16"')
    result = nox(project, "-s", "memtest", check=False)
    assert result.returncode != 0
    assert "runs on Python 3.16" in result.stderr
    assert "which is not installed here" in result.stderr
    assert "uv python install 3.16" in result.stderr
    # The versions that would do: the render supports them and memray has wheels for them;
    # of those, the ones installed (as nox's PATH finds them), the newest suggested.
    fitting = pythons.memory_candidates(tomllib.loads((project / "pyproject.toml").read_text()))
    said = re.search(
        rf"has wheels for, Python {re.escape(', '.join(fitting))}; installed here: ([\d., ]+)\. ",
        result.stderr,
    )
    assert said, result.stderr
    installed = said[1].split(", ")
    assert installed
    assert set(installed) <= set(fitting)
    assert f'set memory-python = "{installed[-1]}"' in result.stderr


ASYNC_LOAD = """\
import asyncio

from my_service.cache import BoundedCache
from my_service.handler import render_report
from my_service.store import OrderStore


async def worker(queue: asyncio.Queue, store: OrderStore, cache: BoundedCache) -> None:
    while True:
        customer = await queue.get()
        if cache.get(customer) is None:
            cache.put(customer, render_report(store, customer, rows=400))
        queue.task_done()


async def main() -> None:
    store = OrderStore()
    store.add_orders((number % 300, f"item-{number}", number) for number in range(60_000))
    queue: asyncio.Queue = asyncio.Queue(maxsize=100)
    cache = BoundedCache(max_entries=50, max_bytes=1024 * 1024)
    workers = [asyncio.create_task(worker(queue, store, cache)) for _ in range(8)]
    for number in range(6_000):
        await queue.put(number % 300)
    await queue.join()
    for task in workers:
        task.cancel()
    store.close()


asyncio.run(main())
"""


def test_profile_of_an_asyncio_script_elsewhere_attributes_the_package(project: Path) -> None:
    script = project / "scripts" / "async_load.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(ASYNC_LOAD)
    result = nox(project, "-R", "-s", "profile", "--", "scripts/async_load.py")
    assert "scalene run -o" in result.stderr
    assert "--no-async" in result.stderr
    profile = json.loads((project / "reports" / "profile" / "profile.json").read_text())
    # The package does the work (rendering reports from the store), so scalene shows it.
    package = [name for name in profile["files"] if "src/my_service/" in name]
    assert package, list(profile["files"])
    shutil.rmtree(script.parent)


def test_a_project_on_python_3_15_only_works_and_profile_says_why_not(tmp_path: Path) -> None:
    if not installed(["3.15"]):
        pytest.skip("Python 3.15 not installed (../shared/tools/install-python 3.15)")
    project = render(tmp_path / "only315", python_min="3.15", python_max="3.15")
    assert "memtest passed on Python 3.15" in nox(project, "-s", "memtest").stderr
    result = nox(project, "-s", "profile", check=False)
    assert result.returncode != 0
    assert "scalene 2.4 has wheels only for CPython 3.9-3.14" in result.stderr
    assert "Traceback" not in result.stderr


def test_injected_bugs_fail_their_memory_tests_with_a_clear_message(tmp_path: Path) -> None:
    # The example's tests catch the bugs they are there for: a handler that keeps every
    # report it rendered (a leak), and a query that loads the whole table (unbounded).
    project = render(tmp_path / "bugs")
    handler = project / "src" / "my_service" / "handler.py"
    text = handler.read_text()
    text = text.replace(
        "class EventHandler:", "_history: list[bytes] = []\n\n\nclass EventHandler:"
    )
    leaky = text.replace(
        "            self.cache.put(event.customer, report)\n",
        "            self.cache.put(event.customer, report)\n        _history.append(report)\n",
    )
    assert leaky != text
    handler.write_text(leaky)
    store = project / "src" / "my_service" / "store.py"
    bounded = store.read_text()
    unbounded = bounded.replace(
        "        while batch := cursor.fetchmany(batch_size):\n            yield from batch",
        "        yield from cursor.fetchall()",
    )
    assert unbounded != bounded
    store.write_text(unbounded)
    result = nox(project, "-s", "memtest", "--", "tests/test_memory.py", check=False)
    assert result.returncode != 0
    out = result.stdout
    leak = "test_the_bot_and_its_background_tasks_free_what_they_handle"
    assert f"MEMORY PROBLEMS tests/test_memory.py::{leak}" in out
    assert f"tests/test_memory.py::{leak}" in result.stderr  # memtest's list of failures
    assert "Test was allowed to leak 1.0MiB per location" in out
    assert "handler.py" in out  # the allocation that leaked
    query = "test_streaming_every_order_stays_flat_as_the_table_grows[200k-orders]"
    assert f"MEMORY PROBLEMS tests/test_memory.py::{query}" in out
    assert re.search(r"Test was limited to 4\.0MiB but allocated [\d.]+MiB", out)
    assert "store.py" in out  # where the rows were loaded
    assert "[20k-orders] - Test was limited" not in out  # a small table still fits


MANY_TESTS = """\
import pytest


@pytest.mark.parametrize("number", range(120))
def test_many(number):
    assert len(bytes(number * 100)) == number * 100
"""


def test_memtest_shards_hold_every_test_once_and_merge_into_one_verdict(
    project: Path, tmp_path: Path
) -> None:
    many = project / "tests" / "test_many.py"
    many.write_text(MANY_TESTS)
    over = project / "tests" / "test_shard_over.py"

    def shard(spec: str) -> tuple[Path, dict]:
        nox(project, "-R", "-s", "memtest", "--", "--shard", spec)
        folder = tmp_path / f"{spec.replace('/', '-')}-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(project / "reports" / "memtest", folder)
        return folder, json.loads((folder / "manifest.json").read_text())

    try:
        (first, one), (second, two) = shard("1/2"), shard("2/2")
        ran_one = {test["nodeid"] for test in one["tests"]}
        ran_two = {test["nodeid"] for test in two["tests"]}
        collected = set(json.loads((first / "shard.json").read_text())["collected"])
        assert len(collected) >= 120
        assert ran_one.isdisjoint(ran_two)
        assert ran_one | ran_two == collected
        balance = json.loads((first / "shard.json").read_text())["balance"]
        if balance == "count":  # no whole run recorded durations: equal counts
            assert abs(len(ran_one) - len(ran_two)) <= 1
        else:  # the earlier whole runs' durations (the unit tests check the balance)
            assert json.loads((second / "shard.json").read_text())["balance"] == balance
        again = {test["nodeid"] for test in shard("1/2")[1]["tests"]}
        assert again == ran_one  # the same groups every time
        merged = nox(project, "-s", "memreport", "--", str(first), str(second))
        assert "every shard green" in merged.stderr
        missing = nox(project, "-s", "memreport", "--", str(first), check=False)
        assert missing.returncode != 0
        assert "shard 2/2 missing" in missing.stderr
        twice = nox(project, "-s", "memreport", "--", str(first), str(first), check=False)
        assert twice.returncode != 0
        assert "given twice" in twice.stderr
        # A test over its budget in one shard: that shard is red, and so is the merge.
        over.write_text(
            "import pytest\n\n\n@pytest.mark.limit_memory('1 MB')\n"
            "def test_shard_over():\n    kept = bytearray(8 * 1024 * 1024)\n    assert kept\n"
        )
        results = {}
        for spec in ("1/2", "2/2"):
            result = nox(project, "-R", "-s", "memtest", "--", "--shard", spec, check=False)
            folder = tmp_path / f"over-{spec.replace('/', '-')}"
            shutil.copytree(project / "reports" / "memtest", folder)
            results[spec] = (result.returncode, folder)
        assert sorted(code != 0 for code, _ in results.values()) == [False, True]
        [(red_spec, red_folder)] = [(spec, f) for spec, (code, f) in results.items() if code]
        # The red shard's own page says which shard it is: the merge links to it.
        title = f"<title>memtest, shard {red_spec}: tests over their memory budget</title>"
        assert title in (red_folder / "index.html").read_text()
        red = nox(project, "-s", "memreport", "--",
                  *(str(folder) for _, folder in results.values()), check=False)  # fmt: skip
        assert red.returncode != 0
        assert "test_shard_over.py::test_shard_over: over its budget" in red.stderr
        # The red shard's own table follows, a level below the merge's heading: the line
        # that held the most, as an unsplit memtest's summary gives it.
        merged_summary = (project / "reports" / "memreport" / "summary.md").read_text()
        shard_part = merged_summary.split("\n### shard ", 1)[1]
        assert "\n#### ❌ memtest failed: test_shard_over over" in shard_part
        assert re.search(r"\| `tests/test_shard_over\.py:\d+` \|", shard_part), merged_summary
    finally:
        many.unlink()
        over.unlink(missing_ok=True)
