"""Loading one run date of predictions into the warehouse table, replacing that day.

The flow is the same for Redshift and for the PostgreSQL server the tests use:

1. create the target table if it is missing, and a staging table shaped like it;
2. load the day's staged Parquet into the staging table — the one step that differs:
   Redshift `COPY ... FORMAT AS PARQUET` with an IAM role, PostgreSQL `COPY FROM STDIN`;
3. in ONE transaction, delete the target's rows of the run date and insert the staged rows;
4. drop the staging table, whatever happened.

A rerun replaces the day; a failure anywhere before the commit of step 3 leaves the previous rows.
Every identifier is validated before it is put into SQL, and the only literal (the run date) comes
from a `datetime.date`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from txcat import schema as S

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,126}$")
_IAM_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_S3_PREFIX = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*()/=-]*$")

#: The warehouse table: the prediction schema with the top 3 flattened (no arrays in Redshift).
REDSHIFT_COLUMNS: tuple[tuple[str, str], ...] = (
    (S.ROW_ID, "VARCHAR(64) NOT NULL"),
    (S.ACCOUNT_ID, "VARCHAR(256) NOT NULL"),
    (S.SOURCE_FILE, "VARCHAR(1024) NOT NULL"),
    (S.LINE_NUMBER, "INTEGER NOT NULL"),
    (S.IS_REPEATED_LINE, "BOOLEAN NOT NULL"),
    (S.TRANSACTION_DATE, "DATE"),
    (S.AMOUNT, "DOUBLE PRECISION"),
    (S.PREDICTED_CATEGORY, "VARCHAR(32) NOT NULL"),
    (S.PREDICTED_PROBABILITY, "DOUBLE PRECISION NOT NULL"),
    ("top1_category", "VARCHAR(32)"),
    ("top1_probability", "DOUBLE PRECISION"),
    ("top2_category", "VARCHAR(32)"),
    ("top2_probability", "DOUBLE PRECISION"),
    ("top3_category", "VARCHAR(32)"),
    ("top3_probability", "DOUBLE PRECISION"),
    (S.LABEL, "VARCHAR(32)"),
    (S.MODEL_VERSION, "VARCHAR(128) NOT NULL"),
    (S.MODEL_SHA256, "CHAR(64) NOT NULL"),
    (S.MODEL_NAME, "VARCHAR(256)"),
    (S.MODEL_REGISTRY_VERSION, "VARCHAR(32)"),
    (S.MODEL_ALIAS, "VARCHAR(128)"),
    (S.RUN_ID, "VARCHAR(128) NOT NULL"),
    (S.SCORED_AT, "TIMESTAMP NOT NULL"),
    (S.RUN_DATE, "DATE NOT NULL"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in REDSHIFT_COLUMNS)


class SinkError(RuntimeError):
    """The warehouse load failed; the target keeps its previous rows."""


def identifier(name: str) -> str:
    """`name` if it is a plain lower-case SQL identifier; raises SinkError otherwise."""
    if not _IDENTIFIER.match(name):
        raise SinkError(f"{name!r} is not a valid identifier (lower case, digits, _)")
    return name


def iam_role(arn: str) -> str:
    if not _IAM_ROLE.match(arn):
        raise SinkError(f"{arn!r} is not an IAM role ARN")
    return arn


def s3_prefix(uri: str) -> str:
    """An s3:// prefix safe to quote in a COPY statement."""
    if not _S3_PREFIX.match(uri):
        raise SinkError(f"{uri!r} is not an s3:// prefix Redshift can COPY from")
    return uri if uri.endswith("/") else uri + "/"


def to_redshift_rows(predictions: DataFrame) -> DataFrame:
    """The prediction rows in the warehouse table's column order, top 3 flattened."""
    top = F.col(S.TOP3)
    flat = {}
    for i in (1, 2, 3):
        flat[f"top{i}_category"] = F.element_at(top, i).getField("category")
        flat[f"top{i}_probability"] = F.element_at(top, i).getField("probability")
    return predictions.select(
        *[flat[name].alias(name) if name in flat else F.col(name) for name in COLUMN_NAMES]
    )


@dataclass(frozen=True)
class DayLoad:
    """What one load does: the target, the run date, and where its rows were staged."""

    schema: str
    table: str
    run_date: dt.date
    run_id: str
    staged_uri: str
    create_table: bool = True

    @property
    def target(self) -> str:
        return f"{identifier(self.schema)}.{identifier(self.table)}"

    @property
    def staging_table(self) -> str:
        suffix = re.sub(r"[^a-z0-9_]", "_", self.run_id.lower())[:40] or "run"
        return f"{identifier(self.schema)}.{identifier(f'{self.table}_stage_{suffix}')}"

    def create_statements(self) -> list[str]:
        columns = ",\n  ".join(f"{name} {kind}" for name, kind in REDSHIFT_COLUMNS)
        statements = []
        if self.create_table:
            statements += [
                f"CREATE SCHEMA IF NOT EXISTS {identifier(self.schema)}",
                f"CREATE TABLE IF NOT EXISTS {self.target} (\n  {columns}\n)",
            ]
        statements += [
            f"DROP TABLE IF EXISTS {self.staging_table}",
            f"CREATE TABLE {self.staging_table} (LIKE {self.target})",
        ]
        return statements

    def swap_statements(self) -> list[str]:
        """Delete the day and insert the staged rows: to run as ONE transaction."""
        day = self.run_date.isoformat()  # a date object: no injection possible
        names = ", ".join(COLUMN_NAMES)
        return [
            f"DELETE FROM {self.target} WHERE {S.RUN_DATE} = DATE '{day}'",
            f"INSERT INTO {self.target} ({names}) SELECT {names} FROM {self.staging_table} "
            f"WHERE {S.RUN_DATE} = DATE '{day}'",
        ]

    def drop_statements(self) -> list[str]:
        return [f"DROP TABLE IF EXISTS {self.staging_table}"]


class Warehouse(Protocol):
    """A SQL endpoint: runs statement lists as one transaction, and loads staged rows."""

    def execute(self, statements: Sequence[str]) -> None:
        """Runs `statements` in order as one transaction; raises SinkError on failure."""

    def load_staging(self, table: str, staged_uri: str, columns: Sequence[str]) -> int | None:
        """Loads the Parquet files under `staged_uri` into `table`; rows loaded when known."""


def load_day(warehouse: Warehouse, load: DayLoad) -> dict[str, object]:
    """Replaces the target's rows of `load.run_date` with the staged rows.

    Returns a small report for the run summary. Raises SinkError when any step fails; the
    staging table is dropped in every case.
    """
    log.info("loading %s into %s via %s", load.staged_uri, load.target, load.staging_table)
    warehouse.execute(load.create_statements())
    try:
        staged = warehouse.load_staging(load.staging_table, load.staged_uri, COLUMN_NAMES)
        warehouse.execute(load.swap_statements())
    finally:
        try:
            warehouse.execute(load.drop_statements())
        except SinkError as exc:  # the load's own error matters more; the table is named
            log.warning("could not drop staging table %s: %s", load.staging_table, exc)
    return {
        "target": load.target,
        "run_date": load.run_date.isoformat(),
        "staged_uri": load.staged_uri,
        "rows_staged": staged,
    }
