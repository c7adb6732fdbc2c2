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


def _accuracy_and_macro_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro-F1 (scikit-learn's conventions) of a stack of confusion matrices,
    shape (resamples, classes, classes), true x predicted, possibly with fractional counts."""
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    support = confusion.sum(axis=2)
    predicted = confusion.sum(axis=1)
    total = support.sum(axis=1)
    accuracy = tp.sum(axis=1) / np.where(total > 0, total, 1)
    seen = (support + predicted) > 0
    f1 = np.where(seen, 2 * tp / np.where(seen, support + predicted, 1), 0.0)
    macro_f1 = f1.sum(axis=1) / np.maximum(seen.sum(axis=1), 1)
    return accuracy, macro_f1


def paired_bootstrap_lead(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    n_classes: int,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """How far predictions `a` lead predictions `b` on the same rows, with an interval.

    The lead is a's accuracy (macro-F1) minus b's on all rows; the interval is the central
    `confidence` share of the leads over `resamples` resamples of the rows, each row drawn a
    Poisson(1) number of times (the same rows for a and b: a paired bootstrap). Returns
    `{"accuracy": {"lead", "low", "high"}, "macro_f1": {...}, "rows", "resamples",
    "confidence"}`.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    pred_a = np.asarray(pred_a, dtype=np.int64)
    pred_b = np.asarray(pred_b, dtype=np.int64)
    if not len(y_true) == len(pred_a) == len(pred_b) or len(y_true) == 0:
        raise ValueError("need the same, non-zero number of true and predicted classes")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    cells = n_classes * n_classes
    cell_a = y_true * n_classes + pred_a
    cell_b = y_true * n_classes + pred_b
    rng = np.random.default_rng(seed)
    shape = (resamples + 1, n_classes, n_classes)
    confusion_a = np.empty((resamples + 1, cells))
    confusion_b = np.empty((resamples + 1, cells))
    # Row 0: every row once (the leads themselves); then one draw of row weights at a time, so
    # memory stays one weight per row whatever the number of resamples.
    for i in range(resamples + 1):
        weights = np.ones(len(y_true)) if i == 0 else rng.poisson(1.0, len(y_true))
        confusion_a[i] = np.bincount(cell_a, weights, cells)
        confusion_b[i] = np.bincount(cell_b, weights, cells)
    accuracy_a, macro_f1_a = _accuracy_and_macro_f1(confusion_a.reshape(shape))
    accuracy_b, macro_f1_b = _accuracy_and_macro_f1(confusion_b.reshape(shape))
    tail = 100 * (1 - confidence) / 2

    def lead(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        resampled = a[1:] - b[1:]
        low, high = np.percentile(resampled, [tail, 100 - tail])
        return {"lead": float(a[0] - b[0]), "low": float(low), "high": float(high)}

    return {
        "accuracy": lead(accuracy_a, accuracy_b),
        "macro_f1": lead(macro_f1_a, macro_f1_b),
        "rows": len(y_true),
        "resamples": resamples,
        "confidence": confidence,
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
