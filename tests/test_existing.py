"""memwise added to existing projects (the documented way) changes nothing of theirs, its
sessions work on their code, and `copier update` of the layer is conflict-free (slow: real
copier, uv, nox, pytest-memray, memray and scalene on each project)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

import copier
import pytest

from tests.existing_projects import BOT, PROJECTS, ExistingProject
from tests.helpers import (
    TEMPLATE,
    TOOLKIT_SUMMARY,
    TOOLKIT_SUMMARY_1_1,
    git,
    memory_environment,
    nox,
    run,
    session_env,
    template_source,
)

ANSWERS = ".copier-answers.memwise.yml"
# What the layer writes (and nothing else): its toolkit, its CI workflow, its answers file,
# and a noxfile only where the project has none.
MEMWISE_FILES = re.compile(
    r"^(\.memwise/.*|\.github/workflows/memory\.yml|\.copier-answers\.memwise\.yml)$"
)

pytestmark = pytest.mark.slow


TOOLKIT_SRC = TEMPLATE / "template" / ".memwise" / "src"


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a git repository: release 1.0.0, and 1.1.0 changing memwise's files."""
    repo = tmp_path_factory.mktemp("layer") / "memwise"
    shutil.copytree(template_source(), repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "1.0.0")
    git(repo, "tag", "1.0.0")
    sessions = (
        repo / "template" / ".memwise" / "src" / "memwise" / "sessions" / "measure_sessions.py"
    )
    assert TOOLKIT_SUMMARY in sessions.read_text()
    sessions.write_text(sessions.read_text().replace(TOOLKIT_SUMMARY, TOOLKIT_SUMMARY_1_1))
    workflow = repo / "template" / ".github" / "workflows" / "memory.yml.jinja"
    workflow.write_text(workflow.read_text().replace("  memtest:\n",
                                                     "  memtest:\n    timeout-minutes: 30\n"))  # fmt: skip
    git(repo, "commit", "-q", "-am", "1.1.0")
    git(repo, "tag", "1.1.0")
    return repo


def add_memwise(project: ExistingProject, root: Path, repo: Path) -> list[str]:
    """The documented steps: one copier command, then the touch points copier printed that
    apply to this project, done as printed. Returns the steps."""
    copy = [str(Path(sys.executable).parent / "copier"), "copy", "--defaults", "--data",
            "project_type=existing", "--vcs-ref=1.0.0", str(repo), "."]  # fmt: skip
    printed = run(copy, root).stderr
    # Nothing tracked changed: the layer only added files of its own.
    assert git(root, "status", "--porcelain", "--untracked-files=no") == ""
    added = git(root, "ls-files", "--others", "--exclude-standard").split()
    own = [path for path in added if not MEMWISE_FILES.match(path)]
    assert own == ([] if project.has_noxfile else ["noxfile.py"]), own
    touch_points = re.findall(r"^- (.*)$", printed, re.MULTILINE)
    steps = ["copier copy --data project_type=existing <memwise> ."]
    for point in touch_points:
        if point.startswith("If your noxfile.py existed before") and project.has_noxfile:
            # The imports the point names, with the noxfile's first imports; the lines as
            # printed (indented in the message) after its imports, at its end.
            block = printed.split(point, 1)[1].split("\n- ", 1)[0]
            lines = textwrap.dedent(block.strip("\n")).rstrip() + "\n"
            assert 'importlib.import_module("memwise.nox_sessions")' in lines, printed
            imports = re.findall(r"`(import \w+)`", point)
            assert imports == ["import importlib", "import sys"], point
            noxfile = root / "noxfile.py"
            text = noxfile.read_text(encoding="utf-8")
            first = re.search(r"^(import|from) (?!__future__)", text, re.MULTILINE)
            assert first is not None
            at = first.start()
            noxfile.write_text(
                text[:at] + "\n".join(imports) + "\n\n" + text[at:] + "\n" + lines,
                encoding="utf-8",
            )
            # What a project's linters say of those lines: sorted imports, none unused, no
            # import below code, no unused noqa.
            tools = Path(sys.executable).parent
            run([str(tools / "ruff"), "check", "--no-cache", "--isolated", "--select",
                 "I,E402,F401,RUF100", "noxfile.py"], root)  # fmt: skip
            steps.append(point)
        elif point.startswith("Optional, in pyproject.toml") and project.memwise_settings:
            with (root / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
                pyproject.write(f"\n[tool.memwise]\n{project.memwise_settings}")
            steps.append(point)
    done = {"noxfile": project.has_noxfile, "settings": bool(project.memwise_settings)}
    assert len(steps) - 1 == sum(done.values()), (touch_points, done)  # each one was printed
    return steps


@pytest.fixture(scope="module", params=PROJECTS, ids=lambda project: project.name)
def adopted(request, tmp_path_factory, template_repo) -> tuple[ExistingProject, Path, list[str]]:
    project: ExistingProject = request.param
    root = project.write(tmp_path_factory.mktemp(project.name) / project.name)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project as it was")
    before = {path: (root / path).read_bytes() for path in git(root, "ls-files").split()}
    steps = add_memwise(project, root, template_repo)
    changed = {path for path, content in before.items() if (root / path).read_bytes() != content}
    touched = {"noxfile.py"} if project.has_noxfile else set()
    touched |= {"pyproject.toml"} if project.memwise_settings else set()
    assert changed == touched, changed  # only the documented touch points
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "add memwise")
    return project, root, steps


