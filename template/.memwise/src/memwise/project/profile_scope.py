"""What scalene leaves out of a profile by default: the package's template files.

Template engines (Jinja, Mako) compile a template to Python code that carries the template's
file name, and scalene 2.4 then reads that file as Python source and stops on its first
template tag without writing a profile (exit code 0). Leaving those files out of the profile
(scalene's `--profile-exclude`, which matches substrings of file paths) keeps the templates'
time with the code that rendered them and the profile intact.
"""

from __future__ import annotations

import os
from pathlib import Path

# The suffixes of files that template engines compile to Python code.
TEMPLATE_SUFFIXES = frozenset(
    {
        ".jinja",
        ".jinja2",
        ".j2",
        ".mako",
        ".tmpl",
        ".tpl",
        ".html",
        ".htm",
        ".xml",
        ".txt",
    }
)
_SKIPPED = frozenset({"__pycache__", ".git", ".nox", ".venv", "node_modules"})


def template_exclusions(package_folders: list[Path]) -> list[str]:
    """The template suffixes found under the package's folders, for --profile-exclude."""
    found: set[str] = set()
    for folder in package_folders:
        for _, folders, files in os.walk(folder):
            folders[:] = [name for name in folders if name not in _SKIPPED]
            found.update(
                Path(name).suffix
                for name in files
                if Path(name).suffix.lower() in TEMPLATE_SUFFIXES
            )
    return sorted(found)


def package_folders(root: Path, package: str | None) -> list[Path]:
    """The project's package folder in a src or flat layout (none when it is not found)."""
    if not package:
        return []
    top = package.split(".")[0]
    return [path for path in (root / "src" / top, root / top) if path.is_dir()]


def exclusion_args(root: Path, package: str | None, given: list[str]) -> list[str]:
    """`--profile-exclude` for the package's templates, unless the user chose exclusions."""
    if any(arg.startswith("--profile-exclude") for arg in given):
        return []
    suffixes = template_exclusions(package_folders(root, package))
    return ["--profile-exclude", ",".join(suffixes)] if suffixes else []
