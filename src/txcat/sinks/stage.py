"""The sink stage of the daily run: `--sink parquet|redshift|parquet,redshift`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pyspark.sql import DataFrame

from txcat import storage
from txcat.config import Config, RedshiftConfig
from txcat.sinks.redshift import DayLoad, SinkError, Warehouse, load_day, to_redshift_rows

log = logging.getLogger(__name__)


def staging_uri(cfg: RedshiftConfig, output: str, run_date: dt.date) -> str:
    return storage.join(output, cfg.staging_subdir, run_date.isoformat())


def stage(predictions: DataFrame, uri: str) -> None:
    """Writes the day's rows, flattened for the warehouse, as plain Parquet files under `uri`.

    No `_SUCCESS` marker: Redshift's COPY would try to read every object under the prefix.
    """
    (
        to_redshift_rows(predictions)
        .write.mode("overwrite")
        .option("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .parquet(uri)
    )


def warehouse_from_config(
    cfg: RedshiftConfig, run_id: str, s3_endpoint: str | None = None
) -> Warehouse:
    """The warehouse the config names; connection settings come from the environment."""
    from txcat.inputs.objects import s3_client
    from txcat.sinks import warehouses

    if cfg.backend == "postgres":
        return warehouses.PostgresWarehouse.from_env(lambda: s3_client(endpoint=s3_endpoint))
    import boto3

    target = warehouses.DataApiTarget.from_env()
    return warehouses.DataApiWarehouse(
        boto3.client("redshift-data"),
        target,
        cfg.poll_interval_s,
        cfg.timeout_s,
        statement_name=f"txcat-{run_id}"[:500],
    )


def load_redshift(
    cfg: Config,
    predictions: DataFrame,
    output: str,
    run_date: dt.date,
    run_id: str,
    warehouse: Warehouse | None = None,
    s3_endpoint: str | None = None,
) -> dict[str, Any]:
    """Stages the day's predictions and replaces the day in the warehouse table.

    Returns the `sinks.redshift` block of summary.json; raises SinkError on failure (the
    table then keeps its previous rows).
    """
    uri = staging_uri(cfg.redshift, output, run_date)
    load = DayLoad(
        cfg.redshift.schema, cfg.redshift.table, run_date, run_id, uri, cfg.redshift.create_table
    )
    load.target  # noqa: B018 - validates the identifiers before any work
    stage(predictions, uri)
    target = warehouse or warehouse_from_config(cfg.redshift, run_id, s3_endpoint)
    report = load_day(target, load)
    log.info("redshift: %s replaced for %s", report["target"], run_date)
    return {"status": "loaded", **report}


__all__ = ["SinkError", "load_redshift", "stage"]
