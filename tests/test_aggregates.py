"""The two per-file aggregate implementations: identical values, and no shuffle for `partition`."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from tests.helpers import bank_file, bank_row, local_config, write_file
from txcat import schema as S
from txcat import sources
from txcat.features.aggregates import (
    AGGREGATE_FEATURES,
    PARTITION,
    WINDOW,
    SplitFileError,
    aggregate_batches,
    file_aggregates,
    with_file_aggregates,
)
from txcat.generate import generate

#: Generated days through Spark, both aggregate methods: left out of `make test-fast`.
pytestmark = pytest.mark.slow

RUN_DATE = dt.date(2026, 11, 25)


@pytest.fixture(scope="module")
def scorable(spark, tmp_path_factory):
    """Scorable rows of generated accounts plus hand-made edge cases, straight from the reader."""
    root = tmp_path_factory.mktemp("aggregates")
    generate(
        root / "landing",
        60,
        "2026-09-01",
        RUN_DATE,
        seed=3,
        labels=False,
        bad_share=0.3,
        reference_out=root / "reference",
        rows_per_account=25,
    )
    edge = {
        "single.csv": [bank_row(date="3.11.2026")],
        "no_amounts.csv": [bank_row(amount=" -   "), bank_row(amount=" -   ", date="4.11.2026")],
        "ties.csv": [
            bank_row(amount="10,00", merchant_city="A"),
            bank_row(amount="10,00", merchant_city="A"),
            bank_row(amount="-5,5", merchant_city="", date="1.11.2026"),
            bank_row(amount=" -   ", merchant_city="", date="1.11.2026"),
            bank_row(amount="1.784,13", merchant_city="B", date="8.11.2026"),
            bank_row(amount="0,00", country="US", date="1.11.2026"),
        ],
    }
    for name, rows in edge.items():
        write_file(root / "landing" / "edge", name, bank_file(rows))
    cfg = local_config(root / "reference")
    return sources.prepare(
        spark, cfg, sources.Source.folder(str(root / "landing")), RUN_DATE
    ).scorable


def _both(spark, scorable):
    # Small Arrow batches, so that files straddle batch boundaries inside a partition.
    previous = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
    try:
        window = with_file_aggregates(scorable, WINDOW).select(
            S.ROW_ID, *[F.col(c).alias(f"w_{c}") for c in AGGREGATE_FEATURES]
        )
        partition = with_file_aggregates(scorable, PARTITION)
        joined = window.join(partition, S.ROW_ID, "full_outer").cache()
        joined.count()
        return joined, partition
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", previous)


def test_partition_aggregates_equal_window_aggregates_exactly(spark, scorable):
    joined, _ = _both(spark, scorable)
    differing = joined.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col(f"w_{AGGREGATE_FEATURES[0]}").isNull().cast("int")).alias("only_partition"),
        F.sum(F.col(AGGREGATE_FEATURES[0]).isNull().cast("int")).alias("only_window"),
        *[
            F.sum((~F.col(f"w_{c}").eqNullSafe(F.col(c))).cast("int")).alias(c)
            for c in AGGREGATE_FEATURES
        ],
    ).first()
    assert differing["rows"] == scorable.count() > 1000
    assert differing.asDict() == {
        "rows": differing["rows"],
        "only_partition": 0,
        "only_window": 0,
        **dict.fromkeys(AGGREGATE_FEATURES, 0),
    }
    # The edge cases did reach both: nulls and ties are compared, not skipped.
    edge = joined.where(F.col(S.ROW_ID).isNotNull()).where(
        F.col("w_file_amount_std").isNull() & F.col("w_file_row_count").isNotNull()
    )
    assert edge.count() >= 3


def test_partition_aggregates_plan_no_shuffle(spark, scorable):
    def exchanges(df):
        return df._jdf.queryExecution().executedPlan().toString().count("Exchange")

    assert exchanges(with_file_aggregates(scorable, PARTITION)) == 0
    assert exchanges(with_file_aggregates(scorable, WINDOW)) >= 1


def _table(rows):
    """rows: (file, line, day, amount, city, country)."""
    files, lines, days, amounts, cities, countries = zip(*rows, strict=True)
    return pa.table(
        {
            S.SOURCE_FILE: pa.array(files),
            S.LINE_NUMBER: pa.array(lines, pa.int32()),
            S.TRANSACTION_DATE: pa.array(days, pa.date32()),
            S.AMOUNT: pa.array(amounts, pa.float64()),
            S.MERCHANT_CITY: pa.array(cities, pa.string()),
            S.MERCHANT_COUNTRY: pa.array(countries, pa.string()),
        }
    )


D = dt.date
ROWS = [
    ("a.csv", 2, D(2020, 1, 1), 10.0, "X", "BR"),
    ("a.csv", 3, D(2020, 1, 1), 20.0, "X", "US"),
    ("a.csv", 4, D(2020, 1, 5), 30.0, "Y", "BR"),
    ("a.csv", 5, D(2020, 1, 6), None, None, None),
    ("b.csv", 2, D(2020, 1, 9), 5.0, "X", "BR"),
    ("c.csv", 2, D(2020, 1, 9), 1.0, None, "BR"),
    ("c.csv", 3, D(2020, 1, 8), 3.0, None, "AR"),
]


def test_file_aggregates_values():
    out = {k: v.to_pylist() for k, v in file_aggregates(_table(ROWS)).items()}
    assert out["file_row_count"] == [4.0] * 4 + [1.0] + [2.0] * 2
    assert out["file_amount_mean"] == [20.0] * 4 + [5.0] + [2.0] * 2
    assert out["file_amount_std"][:5] == [10.0] * 4 + [None]
    assert out["file_amount_std"][5] == pytest.approx(2**0.5)
    assert out["file_amount_median"] == [20.0] * 4 + [5.0] + [2.0] * 2
    assert out["amount_zscore"][:5] == [-1.0, 0.0, 1.0, None, None]
    assert out["amount_percentile"] == [0.0, 0.5, 1.0, None, 0.5, 0.0, 1.0]
    assert out["file_foreign_share"] == [0.25] * 4 + [0.0] + [0.5] * 2
    assert out["merchant_city_count_in_file"] == [2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    assert out["days_since_previous"] == [None, 0.0, 4.0, 1.0, None, 1.0, None]
    assert out["transactions_same_day"] == [2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_files_straddling_batches_are_aggregated_whole(size):
    table = _table(ROWS)
    whole = pa.Table.from_batches(list(aggregate_batches(iter(table.to_batches()))))
    pieces = pa.Table.from_batches(
        list(aggregate_batches(iter(table.to_batches(max_chunksize=size))))
    )
    assert pieces.num_rows == table.num_rows
    assert pieces.equals(whole)


def test_rows_of_a_file_found_apart_raise():
    interleaved = [ROWS[0], ROWS[4], ROWS[1]]
    with pytest.raises(SplitFileError, match="not consecutive"):
        file_aggregates(_table(interleaved))
    # Apart across batches of one partition too.
    batches = _table(interleaved).to_batches(max_chunksize=1)
    with pytest.raises(SplitFileError):
        list(aggregate_batches(iter(batches)))


def test_shuffled_input_fails_the_task_instead_of_giving_wrong_values(spark, scorable):
    shuffled = scorable.orderBy(S.ROW_ID).coalesce(1)
    with pytest.raises(Exception, match="not consecutive"):
        with_file_aggregates(shuffled, PARTITION).write.format("noop").mode("overwrite").save()
