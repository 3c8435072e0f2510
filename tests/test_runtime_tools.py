"""Live views, native and multi-process capture, opt-in tracking: the non-interactive parts run
for real, the interactive sessions must refuse cleanly without a terminal (slow)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import memory_environment, nox, render, session_env

pytestmark = pytest.mark.slow
CAPTURES_VARIABLE = "MEMWISE_CAPTURES"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A render whose flamegraph environment exists (the tests reuse it with -R)."""
    project = render(tmp_path_factory.mktemp("runtime") / "my-service")
    nox(project, "-s", "flamegraph", "--", "src/my_service/workload.py", "--requests", "100")
    return project


@pytest.mark.parametrize("session", ["live", "profile_view"])
def test_interactive_sessions_refuse_without_a_terminal(project: Path, session: str) -> None:
    # stdin is not a terminal here, as in CI: the session must stop at once, not hang.
    result = subprocess.run(
        [sys.executable, "-m", "nox", "-s", session],
        cwd=project, env=session_env(), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "is interactive and needs a terminal" in result.stderr


def test_follow_fork_reports_every_worker_process(project: Path) -> None:
    workload = "src/my_service/workload.py"
    args = ["--follow-fork", workload, "--processes", "2", "--requests", "2000"]
    result = nox(project, "-R", "-s", "flamegraph", "--", *args)
    reports = project / "reports" / "flamegraph"
    children = sorted(reports.glob("workload.bin.*"))
    assert len(children) == 2, sorted(p.name for p in reports.iterdir())
    for child in children:
        pid = child.name.rsplit(".", 1)[1]
        peak = (reports / f"flamegraph-{pid}.html").read_text(encoding="utf-8")
        assert "render_report" in peak  # the worker's own allocations
        assert (reports / f"flamegraph-{pid}-leaks.html").is_file()
        # Every allocation recorded: a forked worker ends in os._exit, before memray would
        # write an aggregated capture.
        stats = json.loads((reports / f"stats-{pid}.json").read_text(encoding="utf-8"))
        assert stats["total_bytes_allocated"] > 0
        assert str(reports / f"flamegraph-{pid}.html") in result.stderr


def test_a_program_that_exits_abruptly_is_recorded_with_every_allocation(project: Path) -> None:
    abrupt = project / "abrupt.py"
    abrupt.write_text("import os\nheld = [bytearray(10_000) for _ in range(1000)]\nos._exit(0)\n")
    result = nox(project, "-R", "-s", "flamegraph", "--", "abrupt.py", check=False)
    assert result.returncode != 0
    assert "ended with os._exit(), a signal or an out-of-memory kill" in result.stderr
    assert "--all-allocations" in result.stderr
    result = nox(project, "-R", "-s", "flamegraph", "--", "--all-allocations", "abrupt.py")
    stats = json.loads((project / "reports" / "flamegraph" / "stats.json").read_text())
    assert stats["metadata"]["peak_memory"] >= 10_000_000
    assert "abrupt.py" in (project / "reports" / "flamegraph" / "flamegraph.html").read_text()


def test_native_option_records_native_frames(project: Path) -> None:
    nox(project, "-R", "-s", "flamegraph", "--", "--native", "src/my_service/workload.py",
        "--requests", "500")  # fmt: skip
    peak = json.loads((project / "reports" / "flamegraph" / "peak.json").read_text())
    assert peak["has_native_traces"] is True


def test_tracking_capture_feeds_the_flamegraph_reports(project: Path, tmp_path: Path) -> None:
    python = memory_environment(project) / "bin" / "python"
    env = {**os.environ, CAPTURES_VARIABLE: str(tmp_path)}
    tracked = (
        "from memwise_runtime import track_memory\nfrom my_service import workload\n"
        "with track_memory('workload'):\n    workload.main(['--requests', '1000'])\n"
    )
    subprocess.run([str(python), "-c", tracked], cwd=project, env=env, check=True,
                   capture_output=True)  # fmt: skip
    (capture,) = tmp_path.glob("workload-*.bin")
    nox(project, "-R", "-s", "flamegraph", "--", "--capture", str(capture))
    reports = project / "reports" / "flamegraph"
    assert "render_report" in (reports / "flamegraph.html").read_text(encoding="utf-8")
    # The runtime records every allocation: memray stats reads it.
    stats = json.loads((reports / "stats.json").read_text(encoding="utf-8"))
    assert stats["total_bytes_allocated"] > 0
    assert not (reports / "peak.json").exists()


def test_an_aggregated_capture_feeds_the_flamegraph_reports(project: Path, tmp_path: Path) -> None:
    # An aggregated capture (the session's own, pytest-memray's dumps) cannot be read by
    # memray stats: the session asks memray's reader what the capture holds, and sums it up.
    nox(project, "-R", "-s", "flamegraph", "--", "src/my_service/workload.py", "--requests", "300")
    capture = tmp_path / "aggregated.bin"
    (project / "reports" / "flamegraph" / "workload.bin").rename(capture)
    result = nox(project, "-R", "-s", "flamegraph", "--", "--capture", str(capture))
    reports = project / "reports" / "flamegraph"
    assert "render_report" in (reports / "flamegraph.html").read_text(encoding="utf-8")
    peak = json.loads((reports / "peak.json").read_text(encoding="utf-8"))
    assert f"Peak memory {peak['peak_memory'] / 2**20:.2f} MiB" in result.stdout
    assert sorted(path.name for path in reports.iterdir()) == [
        ".gitignore",
        "flamegraph-leaks.html",
        "flamegraph.html",
        "peak.json",
    ]


def test_the_watch_catches_the_example_leak_and_its_flamegraph_names_it(
    project: Path, tmp_path: Path
) -> None:
    # The walk-through of .memwise/README.md ("Watching memory in production"), as written.
    python = memory_environment(project) / "bin" / "python"
    captures = tmp_path / "captures"
    env = {**os.environ, "MEMWISE_WATCH": "1", "MEMWISE_WATCH_GROWTH": "50 MB",
           "MEMWISE_WATCH_INTERVAL": "0.5", "MEMWISE_WATCH_CAPTURE_SECONDS": "2",
           CAPTURES_VARIABLE: str(captures)}  # fmt: skip
    result = subprocess.run(
        [str(python), "src/my_service/workload.py", "--requests", "400000", "--leak"],
        cwd=project, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    (capture,) = captures.iterdir()
    assert f"capture written to {capture}" in result.stderr
    nox(project, "-R", "-s", "flamegraph", "--", "--capture", str(capture))
    flamegraph = project / "reports" / "flamegraph" / "flamegraph.html"
    assert "keep_report_forever" in flamegraph.read_text(encoding="utf-8")


def test_tracking_is_off_without_the_variable(project: Path, tmp_path: Path) -> None:
    python = memory_environment(project) / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != CAPTURES_VARIABLE}
    code = (
        "import sys\nfrom memwise_runtime import track_memory\nfrom my_service import workload\n"
        "with track_memory('workload'):\n    workload.main(['--requests', '200'])\n"
        "print('memray' in sys.modules)"
    )
    result = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, env=env,
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert result.stdout.split()[-1] == "False"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "no_such_module"], "no_such_module failed (exit code 1)"),
        (["--capture", "missing.bin"], "no such capture file: missing.bin"),
        (["--capture"], "argument --capture: expected one argument"),
        (["--all-allocations", "--capture", "x.bin"], "give one or the other"),
        (["--capture", "pyproject.toml"], "pyproject.toml: not a memray capture memray can read"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["-m"], "-m needs a module name"),
        (["no_such_script.py"], "No such program: no_such_script.py"),
    ],
)
def test_bad_program_arguments_are_named(project: Path, args: list[str], message: str) -> None:
    result = nox(project, "-R", "-s", "flamegraph", "--", *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("session", ["flamegraph", "profile"])
def test_session_options_are_explained_by_help(project: Path, session: str) -> None:
    result = nox(project, "-R", "-s", session, "--", "--help")
    assert f"usage: nox -s {session} -- [" in result.stdout
    assert "options shown" in result.stderr
    if session == "profile":
        assert "--no-async" in result.stdout


def test_failed_import_still_reports_the_capture(project: Path) -> None:
    result = nox(project, "-R", "-s", "flamegraph", "--", "-m", "no_such_module", check=False)
    assert "No module named" in result.stdout + result.stderr
    assert re.search(r"reports of its capture:\n\s+\S+flamegraph\.html", result.stderr)


def test_profile_refuses_a_module(project: Path) -> None:
    result = nox(project, "-R", "-s", "profile", "--", "-m", "json.tool", check=False)
    assert result.returncode != 0
    assert "scalene profiles a file" in result.stderr


def test_a_crashing_program_fails_profile_but_its_profile_is_reported(project: Path) -> None:
    crash = project / "crash_after_work.py"
    crash.write_text(
        "import time\n"
        "data = [bytes(1000) for _ in range(100_000)]\n"
        "start = time.time()\n"
        "while time.time() - start < 1.5:\n"
        "    sum(range(10_000))\n"
        "raise SystemExit(4)\n"
    )
    result = nox(project, "-s", "profile", "--", crash.name, check=False)
    crash.unlink()
    assert result.returncode != 0
    assert "crash_after_work.py failed (exit code 4); its partial profile" in result.stderr
    assert (project / "reports" / "profile" / "profile.html").is_file()
