"""The validate stage of the daily run: input, output and reconciliation suites, saved with the
run and summarised for summary.json."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from txcat import storage, write
from txcat.config import Config
from txcat.validate import suites
from txcat.validate.runner import SuiteOutcome, run_suite, save_outcome

log = logging.getLogger(__name__)

VALIDATION_DIR = "validation"


def results_folder(output: str, run_date: dt.date) -> str:
    return storage.join(
        write.partition_path(storage.join(output, write.RUNS), run_date), VALIDATION_DIR
    )


def validate_input(
    spark: SparkSession,
    cfg: Config,
    records: DataFrame,
    rows_read: int,
    run_date: dt.date,
    output: str,
) -> SuiteOutcome:
    """Runs the input suite on (a sample of) the cleaned records and saves its result."""
    frame = suites.input_frame(records, cfg.validation.sample_rows, rows_read)
    suite = suites.input_suite(cfg.validation, run_date, cfg.quality.earliest_transaction_date)
    # At most `sample_rows` rows: collected by one Spark job and checked in the driver, where
    # GX's Spark engine would run a job or more per metric.
    outcome = run_suite(suites.collect_sample(frame, cfg.validation.sample_rows), suite)
    return save_outcome(spark, outcome, results_folder(output, run_date))


def validate_output(
    spark: SparkSession,
    predictions: DataFrame,
    counts: dict[str, int],
    run_date: dt.date,
    output: str,
    sample_rows: int | None = None,
) -> list[SuiteOutcome]:
    """Runs the output and reconciliation suites on what was written, and saves both.

    Args:
        predictions: The run date's predictions as written.
        counts: rows_read, rows_to_score (parsed rows), rows_scored and rows_quarantined
            (the last two counted by the writes).
        sample_rows: The output suite checks a uniform sample of at most this many written
            rows (`validation.sample_rows`); None checks every row. The counts stay exact.
    """
    folder = results_folder(output, run_date)
    frame = suites.output_frame(predictions, sample_rows, counts["rows_scored"])
    if sample_rows is not None:  # bounded: checked in the driver, as the input sample
        out = run_suite(suites.collect_sample(frame, sample_rows), suites.output_suite())
    else:
        # GX computes its metrics in several Spark jobs: they read the rows once.
        frame.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            out = run_suite(frame, suites.output_suite())
        finally:
            frame.unpersist()
    counts_frame = suites.reconciliation_frame(
        counts["rows_read"],
        counts["rows_to_score"],
        counts["rows_scored"],
        counts["rows_quarantined"],
    )
    recon = run_suite(counts_frame, suites.reconciliation_suite())
    return [save_outcome(spark, out, folder), save_outcome(spark, recon, folder)]


def summarise(outcomes: list[SuiteOutcome]) -> dict[str, Any]:
    """The `validation` block of summary.json."""
    return {
        "success": all(o.success for o in outcomes),
        "critical_failures": sum(len(o.critical_failures) for o in outcomes),
        "warnings": sum(len(o.warnings) for o in outcomes),
        "suites": {o.suite: o.summary() for o in outcomes},
    }
