"""Benchmarks: every case a ratio against a floor measured in the same run.

    python -m benchmarks [--size smoke|full] [--runs N] [--only CASE[,CASE]] [--json PATH]

The runner starts its own throwaway ``redis-server`` on a free loopback port,
seeds it with the project's generator (``telemetry.writer.generate_records``),
then runs each registered case: the floor and the subject are timed
alternately (``runs`` pairs, order flipped every pair, ``gc.collect()``
before each) and the row shows both medians, their ratio and the target of
issue 5. Absolute times are noisy on a shared machine; the ratios are what
the targets are about.

Cases live in a registry (``benchmarks.harness.register``); a module listed
in ``benchmarks.harness.CASE_MODULES`` registers its cases on import, so a new
case (e.g. the cluster variant of the summary) is one decorated function in
one more module.
"""
