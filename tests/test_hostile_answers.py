"""Free-text answers land escaped in every file, or are refused; names are valid or refused.

Property-based: hypothesis mixes arbitrary Unicode with the text that breaks templates most
often (quotes, backslashes, Jinja and GitHub expressions, comment and shell characters, line
breaks, emoji, right-to-left script).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import nox, render, run

HOSTILE = [
    '"', "'", '"""', "'''", "\\", "\\n", "{{ 7*7 }}", "{% if true %}x{% endif %}", "{#", "#}",
    "${{ github.token }}", "$HOME", "#", "$", "`", "<script>", "]]", "[x]", "*", "_", "😀",
    "שלום عليكم", "\u202e", "O'Brien", " ", "\u00a0",
]  # fmt: skip
BREAKS = ["\n", "\r\n", "\t", "\x00", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u2029"]
# One line of any printable text: no control characters (Cc) and no Unicode line separators.
printable = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\u2028\u2029")
)
one_line = (
    st.lists(st.one_of(st.sampled_from(HOSTILE), printable), min_size=1, max_size=6)
    .map("".join)
    .filter(str.strip)
)
broken = st.tuples(one_line, st.sampled_from(BREAKS), one_line).map("".join)


# A render per example (about a second, where the other property tests take milliseconds and
# the "ci" profile's 100 examples): 3 in the fast set, 30 more in the slow one. 100 took three
# minutes of the suite's time.
@settings(max_examples=3)
@given(description=one_line, author=one_line)
def test_free_text_reads_back_exactly_from_every_file(
    tmp_path_factory: pytest.TempPathFactory, description: str, author: str
) -> None:
    reads_back_exactly(tmp_path_factory, description, author)


@pytest.mark.slow
@settings(max_examples=30)
@given(description=one_line, author=one_line)
def test_more_free_text_reads_back_exactly_from_every_file(
    tmp_path_factory: pytest.TempPathFactory, description: str, author: str
) -> None:
    reads_back_exactly(tmp_path_factory, description, author)


def reads_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, description: str, author: str
) -> None:
    """Render with these answers; each file that holds them holds them verbatim."""
    destination = tmp_path_factory.mktemp("free-text") / "project"
    render(destination, description=description, author_name=author)
    project = tomllib.loads((destination / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["description"] == description
    assert project["project"]["authors"][0]["name"] == author
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert (answers["description"], answers["author_name"]) == (description, author)
    readme = (destination / "README.md").read_text(encoding="utf-8")
    assert readme.split("\n")[2] == description  # verbatim, as its own paragraph
    assert f"Copyright (c) {author}\n" in (destination / "LICENSE").read_text(encoding="utf-8")
    for path in destination.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    for path in [*destination.rglob("*.yml"), *destination.rglob("*.yaml")]:
        yaml.safe_load(path.read_text(encoding="utf-8"))


# Refused before any file is written, but each example still starts copier (0.13 s): 25, where
# the "ci" profile's 100 took 13 s of the fast set.
@settings(max_examples=25)
@given(text=broken, field=st.sampled_from(["description", "author_name"]))
def test_text_with_line_breaks_or_control_characters_is_refused(
    tmp_path_factory: pytest.TempPathFactory, text: str, field: str
) -> None:
    destination = tmp_path_factory.mktemp("refused") / "project"
    with pytest.raises(ValueError, match=f"{field} must be one line of text"):
        render(destination, **{field: text})
    assert not destination.exists() or not any(destination.iterdir())


def test_template_expressions_in_answers_are_never_evaluated(tmp_path: Path) -> None:
    text = "{{ 7*7 }} {% raw %}x{% endraw %} ${{ github.token }}"
    project = render(tmp_path / "p", description=text, author_name=text)
    assert text in (project / "README.md").read_text(encoding="utf-8")
    assert f"Copyright (c) {text}" in (project / "LICENSE").read_text(encoding="utf-8")
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert data["project"]["description"] == text


def test_a_project_name_becomes_a_valid_package_name(tmp_path: Path) -> None:
    project = render(tmp_path / "p", project_name="Order.Tracker-API")
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["package_name"] == "order_tracker_api"


def test_defaults_render_in_a_path_with_spaces_and_unicode(tmp_path: Path) -> None:
    project = render(tmp_path / "équipe données" / "my service ü")
    run(["ruff", "check", "--no-cache", "."], project)
    listed = nox(project, "--list").stdout
    assert "memtest" in listed


@pytest.mark.slow
def test_memtest_runs_in_a_path_with_spaces_and_unicode(tmp_path: Path) -> None:
    project = render(tmp_path / "équipe données" / "my service ü")
    result = nox(project, "-s", "memtest")
    assert re.search(r"\d+ passed", result.stdout)
