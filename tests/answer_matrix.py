"""The choice questions of copier.yml and their combinations: tests/test_matrix.py renders
them, tests/test_covering.py runs the sessions of a covering subset. Read from copier.yml
itself, so a new choice question joins the matrix without editing a test."""

from __future__ import annotations

import itertools

import yaml

from tests.helpers import TEMPLATE

COPIER = yaml.safe_load((TEMPLATE / "copier.yml").read_text(encoding="utf-8"))


def choice_questions() -> dict[str, list[str]]:
    """Each question that offers choices, with the values it can take."""
    questions = {}
    for name, spec in COPIER.items():
        if name.startswith("_") or not isinstance(spec, dict) or "choices" not in spec:
            continue
        choices = spec["choices"]
        values = choices.values() if isinstance(choices, dict) else choices
        # A choice in copier's extended syntax carries its value (and a validator) in a table.
        questions[name] = [v["value"] if isinstance(v, dict) else v for v in values]
    return questions


QUESTIONS = choice_questions()
# An existing project is asked only the CI provider (the other questions describe a new one).
ASKED_OF_EXISTING = {"project_type", "ci_provider"}
COMBINATIONS = [
    answers
    for values in itertools.product(*QUESTIONS.values())
    if (answers := dict(zip(QUESTIONS, values, strict=True)))["project_type"] == "new"
    or all(answers[name] == QUESTIONS[name][0] for name in set(QUESTIONS) - ASKED_OF_EXISTING)
]


def empty_range(answers: dict[str, str]) -> bool:
    """The one rule between choices: python_max must not be older than python_min."""

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    return version(answers["python_max"]) < version(answers["python_min"])


def label(answers: dict[str, str]) -> str:
    return "-".join(str(value) for value in answers.values())
