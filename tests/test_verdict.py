"""The run's verdict: one function decides status, exit code and problems from every check."""

from __future__ import annotations

import copy

from txcat import exits, pipeline


def _summary(**changes):
    summary = {
        "files_read": 100,
        "files_scored": 98,
        "files_fully_quarantined": 1,
        "files_quarantined": 1,
        "rows_read": 1000,
        "rows_scored": 990,
        "rows_quarantined": 10,
        "rows_repeated": 3,
        "checks": {
            "quarantine_rows_written": 10,
            "quarantine_files_written": 1,
            "distinct_row_ids_scored": 990,
            "repeated_lines_written": 3,
            "max_row_quarantine_share": 0.05,
            "max_file_quarantine_share": 0.05,
        },
    }
    checks = changes.pop("checks", {})
    summary.update(changes)
    summary["checks"].update(checks)
    return summary


def _validation(*failures_by_suite):
    return {
        "critical_failures": sum(len(f) for _, f in failures_by_suite),
        "suites": {suite: {"critical_failures": list(f)} for suite, f in failures_by_suite},
    }


def test_a_run_that_passes_every_check_succeeds():
    summary = _summary(validation=_validation(("input", [])), sinks={"parquet": {"path": "p"}})
    assert pipeline.verdict(summary) == exits.OK
    assert summary["status"] == "succeeded" and summary["exit_code"] == exits.OK
    assert summary["problems"] == []
    assert summary["checks"]["row_quarantine_share"] == 0.01
    assert summary["checks"]["file_quarantine_share"] == 0.01


def test_counts_that_do_not_reconcile_come_first():
    summary = _summary(rows_quarantined=200, checks={"quarantine_rows_written": 200})
    assert pipeline.verdict(summary) == exits.RECONCILIATION
    assert summary["problems"] == [
        "counts do not reconcile: rows_read != rows_scored + rows_quarantined",
        "row quarantine share 0.2000 above 0.05",
    ]


def test_repeated_lines_that_were_not_all_written_do_not_reconcile():
    summary = _summary(checks={"repeated_lines_written": 2})
    assert pipeline.verdict(summary) == exits.RECONCILIATION
    assert summary["problems"] == [
        "counts do not reconcile: rows_repeated != repeated lines written"
    ]


def test_files_that_do_not_add_up_do_not_reconcile():
    summary = _summary(files_scored=97)
    assert pipeline.verdict(summary) == exits.RECONCILIATION
    assert summary["problems"] == [
        "counts do not reconcile: files_read != files_scored + files_fully_quarantined"
        " + files_quarantined"
    ]


def test_a_quarantine_share_above_its_threshold():
    summary = _summary(
        files_scored=89, files_quarantined=10, checks={"quarantine_files_written": 10}
    )
    assert pipeline.verdict(summary) == exits.QUARANTINE_THRESHOLD
    assert summary["status"] == "failed"
    assert summary["problems"] == ["file quarantine share 0.1000 above 0.05"]


def test_validation_and_warehouse_failures_are_part_of_the_verdict():
    summary = _summary(
        validation=_validation(("input", []), ("predictions", ["probability out of range"])),
        sinks={"redshift": {"status": "failed", "error": "COPY refused"}},
    )
    assert pipeline.verdict(summary) == exits.VALIDATION
    assert summary["exit_code"] == exits.VALIDATION
    assert summary["problems"] == [
        "validation predictions: probability out of range",
        "redshift load failed: COPY refused",
    ]


def test_a_failed_warehouse_load_alone():
    summary = _summary(sinks={"redshift": {"status": "failed", "error": "timeout"}})
    assert pipeline.verdict(summary) == exits.SINK
    assert summary["problems"] == ["redshift load failed: timeout"]


def test_deciding_again_gives_the_same_verdict():
    summary = _summary(rows_quarantined=200, checks={"quarantine_rows_written": 200})
    pipeline.verdict(summary)
    first = copy.deepcopy(summary)
    assert pipeline.verdict(summary) == exits.RECONCILIATION
    assert summary == first
