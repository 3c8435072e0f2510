"""Which supported Pythons are installed here, remembered between nox calls.

Finding out starts a process per version (pyenv's shims answer for every version they know, so
a name on PATH proves nothing), about a second in all, and the noxfile asks at import, on every
`nox -l` and `nox -s memtest`. The answer is kept in .nox/ under a key made of what changes
when an interpreter is installed or removed: PATH, each PATH folder's modification time, pyenv's
selected version and uv's folder of managed Pythons. Anything else gives a new key, and the
interpreters are probed again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

CACHE = Path(".nox") / "memwise-installed-pythons.json"
# No cache yet, or one written by another version of this code.
_UNREADABLE = (OSError, ValueError, KeyError, TypeError)


def installed(
    supported: list[str], find: Callable[[str], str | None], cache: Path = CACHE
) -> list[str]:
    """The supported versions `find` locates, from the cache when nothing changed since."""
    key = {"supported": supported, "where": _fingerprint()}
    try:
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept["key"] == key:
            return [str(version) for version in kept["installed"]]
    except _UNREADABLE:
        pass  # no cache yet, or one this code cannot read: probe
    found = [version for version in supported if find(version)]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"key": key, "installed": found}), encoding="utf-8")
    except OSError:
        pass  # a read-only checkout: probe again next time
    return found


def _fingerprint() -> dict[str, object]:
    folders = os.environ.get("PATH", "").split(os.pathsep)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    uv_pythons = os.environ.get("UV_PYTHON_INSTALL_DIR") or str(
        Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
        / "uv"
        / "python"
    )
    return {
        "path": {folder: _mtime(Path(folder)) for folder in folders if folder},
        "pyenv": [
            os.environ.get("PYENV_VERSION", ""),
            _text(pyenv_root / "version"),
            _text(Path(".python-version")),
            _mtime(pyenv_root / "versions"),
        ],
        "uv": [uv_pythons, _mtime(Path(uv_pythons))],
    }


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
