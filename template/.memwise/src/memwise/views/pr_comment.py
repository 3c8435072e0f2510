"""The gate's verdict where the team looks: one comment on the pull request (GitHub) or merge
request (GitLab), updated in place on each push.

``python3 -m memwise.views.pr_comment SUMMARY.md [SUMMARY.md ...]`` in CI, standard library only:
memgate's and memtest's summaries (those that exist) become sections of one comment, each
replacing its own section of the comment already there (a job posts only its own). Links in a
summary name files beside it: they are made to work from the pull request (GitLab: the job's
artifact file; GitHub: the job's uploaded artifact, ``MEMWISE_ARTIFACT_URL_MEMGATE`` for memgate's
summary, ``..._MEMTEST`` for memtest's, else the run). On GitHub it reads
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
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- memwise: memory gate summary -->"
LIMIT = 60000  # GitHub refuses comment bodies over 65,536 characters


class CommentError(Exception):
    """The forge's API refused or could not be reached: the message says which call."""


SECTION = "<!-- memwise: {name} -->"
END = "<!-- memwise: end of {name} -->"
_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s]+)")


def absolute_links(text: str, base: str | None) -> str:
    """Relative links of a summary (``[page](workload_peak-diff.html)``) pointed at
    ``base``: a folder URL ending in ``/``, or one page for every file (the artifact).
    """
    if not base:
        return _LINK.sub(lambda match: "](" + match[1], text)
    return _LINK.sub(
        lambda match: f"]({base}{match[1]}" if base.endswith("/") else f"]({base}", text
    )


def section(name: str, summary: str, base: str | None, run_url: str | None) -> str:
    """One summary as a section of the comment, its links working from the pull request."""
    text = absolute_links(summary.strip(), base)
    if len(text) > LIMIT // 2:
        text = (
            text[: LIMIT // 2] + "\n\n(cut: the whole summary is in the run's reports)"
        )
    link = f"\n\nThe run: [its page and artifacts]({run_url})" if run_url else ""
    return f"{SECTION.format(name=name)}\n{text}{link}\n{END.format(name=name)}"


def sections_of(comment: str) -> dict[str, str]:
    """The sections of a comment memwise posted before, by name, in their order."""
    found = re.findall(
        r"(<!-- memwise: (\w[\w-]*) -->\n.*?\n<!-- memwise: end of \2 -->)",
        comment,
        re.DOTALL,
    )
    return {name: text for text, name in found}


def body(sections: dict[str, str], earlier: str = "") -> str:
    """The comment: the sections given, and those of the earlier comment no job replaced."""
    merged = {**sections_of(earlier), **sections}
    return MARKER + "\n" + "\n\n".join(merged[name] for name in sorted(merged)) + "\n"


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


def artifact_url(env: dict[str, str], name: str) -> str | None:
    """Where the artifact of a reports folder (``memgate``, ``memtest``) is, if CI said."""
    key = "MEMWISE_ARTIFACT_URL_" + re.sub(r"\W", "_", name).upper()
    return env.get(key) or env.get("MEMWISE_ARTIFACT_URL") or None


def github(summaries: dict[str, str], env: dict[str, str]) -> str:
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
    run_url = f"{server}/{repository}/actions/runs/{run}" if run else None
    # GitHub serves an artifact as one zip: a summary's links go to its job's artifact (or
    # to the run, which lists every artifact: a sharded memtest's merge has no single one).
    parts = {
        name: section(name, text, artifact_url(env, name) or run_url, run_url)
        for name, text in summaries.items()
    }
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
            _call("PATCH", url, headers, {"body": body(parts, str(mine[0]["body"]))})
            return (
                f"updated the memory gate's comment on pull request #{pull['number']}"
            )
        if len(found) < 100:
            break
        page += 1
    _call("POST", comments, headers, {"body": body(parts)})
    return f"commented the memory gate's summary on pull request #{pull['number']}"


def gitlab(
    summaries: dict[str, str], env: dict[str, str], folders: dict[str, str]
) -> str:
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
    job = env.get("CI_JOB_URL")
    # GitLab serves each file of a job's artifacts: a summary's links go to the file itself.
    parts = {
        name: section(
            name, text, f"{job}/artifacts/file/{folders[name]}/" if job else None, job
        )
        for name, text in summaries.items()
    }
    headers = {"PRIVATE-TOKEN": token, "User-Agent": "memwise"}
    for note in _call("GET", f"{notes}?per_page=100&sort=asc", headers):
        if str(note.get("body", "")).startswith(MARKER):
            text = body(parts, str(note.get("body", "")))
            _call("PUT", f"{notes}/{note['id']}", headers, {"body": text})
            return f"updated the memory gate's note on merge request !{request}"
    _call("POST", notes, headers, {"body": body(parts)})
    return f"noted the memory gate's summary on merge request !{request}"


def main(argv: list[str], env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    if not argv:
        print(
            "usage: python3 -m memwise.views.pr_comment SUMMARY.md [SUMMARY.md ...]",
            file=sys.stderr,
        )
        return 2
    found = [Path(name) for name in argv if Path(name).is_file()]
    if not found:
        print(
            f"memwise: no summary at {', '.join(argv)}: the sessions did not get as far as "
            "writing one (their log says why), or passed without one; nothing to post",
            file=sys.stderr,
        )
        return 0
    # A section per reports folder (memgate, memtest): each job replaces its own.
    summaries = {path.parent.name: path.read_text(encoding="utf-8") for path in found}
    root = Path(env.get("CI_PROJECT_DIR") or Path.cwd())
    folders = {
        path.parent.name: _relative(path.parent.resolve(), root.resolve())
        for path in found
    }
    try:
        if env.get("GITHUB_ACTIONS") == "true":
            said = github(summaries, env)
        elif env.get("GITLAB_CI") == "true":
            said = gitlab(summaries, env, folders)
        else:
            said = "not on GitHub Actions or GitLab CI: nothing to comment on"
    except CommentError as error:
        said = str(error)
        print(f"::warning title=memwise::{said}" if env.get("GITHUB_ACTIONS") else said)
        page = env.get("GITHUB_STEP_SUMMARY")
        if page:
            with Path(page).open("a", encoding="utf-8") as out:
                out.writelines(
                    f"{summary.strip()}\n\n" for summary in summaries.values()
                )
                out.write(f"> {said}\n")
        return 0
    print(f"memwise: {said}")
    return 0


def _relative(folder: Path, root: Path) -> str:
    try:
        return folder.relative_to(root).as_posix()
    except ValueError:
        return folder.name


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
