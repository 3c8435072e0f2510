"""How a pytest run of memtest, baseline, memgate or memdiff ended, told apart.

A memory session is green only when pytest ran the tests and memwise measured them. Every
other ending gets its own message, naming what pytest named: a memory marker it cannot use, a
conftest.py or test file that does not import, an internal error, arguments it refused, no
test collected, tests that ran unmeasured. Plain data handling, unit-tested without pytest.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from memwise.plugin.manifest import Manifest, Problem

USAGE = (
    "pytest refused its arguments (a usage error, exit code 4) and ran no test; its message "
    "is above. The arguments come from the addopts of your pytest configuration, [tool.memwise] "
    "pytest-args and those after `--`. An option pytest does not know (--cov, say) belongs to "
    "a plugin that is not installed in the session's environment: add the plugin to your test "
    "dependencies (a test group or extra, or test-requirements in [tool.memwise])"
)
NOT_COLLECTED = (
    "pytest collected no test (exit code 5): check testpaths in your pytest configuration and "
    "the arguments after `--` (a -k or -m that selects nothing)"
)


def problem(
    manifest: Manifest | None, code: int, *, may_select_none: bool = False
) -> str | None:
    """What went wrong with the run, or None when its tests ran (failed ones included)."""
    if manifest is not None:
        for kind in ("markers", "conftest", "collection", "internal"):
            found = [p for p in manifest.problems if p.kind == kind]
            if found:
                return _describe(kind, found)
    if code == 4:
        return USAGE
    if code == 5:
        return None if may_select_none else NOT_COLLECTED
    if manifest is None:
        return (
            f"pytest ended with exit code {code} before memwise's plugin recorded anything: see "
            "its output above (a pytest plugin of the project that fails to load, say)"
        )
    if code == 2:
        return "pytest was interrupted (exit code 2) before the run completed; see its output above"
    if code == 3:
        return "pytest stopped on an internal error (exit code 3); see the INTERNALERROR lines above"
    if code not in (0, 1):
        return f"pytest ended with exit code {code}; see its output above"
    if code == 1 and not manifest.failed:
        return (
            "pytest reported failures (exit code 1) but no test failed: a pytest-xdist worker "
            'may have crashed; see its output above, and try `workers = "off"` in [tool.memwise]'
        )
    if not manifest.ran and manifest.tests and not may_select_none:
        return f"no test ran: all {len(manifest.tests)} collected tests were skipped"
    return None


def _describe(kind: str, found: list[Problem]) -> str:
    if kind == "markers":
        return f"a usage error: {found[0].message}"
    if kind == "conftest":
        first = found[0]
        return (
            f"the project could not be imported: {first.where} raised {first.message}. "
            "If the project imports fine with its own tools, compare the versions installed here "
            "with its lock file"
        )
    if kind == "collection":
        lines = "\n".join(f"  {p.where}: {p.message}" for p in found[:20])
        return (
            f"pytest could not collect {len(found)} file(s); no test was run:\n{lines}"
        )
    return f"pytest stopped on an internal error (exit code 3): {found[0].message}"


def unmeasured_problem(manifest: Manifest, allowed: Sequence[str]) -> str | None:
    """Tests that ran without memory tracking fail the run unless a pattern allows them."""
    refused = [
        test.nodeid
        for test in manifest.unmeasured
        if not any(fnmatch.fnmatchcase(test.nodeid, pattern) for pattern in allowed)
    ]
    if not refused:
        return None
    names = "\n".join(f"  {nodeid}" for nodeid in refused[:10])
    more = f"\n  ... and {len(refused) - 10} more" if len(refused) > 10 else ""
    return (
        f"{len(refused)} of {len(manifest.ran)} tests ran WITHOUT memory tracking (neither test "
        f"functions nor unittest.TestCase methods, e.g. doctests):\n{names}{more}\n"
        "Allow them by name in pyproject.toml, e.g. [tool.memwise] allow-unmeasured = "
        '["*.md::*", "src/*::*"] (patterns of pytest node ids), or run them elsewhere'
    )
