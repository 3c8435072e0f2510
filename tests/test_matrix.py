"""Combinations of the choice questions render clean projects: a set in which each answer appears
once (fast) and every combination, with the license in turn, as only its own files read it
(slow).
tests/test_covering.py runs the sessions of a covering subset of them.

The combinations come from copier.yml itself: a new choice question joins the matrix without
editing this file.
"""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from pathlib import Path

import jinja2
import pytest
import yaml
from validate_pyproject import api as validate_pyproject

from tests.answer_matrix import COMBINATIONS, COPIER, QUESTIONS, empty_range, label
from tests.helpers import TEMPLATE, render, run


def excluded_paths(answers: dict[str, str]) -> set[str]:
    """What copier.yml's templated _exclude rules leave out for these answers (as globs)."""
    rules = [rule for rule in COPIER["_exclude"] if "{%" in rule]
    context = {"examples": True, **answers}
    return {path.lstrip("/") for rule in rules if (path := jinja2.Template(rule).render(**context))}


def matches(project: Path, pattern: str) -> bool:
    return any(project.glob(pattern))


def each_answer() -> list[dict[str, str]]:
    """Few valid combinations in which every answer to every question appears at least once,
    and one refused combination: what the fast subset renders (the slow one renders all)."""
    valid = [answers for answers in COMBINATIONS if not empty_range(answers)]
    missing = {(name, value) for answers in valid for name, value in answers.items()}
    chosen = []
    while missing:
        best = max(valid, key=lambda answers: len(missing & set(answers.items())))
        chosen.append(best)
        missing -= set(best.items())
    return [*chosen, next(answers for answers in COMBINATIONS if empty_range(answers))]


# Answers read by files of their own only, whatever the other answers are (a test below keeps
# this true): the license, in LICENSE and pyproject.toml's license fields.
INDEPENDENT = {"license": {"LICENSE.jinja", "pyproject.toml.jinja"}}


def every_combination() -> list[dict[str, str]]:
    """Every combination of the questions whose answers shape files together, each with the
    independent answers in turn: the slow suite renders these."""
    groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for answers in COMBINATIONS:
        key = tuple(value for name, value in answers.items() if name not in INDEPENDENT)
        groups.setdefault(key, []).append(answers)
    return [group[index % len(group)] for index, group in enumerate(groups.values())]


def test_independent_answers_are_read_by_their_own_files_only() -> None:
    for name, files in INDEPENDENT.items():
        readers = {
            path.name
            for path in (TEMPLATE / "template").rglob("*.jinja")
            if re.search(rf"(\{{\{{|\{{%)[^}}]*\b{name}\b", path.read_text(encoding="utf-8"))
        }
        assert readers == files, f"{name} is read by {readers}: remove it from INDEPENDENT"
    rotated = every_combination()
    for name in INDEPENDENT:  # every value still rendered in the slow set
        assert {answers[name] for answers in rotated} == set(QUESTIONS[name])


@pytest.fixture(
    scope="module",
    params=["each answer", pytest.param("every combination", marks=pytest.mark.slow)],
)
def renders(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict, Path | str]]:
    """Each combination rendered, or the message copier refused it with."""
    root = tmp_path_factory.mktemp("matrix")
    results: dict[str, tuple[dict, Path | str]] = {}
    for answers in each_answer() if request.param == "each answer" else every_combination():
        try:
            results[label(answers)] = (answers, render(root / label(answers), **answers))
        except ValueError as refused:
            results[label(answers)] = (answers, str(refused))
    return results


def rendered(renders) -> list[tuple[dict, Path]]:
    return [(answers, path) for answers, path in renders.values() if isinstance(path, Path)]


def test_the_matrix_covers_every_choice_question() -> None:
    assert {"project_type", "python_min", "python_max", "license", "ci_provider"} <= set(QUESTIONS)
    existing = [answers for answers in COMBINATIONS if answers["project_type"] == "existing"]
    assert len(existing) == len(QUESTIONS["ci_provider"])
    assert (
        len(COMBINATIONS) - len(existing) == len(list(itertools.product(*QUESTIONS.values()))) // 2
    )


def test_every_combination_renders_or_is_refused_for_a_stated_rule(renders) -> None:
    for answers, result in renders.values():
        if isinstance(result, str):
            assert empty_range(answers), (answers, result)
            assert f"older than python_min {answers['python_min']}" in result
        else:
            assert not empty_range(answers), answers
    assert len(rendered(renders)) > len(renders) / 2


def test_data_files_parse_and_pyproject_validates(renders) -> None:
    validator = validate_pyproject.Validator()
    for _, project in rendered(renders):
        for path in project.rglob("*"):
            if path.suffix == ".toml":
                tomllib.loads(path.read_text(encoding="utf-8"))
            elif path.suffix in {".yml", ".yaml"}:
                yaml.safe_load(path.read_text(encoding="utf-8"))
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        if (project / "pyproject.toml").exists():  # an existing project keeps its own
            validator(tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8")))


def test_python_files_compile_and_no_file_is_empty_or_has_jinja(renders) -> None:
    for _, project in rendered(renders):
        for path in project.rglob("*"):
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            assert text.strip(), f"{path} is empty"
            assert not re.search(r"(?<!\$)\{\{|\{%", text), f"Jinja left in {path}"
            if path.suffix == ".py":
                compile(text, str(path), "exec")


def test_ruff_passes_on_every_render_without_changes(renders) -> None:
    projects = [str(project) for _, project in rendered(renders)]
    run(["ruff", "check", "--no-cache", *projects], TEMPLATE)
    run(["ruff", "format", "--check", "--no-cache", *projects], TEMPLATE)


def test_files_of_unchosen_options_are_absent_and_chosen_ones_present(renders) -> None:
    ever_excluded: set[str] = set()
    for answers, project in rendered(renders):
        for path in excluded_paths(answers):
            assert not matches(project, path), f"{path} rendered for {answers}"
            ever_excluded.add(path)
    ever_present = {
        path for path in ever_excluded for _, project in rendered(renders) if matches(project, path)
    }
    assert ever_excluded == ever_present  # each optional file appears when its option is chosen
