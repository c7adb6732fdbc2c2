"""Score stage: an iterator of Arrow batches around the broadcast XGBoost booster.

An iterator pandas UDF scores featured rows; the daily job, with the `partition` aggregates,
scores by `mapInArrow` instead, computing the per-file aggregates in the same pass
(`with_predictions(aggregates_in_scorer=True)`). Either way the model bytes are broadcast once;
each Python worker task deserializes the booster once, behind the model's recorded engine
(`txcat.engine`), and reuses it for every Arrow batch.
`predict_top` (what the UDF returns: class indexes and probabilities) and `predict_frame` (the
same answer with the categories' names, as the real-time API returns it) are plain
pandas/numpy, so they are tested, and used, without Spark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import xgboost as xgb
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_type

from txcat import schema as S
from txcat.engine import Predictor, XGBoostPredictor, feature_matrix, predictor
from txcat.features.aggregates import AGGREGATE_FEATURES, AGGREGATE_INPUTS, aggregate_batches
from txcat.features.memory import (
    MEMORY_FEATURES,
    MEMORY_KEY_COLUMNS,
    MemoryIndex,
    ShippedMemory,
    broadcast_index,
)
from txcat.model import ModelArtifact, booster_from_bytes

TOP_K = 3
#: Contributions kept per prediction when `scoring.explain` is on.
EXPLAIN_TOP = 5
_SCORES = "_scores"
#: What the scoring UDF returns: the k best classes (indexes into the model's categories) and
#: their probabilities, as flat numeric columns. Arrow moves them without a Python object per
#: cell; the categories' names and the `top3` array are built by Spark (`with_predictions`).
TOP_CLASS = "top_class_"
TOP_PROBABILITY = "top_probability_"
SCORE_TYPE = T.StructType(
    [T.StructField(f"{TOP_CLASS}{i}", T.IntegerType()) for i in range(TOP_K)]
    + [T.StructField(f"{TOP_PROBABILITY}{i}", T.DoubleType()) for i in range(TOP_K)]
)
EXPLAINED_SCORE_TYPE = T.StructType(
    [*SCORE_TYPE.fields, T.StructField(S.EXPLANATION, S.EXPLANATION_TYPE)]
)


class BatchTap(Protocol):
    """Sees every Arrow batch the scoring UDF scores (e.g. `monitor.profile.BatchHistogram`).

    `columns` are the input columns it reads: the UDF passes them in beside the features.
    """

    @property
    def columns(self) -> tuple[str, ...]: ...

    def add(self, batch: pd.DataFrame) -> None: ...


def as_predictor(model: xgb.Booster | Predictor) -> Predictor:
    """A predictor: `model` itself, or a bare booster behind the XGBoost engine."""
    return XGBoostPredictor(model) if isinstance(model, xgb.Booster) else model


def predict_proba(model: xgb.Booster | Predictor, features: pd.DataFrame) -> np.ndarray:
    """Class probabilities, shape (rows, classes); nulls become NaN (XGBoost's missing)."""
    matrix = feature_matrix(features)
    proba = as_predictor(model).proba(matrix)
    return np.asarray(proba, dtype=np.float64).reshape(len(features), -1)


def predict_top(
    model: xgb.Booster | Predictor, features: pd.DataFrame, explain: bool = False
) -> pd.DataFrame:
    """The `TOP_K` most probable classes of each row, best first, as `SCORE_TYPE`'s columns:
    `top_class_<i>` (an index into the model's categories) and `top_probability_<i>`.

    Ties keep the categories' order (a stable sort). With `explain`, also `explanation`: the
    `EXPLAIN_TOP` largest approximate contributions (`approximate_contributions`) to the best
    class's margin, from the XGBoost booster whatever the engine.

    Raises:
        ValueError: the model predicts fewer than `TOP_K` classes.
    """
    scorer = as_predictor(model)
    proba = predict_proba(scorer, features)
    if proba.shape[1] < TOP_K:
        raise ValueError(f"a model of {proba.shape[1]} classes has no top {TOP_K}")
    top = np.argsort(-proba, axis=1, kind="stable")[:, :TOP_K]
    top_proba = np.take_along_axis(proba, top, axis=1)
    columns: dict[str, Any] = {f"{TOP_CLASS}{i}": top[:, i].astype(np.int32) for i in range(TOP_K)}
    columns |= {f"{TOP_PROBABILITY}{i}": top_proba[:, i] for i in range(TOP_K)}
    frame = pd.DataFrame(columns)
    if explain:
        frame[S.EXPLANATION] = approximate_contributions(scorer.booster, features, top[:, 0])
    return frame


def predict_frame(
    model: xgb.Booster | Predictor,
    features: pd.DataFrame,
    categories: Sequence[str],
    explain: bool = False,
) -> pd.DataFrame:
    """Top category, its probability, and the top 3 categories with probabilities (lists per
    row): `predict_top`'s answer with the categories' names, as the real-time API returns it.
    """
    top = predict_top(model, features, explain)
    labels = np.asarray(categories, dtype=object)
    classes = np.column_stack([top[f"{TOP_CLASS}{i}"].to_numpy() for i in range(TOP_K)])
    probabilities = np.column_stack([top[f"{TOP_PROBABILITY}{i}"].to_numpy() for i in range(TOP_K)])
    frame = pd.DataFrame(
        {
            S.PREDICTED_CATEGORY: labels[classes[:, 0]],
            S.PREDICTED_PROBABILITY: probabilities[:, 0],
            "top_categories": list(labels[classes].tolist()),
            "top_probabilities": list(probabilities.tolist()),
        }
    )
    if explain:
        frame[S.EXPLANATION] = top[S.EXPLANATION].to_numpy()
    return frame


def approximate_contributions(
    booster: xgb.Booster, features: pd.DataFrame, classes: np.ndarray
) -> list[list[dict[str, object]]]:
    """The largest contributions of each row's feature values to the margin of its class.

    XGBoost's approximate contributions (`approx_contribs=True`, Saabas: each split's change of
    the expected value along the row's path), far cheaper than the exact TreeSHAP values the
    real-time API returns; the two rank features alike on most rows but differ in value.
    """
    names = list(features.columns)
    matrix = feature_matrix(features)
    contribs = np.asarray(
        booster.predict(
            xgb.DMatrix(matrix, missing=np.nan, feature_names=names, nthread=1),
            pred_contribs=True,
            approx_contribs=True,
        )
    ).reshape(len(features), -1, len(names) + 1)
    own = contribs[np.arange(len(features)), classes.astype(np.int64), :-1]
    best = np.argsort(-np.abs(own), axis=1, kind="stable")[:, :EXPLAIN_TOP]
    values = np.take_along_axis(own, best, axis=1).tolist()
    labels = np.asarray(names, dtype=object)[best].tolist()
    out: list[list[dict[str, object]]] = [
        [{"feature": f, "contribution": c} for f, c in zip(fs, cs, strict=True)]
        for fs, cs in zip(labels, values, strict=True)
    ]
    return out


def with_memory_features(given: pd.DataFrame, index: MemoryIndex) -> pd.DataFrame:
    """`given` with its memory features (`MemoryIndex.features_of_keys`) as the last columns.

    Side by side, `given`'s columns not copied: less than half `DataFrame.assign`'s cost, which
    adds the 26 columns one by one.
    """
    looked_up = pd.DataFrame(index.features_of_keys(given), index=given.index)
    return pd.concat([given, looked_up], axis=1, copy=False)


def with_predictions(
    features: DataFrame,
    spark: SparkSession,
    artifact: ModelArtifact,
    nthread: int = 1,
    explain: bool = False,
    tap: BatchTap | None = None,
    memory: ShippedMemory | None = None,
    aggregates_in_scorer: bool = False,
    keep: Sequence[str] | None = None,
) -> DataFrame:
    """Adds predicted_category, predicted_probability, top3 and model_version; with `explain`
    (`scoring.explain`) also `explanation` (`approximate_contributions`). `tap` sees each batch
    (the features and its `columns`) before it is scored.

    `memory`: the model's label memory, looked up in this UDF (`MemoryIndex`, the JVM's
    logarithms): `features` then carries the memory's keys (`build_features` with
    `memory_in_scorer`) instead of the `mem_*` columns. The same features, without the lookup
    UDF's round trip between the JVM and Python.

    `aggregates_in_scorer`: `features` lacks the per-file aggregates (`build_features` with
    `aggregates_in_scorer`); the scorer computes them (`aggregates.aggregate_batches`, the
    `partition` method's own code) over each file's rows, consecutive in their partition as the
    reader leaves them, in the same Python pass that scores. One round trip of the rows between
    the JVM and Python instead of two. The rows come back with the columns of `keep` (default:
    every column that is not a model input) and the predictions, without the features.
    """
    model_bytes = spark.sparkContext.broadcast(artifact.model_bytes)
    engine = artifact.engine
    backoff = artifact.memory_backoff
    names = list(artifact.feature_names)
    memory_index = broadcast_index(spark, memory) if memory is not None else None
    computed: set[str] = set(AGGREGATE_FEATURES) if aggregates_in_scorer else set()
    if memory_index is not None:
        computed |= set(MEMORY_FEATURES)
    inputs = [c for c in names if c not in computed]
    if memory_index is not None:
        inputs += list(MEMORY_KEY_COLUMNS)
    extra = [c for c in tap.columns if c not in {*names, *inputs}] if tap is not None else []
    # Columns in another order than the model's, or more of them: the model's picked out.
    selected = bool(extra) or memory_index is not None or aggregates_in_scorer

    def scores_of(
        given: pd.DataFrame, scorer: Predictor, index: MemoryIndex | None
    ) -> pd.DataFrame:
        batch = given if index is None else with_memory_features(given, index)
        if tap is not None:
            tap.add(batch)
        return predict_top(scorer, batch[names] if selected else batch, explain)

    def scorer_and_index() -> tuple[Predictor, MemoryIndex | None]:
        scorer = predictor(booster_from_bytes(model_bytes.value, nthread), engine, nthread, backoff)
        return scorer, memory_index() if memory_index is not None else None

    if aggregates_in_scorer:
        return _scored_by_file(
            features, artifact, explain, inputs, extra, keep, scorer_and_index, scores_of
        )

    @F.pandas_udf(EXPLAINED_SCORE_TYPE if explain else SCORE_TYPE)  # type: ignore[call-overload]
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        scorer, index = scorer_and_index()
        for given in batches:
            yield scores_of(given, scorer, index)

    feature_struct = F.struct(*[F.col(c) for c in [*inputs, *extra]])
    scores = F.col(_SCORES)
    scored = _with_prediction_columns(
        features.withColumn(_SCORES, score(feature_struct)),
        lambda name: scores[name],
        artifact,
        explain,
    )
    return scored.drop(_SCORES)


def _scored_by_file(
    features: DataFrame,
    artifact: ModelArtifact,
    explain: bool,
    inputs: Sequence[str],
    extra: Sequence[str],
    keep: Sequence[str] | None,
    scorer_and_index: Callable[[], tuple[Predictor, MemoryIndex | None]],
    scores_of: Callable[[pd.DataFrame, Predictor, MemoryIndex | None], pd.DataFrame],
) -> DataFrame:
    """`with_predictions` computing the per-file aggregates too, by `mapInArrow`."""
    model_inputs = {*inputs, *extra}
    kept = (
        list(keep) if keep is not None else [c for c in features.columns if c not in model_inputs]
    )
    sent = list(dict.fromkeys([*kept, *AGGREGATE_INPUTS, *inputs, *extra]))
    rows = features.select(*sent)
    score_type = EXPLAINED_SCORE_TYPE if explain else SCORE_TYPE
    out_type = T.StructType([*[rows.schema[c] for c in kept], *score_type.fields])
    scored_columns = [*inputs, *AGGREGATE_FEATURES, *extra]
    arrow_scores = pa.schema(
        [pa.field(f.name, to_arrow_type(f.dataType)) for f in score_type.fields]
    )

    def score(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer, index = scorer_and_index()
        for batch in aggregate_batches(batches):
            given = batch.select(scored_columns).to_pandas()
            top = pa.Table.from_pandas(scores_of(given, scorer, index), arrow_scores)
            columns = [batch.column(c) for c in kept] + [
                top.column(f.name).combine_chunks() for f in score_type.fields
            ]
            yield pa.RecordBatch.from_arrays(columns, names=out_type.fieldNames())

    scored = _with_prediction_columns(rows.mapInArrow(score, out_type), F.col, artifact, explain)
    predicted = [S.PREDICTED_CATEGORY, S.PREDICTED_PROBABILITY, S.TOP3, S.MODEL_VERSION]
    return scored.select(*kept, *predicted, *([S.EXPLANATION] if explain else []))


def _with_prediction_columns(
    scored: DataFrame, score: Callable[[str], Column], artifact: ModelArtifact, explain: bool
) -> DataFrame:
    """The prediction columns from the scorer's output (`score(name)`: `SCORE_TYPE`'s fields)."""
    labels = F.array(*[F.lit(c) for c in artifact.categories])

    def category(i: int) -> Column:
        return F.element_at(labels, score(f"{TOP_CLASS}{i}") + 1)

    top3 = F.array(
        *[
            F.struct(
                category(i).alias("category"),
                score(f"{TOP_PROBABILITY}{i}").alias("probability"),
            )
            for i in range(TOP_K)
        ]
    )
    scored = (
        scored.withColumn(S.PREDICTED_CATEGORY, category(0))
        .withColumn(S.PREDICTED_PROBABILITY, score(f"{TOP_PROBABILITY}0"))
        .withColumn(S.TOP3, top3)
        .withColumn(S.MODEL_VERSION, F.lit(artifact.version))
    )
    if explain:
        scored = scored.withColumn(S.EXPLANATION, score(S.EXPLANATION))
    return scored