def test_adding_takes_one_command_plus_the_printed_touch_points(adopted) -> None:
    _, _, steps = adopted  # counted from what copier printed (add_memwise)
    assert len(steps) <= 3, steps  # docs/existing-project.md promises at most three


def test_the_projects_own_tests_still_pass(adopted, tmp_path: Path) -> None:
    project, root, _ = adopted
    venv = tmp_path / "venv"
    run(["uv", "venv", "--quiet", "--python", project.python, str(venv)], root)
    env = {**session_env(), **project.ci_env, "VIRTUAL_ENV": str(venv)}
    python = ["--python", str(venv / "bin" / "python")]  # not the interpreter nox may name
    run(["uv", "pip", "install", "--quiet", *python, *project.install], root, env=env)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the project's own run; memwise's are checked below
    result = run(project.own_tests, root, env=env)
    assert re.search(r"\d+ passed", result.stdout)


WATCHED_WORKLOAD = (
    "import runpy, sys\nfrom memwise_runtime import watch_memory\n"
    "watch = watch_memory()\nrunpy.run_path(sys.argv[1], run_name='__main__')\nwatch.stop()\n"
)


def test_the_runtime_added_the_documented_way_captures_the_workload(
    adopted, tmp_path: Path
) -> None:
    project, root, _ = adopted
    if not project.workload:
        pytest.skip("the project names no workload to watch")
    # .memwise/README.md: install the runtime (with memray, for captures) into the service's
    # environment beside the project; nothing of the test tooling comes with it.
    venv = tmp_path / "service"
    run(["uv", "venv", "--quiet", "--python", project.python, str(venv)], root)
    python = ["--python", str(venv / "bin" / "python")]
    run(["uv", "pip", "install", "--quiet", *python, *project.install, "./.memwise/runtime[capture]"],
        root)  # fmt: skip
    installed = installed_versions(venv)
    assert "memwise-runtime" in installed
    assert not {"pytest-memray", "memwise", "pytest-xdist"} & set(installed)
    captures = tmp_path / "captures"
    # The service's own run writes no bytecode: memwise's runs are checked for it below.
    env = {**session_env(), "MEMWISE_WATCH": "1", "MEMWISE_WATCH_THRESHOLD": "1 MB",
           "MEMWISE_WATCH_INTERVAL": "0.1", "MEMWISE_CAPTURES": str(captures),
           "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    result = run([str(venv / "bin" / "python"), "-c", WATCHED_WORKLOAD, project.workload], root,
                 env=env)  # fmt: skip
    (capture,) = captures.glob("watch-*.bin")
    assert "capture written to" in result.stderr
    flamegraph = tmp_path / "flamegraph.html"
    run([sys.executable, "-m", "memray", "flamegraph", "--no-web", "-o", str(flamegraph),
         str(capture)], root)  # fmt: skip
    assert Path(project.workload).name in flamegraph.read_text(encoding="utf-8")


def test_memtest_measures_the_projects_tests(adopted) -> None:
    _, root, _ = adopted
    result = nox(root, "-s", "memtest")
    counted = re.search(
        r"memtest passed on Python 3\.\d+: (\d+) of (\d+) tests measured", result.stderr
    )
    assert counted is not None
    assert counted[1] == counted[2] != "0"
    manifest = (root / "reports" / "memtest" / "manifest.json").read_text()
    assert '"outcome": "failed"' not in manifest
    assert "WITHOUT memory tracking" not in result.stderr  # unittest tests are measured too
    assert git(root, "status", "--porcelain") == ""  # reports and .nox/ ignore themselves


