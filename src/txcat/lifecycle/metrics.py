"""Classification metrics: scikit-learn's, plus what it lacks (top-label calibration).

Conventions (scikit-learn's):
- per class: precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2tp / (2tp + fp + fn),
  each 0 when its denominator is 0;
- macro-F1 averages F1 over the classes that occur in the truth or in the predictions;
  weighted-F1 weights each class's F1 by its support;
- ROC AUC is one-vs-rest per class that has both positive and negative rows, macro-averaged.

Two numbers are computed here because scikit-learn has no equivalent:
- log loss clips probabilities to [1e-15, 1] and reads only the true class's probability
  (`sklearn.metrics.log_loss` clips at machine epsilon, so baselines that put zero on a class
  would score differently, and it warns on XGBoost's float32 probabilities, whose sum is 1 only
  to about 1e-7);
- calibration error is the expected calibration error of the top label over equal-width bins
  (`sklearn.calibration.calibration_curve` is for binary problems).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

EPS = 1e-15
CALIBRATION_BINS = 10

#: Headline numbers, in the order tables show them.
SUMMARY_KEYS: tuple[str, ...] = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "roc_auc_ovr_macro",
    "log_loss",
    "calibration_error",
)


def roc_auc_ovr_macro(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean one-vs-rest AUC over the classes with positive and negative rows; NaN if none.

    `roc_auc_score(multi_class="ovr")` refuses probability columns of classes absent from the
    truth, which a hold-out of rare categories often has: those classes are skipped instead.
    """
    aucs = [
        skm.roc_auc_score(y_true == c, proba[:, c])
        for c in range(proba.shape[1])
        if 0 < int(np.sum(y_true == c)) < len(y_true)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    picked = proba[np.arange(len(y_true)), y_true]
    return float(-np.mean(np.log(np.clip(picked, EPS, 1.0))))


def calibration_bins(
    y_true: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[dict[str, float]]:
    """Per equal-width bin of top-label confidence: rows, mean confidence, accuracy."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    # Bin i holds (i/bins, (i+1)/bins]; confidence 0 goes to the first bin.
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    out = []
    for i in range(bins):
        mask = index == i
        n = int(mask.sum())
        out.append(
            {
                "lower": i / bins,
                "upper": (i + 1) / bins,
                "rows": n,
                "confidence": float(confidence[mask].mean()) if n else float("nan"),
                "accuracy": float(correct[mask].mean()) if n else float("nan"),
            }
        )
    return out


def expected_calibration_error(bins: Sequence[Mapping[str, float]]) -> float:
    total = sum(b["rows"] for b in bins)
    if total == 0:
        return float("nan")
    return float(
        sum(b["rows"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["rows"])
    )


def evaluate(y_true: np.ndarray, proba: np.ndarray, categories: Sequence[str]) -> dict[str, Any]:
    """Every quality metric of one set of predictions.

    Args:
        y_true: True class index per row.
        proba: Class probabilities, shape (rows, len(categories)).
        categories: Class names, index-aligned with the probability columns.

    Returns:
        A JSON-ready dict: the SUMMARY_KEYS, `rows`, `per_class` (name -> precision, recall, f1,
        support), `confusion_matrix` (list of rows, true x predicted) and `calibration` bins.

    Raises:
        ValueError: empty input or shapes that do not match.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = len(categories)
    if len(y_true) == 0:
        raise ValueError("cannot evaluate on zero rows")
    if proba.shape != (len(y_true), n_classes):
        raise ValueError(
            f"probabilities have shape {proba.shape}, expected ({len(y_true)}, {n_classes})"
        )
    if y_true.min() < 0 or y_true.max() >= n_classes:
        raise ValueError("a true class index is outside the category list")
    y_pred = proba.argmax(axis=1)
    labels = np.arange(n_classes)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    bins = calibration_bins(y_true, proba)
    return {
        "rows": len(y_true),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        # Without `labels`, the average is over the classes seen in the truth or predictions.
        "macro_f1": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "weighted_f1": float(
            skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
        ),
        "roc_auc_ovr_macro": roc_auc_ovr_macro(y_true, proba),
        "log_loss": log_loss(y_true, proba),
        "calibration_error": expected_calibration_error(bins),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(categories)
        },
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "calibration": bins,
    }


def mean_and_spread(values: Sequence[float]) -> dict[str, float]:
    """Mean and (population) standard deviation across folds."""
    arr = np.asarray(values, dtype=float)
    return {"mean": float(np.mean(arr)), "std": float(np.std(arr))}


def summarise_folds(fold_metrics: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and spread of every scalar metric across folds (per-class tables are left out)."""
    keys = [k for k, v in fold_metrics[0].items() if isinstance(v, int | float)]
    return {k: mean_and_spread([m[k] for m in fold_metrics]) for k in keys}


def json_ready(value: Any) -> Any:
    """NaN/inf become null, numpy scalars plain numbers: strict JSON for every reader."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
