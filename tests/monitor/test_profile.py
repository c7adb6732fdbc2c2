"""Fixed-bin histograms in Spark: bins as numpy's searchsorted, categories, file samples."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from txcat import schema as S
from txcat.config import load_config
from txcat.model import ModelArtifact
from txcat.monitor import profile as P

MC = load_config("local").monitoring


def test_histograms_bin_like_searchsorted_and_count_missing(spark) -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=400).round(2)
    rows = [
        (None if i % 40 == 0 else float(v), ["BR", "US", None][i % 3]) for i, v in enumerate(values)
    ]
    frame = spark.createDataFrame(rows, "x double, merchant_country string")
    edges = P.quantile_edges(frame, ["x"], 4)
    assert len(edges["x"]) == 3
    counted = P.histograms(frame, edges, ["merchant_country"])
    present = np.array([r[0] for r in rows if r[0] is not None])
    expected = np.bincount(np.searchsorted(edges["x"], present, side="left"), minlength=4)
    assert counted["numeric"]["x"]["counts"] == expected.tolist()
    assert counted["numeric"]["x"]["missing"] == 10
    assert counted["rows"] == 400
    countries = counted["categorical"]["merchant_country"]
    assert countries == {"counts": {"BR": 134, "US": 133}, "missing": 133}


def test_keep_top_sums_the_rest_as_other() -> None:
    kept = P.keep_top({"c": {"counts": {"a": 5, "b": 3, "c": 1, "d": 1}, "missing": 2}}, 2)
    assert kept == {
        "c": {"counts": {"a": 5, "b": 3, P.OTHER: 2}, "missing": 2, "seen": ["a", "b", "c", "d"]}
    }


def test_prediction_profile_mix_and_confidence() -> None:
    proba = np.array([[0.7, 0.3], [0.2, 0.8], [0.55, 0.45], [0.1, 0.9]])
    found = P.prediction_profile(proba, ["A", "B"], 0.6)
    assert found["mix"] == {"A": 2, "B": 2}
    assert found["mean_top_probability"] == pytest.approx(0.7375)
    assert found["low_confidence_share"] == 0.25
    assert sum(found["confidence_counts"]) == 4
    # 0.55 lies in (0.5, 0.55]: bin 10 of the 20 equal-width bins.
    assert found["confidence_counts"][10] == 1


def test_whole_files_keeps_every_row_of_the_chosen_files(spark) -> None:
    rows = [(f"f{i % 50}.csv", i) for i in range(1000)]
    frame = spark.createDataFrame(rows, f"{S.SOURCE_FILE} string, n int")
    kept = P.whole_files(frame, 0.3).groupBy(S.SOURCE_FILE).count().collect()
    assert 5 <= len(kept) <= 25
    assert {r["count"] for r in kept} == {20}
    assert P.whole_files(frame, 1.0) is frame


def test_sample_share_covers_small_days_whole() -> None:
    assert P.sample_share(MC, 1000) == 1.0
    assert P.sample_share(MC, 10 * MC.feature_sample_min_rows) == pytest.approx(
        max(MC.feature_sample_share, 0.1)
    )


def test_count_batch_bins_and_counts_as_the_spark_aggregation(spark) -> None:
    """The scoring UDF's numpy counts equal the Spark aggregation's on the same rows: values
    on an edge, nulls and NaN, integers, booleans and missing categories included."""
    rng = np.random.default_rng(8)
    n = 600
    x = rng.normal(size=n).round(1)
    x[::50] = 0.5  # on an edge
    rows = [
        (
            None if i % 31 == 0 else float("nan") if i % 37 == 0 else float(x[i]),
            int(rng.integers(0, 5)),
            bool(i % 3),
            ["BR", "US", None, "AR"][i % 4],
            None if i % 5 == 0 else bool(i % 2),
        )
        for i in range(n)
    ]
    frame = spark.createDataFrame(
        rows, "x double, k int, flag boolean, merchant_country string, sex boolean"
    )
    edges = {"x": [-1.0, 0.0, 0.5, 1.5], "k": [1.0, 3.0], "flag": [0.0]}
    categorical = ["merchant_country", "sex"]
    batch = frame.toPandas()
    assert P.count_batch(batch, edges, categorical) == P.histograms(frame, edges, categorical)
    halves = [P.count_batch(batch.iloc[:250], edges, categorical)]
    halves.append(P.count_batch(batch.iloc[250:], edges, categorical))
    merged = P.merge_histograms(P.empty_histogram(edges, categorical), halves[0])
    assert P.merge_histograms(merged, halves[1]) == P.histograms(frame, edges, categorical)


def test_count_batch_bins_missing_infinite_values_and_nan_edges_as_spark_does(spark) -> None:
    """NaN, null and infinite values, edges that are NaN themselves (a training column holding
    NaN), a column with no edge and one with more edges than are compared one by one: the numpy
    counts still equal the Spark aggregation's."""
    values = [None, float("nan"), float("inf"), float("-inf"), 9.0, 0.0, -2.0, float("nan"), 3.0]
    rows = [(v, v, v, None if v is None else 1.0) for v in values]
    frame = spark.createDataFrame(rows, "x double, y double, z double, w double")
    many = [float(e) for e in range(-20, 21)]  # more edges than compared one by one
    edges = {
        "x": [-1.0, 0.0, 5.0],
        "y": [0.0, float("nan")],
        "z": [],
        "w": [0.5],
        "x_many": many,
        "y_many": [*many, float("nan")],
    }
    frame = frame.withColumn("x_many", frame["x"]).withColumn("y_many", frame["y"])
    counted = P.count_batch(frame.toPandas(), edges, ())
    assert counted == P.histograms(frame, edges, ())
    expected_x = {"edges": [-1.0, 0.0, 5.0], "counts": [2, 1, 1, 2], "missing": 3}
    assert counted["numeric"]["x"] == expected_x


def test_counts_the_udf_gathered_twice_are_not_written_but_recounted(spark, tmp_path) -> None:
    """A stage re-run can add a task's batches twice: the job then counts the rows again."""
    cfg = load_config("local", overrides=["monitoring.categorical_columns=[]"])
    profile = {"format_version": P.FORMAT_VERSION, "features": {"numeric": {"x": {"edges": [0.0]}}}}
    rows = [(float(v), f"f{v % 2}.csv") for v in range(-5, 5)]
    frame = spark.createDataFrame(rows, f"x double, {S.SOURCE_FILE} string")
    counted = P.BatchHistogram.start(spark, profile, cfg.monitoring)
    for _ in range(2):  # the same batch twice
        counted.accumulator.add(P.count_batch(frame.toPandas(), counted.edges, ()))
    assert counted.rows == 20
    artifact = ModelArtifact("v", "sha", ("x",), ("A",), b"", profile=P.to_bytes(profile))

    def written(rows_scored: int) -> dict:
        path = P.write_day_histogram(
            spark, cfg, artifact, frame, lambda df: df, str(tmp_path), dt.date(2026, 1, 2), 10,
            counted=counted, rows_scored=rows_scored,
        )  # fmt: skip
        assert path is not None
        return json.loads(Path(path).read_text())

    recounted = written(10)
    assert recounted["rows"] == 10 and recounted["numeric"]["x"]["counts"] == [6, 4]
    assert written(20)["numeric"]["x"]["counts"] == [12, 8]  # they matched: written as counted