def installed_versions(environment: Path) -> dict[str, str]:
    """Distribution name -> version, from an environment's site-packages."""
    found = {}
    for info in environment.glob("lib/python3.*/site-packages/*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[name.lower().replace("_", "-")] = version
    return found


def test_memtest_runs_on_the_projects_python_with_its_locked_versions(adopted) -> None:
    project, root, _ = adopted
    if not (project.memory_python or project.locked):
        pytest.skip("the project pins neither its Python nor its versions")
    nox(root, "-R", "-s", "memtest")
    manifest = json.loads((root / "reports" / "memtest" / "manifest.json").read_text())
    if project.memory_python:
        assert manifest["python"] == project.memory_python
    installed = installed_versions(memory_environment(root))
    for name, version in project.locked.items():
        assert installed[name] == version, (name, installed.get(name))
    if project.locked:  # the lock's pins were the install's constraints
        constraints = (memory_environment(root) / "memwise-lock-constraints.txt").read_text()
        for name, version in project.locked.items():
            assert f"{name}=={version}\n" in constraints


def test_flamegraph_and_profile_run_on_the_projects_code(adopted, tmp_path: Path) -> None:
    project, root, _ = adopted
    if project.workload is None:
        script = tmp_path / "load_check.py"  # any script, anywhere, given after `--`
        script.write_text(
            "import time\nt = time.time()\nwhile time.time() - t < 1.2:\n    data = [bytes(100) for _ in range(10_000)]\n"
        )
        args = ["--", str(script)]
    else:
        args = []
    nox(root, "-s", "flamegraph", *args)
    assert (root / "reports" / "flamegraph" / "flamegraph.html").is_file()
    result = nox(root, "-s", "profile", *args)
    assert (root / "reports" / "profile" / "profile.html").is_file()
    if project.name == "bot":  # the package is profiled although the script lives elsewhere
        assert "chatbot/handlers.py" in (root / "reports" / "profile" / "profile.json").read_text()
    if project.name == "embedlib":  # scalene 2.4 cannot profile memory there: CPU, and said
        assert "read one of the package's templates (.jinja)" in result.stderr
        assert "Top lines by time" in result.stdout
        return
    assert "Top lines by memory allocated" in result.stdout


def test_baseline_and_memgate_work(adopted) -> None:
    project, root, _ = adopted
    # Two measuring runs, not five: a noise band all the same, and the five-run default is
    # the example's to prove (tests/test_gate.py); eleven projects would repeat it.
    nox(root, "-s", "baseline", "--", "--runs", "2")
    baseline = (root / "memory-baseline.toml").read_text()
    if project.workload:
        assert '"workload total allocated"' in baseline
    else:  # the marked test's peak, by node id
        assert re.search(r'^"tests/test_\w+\.py::[\w:]+ peak" = [1-9]', baseline, re.MULTILINE)
    result = nox(root, "-R", "-s", "memgate")
    compared = re.search(
        r"memory gate passed on Python 3\.\d+: (\d+) figure\(s\) compared", result.stderr
    )
    assert compared is not None
    assert int(compared[1]) > 0
    # Nothing written into the project but the baseline: no bytecode beside its files either
    # (the noxfile's own, at the root, is nox's; memwise's toolkit is memwise's).
    assert (
        git(root, "status", "--porcelain", "--untracked-files=all") == "?? memory-baseline.toml\n"
    )
    written = [
        path.relative_to(root)
        for path in root.rglob("__pycache__")
        if path.relative_to(root).parts[0] not in {".nox", ".memwise", "__pycache__"}
    ]
    assert written == [], written


@pytest.mark.slow
def test_a_red_gate_draws_what_grew_in_an_adopted_project(tmp_path, template_repo) -> None:
    root = BOT.write(tmp_path / BOT.name)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project as it was")
    add_memwise(BOT, root, template_repo)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "add memwise")
    nox(root, "-s", "baseline", "--", "--runs", "1")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "memory baseline")
    load = root / "scripts" / "load.py"  # the bot's workload holds 4 MiB more, uncommitted
    load.write_text(
        load.read_text()
        .replace("history = History", "def distinctive_growth() -> bytearray:\n"
                 "    return bytearray(4 * 1024 * 1024)\n\n\nhistory = History")
        .replace('print("done")', 'held = distinctive_growth()\nprint("done")')
    )  # fmt: skip
    result = nox(root, "-R", "-s", "memgate", check=False)
    assert result.returncode != 0
    page = root / "reports" / "memgate" / "workload_peak-diff.html"
    assert str(page) in result.stderr
    marked = re.findall(r'<div class="frame (\w+)"[^>]*data-label="([^"]+)"', page.read_text())
    assert [name for kind, name in marked if kind == "grew"] == [
        "distinctive_growth (scripts/load.py)"
    ]
    # Where a developer looks first (as tests/test_verdict.py checks on the example): the
    # verdict's first lines, the summary's and the pull-request comment's name the helper with
    # its file:line, and the percent.
    grown = load.read_text().splitlines().index("    return bytearray(4 * 1024 * 1024)") + 1
    culprit = re.compile(rf"distinctive_growth \((?:scripts/)?load\.py:{grown}\)")
    said = result.stderr.split("Session memgate aborted: ", 1)[1].splitlines()
    assert re.match(r"Memory gate failed: .* \+[\d.]+ MiB \(\+[\d.]+%\)", said[0]), said[:3]
    assert culprit.search("\n".join(said[:8])), said[:8]
    summary = (root / "reports" / "memgate" / "summary.md").read_text()
    assert re.search(r"\(\+[\d.]+%\)", summary.splitlines()[0]), summary[:500]
    assert culprit.search("\n".join(summary.splitlines()[:15])), summary[:1500]
    sys.path.insert(0, str(TOOLKIT_SRC))
    from memwise.views import pr_comment

    artifact = "https://github.com/acme/bot/actions/runs/1/artifacts/2"
    comment = pr_comment.body(
        {"memgate": pr_comment.section("memgate", summary, artifact, artifact)}
    )
    assert culprit.search("\n".join(comment.splitlines()[:20])), comment[:2000]


