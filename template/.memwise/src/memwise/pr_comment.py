"""The gate's verdict where the team looks: one comment on the pull request (GitHub) or merge
request (GitLab), updated in place on each push.

``python3 -m memwise.pr_comment SUMMARY.md`` in CI, standard library only. On GitHub it reads
the event payload (``GITHUB_EVENT_PATH``) and posts with ``GITHUB_TOKEN`` through the REST API
(``GITHUB_API_URL``); the comment carries a hidden marker, so the next run edits it instead of
adding another. A fork's pull request gets a read-only token: the summary then goes to the
job's summary page, with a line that says why. On GitLab it posts a merge request note when a
project access token is given in ``MEMWISE_GITLAB_TOKEN`` (scope ``api``); without one the
summary stays in the job's log and artifacts. Posting never changes the gate's verdict: an
API that refuses is reported and the script exits 0.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- memwise: memory gate summary -->"
LIMIT = 60000  # GitHub refuses comment bodies over 65,536 characters


class CommentError(Exception):
    """The forge's API refused or could not be reached: the message says which call."""


def body(summary: str, run_url: str | None) -> str:
    text = summary.strip()
    if len(text) > LIMIT:
        text = text[:LIMIT] + "\n\n(cut: the whole summary is in the run's reports)"
    link = (
        f"\n\nReports (flamegraphs, differential flamegraphs, figures): [the run]({run_url})"
        if run_url
        else ""
    )
    return f"{MARKER}\n{text}{link}\n"


def _call(
    method: str,
    url: str,
    headers: dict[str, str],
    payload: dict[str, Any] | None = None,
) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode() or "null"
    except urllib.error.HTTPError as error:
        raise CommentError(
            f"{method} {url}: HTTP {error.code} {error.reason}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise CommentError(f"{method} {url}: {error}") from None
    return json.loads(text)


def github(summary: str, env: dict[str, str]) -> str:
    """Post or update the comment on GitHub; return what happened, in one line."""
    missing = [
        name for name in ("GITHUB_EVENT_PATH", "GITHUB_REPOSITORY") if not env.get(name)
    ]
    if missing:
        raise CommentError(f"{' and '.join(missing)} not set: GitHub Actions sets them")
    event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
    pull = event.get("pull_request")
    if not pull:
        return "not a pull request: nothing to comment on"
    repository = env["GITHUB_REPOSITORY"]
    head = (pull.get("head") or {}).get("repo") or {}
    token = env.get("GITHUB_TOKEN", "")
    if head.get("full_name") != repository or not token:
        why = (
            "it comes from a fork, and a fork's pull request gets a read-only token"
            if head.get("full_name") != repository
            else "no GITHUB_TOKEN was given"
        )
        raise CommentError(
            f"the summary was not posted on pull request #{pull['number']}: {why}"
        )
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run = env.get("GITHUB_RUN_ID")
    text = body(summary, f"{server}/{repository}/actions/runs/{run}" if run else None)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "memwise",
    }
    comments = f"{api}/repos/{repository}/issues/{pull['number']}/comments"
    page = 1
    while True:
        found = _call("GET", f"{comments}?per_page=100&page={page}", headers)
        mine = [c for c in found if str(c.get("body", "")).startswith(MARKER)]
        if mine:
            url = f"{api}/repos/{repository}/issues/comments/{mine[0]['id']}"
            _call("PATCH", url, headers, {"body": text})
            return (
                f"updated the memory gate's comment on pull request #{pull['number']}"
            )
        if len(found) < 100:
            break
        page += 1
    _call("POST", comments, headers, {"body": text})
    return f"commented the memory gate's summary on pull request #{pull['number']}"


def gitlab(summary: str, env: dict[str, str]) -> str:
    """Post or update the merge request note on GitLab; return what happened, in one line."""
    request = env.get("CI_MERGE_REQUEST_IID")
    if not request:
        return "not a merge request pipeline: nothing to comment on"
    token = env.get("MEMWISE_GITLAB_TOKEN", "")
    if not token:
        raise CommentError(
            f"the summary was not posted on merge request !{request}: set a project access "
            "token (scope api) as the CI/CD variable MEMWISE_GITLAB_TOKEN; the summary is in "
            "the job's log and its artifacts"
        )
    if not env.get("CI_PROJECT_ID"):
        raise CommentError("CI_PROJECT_ID not set: GitLab CI sets it")
    api = env.get("CI_API_V4_URL", "https://gitlab.com/api/v4").rstrip("/")
    notes = f"{api}/projects/{env['CI_PROJECT_ID']}/merge_requests/{request}/notes"
    text = body(summary, env.get("CI_JOB_URL"))
    headers = {"PRIVATE-TOKEN": token, "User-Agent": "memwise"}
    for note in _call("GET", f"{notes}?per_page=100&sort=asc", headers):
        if str(note.get("body", "")).startswith(MARKER):
            _call("PUT", f"{notes}/{note['id']}", headers, {"body": text})
            return f"updated the memory gate's note on merge request !{request}"
    _call("POST", notes, headers, {"body": text})
    return f"noted the memory gate's summary on merge request !{request}"


def main(argv: list[str], env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    if len(argv) != 1:
        print("usage: python3 -m memwise.pr_comment SUMMARY.md", file=sys.stderr)
        return 2
    summary_file = Path(argv[0])
    if not summary_file.is_file():
        print(
            f"memwise: no gate summary at {summary_file}: memgate did not get as far as "
            "writing it (its log says why); nothing to post",
            file=sys.stderr,
        )
        return 0
    summary = summary_file.read_text(encoding="utf-8")
    try:
        if env.get("GITHUB_ACTIONS") == "true":
            said = github(summary, env)
        elif env.get("GITLAB_CI") == "true":
            said = gitlab(summary, env)
        else:
            said = "not on GitHub Actions or GitLab CI: nothing to comment on"
    except CommentError as error:
        said = str(error)
        print(f"::warning title=memwise::{said}" if env.get("GITHUB_ACTIONS") else said)
        page = env.get("GITHUB_STEP_SUMMARY")
        if page:
            with Path(page).open("a", encoding="utf-8") as out:
                out.write(f"{summary.strip()}\n\n> {said}\n")
        return 0
    print(f"memwise: {said}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
