"""The import rules of memwise's toolkit (docs/architecture.md): a session's body is reached
only through nox_sessions, the pytest side never loads nox, and the runtime a service ships
needs nothing of the toolkit."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers import TOOLKIT

PACKAGE = TOOLKIT / "src" / "memwise"
RUNTIME = TOOLKIT / "runtime" / "src" / "memwise_runtime"
# The modules that hold a session's body: nox_sessions declares each, nothing else imports them.
SESSION_BODIES = {"sessions", "gate_sessions", "memdiff", "memreport", "drift", "updates"}
DECLARATIONS = "nox_sessions"


def imports_of(path: Path, package: str) -> set[str]:
    """The modules of `package` and the top-level packages a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == package:
                found.update(f"{package}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    return {
        path.stem: {
            name.split(".", 1)[1] if name.startswith("memwise.") else name
            for name in imports_of(path, "memwise")
            if name != "memwise"
        }
        for path in PACKAGE.glob("*.py")
    }


def test_only_nox_sessions_imports_a_sessions_body() -> None:
    edges = graph()
    assert set(edges) >= SESSION_BODIES, "a session module was renamed: update the rule"
    sideways = sorted(
        f"{module} imports {target}"
        for module, targets in edges.items()
        for target in targets & (SESSION_BODIES | {DECLARATIONS})
        if module != DECLARATIONS
    )
    assert sideways == []


def test_the_pytest_side_never_loads_nox() -> None:
    """The plugin runs in the project's test processes, where nox is not installed."""
    edges = graph()
    seen, todo = set(), ["pytest_plugin"]
    while todo:
        module = todo.pop()
        if module in seen or module not in edges:
            continue
        seen.add(module)
        todo.extend(edges[module])
    assert "nox" not in {name.split(".")[0] for module in seen for name in edges[module]}, sorted(
        module for module in seen if any(name.split(".")[0] == "nox" for name in edges[module])
    )


def test_the_runtime_needs_nothing_of_the_toolkit() -> None:
    for path in RUNTIME.glob("*.py"):
        names = imports_of(path, "memwise_runtime")
        assert not [name for name in names if name.split(".")[0] == "memwise"], path.name


def report_file_names() -> set[str]:
    """The file names memwise.report_names holds (its upper-case constants)."""
    tree = ast.parse((PACKAGE / "report_names.py").read_text(encoding="utf-8"))
    return {
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
    }


def test_a_report_file_name_is_written_once() -> None:
    names = report_file_names()
    assert {"summary.md", "workload.bin", "gate.json"} <= names
    written = {
        (path.name, node.value)
        for path in PACKAGE.glob("*.py")
        if path.name != "report_names.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    }
    assert not written, "use memwise.report_names instead of the literal"


def test_ci_reads_the_report_files_memwise_writes() -> None:
    """A report file CI uploads, shows or comments from is one memwise.report_names names."""
    workflows = [
        TOOLKIT.parent / ".github" / "workflows" / "memory.yml.jinja",
        TOOLKIT.parent / ".gitlab" / "memwise.yml.jinja",
    ]
    read = {
        found
        for workflow in workflows
        for found in re.findall(
            r"(?:reports|REPORTS|RUNNER_TEMP)/[\w{}\s\-]+/([\w-]+\.\w+)",
            workflow.read_text(encoding="utf-8"),
        )
    }
    assert {"summary.md", "junit.xml"} <= read
    assert read <= report_file_names()


def test_a_name_of_the_toolkit_is_imported_under_its_own_name() -> None:
    """One name per thing: an alias (``import page as verdict_page``) says the name did not say
    what it holds (issue 35)."""
    aliases = sorted(
        f"{path.name}: {node.module} {alias.name} as {alias.asname}"
        for path in [*PACKAGE.glob("*.py"), *RUNTIME.glob("*.py")]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("memwise")
        for alias in node.names
        if alias.asname and alias.asname != alias.name
    )
    assert aliases == []


def test_test_modules_share_helpers_not_each_other() -> None:
    """A test module imports what it shares from a helper module (tests/helpers.py,
    tests/answer_matrix.py ...), never from another test module, and a helper is written once:
    importing a test module runs its collection-time work and ties two files' fixtures."""
    tests = TOOLKIT.parents[1] / "tests"
    sideways, defined = [], {}
    for path in sorted(tests.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.test_"):
                sideways.append(f"{path.name} imports {node.module}")
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("test"):
                defined.setdefault(node.name, []).append(path.name)
    assert sideways == []
    assert {
        name: files
        for name, files in defined.items()
        if name in {"git", "render", "nox", "run"} and len(files) > 1
    } == {}