def test_memwise_files_pass_the_projects_ruff_and_black(adopted) -> None:
    # ruff applies .memwise/pyproject.toml's settings to memwise's files, whatever the
    # project selected (one project selects every rule).
    _, root, _ = adopted
    result = run(["ruff", "check", "--no-cache", "--output-format=concise", "."], root, check=False)
    assert ".memwise/" not in result.stdout, result.stdout
    run(["ruff", "format", "--check", "--no-cache", ".memwise"], root)
    # A project formatted by black over its whole tree, with black's defaults: nothing of
    # memwise's to reformat (its files are formatted at black's 88 columns).
    run([str(Path(sys.executable).parent / "black"), "--check", "--quiet", "."], root / ".memwise")


def test_memwise_files_pass_flake8_and_mypy_over_the_whole_tree(adopted) -> None:
    # flake8 (its defaults: 79 columns) with the exclusion copier's message names: nothing in
    # the files memwise wrote outside .memwise (its noxfile, where the project had none).
    # mypy, run over the whole tree, leaves the hidden folder out by itself.
    project, root, _ = adopted
    tools = Path(sys.executable).parent
    flake8 = run([str(tools / "flake8"), "--extend-exclude=.memwise", "."], root, check=False)
    ours = [line for line in flake8.stdout.splitlines() if line.startswith("./noxfile.py")]
    if not project.has_noxfile:  # memwise wrote it; a project's own noxfile is the project's
        assert ours == [], ours
    mypy = run([str(tools / "mypy"), "--cache-dir=/dev/null", "."], root, check=False)
    assert ".memwise" not in mypy.stdout, mypy.stdout


def test_updating_the_layer_changes_only_its_own_files(adopted, template_repo) -> None:
    _, root, _ = adopted
    if not (root / "memory-baseline.toml").exists():  # when run alone
        nox(root, "-s", "baseline", "--", "--runs", "2")
    git(root, "add", "-A")  # the baseline: committed, as the session says
    git(root, "commit", "-q", "--allow-empty", "-m", "memory baseline")
    history = nox(root, "-s", "memhistory")
    assert (root / "reports" / "memhistory" / "history.html").is_file(), history.stderr
    diff = nox(root, "-s", "memdiff", "--", "HEAD")  # the ref is measured in a worktree
    assert "figure(s) above the gate's tolerance" in diff.stderr
    before = {path: (root / path).read_bytes() for path in git(root, "ls-files").split()}
    copier.run_update(root, answers_file=ANSWERS, defaults=True, overwrite=True,
                      vcs_ref="1.1.0", quiet=True, unsafe=False)  # fmt: skip
    changed = {path for path, content in before.items() if (root / path).read_bytes() != content}
    assert changed == {
        ANSWERS,
        ".memwise/src/memwise/sessions/measure_sessions.py",
        ".github/workflows/memory.yml",
    }
    for path in git(root, "ls-files", "--others", "--exclude-standard").split():
        assert not path.endswith(".rej"), path
    for path in changed:
        assert "<<<<<<<" not in (root / path).read_text()


def test_a_project_without_tests_is_told_so(tmp_path: Path) -> None:
    root = tmp_path / "bare"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "bare"\nversion = "1"\n')
    copier.run_copy(str(template_source()), root, data={"project_type": "existing"},
                    defaults=True, quiet=True, unsafe=False)  # fmt: skip
    result = nox(root, "-s", "memtest", check=False)
    assert result.returncode != 0
    assert "pytest collected no test (exit code 5)" in result.stderr
    assert "memtest passed" not in result.stderr
