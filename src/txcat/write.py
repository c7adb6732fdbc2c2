"""Write stage: predictions and quarantine as Parquet partitioned by run date, and the summary.

Both datasets are written with dynamic partition overwrite, set on the writer itself (not left to
session config): rerunning a day replaces that day's partition and leaves every other day alone.

The summary's `status` says what the day's partitions are: `running` (written before the first
partition: a half-written day is never taken for a finished one, even after a kill -9),
then `succeeded` or `failed`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from txcat import exits, storage
from txcat import schema as S

PREDICTIONS = "predictions"
QUARANTINE = "quarantine"
RUNS = "runs"
SUMMARY_FILE = "summary.json"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"


def predictions_path(output: str) -> str:
    return storage.join(output, PREDICTIONS)


def quarantine_path(output: str) -> str:
    return storage.join(output, QUARANTINE)


def partition_path(dataset_path: str, run_date: dt.date) -> str:
    return storage.join(dataset_path, f"{S.RUN_DATE}={run_date.isoformat()}")


def summary_path(output: str, run_date: dt.date) -> str:
    return storage.join(partition_path(storage.join(output, RUNS), run_date), SUMMARY_FILE)


def write_partitioned(df: DataFrame, path: str, schema: Any) -> None:
    """Writes `df` (projected onto `schema`'s columns) replacing only its run_date partitions."""
    (
        df.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(S.RUN_DATE)
        .parquet(path)
    )


def write_summary(
    spark: SparkSession, output: str, run_date: dt.date, summary: Mapping[str, Any]
) -> str:
    path = summary_path(output, run_date)
    body = json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"
    storage.write_bytes(spark, path, body.encode("utf-8"))
    return path


def read_summary(spark: SparkSession, output: str, run_date: dt.date) -> dict[str, Any] | None:
    """The day's summary on storage; None when there is none."""
    try:
        data = storage.read_bytes(spark, summary_path(output, run_date))
    except FileNotFoundError:
        return None
    summary: dict[str, Any] = json.loads(data.decode("utf-8"))
    return summary


def mark_failed(
    spark: SparkSession, output: str, run_date: dt.date, run_id: str, error: BaseException
) -> bool:
    """Turns run `run_id`'s `running` summary into `failed` with the error; True if it did.

    A summary of another run (this one failed before writing anything) is left as it is.
    """
    summary = read_summary(spark, output, run_date)
    if summary is None or summary.get("run_id") != run_id or summary.get("status") != RUNNING:
        return False
    problem = f"unexpected failure: {type(error).__name__}: {error}".splitlines()[0][:500]
    summary.update(status=FAILED, exit_code=exits.FAILED, problems=[problem])
    write_summary(spark, output, run_date, summary)
    return True
