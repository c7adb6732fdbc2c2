"""The write stage: partitioned Parquet whose writes count what they write."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import schema as S
from txcat import write

DAY = dt.date(2026, 11, 25)
SCHEMA = T.StructType(
    [
        T.StructField("value", T.LongType()),
        T.StructField("flag", T.BooleanType()),
        T.StructField(S.RUN_DATE, T.DateType()),
    ]
)


def test_the_write_counts_the_rows_it_writes(spark, tmp_path):
    rows = [(i, i % 3 == 0, DAY) for i in range(10)] + [(99, None, dt.date(2026, 11, 24))]
    path = str(tmp_path / "dataset")
    counts = write.write_partitioned(
        spark.createDataFrame(rows, SCHEMA),
        path,
        SCHEMA,
        counts={"rows": F.count(F.lit(1)), "flagged": F.count(F.when(F.col("flag"), 1))},
    )
    assert counts == {"rows": 11, "flagged": 4}
    written = spark.read.parquet(path)
    assert written.count() == 11
    assert written.where(F.col("flag")).count() == 4


def test_an_empty_write_counts_zero_and_without_counts_returns_nothing(spark, tmp_path):
    frame = spark.createDataFrame([], SCHEMA)
    counted = write.write_partitioned(
        frame, str(tmp_path / "a"), SCHEMA, counts={"rows": F.count(F.lit(1))}
    )
    assert counted == {"rows": 0}
    assert write.write_partitioned(frame, str(tmp_path / "b"), SCHEMA) == {}
