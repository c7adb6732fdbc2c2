"""The warehouse load's SQL, identifiers, sink names and the flattened rows."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from txcat import schema as S
from txcat.sinks.names import parse_sinks
from txcat.sinks.redshift import (
    COLUMN_NAMES,
    DayLoad,
    SinkError,
    iam_role,
    identifier,
    load_day,
    s3_prefix,
    to_redshift_rows,
)

DAY = dt.date(2026, 11, 25)


def _load(**kw) -> DayLoad:
    args = {
        "schema": "txcat",
        "table": "predictions",
        "run_date": DAY,
        "run_id": "20261125-ab",
        "staged_uri": "s3://bucket/out/_staging/redshift/2026-11-25",
    }
    return DayLoad(**{**args, **kw})


@pytest.mark.parametrize("name", ["Predictions", "p; drop table x", "1abc", "a-b", "", "a" * 128])
def test_bad_identifiers_are_refused(name):
    with pytest.raises(SinkError, match="not a valid identifier"):
        identifier(name)
    with pytest.raises(SinkError):
        _ = _load(table=name).target


def test_iam_role_and_s3_prefix_are_validated():
    assert iam_role("arn:aws:iam::123456789012:role/txcat-copy") == (
        "arn:aws:iam::123456789012:role/txcat-copy"
    )
    with pytest.raises(SinkError):
        iam_role("arn:aws:iam::123:role/x' --")
    assert s3_prefix("s3://bucket/out/day") == "s3://bucket/out/day/"
    for bad in ("s3://bucket/it's", "file:/tmp/x", "s3a://bucket/x"):
        with pytest.raises(SinkError):
            s3_prefix(bad)


def test_swap_deletes_the_day_and_inserts_the_staged_rows():
    load = _load()
    delete, insert = load.swap_statements()
    assert delete == "DELETE FROM txcat.predictions WHERE run_date = DATE '2026-11-25'"
    assert insert.startswith("INSERT INTO txcat.predictions (row_id, account_id, ")
    assert insert.endswith(
        "FROM txcat.predictions_stage_20261125_ab WHERE run_date = DATE '2026-11-25'"
    )


def test_staging_table_name_is_safe_for_any_run_id():
    assert _load(run_id="Run 7/../x'").staging_table == "txcat.predictions_stage_run_7____x_"
    create = _load().create_statements()
    assert create[-2:] == [
        "DROP TABLE IF EXISTS txcat.predictions_stage_20261125_ab",
        "CREATE TABLE txcat.predictions_stage_20261125_ab (LIKE txcat.predictions)",
    ]
    assert "CREATE TABLE IF NOT EXISTS txcat.predictions" in create[1]
    assert not any(
        "IF NOT EXISTS txcat.predictions (" in s
        for s in _load(create_table=False).create_statements()
    )


class _Recorder:
    def __init__(self, fail_on: str | None = None):
        self.calls: list[tuple[str, object]] = []
        self.fail_on = fail_on

    def execute(self, statements):
        self.calls.append(("execute", list(statements)))
        if self.fail_on and any(s.startswith(self.fail_on) for s in statements):
            raise SinkError("boom")

    def load_staging(self, table, staged_uri, columns):
        self.calls.append(("load", (table, staged_uri, tuple(columns))))
        return 7


def test_load_day_runs_create_load_swap_drop_in_order():
    warehouse = _Recorder()
    report = load_day(warehouse, _load())
    kinds = [c[0] for c in warehouse.calls]
    assert kinds == ["execute", "load", "execute", "execute"]
    assert warehouse.calls[1][1] == (
        "txcat.predictions_stage_20261125_ab",
        _load().staged_uri,
        COLUMN_NAMES,
    )
    assert warehouse.calls[2][1] == _load().swap_statements()  # one call: one transaction
    assert warehouse.calls[3][1] == _load().drop_statements()
    assert report["rows_staged"] == 7


def test_load_day_drops_the_staging_table_when_the_swap_fails():
    warehouse = _Recorder(fail_on="DELETE")
    with pytest.raises(SinkError, match="boom"):
        load_day(warehouse, _load())
    assert warehouse.calls[-1] == ("execute", _load().drop_statements())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("parquet", ("parquet",)),
        ("redshift", ("redshift",)),
        ("redshift,parquet", ("parquet", "redshift")),
        (" Parquet , redshift", ("parquet", "redshift")),
        ("REDSHIFT", ("redshift",)),
    ],
)
def test_parse_sinks(value, expected):
    assert parse_sinks(value) == expected


@pytest.mark.parametrize("value", ["", "s3", "parquet,parquet", "parquet,", "parquet,s3"])
def test_parse_sinks_refuses(value):
    with pytest.raises(ValueError, match="sinks must be parquet, redshift or parquet,redshift"):
        parse_sinks(value)


def test_to_redshift_rows_flattens_the_top3(spark):
    scored_at = dt.datetime(2026, 11, 25, 6, 0)
    top3 = [("VAREJO", 0.7), ("SERVICO", 0.2), ("HOTEIS", 0.05)]
    row = (
        "r1",
        "a1",
        "s3://b/a1.csv",
        2,
        True,
        DAY,
        10.5,
        "VAREJO",
        0.7,
        top3,
        None,
        "m1",
        "0" * 64,
        "txcat-categoriser",
        "3",
        "champion",
        "run",
        scored_at,
        DAY,
    )
    predictions = spark.createDataFrame([row], S.PREDICTION_SCHEMA)
    expected = spark.createDataFrame(
        [
            (
                "r1",
                "a1",
                "s3://b/a1.csv",
                2,
                True,
                DAY,
                10.5,
                "VAREJO",
                0.7,
                "VAREJO",
                0.7,
                "SERVICO",
                0.2,
                "HOTEIS",
                0.05,
                None,
                "m1",
                "0" * 64,
                "txcat-categoriser",
                "3",
                "champion",
                "run",
                scored_at,
                DAY,
            )
        ],
        to_redshift_rows(predictions).schema,
    )
    result = to_redshift_rows(predictions)
    assert tuple(result.columns) == COLUMN_NAMES
    assert_df_equality(result, expected)
