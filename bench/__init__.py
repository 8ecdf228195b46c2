"""Performance benchmark of mdhub's engine against raw SQL baselines (`python -m bench`).

- `bench.generate`: the deterministic `vendors` data set (initial snapshot, next snapshot, keys
  to delete) and its Table Schema.
- `bench.baseline`: the hand-written PostgreSQL and SQLite baselines.
- `bench.engine`: the same scenarios through mdhub's library API.
- `bench.scenarios`: the scenarios, the exact counts each must report, the targets.
- `bench.http_api`: the same scenarios through a real `mdhub serve`.
- `bench.reads`: the read scenarios (export, lookup, find), their targets, percentiles and
  summary; `bench.read_baseline` and `bench.read_http` run them on each side,
  `bench.loadgen` is the closed-loop HTTP client of the lookups, `bench.read_report` prints
  them.
- `bench.memory`: peak RSS and CPU time of the measured process trees, from /proc.
- `bench.worker`: the child-process entry point (one measured operation per process).
- `bench.__main__`: the command line that runs both side by side and prints the ratios.

See docs/benchmarks.md.
"""
