"""memwise's memory toolkit, rendered into this project by the memwise Copier template.

It holds the work behind the project's memory sessions, so the project's noxfile only lists
them: ``memwise.nox_sessions`` declares the sessions, ``memwise.sessions`` runs them,
``memwise.plugin`` measures each test and ``memwise.gate`` compares figures with the committed
baseline; docs/architecture.md in memwise's repository has the parts and what may import what.
What a running service uses (``watch_memory``, ``track_memory``) is the runtime beside it,
``memwise_runtime`` in .memwise/runtime. Settings come from ``[tool.memwise]`` in the project's
pyproject.toml (``memwise.project.settings``).
memwise owns this package: ``copier update`` brings its fixes; edit your settings instead.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__version__ = "0.3.0"

# Installed, the toolkit brings the runtime as a dependency. The project's noxfile imports it
# from its folder instead (one sys.path line), so the runtime comes from beside it.
if importlib.util.find_spec("memwise_runtime") is None:
    _beside = Path(__file__).resolve().parents[2] / "runtime" / "src"
    if _beside.is_dir():
        sys.path.append(str(_beside))
