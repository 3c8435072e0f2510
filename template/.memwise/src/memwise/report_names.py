"""The names of the files memwise writes into a session's reports folder, each written here
once: the sessions write them, CI reads them (.github/workflows/memory.yml and
.gitlab/memwise.yml, tied to these names by tests/test_ci.py), the README's reports column
names them.
"""

from __future__ import annotations

SUMMARY = "summary.md"  # the verdict in Markdown: the CI job's page and the pull-request comment
MEMTEST_PAGE = "index.html"  # memtest's tests over their budget, one page
GATE_PAGE = "report.html"  # the gate's verdict (memgate, memreport of memgate shards)
JUNIT = "junit.xml"  # memtest's JUnit report, for CI
MANIFEST = "manifest.json"  # every test of a pytest run (memwise.plugin.manifest)
CAPTURES = "captures"  # the folder of memray captures kept for failing tests
WORKLOAD_CAPTURE = "workload.bin"  # the workload's memray capture
WORKLOAD_STATS = "stats.json"  # `memray stats --json` of the workload's capture
BENCHER = "bencher.json"  # the gate's figures in Bencher Metric Format
GATE_VERDICT = (
    "gate.json"  # a memgate's verdict and the figures it compared, for memreport
)
SHARD = "shard.json"  # which tests a shard ran, for memreport
