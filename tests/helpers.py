"""Render the template and run commands in the result, as a user would."""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import copier

TEMPLATE = Path(__file__).parents[1]
TEMPLATE_FILES = ["copier.yml", "template", "licenses", "locks"]
TOOLKIT = TEMPLATE / "template" / ".memwise"
# Both packages of .memwise on a PYTHONPATH: the toolkit imports the runtime (its sizes).
TOOLKIT_PATH = os.pathsep.join([str(TOOLKIT / "src"), str(TOOLKIT / "runtime" / "src")])


@functools.cache
def template_source() -> Path:
    """A plain copy of the template's working tree, uncommitted edits included.

    copier reads a plain folder as it is, where a git repository would be cloned (and a dirty
    one copied and committed) for every render: the tests render hundreds of times.
    tests/test_update.py renders from real git releases.
    """
    source = Path(tempfile.mkdtemp(prefix="memwise-template-"))
    atexit.register(shutil.rmtree, source, ignore_errors=True)
    for name in TEMPLATE_FILES:
        if (TEMPLATE / name).is_dir():
            shutil.copytree(TEMPLATE / name, source / name)
        else:
            shutil.copy2(TEMPLATE / name, source / name)
    return source


def render(destination: Path, **answers: object) -> Path:
    """Render the template's working tree with copier, as `copier copy --defaults` would."""
    copier.run_copy(
        str(template_source()), destination, data=answers, defaults=True, quiet=True, unsafe=False
    )
    return destination


