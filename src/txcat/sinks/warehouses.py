"""The two warehouses behind `redshift.Warehouse`: the Redshift Data API, and PostgreSQL.

Only `load_staging` differs: Redshift COPYs the staged Parquet from S3 with an IAM role; the
PostgreSQL loader (tests, local runs) reads the same staged Parquet files and streams their rows
with `COPY FROM STDIN`. Statement lists run as one transaction in both.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from txcat.sinks.redshift import SinkError, iam_role, s3_prefix
from txcat.uris import split_s3_prefix

log = logging.getLogger(__name__)

#: Environment variables of the Redshift connection (never in files of the repository).
ENV_WORKGROUP = "TXCAT_REDSHIFT_WORKGROUP"
ENV_CLUSTER = "TXCAT_REDSHIFT_CLUSTER"
ENV_DATABASE = "TXCAT_REDSHIFT_DATABASE"
ENV_SECRET_ARN = "TXCAT_REDSHIFT_SECRET_ARN"
ENV_DB_USER = "TXCAT_REDSHIFT_DB_USER"
ENV_IAM_ROLE = "TXCAT_REDSHIFT_IAM_ROLE"
ENV_PG_DSN = "TXCAT_PG_DSN"

_DONE = "FINISHED"
_FAILED = ("FAILED", "ABORTED")


@dataclass(frozen=True)
class DataApiTarget:
    """Where Data API statements go: a serverless workgroup or a provisioned cluster."""

    database: str
    iam_role: str
    workgroup: str | None = None
    cluster: str | None = None
    secret_arn: str | None = None
    db_user: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> DataApiTarget:
        env = dict(os.environ if env is None else env)
        missing = [k for k in (ENV_DATABASE, ENV_IAM_ROLE) if not env.get(k)]
        if not env.get(ENV_WORKGROUP) and not env.get(ENV_CLUSTER):
            missing.append(f"{ENV_WORKGROUP} or {ENV_CLUSTER}")
        if missing:
            raise SinkError(f"Redshift connection not configured: set {', '.join(missing)}")
        return cls(
            database=env[ENV_DATABASE],
            iam_role=iam_role(env[ENV_IAM_ROLE]),
            workgroup=env.get(ENV_WORKGROUP) or None,
            cluster=env.get(ENV_CLUSTER) or None,
            secret_arn=env.get(ENV_SECRET_ARN) or None,
            db_user=env.get(ENV_DB_USER) or None,
        )

    def request(self) -> dict[str, str]:
        """The connection part of every Data API request."""
        args = {"Database": self.database}
        if self.workgroup:
            args["WorkgroupName"] = self.workgroup
        else:
            args["ClusterIdentifier"] = self.cluster  # type: ignore[assignment]
        if self.secret_arn:
            args["SecretArn"] = self.secret_arn
        elif self.db_user and not self.workgroup:
            args["DbUser"] = self.db_user
        return args


class DataApiWarehouse:
    """Redshift through the Data API: `BatchExecuteStatement` runs a list as one transaction."""

    def __init__(
        self,
        client: Any,
        target: DataApiTarget,
        poll_interval_s: float = 2.0,
        timeout_s: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        statement_name: str = "txcat",
    ) -> None:
        self.client = client
        self.target = target
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.sleep = sleep
        self.statement_name = statement_name

    def execute(self, statements: Sequence[str]) -> None:
        if not statements:
            return
        request = {
            **self.target.request(),
            "Sqls": list(statements),
            "StatementName": self.statement_name,
        }
        try:
            statement_id = self.client.batch_execute_statement(**request)["Id"]
        except Exception as exc:  # botocore ClientError and connection errors alike
            raise SinkError(f"Redshift Data API refused the statements: {exc}") from exc
        self.wait(statement_id)

    def wait(self, statement_id: str) -> dict[str, Any]:
        """Polls DescribeStatement until it finishes; cancels it and raises on timeout."""
        deadline = self.clock() + self.timeout_s
        while True:
            described = self.client.describe_statement(Id=statement_id)
            status = described["Status"]
            if status == _DONE:
                return described
            if status in _FAILED:
                raise SinkError(
                    f"Redshift statement {statement_id} {status.lower()}: "
                    f"{described.get('Error', 'no error message')}"
                )
            if self.clock() >= deadline:
                try:
                    self.client.cancel_statement(Id=statement_id)
                finally:
                    raise SinkError(
                        f"Redshift statement {statement_id} still {status} after "
                        f"{self.timeout_s:.0f} s: cancelled"
                    )
            self.sleep(self.poll_interval_s)

    def load_staging(self, table: str, staged_uri: str, columns: Sequence[str]) -> int | None:
        copy = (
            f"COPY {table} ({', '.join(columns)}) FROM '{s3_prefix(staged_uri)}' "
            f"IAM_ROLE '{self.target.iam_role}' FORMAT AS PARQUET"
        )
        self.execute([copy])
        return None


class PostgresWarehouse:
    """A PostgreSQL server through psycopg; the staged Parquet streamed with COPY FROM STDIN."""

    def __init__(self, dsn: str, s3_client_factory: Callable[[], Any] | None = None) -> None:
        self.dsn = dsn
        self._s3_client_factory = s3_client_factory

    @classmethod
    def from_env(cls, s3_client_factory: Callable[[], Any] | None = None) -> PostgresWarehouse:
        dsn = os.environ.get(ENV_PG_DSN)
        if not dsn:
            raise SinkError(f"PostgreSQL connection not configured: set {ENV_PG_DSN}")
        return cls(dsn, s3_client_factory)

    def _connect(self) -> Any:  # a psycopg connection (imported lazily)
        import psycopg

        try:
            return psycopg.connect(self.dsn)
        except psycopg.Error as exc:
            raise SinkError(f"cannot connect to PostgreSQL: {exc}") from exc

    def execute(self, statements: Sequence[str]) -> None:
        import psycopg

        with self._connect() as conn:
            try:
                with conn.transaction(), conn.cursor() as cur:
                    for statement in statements:
                        self._run_statement(cur, statement)
            except psycopg.Error as exc:
                raise SinkError(f"PostgreSQL rolled back: {exc}".strip()) from exc

    def _run_statement(self, cursor: Any, statement: str) -> None:
        """One statement of a transaction (a seam for failure-injection tests)."""
        cursor.execute(statement)

    def load_staging(self, table: str, staged_uri: str, columns: Sequence[str]) -> int | None:
        import psycopg

        loaded = 0
        with self._connect() as conn:
            try:
                with (
                    conn.transaction(),
                    conn.cursor() as cur,
                    cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
                ):
                    for part in self._parts(staged_uri):
                        rows = part.select(list(columns)).to_pylist()
                        for row in rows:
                            copy.write_row([row[c] for c in columns])
                        loaded += len(rows)
            except psycopg.Error as exc:
                raise SinkError(f"PostgreSQL staging load failed: {exc}") from exc
        log.info("staged %d rows into %s", loaded, table)
        return loaded

    def _parts(self, staged_uri: str) -> Iterator[Any]:
        """Every Parquet part file under the staged prefix, as Arrow tables."""
        location = split_s3_prefix(staged_uri)
        if location is None:
            root = Path(staged_uri.removeprefix("file:"))
            for path in sorted(root.rglob("*.parquet")):
                yield pq.read_table(path)
            return
        client = self._s3_client()
        bucket, prefix = location
        paginator = client.get_paginator("list_objects_v2")
        keys = [
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
            if obj["Key"].endswith(".parquet")
        ]
        for key in sorted(keys):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            yield pq.read_table(io.BytesIO(body))

    def _s3_client(self) -> Any:  # a boto3 S3 client (untyped)
        if self._s3_client_factory is not None:
            return self._s3_client_factory()
        import boto3

        return boto3.client("s3")
