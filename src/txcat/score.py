"""Score stage: an iterator pandas UDF around the broadcast XGBoost booster.

The model bytes are broadcast once; each Python worker task deserializes the booster once,
behind the model's recorded engine (`txcat.engine`), and reuses it for every Arrow batch.
`predict_frame` is plain pandas/numpy so it is tested, and used, without Spark.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import schema as S
from txcat.engine import Predictor, XGBoostPredictor, predictor
from txcat.model import ModelArtifact, booster_from_bytes

TOP_K = 3
#: Contributions kept per prediction when `scoring.explain` is on.
EXPLAIN_TOP = 5
_SCORES = "_scores"
SCORE_TYPE = T.StructType(
    [
        T.StructField(S.PREDICTED_CATEGORY, T.StringType()),
        T.StructField(S.PREDICTED_PROBABILITY, T.DoubleType()),
        T.StructField("top_categories", T.ArrayType(T.StringType())),
        T.StructField("top_probabilities", T.ArrayType(T.DoubleType())),
    ]
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
    matrix = np.ascontiguousarray(features.to_numpy(dtype=np.float32, na_value=np.nan))
    proba = as_predictor(model).proba(matrix)
    return np.asarray(proba, dtype=np.float64).reshape(len(features), -1)


def predict_frame(
    model: xgb.Booster | Predictor,
    features: pd.DataFrame,
    categories: Sequence[str],
    explain: bool = False,
) -> pd.DataFrame:
    """Top category, its probability, and the top 3 categories with probabilities.

    With `explain`, also `explanation`: the `EXPLAIN_TOP` largest approximate contributions
    (`approximate_contributions`) to the predicted category's margin, from the XGBoost booster
    whatever the engine.
    """
    scorer = as_predictor(model)
    proba = predict_proba(scorer, features)
    labels = np.asarray(categories, dtype=object)
    top = np.argsort(-proba, axis=1, kind="stable")[:, :TOP_K]
    top_proba = np.take_along_axis(proba, top, axis=1)
    frame = pd.DataFrame(
        {
            S.PREDICTED_CATEGORY: labels[top[:, 0]],
            S.PREDICTED_PROBABILITY: top_proba[:, 0],
            "top_categories": list(labels[top].tolist()),
            "top_probabilities": list(top_proba.tolist()),
        }
    )
    if explain:
        frame[S.EXPLANATION] = approximate_contributions(scorer.booster, features, top[:, 0])
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
    matrix = np.ascontiguousarray(features.to_numpy(dtype=np.float32, na_value=np.nan))
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


def with_predictions(
    features: DataFrame,
    spark: SparkSession,
    artifact: ModelArtifact,
    nthread: int = 1,
    explain: bool = False,
    tap: BatchTap | None = None,
) -> DataFrame:
    """Adds predicted_category, predicted_probability, top3 and model_version; with `explain`
    (`scoring.explain`) also `explanation` (`approximate_contributions`). `tap` sees each batch
    (the features and its `columns`) before it is scored."""
    model_bytes = spark.sparkContext.broadcast(artifact.model_bytes)
    categories = list(artifact.categories)
    engine = artifact.engine
    names = list(artifact.feature_names)
    extra = [c for c in tap.columns if c not in names] if tap is not None else []

    @F.pandas_udf(EXPLAINED_SCORE_TYPE if explain else SCORE_TYPE)  # type: ignore[call-overload]
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        scorer = predictor(booster_from_bytes(model_bytes.value, nthread), engine, nthread)
        for batch in batches:
            if tap is not None:
                tap.add(batch)
            yield predict_frame(scorer, batch[names] if extra else batch, categories, explain)

    scores = F.col(_SCORES)
    top3 = F.array(
        *[
            F.struct(
                scores["top_categories"][i].alias("category"),
                scores["top_probabilities"][i].alias("probability"),
            )
            for i in range(TOP_K)
        ]
    )
    feature_struct = F.struct(*[F.col(c) for c in [*names, *extra]])
    scored = (
        features.withColumn(_SCORES, score(feature_struct))
        .withColumn(S.PREDICTED_CATEGORY, scores[S.PREDICTED_CATEGORY])
        .withColumn(S.PREDICTED_PROBABILITY, scores[S.PREDICTED_PROBABILITY])
        .withColumn(S.TOP3, top3)
        .withColumn(S.MODEL_VERSION, F.lit(artifact.version))
    )
    if explain:
        scored = scored.withColumn(S.EXPLANATION, scores[S.EXPLANATION])
    return scored.drop(_SCORES)
