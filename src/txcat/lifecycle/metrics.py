"""Classification metrics, in plain numpy so each number can be checked by hand.

Conventions (the same as scikit-learn's defaults):
- per class: precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2tp / (2tp + fp + fn),
  each 0 when its denominator is 0;
- macro-F1 averages F1 over the classes that occur in the truth or in the predictions;
  weighted-F1 weights each class's F1 by its support;
- ROC AUC is one-vs-rest per class that has both positive and negative rows, macro-averaged;
- log loss clips probabilities to [1e-15, 1];
- calibration error is the expected calibration error of the top label over equal-width bins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

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


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix."""
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    support = matrix.sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = predicted + support  # = 2tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.astype(np.int64),
        "predicted": predicted.astype(np.int64),
    }


def roc_auc_ovr_macro(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean one-vs-rest AUC (Mann-Whitney, ties counted half); NaN if no class qualifies."""
    aucs = []
    for c in range(proba.shape[1]):
        positive = y_true == c
        n_pos = int(positive.sum())
        n_neg = len(y_true) - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = pd.Series(proba[:, c]).rank(method="average").to_numpy()
        aucs.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
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
    matrix = confusion_matrix(y_true, y_pred, n_classes)
    pc = per_class(matrix)
    seen = (pc["support"] > 0) | (pc["predicted"] > 0)
    bins = calibration_bins(y_true, proba)
    return {
        "rows": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)),
        "macro_f1": float(pc["f1"][seen].mean()),
        "weighted_f1": float((pc["f1"] * pc["support"]).sum() / pc["support"].sum()),
        "roc_auc_ovr_macro": roc_auc_ovr_macro(y_true, proba),
        "log_loss": log_loss(y_true, proba),
        "calibration_error": expected_calibration_error(bins),
        "per_class": {
            name: {
                "precision": float(pc["precision"][i]),
                "recall": float(pc["recall"][i]),
                "f1": float(pc["f1"][i]),
                "support": int(pc["support"][i]),
            }
            for i, name in enumerate(categories)
        },
        "confusion_matrix": matrix.tolist(),
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
