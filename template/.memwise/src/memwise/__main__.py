"""``python -m memwise QUESTION`` (with .memwise/src on PYTHONPATH): answers for CI scripts.

- ``memory-python``: the Python of memtest, memgate, baseline and flamegraph;
- ``profile-python``: the Python profile runs on (empty when no supported one has scalene);
- ``supported-pythons``: the supported versions, space-separated;
- ``has-workload``: exit status 0 when [tool.memwise] names a workload, 1 otherwise;
- ``reports``: the folder the sessions write their reports into ([tool.memwise] reports).

It needs only the standard library, so CI can ask before installing anything.
"""

from __future__ import annotations

import sys
from pathlib import Path

from memwise.project import pythons
from memwise.project.settings import SettingsError, load

QUESTIONS = (
    "memory-python", "profile-python", "supported-pythons", "has-workload", "reports",
)  # fmt: skip


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in QUESTIONS:
        print("usage: python -m memwise " + "|".join(QUESTIONS), file=sys.stderr)
        return 2
    try:
        settings = load(Path.cwd())
    except SettingsError as error:
        print(f"memwise: {error}", file=sys.stderr)
        return 1
    question = argv[0]
    if question == "has-workload":
        return 0 if settings.workload else 1
    if question == "reports":
        print(settings.reports.as_posix())
        return 0
    if question == "memory-python":
        chosen = pythons.memory_python_choice(
            settings.root, settings.project, settings.memory_python
        )
        print(chosen[0])
    elif question == "profile-python":
        print(pythons.profile_python(settings.project) or "")
    else:
        print(" ".join(pythons.supported_pythons(settings.project)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
