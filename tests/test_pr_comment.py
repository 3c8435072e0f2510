"""The gate's verdict on the pull request: memwise.views.pr_comment against a fake forge API on
localhost, with a pull request event payload shaped as GitHub sends it (tests/data)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.helpers import TEMPLATE

TOOLKIT_SRC = TEMPLATE / "template" / ".memwise" / "src"
EVENT = Path(__file__).parent / "data" / "github-pull-request-event.json"
SUMMARY = """## Memory gate failed: 1 figure(s) grew or went missing

| figure | baseline | now | allowed | status |
| --- | --- | --- | --- | --- |
| workload peak | 2.89 MiB | 3.89 MiB | 2.92 MiB | REGRESSION |
"""


class FakeForge:
    """Issue comments (GitHub) and merge request notes (GitLab), kept in memory."""

    def __init__(self) -> None:
        self.comments: list[dict[str, object]] = []
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.refuse = False

    def handle(
        self, method: str, path: str, headers: dict[str, str], data: bytes
    ) -> tuple[int, object]:
        self.calls.append((method, path, headers))
        if self.refuse:
            return 403, {"message": "Resource not accessible by integration"}
        base = path.split("?", 1)[0]
        if method == "GET":
            return 200, self.comments
        if method == "POST":
            comment = {"id": 1000 + len(self.comments), "body": json.loads(data)["body"]}
            self.comments.append(comment)
            return 201, comment
        if method in ("PATCH", "PUT"):
            number = int(base.rsplit("/", 1)[1])
            [comment] = [c for c in self.comments if c["id"] == number]
            comment["body"] = json.loads(data)["body"]
            return 200, comment
        return 405, {}


@pytest.fixture
def forge() -> Iterator[tuple[FakeForge, str]]:
    state = FakeForge()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = state.handle(self.command, self.path, dict(self.headers), data)
            text = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        do_GET = do_POST = do_PATCH = do_PUT = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def post(summary: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The workflow's step: `python3 -m memwise.views.pr_comment SUMMARY` with the job's
    variables."""
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("GITHUB_", "GITLAB_", "CI_"))}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "memwise.views.pr_comment", str(summary)],
        env={**clean, "PYTHONPATH": str(TOOLKIT_SRC), **env},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def github_env(tmp_path: Path, api: str, event: Path = EVENT) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/billing",
        "GITHUB_API_URL": api,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "7012345678",
        "GITHUB_TOKEN": "ghs_fake",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
    }


@pytest.fixture
def summary(tmp_path: Path) -> Path:
    path = tmp_path / "summary.md"
    path.write_text(SUMMARY)
    return path


def test_one_comment_is_posted_then_updated_in_place(forge, summary, tmp_path) -> None:
    state, api = forge
    env = github_env(tmp_path, api)
    state.comments.append({"id": 7, "body": "Looks good to me"})  # a person's comment
    first = post(summary, env)
    assert first.returncode == 0, first.stderr
    assert "commented the memory gate's summary on pull request #42" in first.stdout
    [(method, path, headers)] = [call for call in state.calls if call[0] != "GET"]
    assert (method, path) == ("POST", "/repos/acme/billing/issues/42/comments")
    assert headers["Authorization"] == "Bearer ghs_fake"
    mine = state.comments[-1]["body"]
    assert "workload peak | 2.89 MiB | 3.89 MiB" in mine
    assert "https://github.com/acme/billing/actions/runs/7012345678" in mine

    # The next push: the same comment edited, none added, the person's left alone.
    summary.write_text(SUMMARY.replace("failed: 1 figure(s) grew or went missing", "passed"))
    second = post(summary, env)
    assert second.returncode == 0, second.stderr
    assert "updated the memory gate's comment on pull request #42" in second.stdout
    assert len(state.comments) == 2
    assert state.comments[0] == {"id": 7, "body": "Looks good to me"}
    assert "## Memory gate passed" in state.comments[1]["body"]
    writes = [(m, p) for m, p, _ in state.calls if m != "GET"]
    assert writes[-1] == ("PATCH", f"/repos/acme/billing/issues/comments/{state.comments[1]['id']}")


def test_a_forks_pull_request_gets_the_summary_on_the_jobs_page(forge, summary, tmp_path) -> None:
    state, api = forge
    event = json.loads(EVENT.read_text())
    event["pull_request"]["head"]["repo"] = {**event["repository"], "full_name": "someone/billing"}
    fork_event = tmp_path / "fork-event.json"
    fork_event.write_text(json.dumps(event))
    result = post(summary, github_env(tmp_path, api, fork_event))
    assert result.returncode == 0  # the gate's verdict is the memory job's, not this step's
    assert not [call for call in state.calls if call[0] != "GET"]
    page = (tmp_path / "step-summary.md").read_text()
    assert "workload peak | 2.89 MiB | 3.89 MiB" in page
    assert "from a fork, and a fork's pull request gets a read-only token" in page
    assert "::warning title=memwise::" in result.stdout


def test_a_refusing_api_is_reported_not_a_traceback(forge, summary, tmp_path) -> None:
    state, api = forge
    state.refuse = True
    result = post(summary, github_env(tmp_path, api))
    assert result.returncode == 0
    assert "HTTP 403" in result.stdout
    assert "Traceback" not in result.stderr
    assert "HTTP 403" in (tmp_path / "step-summary.md").read_text()


