"""Scoring: the per-batch predict function, and the Spark UDF's parity with Booster.predict."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import schema as S
from txcat.config import load_config
from txcat.features.aggregates import AGGREGATE_FEATURES, with_partition_aggregates
from txcat.model import ModelArtifact, sha256_hex
from txcat.score import TOP_K, predict_frame, predict_top, with_predictions

FEATURES = ("f0", "f1", "f2", "f3")
CATEGORIES = ("A", "B", "C", "D")
MC_COUNTRY = load_config(
    "local", overrides=["monitoring.categorical_columns=[merchant_country]"]
).monitoring


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES))).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0.5).astype(int)
    x[rng.random(x.shape) < 0.1] = np.nan
    data = xgb.DMatrix(x, label=y, feature_names=list(FEATURES))
    params = {"objective": "multi:softprob", "num_class": 4, "max_depth": 3, "nthread": 1}
    return xgb.train(params, data, num_boost_round=10)


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=list(FEATURES))
    frame.iloc[::7, 2] = np.nan
    return frame


def test_predict_frame_returns_top_category_and_sorted_top3(booster):
    features = _rows(50, 1)
    out = predict_frame(booster, features, CATEGORIES)
    expected = booster.predict(
        xgb.DMatrix(features.to_numpy(np.float32), feature_names=list(FEATURES))
    )
    assert list(out[S.PREDICTED_CATEGORY]) == [CATEGORIES[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose(out[S.PREDICTED_PROBABILITY], expected.max(axis=1), rtol=1e-6)
    for cats, probs, row in zip(
        out["top_categories"], out["top_probabilities"], expected, strict=True
    ):
        assert len(cats) == 3 and probs == sorted(probs, reverse=True)
        np.testing.assert_allclose(probs, np.sort(row)[::-1][:3], rtol=1e-6)
        assert cats[0] == CATEGORIES[int(row.argmax())]


class _FixedProbabilities:
    """A predictor answering the same probabilities for every row (ties on purpose)."""

    engine = "fixed"
    booster = None

    def __init__(self, row: list[float]) -> None:
        self.row = np.asarray(row)

    def proba(self, matrix: np.ndarray) -> np.ndarray:
        return np.tile(self.row, (len(matrix), 1))


def test_predict_top_returns_flat_numeric_columns_best_first_ties_in_category_order():
    scorer = _FixedProbabilities([0.1, 0.3, 0.3, 0.3])
    out = predict_top(scorer, _rows(5, 3))
    assert list(out.columns) == [f"top_class_{i}" for i in range(TOP_K)] + [
        f"top_probability_{i}" for i in range(TOP_K)
    ]
    assert all(out[f"top_class_{i}"].dtype == np.int32 for i in range(TOP_K))
    assert all(out[f"top_probability_{i}"].dtype == np.float64 for i in range(TOP_K))
    # Three classes tie: the categories' order decides, as in the real-time API's answer.
    assert out.iloc[0][[f"top_class_{i}" for i in range(TOP_K)]].tolist() == [1, 2, 3]
    frame = predict_frame(scorer, _rows(5, 3), CATEGORIES)
    assert frame["top_categories"].tolist() == [["B", "C", "D"]] * 5


def test_a_model_of_fewer_classes_than_the_top_k_is_refused_clearly():
    with pytest.raises(ValueError, match="a model of 2 classes has no top 3"):
        predict_top(_FixedProbabilities([0.4, 0.6]), _rows(3, 5))


def test_predict_frame_is_predict_top_with_the_categories_names(booster):
    features = _rows(200, 4)
    top = predict_top(booster, features)
    frame = predict_frame(booster, features, CATEGORIES)
    for i in range(TOP_K):
        names = [cats[i] for cats in frame["top_categories"]]
        assert names == [CATEGORIES[c] for c in top[f"top_class_{i}"]]
        np.testing.assert_array_equal(
            [p[i] for p in frame["top_probabilities"]], top[f"top_probability_{i}"]
        )
    assert frame[S.PREDICTED_CATEGORY].tolist() == [CATEGORIES[c] for c in top["top_class_0"]]


def test_predict_frame_treats_nulls_as_missing(booster):
    features = pd.DataFrame({c: [None, 1.0] for c in FEATURES}, dtype="float64")
    out = predict_frame(booster, features, CATEGORIES)
    assert len(out) == 2 and out[S.PREDICTED_PROBABILITY].between(0, 1).all()


def test_spark_udf_matches_booster_predict(spark, booster):
    model_bytes = bytes(booster.save_raw(raw_format="ubj"))
    artifact = ModelArtifact("v-test", sha256_hex(model_bytes), FEATURES, CATEGORIES, model_bytes)
    frame = _rows(3000, 2)
    frame["row"] = range(len(frame))
    schema = T.StructType(
        [T.StructField(c, T.DoubleType()) for c in FEATURES] + [T.StructField("row", T.LongType())]
    )
    df = spark.createDataFrame(frame, schema).repartition(3)
    scored = with_predictions(df, spark, artifact).toPandas().sort_values("row")
    expected = booster.predict(
        xgb.DMatrix(frame[list(FEATURES)].to_numpy(np.float32), feature_names=list(FEATURES))
    )
    np.testing.assert_allclose(scored[S.PREDICTED_PROBABILITY], expected.max(axis=1), rtol=1e-6)
    assert list(scored[S.PREDICTED_CATEGORY]) == [CATEGORIES[i] for i in expected.argmax(axis=1)]
    top3 = scored[S.TOP3].tolist()
    for entry, row in zip(top3, expected, strict=True):
        np.testing.assert_allclose(
            [p["probability"] for p in entry], np.sort(row)[::-1][:3], rtol=1e-6
        )
    assert set(scored[S.MODEL_VERSION]) == {"v-test"}


def test_udf_runs_once_per_row(spark, booster):
    model_bytes = bytes(booster.save_raw(raw_format="ubj"))
    artifact = ModelArtifact("v", sha256_hex(model_bytes), FEATURES, CATEGORIES, model_bytes)
    df = spark.createDataFrame([(1.0, 2.0, 3.0, 4.0)], list(FEATURES))
    plan = with_predictions(df, spark, artifact)._jdf.queryExecution().executedPlan().toString()
    assert plan.count("ArrowEvalPython") == 1


def test_predict_frame_explains_the_predicted_category_with_approximate_contributions(booster):
    features = _rows(40, 3)
    out = predict_frame(booster, features, CATEGORIES, explain=True)
    approx = booster.predict(
        xgb.DMatrix(features.to_numpy(np.float32), feature_names=list(FEATURES)),
        pred_contribs=True,
        approx_contribs=True,
    )
    for row, (category, explanation) in enumerate(
        zip(out[S.PREDICTED_CATEGORY], out[S.EXPLANATION], strict=True)
    ):
        values = approx[row, CATEGORIES.index(category), :-1]
        best = np.argsort(-np.abs(values), kind="stable")[:4]
        assert [e["feature"] for e in explanation] == [FEATURES[j] for j in best]
        np.testing.assert_allclose([e["contribution"] for e in explanation], values[best])
    assert S.EXPLANATION not in predict_frame(booster, features, CATEGORIES).columns


def test_the_prediction_schema_holds_the_explanation_only_when_asked():
    assert S.prediction_schema(False) == S.PREDICTION_SCHEMA
    explained = S.prediction_schema(True)
    assert explained.names[-2:] == [S.EXPLANATION, S.RUN_DATE]
    assert explained.names[:-2] == S.PREDICTION_SCHEMA.names[:-1]


def test_spark_udf_explanations_match_predict_frame(spark, booster):
    model_bytes = bytes(booster.save_raw(raw_format="ubj"))
    artifact = ModelArtifact("v", sha256_hex(model_bytes), FEATURES, CATEGORIES, model_bytes)
    frame = _rows(50, 4)
    frame["row"] = range(len(frame))
    schema = T.StructType(
        [T.StructField(c, T.DoubleType()) for c in FEATURES] + [T.StructField("row", T.LongType())]
    )
    df = spark.createDataFrame(frame, schema)
    scored = with_predictions(df, spark, artifact, explain=True).toPandas().sort_values("row")
    expected = predict_frame(booster, frame[list(FEATURES)], CATEGORIES, explain=True)
    for got, want in zip(scored[S.EXPLANATION], expected[S.EXPLANATION], strict=True):
        assert [e["feature"] for e in got] == [e["feature"] for e in want]
        np.testing.assert_allclose(
            [e["contribution"] for e in got], [e["contribution"] for e in want], rtol=1e-6
        )
    assert S.EXPLANATION not in with_predictions(df, spark, artifact).columns


def test_a_tap_sees_every_scored_row_and_the_predictions_do_not_change(spark, booster):
    """The day's feature histogram is counted by the scoring UDF: every row once, with the
    categorical column passed in beside the features, and the same predictions as without."""
    from txcat.monitor import profile as P

    model_bytes = bytes(booster.save_raw(raw_format="ubj"))
    artifact = ModelArtifact("v", sha256_hex(model_bytes), FEATURES, CATEGORIES, model_bytes)
    frame = _rows(2000, 3)
    frame["row"] = range(len(frame))
    frame[S.MERCHANT_COUNTRY] = ["BR", "US", None, "BR"] * 500
    df = spark.createDataFrame(frame).repartition(4)
    edges = {c: [-1.0, 0.0, 0.5] for c in FEATURES}
    profile = {"features": {"numeric": {c: {"edges": e} for c, e in edges.items()}}}
    tap = P.BatchHistogram.start(spark, profile, MC_COUNTRY)
    tapped = with_predictions(df, spark, artifact, tap=tap).toPandas()  # one action: one pass
    assert tap.rows == len(frame)
    assert tap.document() == {"format_version": P.FORMAT_VERSION, "file_share": 1.0} | (
        P.histograms(df, edges, [S.MERCHANT_COUNTRY])
    )
    plain = with_predictions(df, spark, artifact).toPandas()
    pd.testing.assert_frame_equal(
        tapped.sort_values("row", ignore_index=True), plain.sort_values("row", ignore_index=True)
    )
    assert S.MERCHANT_COUNTRY in tapped.columns  # the input columns are kept as they were


# --- The per-file aggregates computed by the scorer --------------------------------------------

AGG_FEATURES = ("f0", *AGGREGATE_FEATURES)


@pytest.fixture(scope="module")
def aggregate_artifact() -> ModelArtifact:
    """A model reading one plain feature and every per-file aggregate."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, len(AGG_FEATURES))).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0).astype(int)
    data = xgb.DMatrix(x, label=y, feature_names=list(AGG_FEATURES))
    params = {"objective": "multi:softprob", "num_class": 4, "max_depth": 3, "nthread": 1}
    booster = xgb.train(params, data, num_boost_round=8)
    model_bytes = bytes(booster.save_raw(raw_format="ubj"))
    return ModelArtifact("v-agg", sha256_hex(model_bytes), AGG_FEATURES, CATEGORIES, model_bytes)


