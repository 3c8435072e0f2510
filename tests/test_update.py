"""`copier update` across template releases built as local git repositories (real copier, git).

Releases: 1.0.0 is the working tree; 1.1.0 changes the noxfile, memwise's toolkit, the CI
workflow, the pytest configuration and the example README and tests; 2.0.0 adds a question whose default reproduces
the old output. (The release policy keeps project-owned files for major releases; 1.1.0 touches
them anyway, to prove an update does not clobber them.)
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import copier
import pytest

from tests.existing_projects import BOT
from tests.helpers import (
    NODE_TOOLS,
    TEMPLATE,
    TOOLKIT_SUMMARY,
    TOOLKIT_SUMMARY_1_1,
    git,
    node_tools,
    nox,
    template_source,
)

# Each test updates real template releases with copier (5 to 45 s): the slow set.
pytestmark = pytest.mark.slow

ANSWERS = ".copier-answers.yml"  # a new project's: copier's usual name, found by a plain update


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def release_1_1(repo: Path) -> None:
    template = repo / "template"
    edit(template / "noxfile.py.jinja", 'session.run("pytest", *session.posargs)',
         'session.run("pytest", "--durations=3", *session.posargs)')  # fmt: skip
    edit(template / ".memwise" / "src" / "memwise" / "sessions" / "measure_sessions.py", TOOLKIT_SUMMARY,
         TOOLKIT_SUMMARY_1_1)  # fmt: skip
    edit(
        template / ".github" / "workflows" / "memory.yml.jinja",
        "  memtest:\n",
        "  memtest:\n    timeout-minutes: 30\n",
    )
    edit(template / "pyproject.toml.jinja", "xfail_strict = true\n",
         'xfail_strict = true\nconsole_output_style = "count"\n')  # fmt: skip
    edit(template / "README.md.jinja", "## Sessions", "## What 1.1.0 adds\n\nNews.\n\n## Sessions")
    jobs_test = template / "tests" / "test_jobs.py.jinja"
    jobs_test.write_text(jobs_test.read_text() + "\n\ndef test_added_in_1_1() -> None:\n"
                         "    assert True\n")  # fmt: skip
    for owned in memwise_owned(template / ".memwise"):  # every one of them changes
        text = owned.read_text()
        line = release_line(owned)
        # Python files get it on top, where the formatters leave a comment as it is.
        owned.write_text(line + text if owned.suffix == ".py" else text + line)


RELEASE_1_1_LINE = "memwise 1.1.0 was here"


def memwise_owned(folder: Path) -> list[Path]:
    """The files of a .memwise folder (caches aside)."""
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not any(part == "__pycache__" or part.endswith("_cache") for part in path.parts)
    ]


def release_line(path: Path) -> str:
    if path.suffix == ".md":
        return f"\n<!-- {RELEASE_1_1_LINE} -->\n"
    return f"# {RELEASE_1_1_LINE}\n"


def release_2_0(repo: Path) -> None:
    edit(repo / "copier.yml", "# Computed values: never asked",
         "gate_relative:\n  type: float\n  help: Relative tolerance of the memory gate\n"
         "  default: 0.01\n\n# Computed values: never asked")  # fmt: skip
    edit(repo / "template" / "pyproject.toml.jinja", "relative = 0.01",
         "relative = {{ gate_relative }}")  # fmt: skip


RELEASES: list[tuple[str, Callable[[Path], None]]] = [
    ("1.0.0", lambda repo: None),
    ("1.1.0", release_1_1),
    ("2.0.0", release_2_0),
]


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a git repository with the three releases as tags."""
    repo = tmp_path_factory.mktemp("releases") / "memwise"
    repo.mkdir()
    shutil.copytree(template_source(), repo, dirs_exist_ok=True)
    git(repo, "init", "-q")
    for version, change in RELEASES:
        change(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"release {version}")
        git(repo, "tag", version)
    return repo


def copy_at(repo: Path, version: str, destination: Path, **answers: object) -> Path:
    copier.run_copy(str(repo), destination, data=answers, defaults=True, vcs_ref=version,
                    quiet=True, unsafe=False)  # fmt: skip
    git(destination, "init", "-q")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", f"memwise {version}")
    return destination


def update_to(project: Path, version: str, **answers: object) -> None:
    # No answers file named: a new project's update is the plain `copier update`.
    copier.run_update(project, data=answers, defaults=True, overwrite=True, vcs_ref=version,
                      quiet=True, unsafe=False)  # fmt: skip
    git(project, "add", "-A")
    git(project, "commit", "-q", "--allow-empty", "-m", f"update to {version}")