def test_gitlab_notes_the_merge_request_with_a_project_token(forge, summary, tmp_path) -> None:
    state, api = forge
    env = {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": f"{api}/api/v4",
        "CI_PROJECT_ID": "311",
        "CI_MERGE_REQUEST_IID": "9",
        "CI_JOB_URL": "https://gitlab.example.com/acme/billing/-/jobs/55",
    }
    without = post(summary, env)
    assert without.returncode == 0
    assert "set a project access token (scope api) as the CI/CD variable MEMWISE_GITLAB_TOKEN" in (
        without.stdout
    )
    assert state.calls == []
    env["MEMWISE_GITLAB_TOKEN"] = "glpat-fake"
    assert "noted the memory gate's summary on merge request !9" in post(summary, env).stdout
    assert "updated the memory gate's note on merge request !9" in post(summary, env).stdout
    assert len(state.comments) == 1
    writes = [(m, p) for m, p, _ in state.calls if m != "GET"]
    assert writes == [
        ("POST", "/api/v4/projects/311/merge_requests/9/notes"),
        ("PUT", f"/api/v4/projects/311/merge_requests/9/notes/{state.comments[0]['id']}"),
    ]
    assert state.calls[-1][2]["Private-Token"] == "glpat-fake"


def test_no_summary_means_nothing_to_post(tmp_path) -> None:
    result = post(tmp_path / "missing.md", {"GITHUB_ACTIONS": "true"})
    assert result.returncode == 0
    assert "the sessions did not get as far as writing one" in result.stderr


RED_GATE = """## ❌ Memory gate failed: workload peak +0.59 MiB (+18.6%)

| figure | baseline | now | change | allowed |
| --- | --- | --- | --- | --- |
| [workload peak](workload_peak-diff.html "workload peak") | 3.15 MiB | 3.73 MiB | +0.59 MiB (+18.6%) | 3.18 MiB |
"""
RED_MEMTEST = """## ❌ memtest failed: test_bulk over its budget, limit_memory('1 MB'), peak 4.00 MiB

| over its budget | limit | peak | over by | line that held most |
| --- | --- | --- | --- | --- |
| [test_bulk](memtest-tests-test_bulk.py-test_bulk-test.html "tests/test_bulk.py::test_bulk") | `limit_memory('1 MB')` | 4.00 MiB | 3.00 MiB | `svc/store.py:12` |
"""


def reports_of(root: Path) -> tuple[Path, Path]:
    gate, memtest = root / "reports" / "memgate", root / "reports" / "memtest"
    gate.mkdir(parents=True)
    memtest.mkdir(parents=True)
    (gate / "summary.md").write_text(RED_GATE)
    (memtest / "summary.md").write_text(RED_MEMTEST)
    return gate / "summary.md", memtest / "summary.md"


def test_links_work_from_the_merge_request_and_each_job_keeps_its_section(forge, tmp_path) -> None:
    state, api = forge
    gate, memtest = reports_of(tmp_path)
    job = "https://gitlab.example.com/acme/billing/-/jobs/55"
    env = {"GITLAB_CI": "true", "CI_API_V4_URL": f"{api}/api/v4", "CI_PROJECT_ID": "311",
           "CI_MERGE_REQUEST_IID": "9", "CI_JOB_URL": job, "MEMWISE_GITLAB_TOKEN": "glpat-fake",
           "CI_PROJECT_DIR": str(tmp_path)}  # fmt: skip
    assert post(gate, env).returncode == 0  # the memory-reports job
    assert post(memtest, env).returncode == 0  # the memtest job, in parallel
    [note] = state.comments
    text = str(note["body"])
    # Every link of the summary opens the file in the job's artifacts.
    assert f"]({job}/artifacts/file/reports/memgate/workload_peak-diff.html " in text
    assert not re.findall(r"\]\((?!https?://)", text), text
    # One note, both verdicts: the gate's, then memtest's.
    assert text.index("Memory gate failed") < text.index("memtest failed")
    # The next push: the gate passes; memtest's section (not re-posted) stays.
    gate.write_text("## ✅ Memory gate passed: 8 figure(s) within tolerance\n")
    assert post(gate, env).returncode == 0
    [note] = state.comments
    assert "Memory gate passed" in str(note["body"])
    assert "Memory gate failed" not in str(note["body"])
    assert "memtest failed" in str(note["body"])


def test_on_github_each_sections_links_go_to_its_own_uploaded_artifact(forge, tmp_path) -> None:
    # As memory.yml passes them: one artifact per job (actions/upload-artifact's artifact-url).
    state, api = forge
    gate, memtest = reports_of(tmp_path)
    artifacts = "https://github.com/acme/billing/actions/runs/7012345678/artifacts"
    env = {**github_env(tmp_path, api),
           "MEMWISE_ARTIFACT_URL_MEMGATE": f"{artifacts}/99",
           "MEMWISE_ARTIFACT_URL_MEMTEST": f"{artifacts}/98"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "memwise.views.pr_comment", str(gate), str(memtest)],
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CI_"))},
             "PYTHONPATH": str(TOOLKIT_SRC), **env},
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [comment] = state.comments
    text = str(comment["body"])
    gate_part, memtest_part = text.split("<!-- memwise: memtest -->")
    assert f"]({artifacts}/99 " in gate_part
    assert f"]({artifacts}/98" not in gate_part
    assert f"]({artifacts}/98 " in memtest_part
    assert f"]({artifacts}/99" not in memtest_part
    assert not re.findall(r"\]\((?!https?://)", text), text
    assert "memtest failed" in text
    assert "Memory gate failed" in text
