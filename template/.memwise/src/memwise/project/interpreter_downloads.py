"""No session downloads an interpreter unless the user's own uv configuration allows it.

uv downloads a missing CPython from GitHub by default (``python-downloads = "automatic"``):
nox's uv backend would then fetch one for a ``tests`` or ``lint`` session whose Python is not
installed, where memwise promises that nothing is fetched from GitHub. memwise sets
``UV_PYTHON_DOWNLOADS=never`` for its nox process unless the user chose a policy: that
variable, or ``python-downloads`` in a uv configuration file uv reads (the project's
``uv.toml`` or ``[tool.uv]``, the user's and the system's ``uv.toml``). In CI (``CI`` set), a
session whose interpreter is missing fails, as nox's ``--error-on-missing-interpreters``;
locally nox skips it and says so.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "UV_PYTHON_DOWNLOADS"


def uv_configuration_files(root: Path) -> list[Path]:
    """The files where uv reads ``python-downloads`` (uv's documented search order)."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    system = [Path(folder) / "uv" / "uv.toml"
              for folder in os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)]  # fmt: skip
    return [root / "uv.toml", root / "pyproject.toml", config_home / "uv" / "uv.toml",
            *system, Path("/etc/uv/uv.toml")]  # fmt: skip


def user_chose_a_policy(root: Path) -> bool:
    """Whether the user's environment or uv configuration says whether to download."""
    if os.environ.get(VARIABLE):
        return True
    for path in uv_configuration_files(root):
        try:
            if "python-downloads" in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def forbid_unless_chosen(root: Path) -> None:
    """Set ``UV_PYTHON_DOWNLOADS=never`` for this process unless the user chose a policy."""
    if not user_chose_a_policy(root):
        os.environ[VARIABLE] = "never"
