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
import logging
from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from txcat import exits, storage
from txcat import schema as S

log = logging.getLogger(__name__)

PREDICTIONS = "predictions"
QUARANTINE = "quarantine"
RUNS = "runs"
SUMMARY_FILE = "summary.json"
#: Beside the summary: why a run stopped before writing anything (exit 2 or 3).
REFUSAL_FILE = "_refused.json"
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


def refusal_path(output: str, run_date: dt.date) -> str:
    return storage.join(partition_path(storage.join(output, RUNS), run_date), REFUSAL_FILE)


def record_refusal(
    spark: SparkSession, output: str, run_date: dt.date, run_id: str, code: int, problem: str
) -> str | None:
    """Records why run `run_id` stopped before writing (a bad input or reference, a refused model).

    The day's partitions and summary stay as they were; this small JSON document (`run_date`,
    `run_id`, `status` failed, `exit_code`, `problems`) goes beside the summary, so a scheduler
    that does not see the process's exit code (an EMR step only says FAILED) can tell the
    verdict from an infrastructure failure and not retry it. Best effort: returns None, with a
    warning, when there is no run id or the document cannot be written (an unusable output).
    """
    if not run_id:
        return None
    path = refusal_path(output, run_date)
    record = {
        "run_date": run_date.isoformat(),
        "run_id": run_id,
        "status": FAILED,
        "exit_code": code,
        "problems": [problem.splitlines()[0][:1000] if problem else ""],
    }
    try:
        storage.write_bytes(spark, path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - the refusal itself is what the run reports
        log.warning("could not record the refusal at %s: %s", path, exc)
        return None
    return path


def write_partitioned(
    df: DataFrame, path: str, schema: Any, counts: Mapping[str, Column] | None = None
) -> dict[str, Any]:
    """Writes `df` (projected onto `schema`'s columns) replacing only its run_date partitions.

    `counts` are aggregates over the rows written (named by their keys), computed by the write
    itself (a Spark `Observation`: no second pass over the data, no read back). They run in the
    write's last stage, whose tasks' updates count once each even when a task is retried.
    Returns their values ({} without `counts`).
    """
    projected = df.select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])
    observation = Observation("written") if counts else None
    if observation is not None and counts:
        projected = projected.observe(
            observation, *[aggregate.alias(name) for name, aggregate in counts.items()]
        )
    (
        projected.write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(S.RUN_DATE)
        .parquet(path)
    )
    return dict(observation.get) if observation is not None else {}


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
