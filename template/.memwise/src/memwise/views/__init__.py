"""What people read: the verdict (terminal, summary.md, report page), the differential
flamegraph, the gate's pages and the pull-request comment. (Not named ``reports``: projects
ignore a ``reports/`` folder in git, and memwise's own would go with it.)"""