def user_edits(project: Path) -> None:
    """What a team does to its service after the first render."""
    edit(project / "pyproject.toml", 'dependencies = ["memwise-runtime"]',
         'dependencies = ["memwise-runtime", "attrs>=23"]')  # fmt: skip
    edit(
        project / "src" / "my_service" / "cache.py",
        "import Hashable\n\n\nclass BoundedCache:",
        "import Hashable\n\nDEFAULT_MAX_ENTRIES = 1024\n\n\nclass BoundedCache:",
    )
    edit(project / "tests" / "test_memory.py", '@pytest.mark.limit_memory("12 MB")',
         '@pytest.mark.limit_memory("16 MB")')  # fmt: skip
    edit(project / "README.md", "## Sessions", "Our service's notes.\n\n## Sessions")
    (project / "tests" / "test_jobs.py").unlink()  # example code the team removed
    edit(
        project / "noxfile.py",
        '\n\nif __name__ == "__main__":',
        OUR_SESSION + '\n\nif __name__ == "__main__":',
    )


OUR_SESSION = '''

@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build our documentation (a session the team added)."""
    session.log("docs built")
'''


def commit_user_edits(project: Path) -> None:
    user_edits(project)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our edits")


def tree(project: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def assert_clean_merge(project: Path) -> None:
    for name, content in tree(project).items():
        assert not name.endswith(".rej"), name
        assert not re.search(rb"^(<{7}|>{7}) ", content, re.MULTILINE), f"conflict in {name}"


def assert_user_edits_intact(project: Path) -> None:
    assert (
        'dependencies = ["memwise-runtime", "attrs>=23"]'
        in (project / "pyproject.toml").read_text()
    )
    assert "DEFAULT_MAX_ENTRIES" in (project / "src" / "my_service" / "cache.py").read_text()
    assert '"16 MB"' in (project / "tests" / "test_memory.py").read_text()
    assert "Our service's notes." in (project / "README.md").read_text()
    assert not (project / "tests" / "test_jobs.py").exists()
    assert OUR_SESSION in (project / "noxfile.py").read_text()


def assert_release_1_1_arrived(project: Path) -> None:
    owned = memwise_owned(project / ".memwise")
    assert len(owned) > 30
    stale = [str(path) for path in owned if RELEASE_1_1_LINE not in path.read_text()]
    assert stale == []  # every memwise-owned file rolled out, its README and pyproject too
    assert '"--durations=3"' in (project / "noxfile.py").read_text()
    toolkit = project / ".memwise" / "src" / "memwise" / "sessions" / "measure_sessions.py"
    assert '"--durations=5"' in toolkit.read_text()
    assert "timeout-minutes: 30" in (project / ".github" / "workflows" / "memory.yml").read_text()
    assert 'console_output_style = "count"' in (project / "pyproject.toml").read_text()


def test_update_brings_template_changes_and_keeps_user_edits(template_repo, tmp_path) -> None:
    project = copy_at(template_repo, "1.0.0", tmp_path / "service")
    commit_user_edits(project)
    update_to(project, "1.1.0")
    assert_release_1_1_arrived(project)
    assert_user_edits_intact(project)
    assert_clean_merge(project)
    readme = (project / "README.md").read_text()
    assert "What 1.1.0 adds" not in readme  # the README belongs to the project


def test_sessions_pass_after_an_update(template_repo, tmp_path) -> None:
    project = copy_at(template_repo, "1.0.0", tmp_path / "service")
    commit_user_edits(project)
    update_to(project, "1.1.0")
    nox(project, "-s", "lint")
    result = nox(project, "-s", "memtest", "docs")
    assert "slowest 5 durations" in result.stdout  # the 1.1.0 toolkit ran
    assert "docs built" in result.stderr  # and the team's own session


def test_multi_hop_update_equals_direct_update_and_fresh_render(template_repo, tmp_path) -> None:
    hops = copy_at(template_repo, "1.0.0", tmp_path / "hops")
    commit_user_edits(hops)
    update_to(hops, "1.1.0")
    update_to(hops, "2.0.0")

    direct = copy_at(template_repo, "1.0.0", tmp_path / "direct")
    commit_user_edits(direct)
    update_to(direct, "2.0.0")

    fresh = copy_at(template_repo, "2.0.0", tmp_path / "fresh")
    user_edits(fresh)
    expected = tree(fresh)
    # The README is the project's own since the first render: the one rendered at 1.0.0, plus
    # the team's edits, not the 2.0.0 text.
    original = copy_at(template_repo, "1.0.0", tmp_path / "original")
    user_edits(original)
    expected["README.md"] = (original / "README.md").read_bytes()
    assert tree(hops) == tree(direct) == expected
    assert_clean_merge(hops)


def test_new_question_keeps_old_output_with_defaults_and_takes_data(
    template_repo, tmp_path
) -> None:
    defaults = copy_at(template_repo, "1.1.0", tmp_path / "defaults")
    before = tree(defaults)
    update_to(defaults, "2.0.0")
    after = tree(defaults)
    changed = {name for name in before if before[name] != after.get(name)}
    assert changed == {ANSWERS}
    assert "gate_relative: 0.01" in (defaults / ANSWERS).read_text()

    chosen = copy_at(template_repo, "1.1.0", tmp_path / "chosen")
    update_to(chosen, "2.0.0", gate_relative=0.1)
    assert "relative = 0.1\n" in (chosen / "pyproject.toml").read_text()


def test_changing_the_ci_provider_swaps_only_ci_files(template_repo, tmp_path) -> None:
    project = copy_at(template_repo, "2.0.0", tmp_path / "service")
    before = tree(project)
    update_to(project, "2.0.0", ci_provider="gitlab")
    after = tree(project)
    assert set(before) - set(after) == {
        ".github/workflows/ci.yml", ".github/workflows/memory.yml", ".github/dependabot.yml"
    }  # fmt: skip
    assert set(after) - set(before) == {".gitlab-ci.yml", ".gitlab/memwise.yml"}
    changed = {name for name in set(before) & set(after) if before[name] != after[name]}
    # The answers file records the new answer; the README's CI section is the project's own.
    assert changed == {ANSWERS}


def test_update_without_template_change_leaves_the_project_identical(
    template_repo, tmp_path
) -> None:
    project = copy_at(template_repo, "2.0.0", tmp_path / "service")
    commit_user_edits(project)
    before = tree(project)
    update_to(project, "2.0.0")
    assert tree(project) == before
    assert git(project, "status", "--porcelain") == ""


def test_plain_copier_update_on_the_command_line_updates_a_new_project(
    template_repo, tmp_path
) -> None:
    # What the brief says, word for word: no -a, the answers file found by its usual name.
    project = copy_at(template_repo, "1.0.0", tmp_path / "service")
    commit_user_edits(project)
    subprocess.run(
        [str(Path(sys.executable).parent / "copier"), "update", "--defaults", "--vcs-ref=1.1.0"],
        cwd=project, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert_release_1_1_arrived(project)
    assert_user_edits_intact(project)
    assert "_commit: 1.1.0" in (project / ANSWERS).read_text()


def test_check_update_reports_an_available_release(template_repo, tmp_path) -> None:
    project = copy_at(template_repo, "1.1.0", tmp_path / "service")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "copier"), "check-update", "--output-format", "json", str(project)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert report["update_available"] is True
    assert report["latest_version"] == "2.0.0"


def test_template_files_are_the_same_between_renders(template_repo, tmp_path) -> None:
    # Sanity check for the tree comparisons above: two renders of one release are identical.
    first = copy_at(template_repo, "1.1.0", tmp_path / "a")
    second = copy_at(template_repo, "1.1.0", tmp_path / "b")
    comparison = filecmp.dircmp(first, second, ignore=[".git"])
    assert not comparison.diff_files
    assert tree(first) == tree(second)


def test_drift_check_names_an_edited_memwise_file_and_passes_otherwise(
    template_repo, tmp_path
) -> None:
    project = copy_at(template_repo, "1.1.0", tmp_path / "service")
    assert "no drift" in nox(project, "-s", "drift").stderr
    # A hand edit of memwise's files, as copier update would keep it.
    edit(project / ".memwise" / "src" / "memwise" / "gate" / "rules.py", "UNSTEADY = 0.05",
         "UNSTEADY = 0.5  # our local fix")  # fmt: skip
    (project / ".memwise" / "README.md").unlink()
    result = nox(project, "-R", "-s", "drift", check=False)
    assert result.returncode != 0
    assert "2 memwise-owned file(s) differ from the release .copier-answers.yml records" in (
        result.stderr
    )
    assert ".memwise/src/memwise/gate/rules.py: edited here" in result.stderr
    assert "+UNSTEADY = 0.5  # our local fix" in result.stderr
    assert ".memwise/README.md: deleted here" in result.stderr
    # A source that cannot be reached is said plainly, not a traceback.
    git(project, "checkout", "-q", "--", ".")
    edit(project / ANSWERS, f"_src_path: {template_repo}", "_src_path: /nowhere/memwise")
    unreachable = nox(project, "-R", "-s", "drift", check=False)
    assert unreachable.returncode != 0
    assert "memwise could not be rendered again from /nowhere/memwise" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_check_update_session_reports_a_newer_release_without_failing(
    template_repo, tmp_path
) -> None:
    project = copy_at(template_repo, "1.1.0", tmp_path / "service")
    summary = tmp_path / "step-summary.md"
    result = nox(project, "-s", "check_update", env={"GITHUB_STEP_SUMMARY": str(summary)})
    said = "memwise 2.0.0 is out; this project is at 1.1.0. `copier update --defaults` brings it"
    assert said in result.stderr
    assert said in summary.read_text()
    update_to(project, "2.0.0")
    assert "memwise 2.0.0 is the newest release" in nox(project, "-R", "-s", "check_update").stderr
    # A source copier cannot read is said plainly, and the session is red.
    edit(project / ANSWERS, f"_src_path: {template_repo}", "_src_path: /nowhere/memwise")
    unreachable = nox(project, "-R", "-s", "check_update", check=False)
    assert unreachable.returncode != 0
    assert "copier could not say whether a newer memwise is out" in unreachable.stderr
    assert "/nowhere/memwise" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


FLEET = TEMPLATE / "renovate" / "fleet.json"


@pytest.fixture(scope="module")
def renovate_bin() -> Path:
    return node_tools(NODE_TOOLS / "renovate")


# The first of these installs Renovate from npm (about 35 s).
def test_the_fleet_renovate_configuration_passes_renovates_own_validator(renovate_bin) -> None:
    validator = str(renovate_bin / "renovate-config-validator")
    result = subprocess.run([validator, "--strict", str(FLEET)], capture_output=True, text=True,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # The validator is strict indeed: an option Renovate does not know fails it.
    misspelt = FLEET.parent / ".misspelt.json"
    misspelt.write_text(FLEET.read_text().replace('"groupName"', '"groupNam"'))
    try:
        refused = subprocess.run([validator, "--strict", str(misspelt)], capture_output=True,
                                 text=True, check=False)  # fmt: skip
    finally:
        misspelt.unlink()
    assert refused.returncode != 0
    assert "groupNam" in refused.stdout + refused.stderr


def renovate_updates(renovate_bin: Path, project: Path) -> dict[str, list[dict[str, object]]]:
    """Renovate's own lookup over a project, offline: answers file -> the updates it proposes.

    The platform is the local folder, only the copier manager runs, and the template is a git
    repository on disk, so the lookup (git ls-remote of its tags) needs no network.
    """
    shutil.copy2(FLEET, project / "renovate.json")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Renovate for the fleet")
    global_config = project.parent / "renovate-global.json"
    global_config.write_text("{}")
    result = subprocess.run(
        [str(renovate_bin / "renovate"), "--platform=local", "--dry-run=lookup",
         "--onboarding=false", "--enabled-managers=copier"],
        cwd=project, capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, "LOG_LEVEL": "debug", "LOG_FORMAT": "json",
             "RENOVATE_CONFIG_FILE": str(global_config)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for line in result.stdout.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("msg") == "packageFiles with updates":
            return {
                package["packageFile"]: [
                    update for dep in package["deps"] for update in dep.get("updates", [])
                ]
                for package in record["config"].get("copier", [])
            }
    raise AssertionError("Renovate logged no lookup:\n" + result.stdout[-3000:])


def as_url(project: Path, answers: str, template_repo: Path) -> None:
    # Renovate's copier manager takes a template whose source is a URL (https://, gh:, file:).
    edit(project / answers, f"_src_path: {template_repo}", f"_src_path: {template_repo.as_uri()}")
    git(project, "commit", "-q", "-am", "template source as a URL")


def test_renovate_proposes_memwise_releases_for_both_answers_files_as_one_group(
    renovate_bin, template_repo, tmp_path
) -> None:
    new = copy_at(template_repo, "1.0.0", tmp_path / "service")
    as_url(new, ANSWERS, template_repo)
    existing = BOT.write(tmp_path / "bot")
    git(existing, "init", "-q")
    git(existing, "add", "-A")
    git(existing, "commit", "-q", "-m", "the bot as it was")
    copier.run_copy(str(template_repo), existing, data={"project_type": "existing"},
                    defaults=True, vcs_ref="1.0.0", quiet=True, unsafe=False)  # fmt: skip
    git(existing, "add", "-A")
    git(existing, "commit", "-q", "-m", "memwise 1.0.0")
    as_url(existing, ".copier-answers.memwise.yml", template_repo)

    found = {**renovate_updates(renovate_bin, new),
             **{f"bot/{name}": updates for name, updates in
                renovate_updates(renovate_bin, existing).items()}}  # fmt: skip
    assert set(found) == {ANSWERS, "bot/.copier-answers.memwise.yml"}
    for answers, updates in found.items():
        proposed = {update["newVersion"]: update["branchName"] for update in updates}
        assert set(proposed) == {"1.1.0", "2.0.0"}, answers
        # The fleet configuration's group: one branch of memwise's minor releases, one of its
        # major ones, whichever answers file records the release.
        assert proposed["1.1.0"] == "renovate/memwise", answers
        assert proposed["2.0.0"] == "renovate/major-memwise", answers
