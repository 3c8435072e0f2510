"""The default render holds what the foundation promises (fast: no sessions are run)."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from memwise.plugin.markers import SIGNATURES

from tests.helpers import TEMPLATE, nox_sessions, render, run, session_names

# memwise's sessions are the rows of the toolkit's own sessions table (the one place a session
# is listed for people: the project's README includes it); lint and tests are the project's.
MEMWISE_SESSIONS = set(
    re.findall(
        r"^\| `nox -s (\w+)",
        (TEMPLATE / "template" / ".memwise" / "README.md")
        .read_text(encoding="utf-8")
        .split("<!-- sessions -->")[1]
        .split("<!-- /sessions -->")[0],
        re.MULTILINE,
    )
)
EXPECTED_SESSIONS = {"lint", "tests", *MEMWISE_SESSIONS}


def pyproject(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def test_files_of_a_service_project_are_rendered(default_project: Path) -> None:
    for name in [
        "pyproject.toml", "noxfile.py", "Makefile", ".pre-commit-config.yaml", ".gitignore",
        "README.md", "LICENSE", ".copier-answers.yml", "src/my_service/__init__.py",
        "src/my_service/cache.py", "src/my_service/jobs.py", "src/my_service/workload.py",
        "src/my_service/store.py", "src/my_service/handler.py", "docs/example-service.md",
        "tests/test_memory.py", ".memwise/pyproject.toml", ".memwise/README.md",
        ".memwise/src/memwise/plugin/pytest_plugin.py", ".github/workflows/memory.yml",
    ]:  # fmt: skip
        assert (default_project / name).is_file(), name


# Folders Python projects commonly keep out of git (the Python .gitignore most projects start
# from, and memwise's own reports/): none may be the name of a folder of memwise's toolkit, or
# the project would not commit that part of it.
COMMONLY_IGNORED = """
build/
dist/
develop-eggs/
downloads/
eggs/
.eggs/
lib/
lib64/
parts/
sdist/
var/
wheels/
htmlcov/
.cache
instance/
target/
env/
venv/
ENV/
reports/
out/
tmp/
logs/
"""


def test_git_commits_every_file_memwise_writes(tmp_path: Path, default_project: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(default_project, project)
    excludes = tmp_path / "commonly-ignored"
    excludes.write_text(COMMONLY_IGNORED, encoding="utf-8")
    run(["git", "init", "-q"], project)
    ignored = run(
        ["git", "-c", f"core.excludesFile={excludes}", "ls-files", "--others", "--ignored",
         "--exclude-standard", "--", ".memwise", ".github", ".gitlab"],
        project,
    ).stdout.split()  # fmt: skip
    assert ignored == []
    assert (project / ".memwise" / "src" / "memwise" / "views" / "verdict.py").is_file()


def test_no_jinja_is_left_and_no_file_is_empty(default_project: Path) -> None:
    for path in default_project.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert text.strip(), f"{path} is empty"
            # `${{ ... }}` is GitHub Actions syntax, not Jinja.
            assert not re.search(r"(?<!\$)\{\{|\{%", text), f"Jinja left in {path}"


def test_answers_file_records_the_answers(default_project: Path) -> None:
    answers = yaml.safe_load((default_project / ".copier-answers.yml").read_text())
    assert answers["package_name"] == "my_service"
    assert answers["python_min"] == "3.11"
    assert answers["project_type"] == "new"
    assert "_src_path" in answers
    assert "python_versions" not in answers  # computed values are not stored


def test_pyproject_metadata_and_groups(default_project: Path) -> None:
    data = pyproject(default_project)
    project = data["project"]
    assert project["name"] == "my-service"
    assert project["requires-python"] == ">=3.11"
    assert project["license"] == "MIT"
    versions = [c.rsplit(" ", 1)[1] for c in project["classifiers"] if c.count("::") == 2
                and c.startswith("Programming Language :: Python :: 3.")]  # fmt: skip
    assert versions == ["3.11", "3.12", "3.13", "3.14", "3.15"]
    groups = data["dependency-groups"]
    # The memory tools come with memwise's toolkit, a path source: versions live there, once.
    assert groups["memory"] == [{"include-group": "test"}, "memwise"]
    assert groups["profile"] == [{"include-group": "memory"}, "memwise[profile]"]
    assert data["tool"]["uv"]["sources"]["memwise"] == {"path": ".memwise", "editable": True}
    toolkit = tomllib.loads((default_project / ".memwise" / "pyproject.toml").read_text())
    requirements = " ".join(toolkit["project"]["dependencies"])
    assert "pytest-memray>=" in requirements
    assert "memray>=" in requirements
    assert all(
        "sys_platform != 'win32'" in r for r in toolkit["project"]["dependencies"] if "memray" in r
    )
    (scalene,) = toolkit["project"]["optional-dependencies"]["profile"]
    assert "python_version < '3.15'" in scalene  # no wheel there: never built from source
    assert toolkit["project"]["entry-points"]["pytest11"] == {
        "memwise": "memwise.plugin.pytest_plugin"
    }
    included = {item["include-group"] for item in groups["dev"] if isinstance(item, dict)}
    assert included == {"memory", "profile", "lint"}


def test_pytest_config_registers_markers_without_memray_in_addopts(default_project: Path) -> None:
    config = pyproject(default_project)["tool"]["pytest"]["ini_options"]
    assert "--memray" not in " ".join(config["addopts"])
    assert "--strict-markers" in config["addopts"]
    # The lines memwise's plugin registers, word for word (memwise.plugin.markers holds them).
    assert config["markers"] == [signature.help for signature in SIGNATURES.values()]
    # pytest-memray ignores its ini keys; none may pretend to work.
    for ignored in ["memray", "native", "stacks", "most_allocations", "trace_python_allocators"]:
        assert ignored not in config


def test_pyproject_is_valid(default_project: Path) -> None:
    run(["validate-pyproject", "pyproject.toml"], default_project)


def test_python_files_compile(default_project: Path) -> None:
    for path in default_project.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_render_is_lint_clean_as_rendered(default_project: Path) -> None:
    run(["ruff", "check", "--no-cache", "."], default_project)
    run(["ruff", "format", "--check", "--no-cache", "."], default_project)


def test_nox_lists_every_session_with_a_description(default_project: Path) -> None:
    sessions = nox_sessions(default_project)
    assert session_names(default_project) == EXPECTED_SESSIONS
    assert all(description for description in sessions.values())
    # The default range: the tests session runs on each of its Pythons (tests/test_matrix.py
    # runs it green on each, one render per Python).
    assert {name for name in sessions if name.startswith("tests-")} == {
        "tests-3.11", "tests-3.12", "tests-3.13", "tests-3.14", "tests-3.15"
    }  # fmt: skip


def test_makefile_and_readme_name_the_noxfile_sessions(default_project: Path) -> None:
    names = session_names(default_project)
    assert len(MEMWISE_SESSIONS) >= 12, MEMWISE_SESSIONS  # the table was read
    # make runs every session nox lists, also where a folder has its name (tests/, docs/).
    dry_run = run(["make", "-n", "--no-print-directory", *sorted(names)], default_project).stdout
    assert [line.split()[-1] for line in dry_run.strip().splitlines()] == sorted(names)
    readme = (default_project / "README.md").read_text()
    for name in names:
        assert f"nox -s {name}" in readme


def test_make_runs_the_nox_session_of_the_same_name(default_project: Path) -> None:
    dry_run = run(
        ["make", "-n", "--no-print-directory", "memtest", "ARGS=-k cache"], default_project
    ).stdout
    assert re.search(r"nox -s memtest -- -k cache$", dry_run.strip())


def test_pre_commit_hooks_need_no_clone(default_project: Path) -> None:
    config = yaml.safe_load((default_project / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    entries = " ".join(hook["entry"] for hook in config["repos"][0]["hooks"])
    assert "ruff check" in entries
    assert "ruff format" in entries


def test_gitignore_keeps_reports_and_environments_out(default_project: Path) -> None:
    ignored = (default_project / ".gitignore").read_text().split()
    for entry in ["reports/", ".nox/", ".venv/", ".pytest_cache/"]:
        assert entry in ignored


@pytest.mark.parametrize(
    ("license_id", "first_line"),
    [("MIT", "MIT License"), ("Apache-2.0", "Apache License"), ("BSD-3-Clause", "BSD 3-Clause")],
)
def test_license_text_matches_the_answer(render_project, license_id: str, first_line: str) -> None:
    project = render_project(license=license_id, author_name="Ada")
    text = (project / "LICENSE").read_text()
    assert text.strip().startswith(first_line)
    assert pyproject(project)["project"]["license"] == license_id
    if license_id != "Apache-2.0":
        assert "Copyright (c) Ada" in text


def test_proprietary_project_has_no_license_file(render_project) -> None:
    project = render_project(license="Proprietary")
    assert not (project / "LICENSE").exists()
    data = pyproject(project)["project"]
    assert "license" not in data
    assert "Private :: Do Not Upload" in data["classifiers"]
    run(["validate-pyproject", "pyproject.toml"], project)


def test_python_range_drives_classifiers_and_tools(render_project) -> None:
    project = render_project(python_min="3.11", python_max="3.12")
    data = pyproject(project)
    assert data["project"]["requires-python"] == ">=3.11"
    assert data["tool"]["mypy"]["python_version"] == "3.11"
    assert "target-version" not in data["tool"]["ruff"]  # ruff reads requires-python
    assert {name for name in nox_sessions(project) if name.startswith("tests")} <= {
        "tests-3.11", "tests-3.12"
    }  # fmt: skip


def test_package_name_follows_the_project_name(render_project) -> None:
    project = render_project(project_name="Order.Tracker-API")
    assert (project / "src" / "order_tracker_api" / "cache.py").is_file()
    assert (
        "from order_tracker_api.cache import" in (project / "tests" / "test_cache.py").read_text()
    )


# One lock in the fast set (a dependency changed without `nox -s locks` shows in each), every
# python_min's in the slow one.
SLOW_LOCKS = ["3.12", "3.13", "3.14", "3.15"]


@pytest.mark.parametrize(
    "python_min", ["3.11", *(pytest.param(v, marks=pytest.mark.slow) for v in SLOW_LOCKS)]
)
def test_a_new_project_starts_with_a_lock_that_uv_finds_current(
    render_project, python_min: str
) -> None:
    # The name needs normalizing (PEP 503), as the lock names the project: "acme-billing-svc".
    project = render_project(
        project_name="Acme_Billing..Svc", package_name="billing", python_min=python_min
    )
    rendered = (project / "uv.lock").read_bytes()
    # --locked: uv fails if the lock does not match pyproject.toml (a dependency of the template
    # changed without `nox -s locks`); --offline: nothing to resolve or fetch to tell.
    run(["uv", "lock", "--locked", "--offline"], project)
    assert (project / "uv.lock").read_bytes() == rendered
    assert f'requires-python = ">={python_min}"' in rendered.decode()


@pytest.mark.slow  # resolves five projects (PyPI's index, not GitHub)
def test_resolving_the_locks_again_keeps_every_pin(tmp_path: Path) -> None:
    # What `nox -s locks` does after a dependency of the template changed; with none changed,
    # it writes the very locks the repository holds (uv keeps the pins that still satisfy).
    run([sys.executable, "scripts/render_locks.py", "--into", str(tmp_path)], TEMPLATE)
    for kept in sorted((TEMPLATE / "locks").glob("uv-python*.lock")):
        assert (tmp_path / kept.name).read_text() == kept.read_text(), kept.name


def test_an_existing_project_gets_no_lock_of_memwise(tmp_path: Path) -> None:
    project = tmp_path / "existing"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "theirs"\nversion = "1"\n')
    (project / "poetry.lock").write_text("# theirs\n")
    render(project, project_type="existing")
    assert not (project / "uv.lock").exists()


def test_default_render_follows_the_scientific_python_guidelines(default_project: Path) -> None:
    # sp-repo-review reads the skips from [tool.repo-review] in the render's pyproject.toml,
    # where each one is justified in a comment.
    copy = default_project.parent / "reviewed"
    shutil.copytree(default_project, copy)
    run(["git", "init", "-q"], copy)
    run(["git", "add", "-A"], copy)
    result = run(["sp-repo-review", "--format", "json", "."], copy, check=False)
    failed = [
        f"{name}: {check['description']}"
        for name, check in json.loads(result.stdout)["checks"].items()
        if check["result"] is False
    ]
    assert failed == []
    ignored = pyproject(default_project)["tool"]["repo-review"]["ignore"]
    assert all(re.fullmatch(r"[A-Z]+\d+", code) for code in ignored)


def test_a_session_the_project_adds_is_a_make_target_too(
    default_project: Path, tmp_path: Path
) -> None:
    # The Makefile lists no session: one the project adds to its noxfile (here `docs`, beside
    # a docs/ folder of the same name) runs with make, without an edit of the Makefile.
    shutil.copy(default_project / "Makefile", tmp_path / "Makefile")
    (tmp_path / "docs").mkdir()
    dry_run = run(["make", "-n", "--no-print-directory", "docs", "ARGS=--serve"], tmp_path)
    assert dry_run.stdout.strip().endswith("-s docs -- --serve"), dry_run.stdout
