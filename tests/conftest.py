"""Shared fixtures: render the template with the real copier, run nox in the render."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers import TOOLKIT, render

# Property tests: fewer examples in the edit-test loop, the full number in CI.
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# memwise's toolkit is unit-tested from its source in the template, as rendered.
sys.path.insert(0, str(TOOLKIT / "src"))
sys.path.insert(0, str(TOOLKIT / "runtime" / "src"))


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default render shared by the read-only tests."""
    return render(tmp_path_factory.mktemp("default") / "my-service")


@pytest.fixture
def render_project(tmp_path: Path) -> Callable[..., Path]:
    """Render with the given answers into a fresh folder (for tests that vary answers)."""

    def _render(**answers: object) -> Path:
        return render(tmp_path / "project", **answers)

    return _render


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group and order the tests for pytest-xdist (`--dist loadgroup`).

    The tests that share a module-scoped fixture (a render whose sessions they run in turn, an
    adopted existing project) go to one worker, so it is built once; every other test is sent
    on its own, so the slow ones spread over the workers instead of queueing behind their
    module's. Slow tests are handed out first and the fast ones fill the gaps at the end (a
    long test started last would keep one worker busy while the others idle).
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        callspec = getattr(item, "callspec", None)
        shared = sorted(
            f"{name}{callspec.indices[name] if callspec and name in callspec.indices else ''}"
            for name, definitions in info.name2fixturedefs.items()
            if definitions and definitions[-1].scope == "module"
        )
        if shared:
            item.add_marker(pytest.mark.xdist_group(f"{item.path.stem}-{'-'.join(shared)}"))