def _row(rng: np.random.Generator, f: int, line: int) -> tuple[object, ...]:
    return (
        f"s3://bank/day/{f:04d}.csv",
        line,
        f"{f}-{line}",
        None if rng.random() < 0.1 else float(np.round(rng.gamma(2.0, 40.0), 2)),
        None if rng.random() < 0.05 else dt.date(2026, 11, int(rng.integers(1, 25))),
        [None, "BR", "US"][int(rng.integers(0, 3))],
        [None, "SAO PAULO", "RIO", "LIMA"][int(rng.integers(0, 4))],
        float(rng.normal()),
    )


def _files(spark, files: int, seed: int):
    """Rows of `files` files, each file's rows consecutive in one of two partitions, as the
    reader leaves them; amounts, dates, cities and countries with nulls and repeats."""
    rng = np.random.default_rng(seed)
    schema = (
        f"{S.SOURCE_FILE} string, {S.LINE_NUMBER} int, {S.ROW_ID} string, {S.AMOUNT} double, "
        f"{S.TRANSACTION_DATE} date, {S.MERCHANT_COUNTRY} string, {S.MERCHANT_CITY} string, "
        "f0 double"
    )
    halves = [
        [
            _row(rng, f, line)
            for f in files_of_half
            for line in range(1, int(rng.integers(1, 40)) + 1)
        ]
        for files_of_half in (range(files // 2), range(files // 2, files))
    ]
    first, second = (spark.createDataFrame(h, schema).coalesce(1) for h in halves)
    return first.union(second)


def test_the_scorer_s_own_aggregates_give_the_aggregates_stage_s_predictions(
    spark, aggregate_artifact
):
    """Aggregates computed inside the scoring pass: the same predictions, to the last bit, as
    the `partition` stage's columns scored by the pandas UDF; the rows keep their own columns,
    not the features."""
    rows = _files(spark, 60, 1)
    stage = with_predictions(
        with_partition_aggregates(rows), spark, aggregate_artifact, explain=True
    ).toPandas()
    keep = [S.ROW_ID, S.SOURCE_FILE, S.AMOUNT]
    fused = with_predictions(
        rows, spark, aggregate_artifact, explain=True, aggregates_in_scorer=True, keep=keep
    )
    assert fused.columns == [
        *keep,
        S.PREDICTED_CATEGORY,
        S.PREDICTED_PROBABILITY,
        S.TOP3,
        S.MODEL_VERSION,
        S.EXPLANATION,
    ]
    got = fused.toPandas()
    both = got.merge(stage, on=S.ROW_ID, suffixes=("", "_stage"), validate="one_to_one")
    assert len(both) == len(got) == rows.count() > 500
    for column in (S.PREDICTED_CATEGORY, S.PREDICTED_PROBABILITY):
        assert both[column].tolist() == both[f"{column}_stage"].tolist(), column
    for column in (S.TOP3, S.EXPLANATION):  # arrays of structs: compared by their full repr
        assert [repr(list(v)) for v in both[column]] == [
            repr(list(v)) for v in both[f"{column}_stage"]
        ], column
    assert (both[S.AMOUNT].isna() == both[f"{S.AMOUNT}_stage"].isna()).all()
    # Without `keep`: every column that is not a model input comes back.
    assert with_predictions(rows, spark, aggregate_artifact, aggregates_in_scorer=True).columns[
        :7
    ] == [
        S.SOURCE_FILE,
        S.LINE_NUMBER,
        S.ROW_ID,
        S.AMOUNT,
        S.TRANSACTION_DATE,
        S.MERCHANT_COUNTRY,
        S.MERCHANT_CITY,
    ]


def test_the_scorer_s_own_aggregates_feed_the_tap_every_row_once(spark, aggregate_artifact):
    from txcat.monitor import profile as P

    rows = _files(spark, 30, 2)
    edges = {c: [0.0, 1.0, 5.0] for c in AGG_FEATURES}
    profile = {"features": {"numeric": {c: {"edges": e} for c, e in edges.items()}}}
    tap = P.BatchHistogram.start(spark, profile, MC_COUNTRY)
    with_predictions(
        rows, spark, aggregate_artifact, tap=tap, aggregates_in_scorer=True
    ).write.format("noop").mode("overwrite").save()
    assert tap.rows == rows.count()
    expected = P.histograms(with_partition_aggregates(rows), edges, [S.MERCHANT_COUNTRY])
    assert tap.document() == {"format_version": P.FORMAT_VERSION, "file_share": 1.0} | expected


def test_rows_of_a_file_found_apart_fail_the_scorer_rather_than_mis_aggregate(
    spark, aggregate_artifact
):
    rows = _files(spark, 20, 3)
    again = rows.where(F.col(S.LINE_NUMBER) == 1).withColumn(S.ROW_ID, F.lit("x"))
    apart = rows.union(again).coalesce(1)  # each file's first row again, after every file
    with pytest.raises(Exception, match="SplitFileError"):
        with_predictions(apart, spark, aggregate_artifact, aggregates_in_scorer=True).collect()
