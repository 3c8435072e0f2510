"""The interpreter's own bytecode of its standard library, linked into a bytecode prefix.

memwise's runs keep their bytecode in their environment (``PYTHONPYCACHEPREFIX``, see
``memwise.running.environment.bytecode_env``), and under a prefix Python looks for every module's
bytecode there only, the standard library's included: a fresh environment compiled each
standard module it imported again, in the controller and in every pytest-xdist worker (about
half a second per process in the first memtest of a render). The interpreter's installation
has that bytecode already; this links (or copies) it to where the prefix makes Python look.
An interpreter installed without bytecode (some container images delete it) gets nothing,
and compiles as before.

Run by the environment's own interpreter, as a script (its paths and cache tag are the ones
that count): ``python stdlib_bytecode.py PREFIX``. Standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

# Folders of the standard library no service imports, or not a part of it.
SKIPPED = {"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo"}


def installed_bytecode(root: Path) -> list[tuple[Path, Path]]:
    """(source, its bytecode beside it) for each module under ``root`` that has bytecode."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED]
        for name in files:
            if name.endswith(".py"):
                source = Path(folder, name)
                cached = Path(importlib.util.cache_from_source(str(source)))
                if cached.is_file():
                    found.append((source, cached))
    return found


def seed(prefix: Path) -> int:
    """Link the standard library's bytecode into ``prefix``; the number of files linked."""
    # First the bytecode beside its source, where the installation keeps it, found from the
    # folder as the import system spells it (the prefix repeats the source's path) ...
    sys.pycache_prefix = None
    pairs = installed_bytecode(Path(os.__file__).parent)
    # ... then where cache_from_source says Python looks for it under the prefix.
    sys.pycache_prefix = str(prefix)
    linked = 0
    for source, cached in pairs:
        target = Path(importlib.util.cache_from_source(str(source)))
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(cached, target)
        except OSError:  # another file system, or links not allowed
            shutil.copy2(cached, target)
        linked += 1
    return linked


if __name__ == "__main__":
    print(seed(Path(sys.argv[1])))
