"""The warehouse load against a real PostgreSQL server: one copy per day, atomic replacement."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from txcat import schema as S
from txcat.sinks.redshift import DayLoad, SinkError, load_day
from txcat.sinks.stage import stage
from txcat.sinks.warehouses import PostgresWarehouse

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 25)
TOP3 = [("VAREJO", 0.7), ("SERVICO", 0.2), ("HOTEIS", 0.05)]


def _predictions(spark, run_id, day=DAY, n=5, probability=0.7):
    rows = [
        (
            f"{run_id}-{i}",
            f"acc{i}",
            f"s3://b/acc{i}.csv",
            i + 2,
            i == n - 1,
            day,
            10.0 + i,
            "VAREJO",
            probability,
            [("VAREJO", probability), *TOP3[1:]],
            None,
            "m1",
            "0" * 64,
            "txcat-categoriser",
            "3",
            "champion",
            run_id,
            dt.datetime(2026, 11, 25, 6),
            day,
        )
        for i in range(n)
    ]
    return spark.createDataFrame(rows, S.PREDICTION_SCHEMA)


def _load(spark, tmp_path, warehouse, table, run_id, **kw) -> dict:
    day = kw.get("day", DAY)
    staged = str(tmp_path / f"staged-{run_id}")
    stage(_predictions(spark, run_id, **kw), staged)
    return load_day(warehouse, DayLoad("txcat", table, day, run_id, staged))


def _rows(dsn, table):
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f"SELECT run_date, run_id, count(*) FROM txcat.{table} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()


def _tables(dsn):
    with psycopg.connect(dsn) as conn:
        return {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'txcat'"
            )
        }


def test_rerun_replaces_the_day_and_keeps_other_days(spark, postgres, tmp_path):
    warehouse = PostgresWarehouse(postgres.dsn)
    _load(spark, tmp_path, warehouse, "rerun", "yesterday", day=DAY - dt.timedelta(days=1), n=3)
    report = _load(spark, tmp_path, warehouse, "rerun", "first", n=5)
    assert report["rows_staged"] == 5
    _load(spark, tmp_path, warehouse, "rerun", "second", n=4)
    assert _rows(postgres.dsn, "rerun") == [
        (DAY - dt.timedelta(days=1), "yesterday", 3),
        (DAY, "second", 4),
    ]
    assert _tables(postgres.dsn) >= {"rerun"}
    assert not any(t.startswith("rerun_stage_") for t in _tables(postgres.dsn))
    with psycopg.connect(postgres.dsn) as conn:
        repeated = conn.execute(
            f"SELECT line_number FROM txcat.rerun WHERE {S.IS_REPEATED_LINE} AND run_id = 'second'"
        ).fetchall()
    assert repeated == [(5,)]  # the last of the 4 rows (line i + 2) is flagged a repeat


def test_insert_failing_after_the_delete_leaves_the_previous_rows(spark, postgres, tmp_path):
    warehouse = PostgresWarehouse(postgres.dsn)
    _load(spark, tmp_path, warehouse, "atomic", "good", n=5)
    with psycopg.connect(postgres.dsn) as conn:  # the staging copy does not inherit CHECKs
        conn.execute(
            "ALTER TABLE txcat.atomic ADD CONSTRAINT p_max CHECK (predicted_probability <= 1)"
        )
    with pytest.raises(SinkError, match="p_max"):
        _load(spark, tmp_path, warehouse, "atomic", "bad", n=6, probability=1.5)
    assert _rows(postgres.dsn, "atomic") == [(DAY, "good", 5)]
    assert not any(t.startswith("atomic_stage_") for t in _tables(postgres.dsn))


class _FailsBetweenDeleteAndInsert(PostgresWarehouse):
    def __init__(self, dsn):
        super().__init__(dsn)
        self.deleted = False

    def _run_statement(self, cursor, statement):
        if statement.startswith("INSERT") and self.deleted:
            raise psycopg.OperationalError("connection lost between delete and insert")
        super()._run_statement(cursor, statement)
        self.deleted = self.deleted or statement.startswith("DELETE")


def test_crash_between_delete_and_insert_leaves_the_previous_rows(spark, postgres, tmp_path):
    _load(spark, tmp_path, PostgresWarehouse(postgres.dsn), "crash", "good", n=5)
    failing = _FailsBetweenDeleteAndInsert(postgres.dsn)
    with pytest.raises(SinkError, match="connection lost between delete and insert"):
        _load(spark, tmp_path, failing, "crash", "retry", n=2)
    assert failing.deleted  # the delete did run, inside the rolled-back transaction
    assert _rows(postgres.dsn, "crash") == [(DAY, "good", 5)]


def test_unreachable_server_is_a_sink_error():
    with pytest.raises(SinkError, match="cannot connect"):
        PostgresWarehouse("host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2").execute(
            ["SELECT 1"]
        )
