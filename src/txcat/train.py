"""Minimal training: the scoring job's reader and features, a multi-class XGBoost booster.

The feature matrix is collected to the driver (Arrow) and trained with the native XGBoost API;
`training.max_driver_rows` caps what is collected (above it, a uniform sample of rows is taken
and the artifact records the sampling fraction).
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from txcat import pipeline
from txcat import schema as S
from txcat.config import Config, TrainingConfig
from txcat.features import FEATURE_COLUMNS, build_features
from txcat.features.enrich import load_references
from txcat.model import ModelArtifact, save_artifact

log = logging.getLogger(__name__)


class TrainingDataError(RuntimeError):
    """There is nothing (or not enough) to train on."""


@dataclass(frozen=True)
class TrainingSet:
    frame: pd.DataFrame  # account_id, source_file, label, FEATURE_COLUMNS
    sample_fraction: float
    unknown_labels: int


def collect_training_set(
    spark: SparkSession, cfg: Config, input_path: str, as_of: dt.date
) -> TrainingSet:
    """Reads labelled files through the scoring job's reader, cleaning and features."""
    records, _ = pipeline.read_records(spark, cfg, input_path, as_of)
    transactions = pipeline.scorable(records).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        known = F.col(S.LABEL).isin(*S.CATEGORIES)
        counts = transactions.groupBy(known.alias("known")).count().collect()
        by_kind = {r["known"]: r["count"] for r in counts}
        rows, unknown = by_kind.get(True, 0), by_kind.get(False, 0)
        if rows == 0:
            raise TrainingDataError(f"no labelled rows under {input_path}")
        refs = load_references(spark, cfg.reference.for_run_date(as_of), as_of)
        features = build_features(transactions.where(known), refs).select(
            S.ACCOUNT_ID, S.SOURCE_FILE, S.LABEL, *FEATURE_COLUMNS
        )
        fraction = min(1.0, cfg.training.max_driver_rows / rows)
        if fraction < 1.0:
            log.warning("sampling %.3f of %d rows to fit the driver", fraction, rows)
            features = features.sample(fraction=fraction, seed=cfg.training.seed)
        frame = features.toPandas()
    finally:
        transactions.unpersist()
    return TrainingSet(frame, fraction, unknown)


def account_split(accounts: pd.Series, validation_share: float, seed: int) -> np.ndarray:
    """True for validation rows: whole accounts go to one side, so per-file features can't leak."""
    buckets = accounts.map(lambda a: zlib.crc32(f"{seed}:{a}".encode()) % 10_000)
    return (buckets < validation_share * 10_000).to_numpy()


def class_weights(labels: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """Per-row weights (count / max_count) ** -power; power 0 = unweighted."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    per_class = np.zeros(n_classes)
    present = counts > 0
    per_class[present] = (counts[present] / counts.max()) ** -power
    return per_class[labels]


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes present in y_true or y_pred."""
    scores = []
    for c in range(n_classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def fit(frame: pd.DataFrame, params: TrainingConfig) -> tuple[xgb.Booster, dict[str, float]]:
    """Trains on the training accounts, early-stops on the validation accounts."""
    index = {c: i for i, c in enumerate(S.CATEGORIES)}
    y = frame[S.LABEL].map(index).to_numpy(dtype=np.int32)
    x = frame[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float32, na_value=np.nan)
    is_valid = account_split(frame[S.ACCOUNT_ID], params.validation_share, params.seed)
    if is_valid.all() or not is_valid.any():
        raise TrainingDataError("need at least two accounts to split training and validation")
    n_classes = len(S.CATEGORIES)
    weights = class_weights(y, n_classes, params.class_weight_power)
    train = xgb.DMatrix(
        x[~is_valid], label=y[~is_valid], weight=weights[~is_valid],
        feature_names=list(FEATURE_COLUMNS),
    )
    valid = xgb.DMatrix(x[is_valid], label=y[is_valid], feature_names=list(FEATURE_COLUMNS))
    booster_params = {
        "objective": "multi:softprob",
        "num_class": n_classes,
        "eval_metric": "mlogloss",
        "tree_method": "hist",
        "max_depth": params.max_depth,
        "eta": params.learning_rate,
        "min_child_weight": params.min_child_weight,
        "subsample": params.subsample,
        "colsample_bytree": params.colsample_bytree,
        "seed": params.seed,
        "nthread": 0,
    }
    booster = xgb.train(
        booster_params,
        train,
        num_boost_round=params.num_boost_round,
        evals=[(valid, "validation")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    best = booster.best_iteration
    booster = booster[: best + 1]
    proba = booster.predict(valid)
    predicted = proba.argmax(axis=1)
    majority = np.bincount(y[~is_valid], minlength=n_classes).argmax()
    metrics = {
        "validation_rows": int(is_valid.sum()),
        "training_rows": int((~is_valid).sum()),
        "best_iteration": int(best),
        "validation_accuracy": float(np.mean(predicted == y[is_valid])),
        "validation_macro_f1": macro_f1(y[is_valid], predicted, n_classes),
        "validation_mlogloss": float(
            -np.mean(np.log(np.clip(proba[np.arange(len(predicted)), y[is_valid]], 1e-15, 1)))
        ),
        "majority_baseline_accuracy": float(np.mean(y[is_valid] == majority)),
    }
    return booster, metrics


def run(
    spark: SparkSession, cfg: Config, input_path: str, model_out: str, as_of: dt.date
) -> ModelArtifact:
    """Trains a model on the labelled files under `input_path` and writes its artifact."""
    data = collect_training_set(spark, cfg, input_path, as_of)
    log.info("training on %d rows (%d with unknown labels skipped)", len(data.frame),
             data.unknown_labels)
    booster, metrics = fit(data.frame, cfg.training)
    metrics["sample_fraction"] = data.sample_fraction
    metrics["unknown_label_rows"] = data.unknown_labels
    files = data.frame[S.SOURCE_FILE].unique().tolist()
    artifact = save_artifact(
        model_out,
        booster,
        FEATURE_COLUMNS,
        S.CATEGORIES,
        files,
        params=vars(cfg.training) | {"input": input_path, "as_of": as_of.isoformat()},
        metrics=metrics,
    )
    log.info("model %s: %s", artifact.version, metrics)
    return artifact
