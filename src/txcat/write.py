"""Write stage: predictions and quarantine as Parquet partitioned by run date, and the summary.

Both datasets are written with dynamic partition overwrite, set on the writer itself (not left to
session config): rerunning a day replaces that day's partition and leaves every other day alone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from txcat import schema as S
from txcat import storage

PREDICTIONS = "predictions"
QUARANTINE = "quarantine"
RUNS = "runs"
SUMMARY_FILE = "summary.json"


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
