"""The DAG's checks around the scoring job, on plain data."""

from __future__ import annotations

import pytest

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
