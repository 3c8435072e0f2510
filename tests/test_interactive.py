"""`copier copy` without --defaults: the questions are asked in a terminal and answered.

copier's prompts need a terminal, so the test runs copier in a pseudo-terminal and types.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import template_source

# copier in a pseudo-terminal, typing every answer (12 s a test): the slow set.
pytestmark = pytest.mark.slow

COPIER = str(Path(sys.executable).parent / "copier")
CLEAR_LINE = b"\x15"  # Ctrl-U: the prompt starts filled with the default
QUIET = 0.4  # seconds of silence after output: the prompt waits for input


def answer_in_terminal(destination: Path, keystrokes: list[bytes], timeout: float = 90) -> str:
    """Run `copier copy` in a pseudo-terminal; whenever it waits, type the next keystrokes
    (Enter once the script is used up). Returns everything the terminal showed."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120", "LINES": "40"}
    process = subprocess.Popen(
        [COPIER, "copy", str(template_source()), str(destination)],
        stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True,
    )  # fmt: skip
    os.close(terminal)
    shown, pending, prompted = b"", list(keystrokes), False
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], QUIET)
        if ready:
            try:
                shown += os.read(controller, 65536)
            except OSError:
                break
            prompted = True
        elif prompted:  # it printed, then went quiet: a prompt waits for input
            os.write(controller, pending.pop(0) if pending else b"\r")
            prompted = False
    process.wait(timeout=30)
    os.close(controller)
    assert process.returncode == 0, shown.decode(errors="replace")[-2000:]
    # Without the terminal's control sequences (colours, cursor moves).
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))


def test_interactive_copy_asks_the_questions_and_derives_the_package(tmp_path: Path) -> None:
    destination = tmp_path / "billing"
    shown = answer_in_terminal(destination, [b"\r", CLEAR_LINE + b"billing-api\r"])
    assert "Project (distribution) name" in shown
    assert "CI service to configure" in shown
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "billing-api"
    assert answers["package_name"] == "billing_api"
    assert (destination / "src" / "billing_api" / "cache.py").is_file()


def test_an_invalid_answer_is_refused_at_the_prompt_and_asked_again(tmp_path: Path) -> None:
    destination = tmp_path / "retry"
    shown = answer_in_terminal(
        destination, [b"\r", CLEAR_LINE + b"bad name\r", CLEAR_LINE + b"good-name\r"]
    )
    # copier shows the validator's message (cut to the terminal's width) and asks again.
    assert "Validation error for question 'project_name': project_name 'bad name'" in shown
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "good-name"


DOWN, UP = b"\x1b[B", b"\x1b[A"


def test_python_max_older_than_python_min_cannot_be_chosen_at_the_prompt(tmp_path: Path) -> None:
    destination = tmp_path / "range"
    # project type, name, package, description, author, email: their defaults; python_min:
    # 3.14 (three down from 3.11); python_max: three up from 3.15, which would be 3.12.
    keystrokes = [b"\r"] * 6 + [DOWN * 3 + b"\r", UP * 3 + b"\r"]
    answer_in_terminal(destination, keystrokes)
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert answers["python_min"] == "3.14"
    # The older choices are disabled: the cursor stops at 3.14 (it took 3.12 before).
    assert answers["python_max"] in {"3.14", "3.15"}, answers
