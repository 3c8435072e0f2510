"""Invalid answers are refused with a message naming the answer and the rule."""

from __future__ import annotations

import re

import copier
import pytest

from tests.helpers import render, template_source


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"package_name": "2fast"}, "package_name '2fast' is not an import name"),
        ({"package_name": "my-service"}, "package_name 'my-service' is not an import name"),
        ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"package_name": "json"}, "package_name 'json' would shadow the standard library"),
        ({"package_name": "typing"}, "package_name 'typing' would shadow the standard library"),
        ({"package_name": "test"}, "package_name 'test' would shadow the standard library"),
        ({"package_name": "memwise"}, "package_name 'memwise' is the import name of a package"),
        ({"package_name": "pytest"}, "package_name 'pytest' is the import name of a package"),
        ({"package_name": "nox"}, "package_name 'nox' is the import name of a package"),
        ({"project_name": ""}, "project_name '' is not a valid distribution name"),
        ({"project_name": "my service"}, "project_name 'my service' is not a valid"),
        ({"project_name": "-dash"}, "project_name '-dash' is not a valid"),
        ({"python_min": "3.14", "python_max": "3.11"}, "python_max': older than python_min 3.14"),
        ({"python_min": "3.9"}, "3.9"),
        ({"author_email": "not-an-email"}, "author_email 'not-an-email' is not an email"),
        ({"license": "GPL"}, "GPL"),
        ({"description": "   "}, "description must not be empty"),
        ({"project_name": "café"}, "project_name 'café' is not a valid distribution name"),
        ({"project_name": "two words"}, "project_name 'two words' is not a valid"),
        ({"package_name": "import"}, "package_name 'import' is a Python keyword"),
        ({"package_name": "1st"}, "package_name '1st' is not an import name"),
        ({"package_name": "has-hyphen"}, "package_name 'has-hyphen' is not an import name"),
        ({"package_name": "Caps"}, "package_name 'Caps' is not an import name"),
        ({"python_min": ""}, "python_min"),
        ({"author_email": "a@b"}, "author_email 'a@b' is not an email"),
        ({"author_email": "x y@example.com"}, "is not an email"),
        ({"description": "two\nlines"}, "description must be one line"),
        ({"author_name": ""}, "author_name must not be empty"),
    ],
)
def test_invalid_answer_is_refused_with_its_rule(tmp_path, answers: dict, message: str) -> None:
    destination = tmp_path / "project"
    with pytest.raises(ValueError, match=re.escape(message)):
        render(destination, **answers)
    assert not destination.exists() or not any(destination.iterdir())


@pytest.mark.parametrize("own_file", ["pyproject.toml", "setup.py", "setup.cfg"])
@pytest.mark.parametrize("overwrite", [False, True], ids=["as-is", "overwrite"])
def test_a_new_project_is_not_written_over_a_folder_that_holds_one(
    tmp_path, own_file: str, overwrite: bool
) -> None:
    """Refused before any file is written, even under --overwrite (which copier advises), and
    in a folder whose name glob would read as a pattern."""
    project = tmp_path / "service [v2]*"
    project.mkdir()
    (project / own_file).write_text("# the project's own\n", encoding="utf-8")
    (project / "README.md").write_text("# the project's own\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("--data project_type=existing")) as refused:
        copier.run_copy(
            str(template_source()), project, defaults=True, quiet=True, overwrite=overwrite
        )
    assert f"{project}/{own_file} is there: this folder holds a project" in str(refused.value)
    assert sorted(path.name for path in project.iterdir()) == sorted([own_file, "README.md"])
    assert (project / own_file).read_text(encoding="utf-8") == "# the project's own\n"
    # The way it names is taken: memwise's own files only.
    render(project, project_type="existing")
    assert (project / own_file).read_text(encoding="utf-8") == "# the project's own\n"
    assert (project / ".memwise" / "README.md").is_file()
