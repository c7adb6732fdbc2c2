"""Exit codes of every txcat command and job: one table, no number with two meanings.

A scheduler alerts on anything but 0; the code says what to look at. Codes 2-8 are verdicts
on data, configuration or a model: rerunning the same command cannot change them, so an
orchestrator must not retry them. Code 1 (unexpected failure) and 10 (another run of the same
day holds the lock) may succeed on a retry.
"""

from __future__ import annotations

OK = 0
FAILED = 1  # unexpected failure (infrastructure, a bug): retrying may help
BAD_INPUT = 2  # arguments, configuration, input, output or reference path
BAD_MODEL = 3  # model artifact refused (checksum, booster, features, categories) or unreachable
QUARANTINE_THRESHOLD = 4  # quarantine share above its threshold (everything is written first)
RECONCILIATION = 5  # counts do not reconcile
VALIDATION = 6  # a critical data expectation failed (after writing)
SINK = 7  # the warehouse load failed; the table keeps its previous rows
MONITOR_ALERT = 8  # a monitoring threshold was crossed
GATE_REFUSED = 9  # the quality gate refused the model version
RUN_LOCKED = 10  # another run of the same day is in progress; nothing was touched

#: code -> meaning, in the order `txcat --help` and the README show them.
MEANINGS: dict[int, str] = {
    OK: "succeeded",
    FAILED: "unexpected failure (retrying may help)",
    BAD_INPUT: "bad arguments, configuration, input, output or reference path",
    BAD_MODEL: "model refused or unreachable (checksum, booster, features, categories, registry)",
    QUARANTINE_THRESHOLD: "quarantine share above its threshold (outputs written)",
    RECONCILIATION: "counts do not reconcile (rows read != scored + quarantined)",
    VALIDATION: "a critical data expectation failed (outputs written)",
    SINK: "the warehouse load failed (the table keeps its previous rows)",
    MONITOR_ALERT: "a monitoring alert threshold was crossed",
    GATE_REFUSED: "the quality gate refused the model version",
    RUN_LOCKED: "another run of the same day holds the lock (nothing touched; retry later)",
}

#: Codes an orchestrator may retry: everything else is a verdict that a rerun repeats.
RETRYABLE: frozenset[int] = frozenset({FAILED, RUN_LOCKED})


def describe() -> str:
    """The table as text, for `--help` epilogues."""
    return "exit codes:\n" + "\n".join(f"  {code:>2}  {text}" for code, text in MEANINGS.items())
