"""The gate's fixed costs: memgate and baseline against the measuring they cannot avoid.

Run it with `nox -s benchmark -- gatecost` (or `python benchmarks/gate_cost.py --runs 5`).
On a default render (or `--project NAME`, an existing-project fixture of the suite) it builds
the memory environment (`nox -s memtest`), then times, `--runs` times and back to back:

- one measuring run done by hand, the floor under the gate: the workload under `memray run`
  and the budgeted tests under `pytest --memray` (pytest-memray alone, without memwise's
  plugin), in the gate's allocator (`PYTHONMALLOC=malloc`), one after the other; then, apart
  ("read back"), `memray stats --json` on that capture, which the gate needs for the
  workload's total allocated and its call sites;
- `nox -R -s memgate` (one measuring run, the comparison and its reports);
- `nox -R -s baseline` (its `[tool.memwise.gate] runs` measuring runs, 5 by default).

It prints the medians and the median ratios memgate / one run and baseline / (runs x one run).
`--heavy ROUNDS` makes the example's workload allocate much more (ROUNDS x 50,000 JSON rows:
40 rounds are about 25 million allocations, 2 GB): the gate reads every allocation of its
capture back with `memray stats`, which such a workload shows. docs/benchmarks.md quotes the
figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from gate_noise import git, make_project  # the render, or a fixture adopted the documented way

sys.path.insert(0, str(ROOT / "template" / ".memwise" / "src"))
from memwise.project.settings import load

from tests.helpers import memory_environment, session_env

BIN = Path(sys.executable).parent
# Appended to the workload by --heavy: many small allocations, as a service's busy hour makes.
HEAVY = """

import json as _heavy_json

for _round in range(ROUNDS):
    _rows = [{"id": i, "name": f"n{i}", "tags": [i, i + 1]} for i in range(50_000)]
    _heavy_json.dumps(_rows)
"""


def timed(command: list[str], project: Path, env: dict[str, str], red: bool = False) -> float:
    """Seconds the command takes. ``red``: a red verdict (exit 1) measured all the same (a gate
    against a baseline of one run can be red by noise): it counts, anything else stops."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode not in ((0, 1) if red else (0,)):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds")
    parser.add_argument("--project", default="example", help="example, or a fixture's name")
    parser.add_argument("--baseline-runs", type=int, default=5, help="baseline's own runs")
    parser.add_argument(
        "--heavy",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="the example's workload made to allocate ROUNDS x 50,000 rows more",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memwise-gatecost-"))
    try:
        project = make_project(args.project, work)
        workload = load(project).workload
        if args.heavy and workload:
            script = project / workload
            code, main_guard = script.read_text(encoding="utf-8"), 'if __name__ == "__main__":'
            heavy = HEAVY.replace("ROUNDS", str(args.heavy))
            # Before the script's own main call, which ends the program.
            where = code.find(main_guard)
            code = code + heavy if where < 0 else code[:where] + heavy + "\n\n" + code[where:]
            script.write_text(code, encoding="utf-8")
            git(project, "commit", "-qam", "heavy")
        env = session_env()
        nox = [str(BIN / "nox")]
        subprocess.run([*nox, "-s", "memtest"], cwd=project, env=env, check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run([*nox, "-R", "-s", "baseline", "--", "--runs", "1"], cwd=project,
                       env=env, check=True, capture_output=True)  # fmt: skip
        environment = memory_environment(project) / "bin"
        measuring_env = {**env, "PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}
        by_hand: list[list[str]] = [
            [str(environment / "pytest"), "-q", "-p", "no:memwise", "-p", "no:cacheprovider",
             "--memray", "-m", "limit_memory or limit_leaks", "--hide-memray-summary"],
        ]  # fmt: skip
        if workload:
            capture = str(work / "workload.bin")
            by_hand.append([str(environment / "memray"), "run", "-q", "-f", "-o", capture,
                            workload])  # fmt: skip
        rounds = []
        for _ in range(args.runs):
            one_run = sum(timed(command, project, measuring_env) for command in by_hand)
            # What the gate adds to the recording: its capture read back, as memgate reads it.
            read_back = (
                timed([str(environment / "memray"), "stats", "--json", "-n", "30", "-f", "-o",
                       str(work / "stats.json"), capture], project, measuring_env)
                if workload
                else 0.0
            )  # fmt: skip
            memgate = timed([*nox, "-R", "-s", "memgate"], project, env, red=True)
            baseline = timed(
                [*nox, "-R", "-s", "baseline", "--", "--runs", str(args.baseline_runs)],
                project, env,
            )  # fmt: skip
            rounds.append(
                {"one run": one_run, "read back": read_back, "memgate": memgate,
                 "baseline": baseline}
            )  # fmt: skip
            subprocess.run(["git", "checkout", "-q", "--", "."], cwd=project, check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    heavy = f", workload made heavy ({args.heavy} rounds)" if args.heavy else ""
    print(f"{args.project}{heavy}: medians of {args.runs} rounds, {when}")
    for name in rounds[0]:
        samples = ", ".join(f"{sample[name]:.2f}" for sample in rounds)
        print(f"  {name:<10} {statistics.median(s[name] for s in rounds):6.2f} s  ({samples})")
    gate = statistics.median(s["memgate"] / s["one run"] for s in rounds)
    base = statistics.median(s["baseline"] / (args.baseline_runs * s["one run"]) for s in rounds)
    print(f"  memgate / one measuring run by hand: {gate:.2f}x")
    print(f"  baseline / {args.baseline_runs} measuring runs by hand: {base:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
