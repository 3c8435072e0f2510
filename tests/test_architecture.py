"""The layout and import rules of memwise's toolkit (docs/architecture.md): one subpackage per
part, each part importing only from the parts before it (LAYERS); a session's body reached only
through nox_sessions; the pytest side never loading nox; the runtime a service ships needing
nothing of the toolkit."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from memwise.plugin import pytest_memray_adapter
from memwise.views import memray_pages
from packaging.requirements import Requirement

from tests.helpers import TEMPLATE, TOOLKIT

PACKAGE = TOOLKIT / "src" / "memwise"
RUNTIME = TOOLKIT / "runtime" / "src" / "memwise_runtime"
# The parts, lowest first: a module imports from its own part and the parts before it. The
# top-level modules are the foundation (sizes, report_names: vocabulary every part uses) and the
# entry points (nox_sessions declares the sessions, __main__ answers CI, tracking is an old path).
LAYERS = ["plugin", "project", "running", "gate", "views", "sessions"]
FOUNDATION = {"sizes", "report_names", "__init__"}
ENTRY_POINTS = {"nox_sessions", "__main__", "tracking"}
DECLARATIONS = "nox_sessions"


def module_name(path: Path) -> str:
    """A toolkit module's dotted name below memwise: "gate.rules", "nox_sessions"."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imports_of(path: Path, package: str) -> set[str]:
    """The modules of `package` and the top-level packages a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == package or node.module.startswith(package + "."):
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    """Each toolkit module and what it imports: toolkit modules by their name below memwise
    (a name imported from a module, "gate.rules.Tolerance", counts as that module), other
    packages by their top-level name."""
    modules = {module_name(path) for path in PACKAGE.rglob("*.py")}
    edges = {}
    for path in PACKAGE.rglob("*.py"):
        targets = set()
        for name in imports_of(path, "memwise"):
            if not name.startswith("memwise."):
                targets.add(name.split(".")[0])
                continue
            dotted = name.removeprefix("memwise.")
            while dotted and dotted not in modules:
                dotted = dotted.rpartition(".")[0]
            if dotted:
                targets.add(dotted)
        edges[module_name(path)] = targets - {module_name(path)}
    return edges


def part_of(module: str) -> str:
    return module.split(".")[0]


def test_every_module_is_in_a_part_or_named_at_the_top() -> None:
    stray = sorted(
        module
        for module in graph()
        if part_of(module) not in LAYERS and module not in FOUNDATION | ENTRY_POINTS
    )
    assert stray == [], "put each module in a part (LAYERS), or name why it is at the top"


def test_each_part_imports_only_from_the_parts_below_it() -> None:
    edges = graph()
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in edges.items()
        if part_of(module) in LAYERS
        for target in targets & set(edges)  # the toolkit's own modules
        if target not in FOUNDATION
        and (
            part_of(target) not in LAYERS
            or LAYERS.index(part_of(target)) > LAYERS.index(part_of(module))
        )
    )
    assert upward == []


def test_only_nox_sessions_imports_a_sessions_body() -> None:
    edges = graph()
    bodies = {module for module in edges if part_of(module) == "sessions" and "." in module}
    assert {"sessions.measure_sessions", "sessions.gate_sessions", "sessions.drift"} <= bodies
    sideways = sorted(
        f"{module} imports {target}"
        for module, targets in edges.items()
        for target in targets
        if (target in bodies or target == DECLARATIONS)
        and module != DECLARATIONS
        and part_of(module) != "sessions"
    )
    assert sideways == []
    # Within the part too: one session's module never imports another's.
    between = sorted(
        f"{module} imports {target}" for module in bodies for target in edges[module] & bodies
    )
    assert between == []


def test_the_pytest_side_never_loads_nox() -> None:
    """The plugin runs in the project's test processes, where nox is not installed."""
    edges = graph()
    seen, todo = set(), ["plugin.pytest_plugin"]
    while todo:
        module = todo.pop()
        if module in seen or module not in edges:
            continue
        seen.add(module)
        todo.extend(edges[module])
    assert "plugin.markers" in seen
    assert "nox" not in {name for module in seen for name in edges[module]}, sorted(
        module for module in seen if "nox" in edges[module]
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
        for path in PACKAGE.rglob("*.py")
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
        for path in [*PACKAGE.rglob("*.py"), *RUNTIME.glob("*.py")]
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


def test_the_pytest_memray_range_is_the_one_the_adapter_reads() -> None:
    """The range is written in .memwise/pyproject.toml (what uv installs) and in the adapter
    (what it reads, and what its message names): tied here, so one cannot move alone."""
    toolkit = tomllib.loads((TOOLKIT / "pyproject.toml").read_text(encoding="utf-8"))
    (spec,) = [
        Requirement(line).specifier
        for line in toolkit["project"]["dependencies"]
        if Requirement(line).name == "pytest-memray"
    ]
    oldest, newest = pytest_memray_adapter.OLDEST, pytest_memray_adapter.NEWEST
    assert spec.contains(f"{oldest[0]}.{oldest[1]}.0")
    assert spec.contains(f"{newest[0]}.{newest[1]}.99")
    assert not spec.contains(f"{oldest[0]}.{oldest[1] - 1}.99")
    assert not spec.contains(f"{newest[0]}.{newest[1] + 1}.0")
    assert f"{oldest[0]}.{oldest[1]} to {newest[0]}.{newest[1]}" == pytest_memray_adapter.SUPPORTED


def test_memrays_reporter_is_read_only_for_the_versions_memwise_ships() -> None:
    """memwise.views.memray_pages reads memray's unpublished reporter for the versions it was
    tested with: its oldest is the toolkit's floor for memray, its newest the version every
    shipped lock installs. A lock moved to a newer memray fails here until the pages are
    drawn with it and TESTED moves too."""
    toolkit = tomllib.loads((TOOLKIT / "pyproject.toml").read_text(encoding="utf-8"))
    (spec,) = [
        Requirement(line).specifier
        for line in toolkit["project"]["dependencies"]
        if Requirement(line).name == "memray"
    ]
    oldest, newest = memray_pages.TESTED
    assert spec.contains(f"{oldest[0]}.{oldest[1]}.0")
    assert not spec.contains(f"{oldest[0]}.{oldest[1] - 1}.99")
    locks = sorted((TEMPLATE / "locks").glob("*.lock"))
    assert locks
    for lock in locks:
        (shipped,) = [
            package["version"]
            for package in tomllib.loads(lock.read_text(encoding="utf-8"))["package"]
            if package["name"] == "memray"
        ]
        assert tuple(int(part) for part in shipped.split(".")[:2]) <= newest, lock.name
