"""The copier answers file that records which memwise release a project was rendered from."""

from __future__ import annotations

import re
from pathlib import Path

# memwise's own name first: a layer keeps its answers beside a base template's.
ANSWERS = (".copier-answers.memwise.yml", ".copier-answers.yml")


def answers_file(root: Path) -> Path | None:
    return next((root / name for name in ANSWERS if (root / name).is_file()), None)


def recorded_source(answers: Path) -> str | None:
    """The template source (``_src_path``) the answers file records, if any."""
    found = re.search(r"^_src_path:\s*(.+)$", answers.read_text(), re.MULTILINE)
    return found[1].strip() if found else None


def adopted(root: Path) -> bool:
    """Whether memwise was added to an existing project (``project_type: existing``)."""
    found = answers_file(root)
    if found is None:
        return False
    answer = re.search(r"^project_type:\s*(\S+)", found.read_text(), re.MULTILINE)
    return answer is not None and answer[1] == "existing"