def session_env() -> dict[str, str]:
    """The environment for nox in a render: our tools first, every installed Python, and
    Python writing bytecode.

    pyenv's shims answer `python3.12` even when that version is not selected, and then fail;
    putting each pyenv version's own bin/ ahead of them lets the render's `tests` session find
    the interpreters that really exist.
    """
    env = dict(os.environ)
    env.pop("MEMRAY_RESULT_PATH", None)  # pytest-memray of this suite's own run sets it
    # nox sets these for this suite's own environment: inherited, a render's `uv run` (its
    # pre-commit hooks) would install the render's dependencies into it.
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    env.pop("VIRTUAL_ENV", None)
    env.pop("UV_PYTHON", None)  # nox points it at its session's environment: not a render's
    # This suite's own pytest-xdist worker and test: a render's pytest is not inside them.
    for name in [name for name in env if name.startswith(("PYTEST_XDIST_", "PYTEST_CURRENT"))]:
        env.pop(name)
    # Python writes bytecode, as on a developer's machine (some CI images forbid it): the
    # sessions must hold there, the gate's figures above all (a first import compiles, and
    # compiling allocates), and every run would otherwise compile its imports again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    extra = [str(Path(sys.executable).parent)]
    pyenv_versions = Path(env.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    extra += [str(path / "bin") for path in sorted(pyenv_versions.glob("3.*"))]
    env["PATH"] = os.pathsep.join([*extra, env.get("PATH", "")])
    env["COLUMNS"] = "200"  # memray and pytest summaries truncate to the terminal width
    return env


def installed(versions: list[str]) -> list[str]:
    """The given Python versions that have an interpreter here (on session_env's PATH)."""
    path = session_env()["PATH"]
    return [version for version in versions if shutil.which(f"python{version}", path=path)]


def run(
    args: list[str],
    cwd: Path,
    *,
    check: bool = True,
    timeout: float = 900,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command in a render; on an unexpected exit show everything it printed.

    The environment is session_env() unless a test gives its own (e.g. one without uv).
    """
    result = subprocess.run(
        args,
        cwd=cwd,
        env=session_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


def nox(
    project: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the render's nox (the nox of this test environment) with the given arguments
    (``env``: variables added to session_env())."""
    extra = {**session_env(), **env} if env else None
    return run([sys.executable, "-m", "nox", *args], project, check=check, env=extra)


def nox_sessions(project: Path) -> dict[str, str]:
    """Session name -> description, from the render's own `nox --list`."""
    listed = nox(project, "--list").stdout
    return dict(re.findall(r"^[*-] (\S+) -> (.*)$", listed, re.MULTILINE))


def session_names(project: Path) -> set[str]:
    """The render's session names, without the Python suffix of parametrized ones."""
    return {name.split("-")[0] for name in nox_sessions(project)}


NODE_TOOLS = Path(__file__).parent / "tools"
ARTIFACTS = TEMPLATE / ".cache" / "test-artifacts"  # screenshots kept for a reader of a run
# A pull-request comment as GitHub lays it out (its comment column is about 760 px wide).
COMMENT_PAGE = """<!doctype html><meta charset=utf-8><title>pull request comment</title>
<style>body{{font:14px -apple-system,system-ui,sans-serif;margin:0;padding:16px;width:760px;
line-height:1.5}}table{{border-collapse:collapse;display:block;overflow:auto}}
td,th{{border:1px solid #d0d7de;padding:6px 13px}}code{{background:#eff1f3;padding:.2em .4em;
font-size:85%}}</style>{body}"""


def comment_page(path: Path, markdown: str) -> Path:
    """``markdown`` as GitHub shows a pull-request comment (CommonMark with tables, in its
    comment column), written to ``path`` for the browser."""
    from markdown_it import MarkdownIt  # the suite's own dependency, imported where used

    path.write_text(
        COMMENT_PAGE.format(body=MarkdownIt("commonmark").enable("table").render(markdown)),
        encoding="utf-8",
    )
    return path


def node_tools(folder: Path = NODE_TOOLS) -> Path:
    """``folder``/node_modules/.bin (tests/tools or a folder in it), installed from its lock on
    first use (once per lock).

    Several pytest-xdist workers may ask at once: a file lock lets one install while the
    others wait. Skips the calling test when Node.js or npm is missing.
    """
    import fcntl
    import hashlib

    import pytest

    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("this check runs a Node.js tool, and node or npm is not on PATH")
    lock = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()[:16]
    installed = folder / "node_modules" / f".installed-{lock}"
    with (folder / ".install.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not installed.exists():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder, check=True,
            )  # fmt: skip
            installed.touch()
    return folder / "node_modules" / ".bin"


def browse(pages: list[dict[str, object]]) -> list[dict[str, object]]:
    """Open each page in headless Chromium (tests/tools/browse.cjs): what a reader meets.

    A page: {"url": ..., "waitFor": a CSS selector, "texts": [selectors], "screenshot": path}.
    Each result: url, title, errors (console and page errors), requests (every URL the page
    asked for), texts (selector -> inner texts). Skips the test where Chromium is missing.
    """
    import json

    import pytest

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)")
    node_tools()
    plan = Path(tempfile.mkdtemp(prefix="memwise-browse-")) / "plan.json"
    plan.write_text(json.dumps({"chromium": chromium, "pages": pages}))
    result = subprocess.run(
        ["node", str(NODE_TOOLS / "browse.cjs"), str(plan)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def memory_environment(project: Path) -> Path:
    """The environment memwise's memory sessions share in a project (memwise.running.shared_env)."""
    (found,) = project.glob(".nox/memwise-memory-*")
    return found


def git(project: Path, *args: str) -> str:
    """git in a test's folder, as a user named t (tests commit renders and fixtures)."""
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=project, check=True, capture_output=True, text=True).stdout


def render_with_committed_baseline(destination: Path) -> Path:
    """A default render in git with a one-run baseline committed on top: what a red gate needs
    to measure the baseline's commit again."""
    project = render(destination)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    nox(project, "-s", "baseline", "--", "--runs", "1")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "baseline")
    return project


# A fake release 1.1.0 (tests/test_update.py, tests/test_existing.py) adds pytest's slowest
# durations to memtest, written as the formatters write it (the render's lint checks the
# toolkit's formatting).
TOOLKIT_SUMMARY = '    summary = ["--most-allocations=5", "--stacks=8", f"--junitxml={junit}"]\n'
TOOLKIT_SUMMARY_1_1 = (
    "    summary = [\n"
    '        "--most-allocations=5",\n'
    '        "--stacks=8",\n'
    '        "--durations=5",\n'
    '        f"--junitxml={junit}",\n'
    "    ]\n"
)


def memray_page_tree(page: Path) -> tuple[list[str], set[str]]:
    """What memray's flamegraph page draws under its root: the functions of the first row,
    and the file of every frame (its data is one JSON object in the page's script)."""
    text = page.read_text(encoding="utf-8")
    start = text.index("packed_data = ") + len("packed_data = ")
    data, _ = json.JSONDecoder().raw_decode(text[start:])
    nodes, strings = data["nodes"], data["strings"]
    first_row = [strings[nodes["function"][child]] for child in nodes["children"][0]]
    return first_row, {strings[index] for index in nodes["filename"]}
