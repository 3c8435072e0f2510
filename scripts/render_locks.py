"""Resolve the uv.lock a new project is rendered with: locks/uv-python3.X.lock, one for each
oldest Python (python_min) a project may choose.

A new render ships its lock, so its first `nox -s memtest` installs the versions memwise was
tested with and resolves nothing (without a lock, uv resolved every dependency group for every
supported Python on the package index first: about 2.7 s of a 13 s first green). The lock
depends on two answers only: the project's name, written into the lock as a Jinja expression,
and python_min, which sets requires-python and the resolution's markers.

Run it (`nox -s locks`) after changing a dependency of the template: template/pyproject.toml.jinja
or a pyproject.toml of template/.memwise. tests/test_render.py fails until the locks match again.
Pins that still satisfy the template are kept, as `uv lock` keeps them; `--upgrade` takes the
newest allowed versions instead. It needs the package index (PyPI), not GitHub.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import copier
import yaml

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))  # the repository root: the tests' helpers
from tests.helpers import template_source

LOCKS = ROOT / "locks"
LOCK_TEMPLATE = "uv.lock.jinja"
# The render's name while resolving; the lock names the project by its normalized name (PEP 503).
PLACEHOLDER = "memwise-lock-placeholder"
NAME_EXPRESSION = "{{ project_name | lower | regex_replace('[-_.]+', '-') }}"
SESSION_VARIABLES = {"VIRTUAL_ENV", "UV_PYTHON", "UV_PROJECT_ENVIRONMENT", "UV_SYSTEM_PYTHON"}
JINJA_DELIMITERS = ("{{", "{%", "{#")  # what starts Jinja syntax; a closing one alone is text


def lock_path(python_min: str) -> Path:
    return LOCKS / f"uv-python{python_min}.lock"


def python_mins() -> list[str]:
    config = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    return [str(version) for version in config["python_min"]["choices"]]


def template_without_lock() -> Path:
    """The template's working tree, as the tests render it, without its lock: a render to
    resolve from (a python_min new to copier.yml has no lock to include yet)."""
    source = template_source()
    (source / "template" / LOCK_TEMPLATE).unlink()
    return source


def resolve(source: Path, python_min: str, project: Path, upgrade: bool) -> str:
    copier.run_copy(
        str(source), project, data={"project_name": PLACEHOLDER, "python_min": python_min},
        defaults=True, quiet=True, unsafe=False,
    )  # fmt: skip
    kept = lock_path(python_min)
    if kept.is_file() and not upgrade:  # uv keeps the pins that still satisfy the template
        text = kept.read_text(encoding="utf-8").replace(NAME_EXPRESSION, PLACEHOLDER)
        (project / "uv.lock").write_text(text, encoding="utf-8")
    # Any installed Python the project allows: not nox's session's, which uv would take from
    # these variables and refuse for a newer python_min.
    env = {name: value for name, value in os.environ.items() if name not in SESSION_VARIABLES}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    subprocess.run(
        ["uv", "lock", "--quiet", *(["--upgrade"] if upgrade else [])],
        cwd=project, env=env, check=True,
    )  # fmt: skip
    return (project / "uv.lock").read_text(encoding="utf-8")


def as_template(lock: str, python_min: str) -> str:
    """The lock with the project's name as a Jinja expression, and nothing else Jinja reads."""
    found = [mark for mark in JINJA_DELIMITERS if mark in lock]
    if found:
        sys.exit(f"the lock for Python {python_min} holds {found}, which Jinja would read")
    line = f'name = "{PLACEHOLDER}"\n'
    if lock.count(line) != 1:
        sys.exit(f"the lock for Python {python_min} does not name the project once: {line!r}")
    return lock.replace(line, f'name = "{NAME_EXPRESSION}"\n')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="the newest allowed versions")
    parser.add_argument(
        "--into", type=Path, default=LOCKS, help="write the locks there instead of locks/"
    )
    args = parser.parse_args()
    args.into.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="memwise-locks-") as folder:
        work = Path(folder)
        source = template_without_lock()
        for python_min in python_mins():
            print(f"resolving for python_min {python_min} ...", flush=True)
            lock = resolve(source, python_min, work / python_min, args.upgrade)
            written = args.into / lock_path(python_min).name
            written.write_text(as_template(lock, python_min), encoding="utf-8")
            print(f"  wrote {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
