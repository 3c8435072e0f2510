"""A verdict you can trust, round two: the cases a new user met in a first month, each run as
that user would (a real render, the real nox sessions), each red or right where it was wrong.
"""

from __future__ import annotations

import getpass
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import copier
import pytest
from memwise.gate import baseline

from tests.helpers import git, nox, render, run, session_env, template_source

PACKAGE_INIT = Path("src/my_service/__init__.py")
# Appended to a copy's package: importing it leaves a file beside it, so the test can tell
# whose code a session imported.
IMPORTED_HERE = (
    '\nimport pathlib as _pathlib\n(_pathlib.Path(__file__).parent / "imported-here").touch()\n'
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default render in git whose memory environment is built once (by its memtest)."""
    project = render(tmp_path_factory.mktemp("trust") / "svc")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    nox(project, "-s", "memtest")
    return project


@pytest.mark.slow
def test_a_copied_project_measures_its_own_code_and_a_moved_one_runs(service: Path) -> None:
    copy = service.parent / "svc2"
    shutil.copytree(service, copy, symlinks=True)
    with (copy / PACKAGE_INIT).open("a", encoding="utf-8") as init:
        init.write(IMPORTED_HERE)
    result = nox(copy, "-s", "memtest")
    assert f"it was built for the project at {service.resolve()}" in result.stderr
    assert (copy / PACKAGE_INIT).with_name("imported-here").is_file()  # the copy's own code
    assert not (service / PACKAGE_INIT).with_name("imported-here").exists()
    assert f"{service}/" not in (copy / "reports" / "memtest" / "manifest.json").read_text()
    moved = service.parent / "svc3"
    copy.rename(moved)
    result = nox(moved, "-s", "memtest")
    assert f"built for the project at {copy.resolve()}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_package_imported_from_another_folder_stops_before_measuring(service: Path) -> None:
    other = service.parent / "other-checkout" / "src"
    shutil.copytree(service / "src", other)
    env = {"PYTHONPATH": str(other)}  # another checkout of the package first on sys.path
    result = nox(service, "-R", "-s", "memtest", check=False, env=env)
    assert result.returncode != 0
    assert f"the package my_service is imported from {other}" in result.stderr
    assert "the session would measure other code than this project's" in result.stderr
    assert "passed" not in result.stdout  # nothing measured
    flamegraph = nox(service, "-R", "-s", "flamegraph", check=False, env=env)
    assert flamegraph.returncode != 0
    assert "the session would measure other code" in flamegraph.stderr


@pytest.mark.slow
def test_two_memory_runs_at_once_take_turns(service: Path) -> None:
    command = [sys.executable, "-m", "nox", "-R", "-s", "memtest"]
    runs = [
        subprocess.Popen(
            command,
            cwd=service,
            env=session_env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in runs]
    for process, (out, err) in zip(runs, outputs, strict=True):
        assert process.returncode == 0, err
        assert "WITHOUT memory tracking" not in out + err
        assert "memtest passed" in err
    said = [err for _, err in outputs if "waiting for `nox -s memtest` (process" in err]
    assert len(said) == 1, [err[-2000:] for _, err in outputs]


@pytest.mark.slow
def test_a_budgeted_test_that_starts_a_child_is_named(service: Path) -> None:
    test = service / "tests" / "test_child_process.py"
    test.write_text(
        "import subprocess, sys\nimport pytest\n\n\n@pytest.mark.limit_memory('10 MB')\n"
        "def test_the_child_allocates_50_mib():\n    subprocess.run([sys.executable, '-c', "
        "'x = bytearray(50 * 1024 * 1024)'], check=True)\n",
        encoding="utf-8",
    )
    try:
        result = nox(service, "-R", "-s", "memtest")
    finally:
        test.unlink()
    assert "1 budgeted test(s) started child processes" in result.stderr
    assert "test_child_process.py::test_the_child_allocates_50_mib (subprocess)" in result.stderr
    assert "child processes' memory is not counted" in result.stderr


FORKING_TESTS = """\
import multiprocessing
import os

import pytest


def allocate(mib):
    held = bytearray(mib * 1024 * 1024)
    return len(held)


@pytest.mark.limit_memory("10 MB")
def test_a_pool_worker_allocates_50_mib():
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(allocate, (50,)) == 50 * 1024 * 1024


@pytest.mark.limit_memory("10 MB")
def test_a_forked_child_allocates_3_mib():
    pid = os.fork()
    if pid == 0:
        allocate(3)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
"""


@pytest.mark.slow
def test_a_forked_child_counts_toward_its_tests_budget(service: Path) -> None:
    test = service / "tests" / "test_forking.py"
    test.write_text(FORKING_TESTS, encoding="utf-8")
    try:
        result = nox(service, "-R", "-s", "memtest", "--", "tests/test_forking.py", check=False)
    finally:
        test.unlink()
    assert result.returncode != 0
    assert "2 budgeted test(s) forked child processes: measured again with them" in result.stderr
    output = result.stdout + result.stderr
    over = re.search(
        r"test_a_pool_worker_allocates_50_mib is using ([\d.]+) MiB out of its limit of 10\.00 "
        r"MiB .*?: ([\d.]+) MiB in the test's own process and ([\d.]+) MiB in 1 forked",
        output,
    )
    assert over, output[-3000:]
    assert float(over[3]) >= 50
    assert "held most: the processes it forked" in result.stderr
    manifest = json.loads((service / "reports" / "memtest" / "manifest.json").read_text())
    tests = {test["nodeid"].split("::")[-1]: test for test in manifest["tests"]}
    within = tests["test_a_forked_child_allocates_3_mib"]
    assert within["outcome"] == "passed"
    assert within["measured_by"] == "memwise-forks"
    assert 3 * 2**20 <= within["forked_bytes"] <= within["peak_bytes"] < 10 * 2**20
    assert tests["test_a_pool_worker_allocates_50_mib"]["failure"] == "memory"
    assert not list((service / "reports" / "memtest" / "captures").glob("*.bin.*"))


@pytest.mark.slow
def test_a_memory_run_keeps_its_tmp_path_to_itself(service: Path) -> None:
    # Every plain pytest run shares one root of numbered folders and, at exit, removes the old
    # ones of the others: two at once race, and on 3.14+ the loser's dropped scandir iterator
    # is a warning that `filterwarnings = error` turns into a red run (a CI run of this suite
    # met it). A memwise run gets a --basetemp of its own, so it cleans up nobody's folders.
    temp = service.parent / "user-temp"
    others = temp / f"pytest-of-{getpass.getuser()}"
    for number in range(1, 8):
        (others / f"pytest-{number}").mkdir(parents=True)
    test = service / "tests" / "test_where_tmp_path_is.py"
    test.write_text(
        "import pathlib\n\n\ndef test_where(tmp_path):\n"
        f"    pathlib.Path({str(temp / 'seen')!r}).write_text(str(tmp_path))\n",
        encoding="utf-8",
    )
    try:
        nox(service, "-R", "-s", "memtest", env={"TMPDIR": str(temp)})
    finally:
        test.unlink()
    assert sorted(path.name for path in others.iterdir()) == [f"pytest-{n}" for n in range(1, 8)]
    seen = Path((temp / "seen").read_text())
    assert seen.is_relative_to(temp)
    assert not seen.is_relative_to(others)
    assert not seen.exists()  # removed with the run


@pytest.mark.slow
def test_a_reports_folder_in_the_way_is_a_message_and_nothing_is_lost(service: Path) -> None:
    reports = service / "reports"
    shutil.rmtree(reports)
    reports.write_text("the team's notes\n")
    try:
        result = nox(service, "-R", "-s", "memtest", check=False)
        assert result.returncode != 0
        assert f"{reports} is a file, where memwise writes its reports" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert reports.read_text() == "the team's notes\n"
    finally:
        reports.unlink()
    # A file the team committed under memwise's folder is kept, and said.
    nox(service, "-R", "-s", "memtest")
    kept = reports / "memtest" / "README.md"
    kept.write_text("what these reports are\n")
    git(service, "add", "-f", str(kept))
    result = nox(service, "-R", "-s", "memtest")
    assert kept.read_text() == "what these reports are\n"
    assert "kept 1 file(s) under" in result.stderr
    assert "README.md" in result.stderr
    git(service, "rm", "-q", "--cached", str(kept))
    # A folder memwise did not mark is not emptied.
    foreign = reports / "memdiff"
    shutil.rmtree(foreign, ignore_errors=True)
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine\n")
    result = nox(service, "-R", "-s", "memdiff", "--", "HEAD", check=False)
    assert result.returncode != 0
    assert "holds files memwise did not write" in result.stderr
    assert (foreign / "notes.txt").read_text() == "mine\n"
    shutil.rmtree(foreign)


def cut_baseline(project: Path, after: str) -> None:
    env = baseline.environment("3.15")
    figures = {"workload peak": 12 * 2**20, "workload total allocated": 50 * 2**20}
    record = baseline.Record(figures, dict.fromkeys(figures, 1000), {"main (a.py)": 1})
    text = baseline.text({env: record})
    (project / "memory-baseline.toml").write_text(text[: text.index(after) + len(after)])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("after", "said"),
    [
        ('method = "PYTHONMALLOC=malloc"\n', "is cut short or was edited"),
        ('"workload peak" = 12', "is cut short or was edited"),
    ],
)
def test_a_cut_baseline_is_red_in_ci_before_anything_is_measured(
    service: Path, after: str, said: str
) -> None:
    cut_baseline(service, after)
    try:
        result = nox(service, "-R", "-s", "memgate", check=False, env={"CI": "true"})
    finally:
        (service / "memory-baseline.toml").unlink()
    assert result.returncode != 0
    assert said in result.stderr
    assert "REGRESSION" not in result.stderr
    assert "memray run" not in result.stderr  # refused before measuring


@pytest.mark.slow
def test_a_nan_tolerance_is_refused_before_any_work(service: Path) -> None:
    pyproject = service / "pyproject.toml"
    before = pyproject.read_text()
    assert "\nrelative = 0.01\n" in before
    pyproject.write_text(before.replace("\nrelative = 0.01\n", "\nrelative = nan\n"))
    try:
        result = nox(service, "-l", check=False)
    finally:
        pyproject.write_text(before)
    assert result.returncode != 0
    assert "relative must be a number from 0 to 10, not nan" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_missing_interpreter_is_never_downloaded_and_fails_in_ci(service: Path) -> None:
    # 3.13t (free-threaded) is one uv would download from GitHub; it is not installed here.
    here = {name: value for name, value in session_env().items() if name != "CI"}
    local = run([sys.executable, "-m", "nox", "-s", "lint", "-P", "3.13t"], service, check=False,
                env=here)  # fmt: skip
    assert "Python downloads are not allowed" in local.stderr + local.stdout
    assert "skipped: Python interpreter 3.13t not found" in local.stderr
    in_ci = nox(service, "-s", "lint", "-P", "3.13t", check=False, env={"CI": "true"})
    assert in_ci.returncode != 0
    assert "failed: Python interpreter 3.13t not found" in in_ci.stderr


@pytest.mark.slow
def test_check_update_of_a_source_without_release_tags_says_so(tmp_path: Path) -> None:
    source = tmp_path / "memwise"
    shutil.copytree(template_source(), source)
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "no tag")
    project = tmp_path / "svc"
    copier.run_copy(str(source), project, defaults=True, quiet=True, unsafe=False)
    result = nox(project, "-s", "check_update", check=False)
    assert result.returncode != 0
    assert "has no release tags" in result.stderr
    assert "is the newest release" not in result.stderr


def test_adding_memwise_does_not_change_what_a_bare_nox_runs(tmp_path: Path) -> None:
    project = tmp_path / "theirs"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "theirs"\nversion = "1"\n')
    (project / "noxfile.py").write_text(
        "import importlib\nimport sys\n\nimport nox\n\n\n@nox.session(python=False)\n"
        "def unit(session):\n    pass\n\n\n"
        'sys.path.insert(0, ".memwise/src")\nimportlib.import_module("memwise.nox_sessions")\n'
    )
    render(project, project_type="existing")
    listed = nox(project, "-l").stdout
    defaults = re.findall(r"^\* (\S+)", listed, re.MULTILINE)
    assert defaults == ["unit"], listed
    assert re.search(r"^- memtest ->", listed, re.MULTILINE)


@pytest.mark.slow
def test_a_baseline_in_a_subfolder_has_its_history(service: Path) -> None:
    pyproject = service / "pyproject.toml"
    before = pyproject.read_text()
    pyproject.write_text(
        before.replace(
            "[tool.memwise]\n", '[tool.memwise]\nbaseline = "perf/memory-baseline.toml"\n', 1
        )
    )
    try:
        nox(service, "-R", "-s", "baseline", "--", "--runs", "1")
        git(service, "add", "-A")
        git(service, "commit", "-q", "-m", "Record the memory baseline")
        result = nox(service, "-R", "-s", "memhistory")
        page = (service / "reports" / "memhistory" / "history.html").read_text()
        assert "1 version(s) of the baseline file" in page
        assert "Record the memory baseline" in page  # the commit's subject, on hover
    finally:
        pyproject.write_text(before)
        git(service, "commit", "-q", "-am", "back")
    assert "history.html" in result.stderr


SETTINGS_FROM_DOTENV = """\
from pathlib import Path

import pytest


@pytest.mark.limit_memory("64 MB")
def test_reads_the_local_settings() -> None:
    assert (Path(__file__).parents[1] / ".env").read_text() == "TOKEN=dummy\\n"
"""


@pytest.mark.slow
def test_another_commit_is_measured_with_the_files_git_ignores_here(service: Path) -> None:
    """A service whose settings come from a `.env` its docs tell you to create (ignored by
    git): memdiff's other commit (and a red gate's) sees it as the working tree does."""
    (service / ".gitignore").write_text((service / ".gitignore").read_text() + ".env\n")
    (service / "tests" / "test_settings_file.py").write_text(SETTINGS_FROM_DOTENV)
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "Settings from .env")
    (service / ".env").write_text("TOKEN=dummy\n")
    result = nox(service, "-R", "-s", "memdiff", "--", "HEAD", check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "carried over what git ignores here: .env" in result.stderr
    # The other commit's run read the settings: its test passed there as here.
    ref = json.loads((service / "reports" / "memdiff" / "ref" / "manifest.json").read_text())
    outcomes = {test["nodeid"]: test["outcome"] for test in ref["tests"]}
    assert outcomes["tests/test_settings_file.py::test_reads_the_local_settings"] == "passed"
    # Without the file, a side whose budgeted test fails is not compared as if it measured.
    (service / ".env").unlink()
    missing = nox(service, "-R", "-s", "memdiff", "--", "HEAD", check=False)
    (service / "tests" / "test_settings_file.py").unlink()  # the module's other tests
    git(service, "commit", "-q", "-am", "No settings file")
    assert missing.returncode != 0
    assert "1 budgeted test(s) failed there, so its figures do not compare" in missing.stderr
    assert "test_reads_the_local_settings" in missing.stderr
