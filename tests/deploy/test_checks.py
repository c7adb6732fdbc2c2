"""The DAG's checks around the scoring job, on plain data."""

from __future__ import annotations

import json

import pytest

from txcat import exits
from txcat.deploy import checks
from txcat.inputs.manifest import Manifest, ManifestEntry

DS = "2026-11-25"
A = ManifestEntry("s3://l/d/a.csv", 10, "e1")
B = ManifestEntry("s3://l/d/b.csv", 20, "e2")


def _manifest(*entries: ManifestEntry, run_date: str | None = DS) -> Manifest:
    return Manifest(source="s3://o/m.json", sha256="0", entries=entries, run_date=run_date)


def test_a_complete_unchanged_day_passes():
    assert checks.input_problems(_manifest(A, B), DS, [A, B], min_files=2) == []


def test_input_problems_say_what_is_wrong():
    rewritten = ManifestEntry(B.uri, 20, "e3")
    added = ManifestEntry("s3://l/d/c.csv", 1, "e4")
    problems = checks.input_problems(
        _manifest(ManifestEntry(A.uri, 0, "e1"), B, run_date="2026-11-24"),
        DS,
        [ManifestEntry(A.uri, 0, "e1"), rewritten, added],
        min_files=3,
    )
    assert problems == [
        f"manifest is for 2026-11-24, run is for {DS}",
        "2 files, at least 3 expected",
        "landing folder changed since the manifest: 1 added, 0 removed, 1 changed "
        "(e.g. ['s3://l/d/c.csv', 's3://l/d/b.csv'])",
    ]
    empty = _manifest(ManifestEntry(A.uri, 0))
    assert "every file is empty" in checks.input_problems(empty, DS, [A], 1)


def test_a_local_file_rewritten_with_the_same_size_is_a_change():
    before = ManifestEntry("file:///l/a.csv", 5, None, mtime_ns=1)
    after = ManifestEntry("file:///l/a.csv", 5, None, mtime_ns=2)
    (problem,) = checks.input_problems(_manifest(before), DS, [after], 1)
    assert "0 added, 0 removed, 1 changed" in problem


SUMMARY = {
    "run_date": DS,
    "run_id": "r1",
    "status": "succeeded",
    "rows_read": 10,
    "rows_scored": 9,
    "rows_quarantined": 1,
    "files_read": 2,
    "files_quarantined": 0,
    "model_version": "3",
    "sinks": {"redshift": {"status": "loaded", "run_date": DS, "rows_staged": 9, "target": "t"}},
}
PARTITION = f"s3://o/predictions/run_date={DS}"


def test_outputs_of_this_run_pass():
    assert checks.output_problems(SUMMARY, DS, "r1", 2, True, PARTITION) == []


def test_output_problems_say_what_is_wrong():
    summary = {**SUMMARY, "run_id": "r0", "status": "failed", "problems": ["x"], "rows_read": 11}
    problems = checks.output_problems(summary, DS, "r1", 3, False, PARTITION)
    assert problems == [
        "summary belongs to run 'r0', not 'r1'",
        "job status 'failed': ['x']",
        "rows_read != rows_scored + rows_quarantined",
        "job read 2 files, the manifest lists 3",
        f"no Parquet file under {PARTITION}",
    ]
    nothing = {**SUMMARY, "run_date": "2026-11-24", "rows_scored": 0, "rows_read": 1}
    assert checks.output_problems(nothing, DS, "r1", 2, True, PARTITION) == [
        f"summary is for 2026-11-24, run is for {DS}",
        "no row was scored",
    ]


def test_redshift_load_must_be_reported_for_the_day_and_every_row():
    assert checks.redshift_problems(SUMMARY, DS) == []
    assert "no sinks.redshift block" in checks.redshift_problems({**SUMMARY, "sinks": {}}, DS)[0]
    failed = {**SUMMARY, "sinks": {"redshift": {"status": "failed", "error": "denied"}}}
    assert "did not happen" in checks.redshift_problems(failed, DS)[0]
    short = {
        **SUMMARY,
        "sinks": {"redshift": {"status": "loaded", "run_date": DS, "rows_staged": 8}},
    }
    assert checks.redshift_problems(short, DS) == [
        f"Redshift load reports 8 rows for {DS}, the job scored 9 for {DS}"
    ]


