"""The memory gate: the figures, their tolerance and comparison, the baseline file, the
measuring runs, and another commit measured for the differential flamegraph."""