@pytest.mark.parametrize(
    ("redshift", "expected"),
    [
        ({"status": "loaded"}, {"status": "loaded"}),
        (None, {"status": "skipped", "sinks": ["parquet"]}),
    ],
)
def test_run_result(redshift, expected):
    assert checks.run_result(SUMMARY, PARTITION, redshift, ("parquet",)) == {
        "rows_read": 10,
        "rows_scored": 9,
        "rows_quarantined": 1,
        "files_read": 2,
        "files_quarantined": 0,
        "model_version": "3",
        "predictions": PARTITION,
        "redshift": expected,
    }


RUN = "scheduled__2026-11-25T06:00:00+00:00"


def _summary(**fields: object) -> dict:
    return {
        "run_date": DS,
        "run_id": RUN,
        "status": "failed",
        "exit_code": 4,
        "problems": ["row quarantine share 0.2000 above 0.05"],
        "rows_read": 10,
        "rows_scored": 8,
        "rows_quarantined": 2,
        "files_read": 2,
        "files_quarantined": 0,
        "model_version": "v1",
        **fields,
    }


def test_summary_of_run_is_only_this_runs_summary():
    raw = json.dumps(_summary()).encode()
    assert checks.summary_of_run(raw, DS, RUN) == _summary()
    assert checks.summary_of_run(raw, DS, "manual__other") is None
    assert checks.summary_of_run(raw, "2026-11-24", RUN) is None
    assert checks.summary_of_run(None, DS, RUN) is None
    assert checks.summary_of_run(b"{half", DS, RUN) is None
    assert checks.summary_of_run(b"[]", DS, RUN) is None


def test_submit_exit_code_is_read_from_the_hooks_error():
    error = "Cannot execute: spark-submit --master local[2] ... Error code is: 4."
    assert checks.submit_exit_code(error) == 4
    assert checks.submit_exit_code("something else") is None


@pytest.mark.parametrize(
    "code", [exits.BAD_INPUT, exits.BAD_MODEL, exits.QUARANTINE_THRESHOLD,
             exits.RECONCILIATION, exits.VALIDATION, exits.SINK],
)  # fmt: skip
def test_data_verdicts_are_not_retried(code):
    failure = checks.job_failure(None, code, "Error code is: 4")
    assert failure.exit_code == code
    assert failure.retry is False
    assert failure.message.startswith(f"scoring job failed, exit code {code}: ")
    assert failure.message.endswith("not retried: a rerun repeats it")


@pytest.mark.parametrize("code", [exits.FAILED, exits.RUN_LOCKED, None])
def test_infrastructure_failures_are_retried(code):
    failure = checks.job_failure(None, code, "EMR step FAILED: {}")
    assert failure.retry is True
    assert failure.message.endswith("retrying (infrastructure or a lock)")
    if code is None:
        assert "no exit code (EMR step FAILED: {})" in failure.message


def test_the_summarys_verdict_wins_over_the_process_code():
    # On YARN spark-submit exits 1 whatever the job returned; the summary says 4.
    failure = checks.job_failure(_summary(), exits.FAILED, "step failed")
    assert failure.exit_code == exits.QUARANTINE_THRESHOLD
    assert failure.retry is False
    assert failure.message == (
        "scoring job failed, exit code 4: quarantine share above its threshold (outputs written); "
        "summary status=failed, rows_read=10, rows_scored=8, rows_quarantined=2, files_read=2, "
        "files_quarantined=0, model_version=v1; "
        "problem: row quarantine share 0.2000 above 0.05; not retried: a rerun repeats it"
    )
    # A job that raised unexpectedly after writing started turns its summary to exit 1.
    crashed = checks.job_failure(_summary(exit_code=1, problems=["boom"]), None, "")
    assert crashed.retry is True


def test_summary_figures_are_status_problems_and_counts():
    assert checks.summary_figures(_summary(extra="not sent")) == {
        "status": "failed",
        "exit_code": 4,
        "problems": ["row quarantine share 0.2000 above 0.05"],
        "rows_read": 10,
        "rows_scored": 8,
        "rows_quarantined": 2,
        "files_read": 2,
        "files_quarantined": 0,
        "model_version": "v1",
    }
