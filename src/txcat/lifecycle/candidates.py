"""The models compared on the same folds: two baselines and a small XGBoost search.

- `majority`: always the most frequent training class (probabilities = training frequencies);
  the floor any model must clear.
- `logistic_regression`: multinomial logistic regression on median-imputed, standardised
  features; the "is a tree ensemble worth it?" baseline.
- `xgboost`: the production model family (the only one the scoring job serves), trained with the
  native API; `search_space` draws the configurations tried.

Class imbalance is handled with per-row weights (count / max_count) ** -power
(`training.class_weight_power`: 0 = none, 1 = fully balanced) for both trained models.
"""

from __future__ import annotations

import io
import pickle
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from txcat.config import TrainingConfig
from txcat.engine import XGBOOST as XGBOOST_ENGINE
from txcat.engine import predictor
from txcat.model import MEMORY_P_PREFIX, memory_columns

MAJORITY = "majority"
LOGISTIC = "logistic_regression"
XGBOOST = "xgboost"
BASELINES: tuple[str, ...] = (MAJORITY, LOGISTIC)

#: Values the search draws from; the first configuration is always the configured one.
SEARCH_GRID: Mapping[str, Sequence[Any]] = {
    # Depth 5 and more never won on the bank's real data once the label memory is a feature.
    "max_depth": (2, 3, 4),
    "learning_rate": (0.1, 0.2, 0.3),
    "min_child_weight": (1.0, 2.0, 5.0),
    "subsample": (0.7, 0.85, 1.0),
    "colsample_bytree": (0.6, 0.8, 1.0),
}


@dataclass
class Fitted:
    """A trained candidate: how to get probabilities, and what it costs to ship."""

    name: str
    predict_proba: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    size_bytes: int
    params: dict[str, Any]
    booster: xgb.Booster | None = field(default=None, repr=False)
    best_iteration: int | None = None
    #: Classes whose probabilities come from the label memory (`txcat.engine.MemoryBackoff`).
    memory_backoff: tuple[int, ...] = ()


def class_weights(labels: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """Per-row weights (count / max_count) ** -power; power 0 = unweighted."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    per_class = np.zeros(n_classes)
    present = counts > 0
    per_class[present] = (counts[present] / counts.max()) ** -power
    return per_class[labels]


def fit_majority(x: np.ndarray, y: np.ndarray, n_classes: int) -> Fitted:  # noqa: ARG001 - a fitter's signature
    counts = np.bincount(y, minlength=n_classes).astype(float)
    prior = counts / counts.sum()

    def predict(rows: np.ndarray) -> np.ndarray:
        return np.tile(prior, (len(rows), 1))

    return Fitted(
        MAJORITY, predict, size_bytes=prior.nbytes, params={"majority_class": int(counts.argmax())}
    )


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    n_classes: int,
    seed: int,
    max_iter: int = 300,
) -> Fitted:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=max_iter, random_state=seed),
    )
    model.fit(x, y, logisticregression__sample_weight=weights)
    classes = model.classes_

    def predict(rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), n_classes))
        out[:, classes] = model.predict_proba(rows)
        return out

    buffer = io.BytesIO()
    pickle.dump(model, buffer)
    return Fitted(
        LOGISTIC,
        predict,
        size_bytes=len(buffer.getvalue()),
        params={"C": 1.0, "max_iter": max_iter},
    )


def xgb_params(
    config: Mapping[str, Any], n_classes: int, seed: int, nthread: int = 1
) -> dict[str, Any]:
    return {
        "objective": "multi:softprob",
        "num_class": n_classes,
        "eval_metric": "mlogloss",
        "tree_method": "hist",
        "max_depth": int(config["max_depth"]),
        "eta": float(config["learning_rate"]),
        "min_child_weight": float(config["min_child_weight"]),
        "subsample": float(config["subsample"]),
        "colsample_bytree": float(config["colsample_bytree"]),
        "seed": seed,
        "nthread": nthread,
    }


def fit_xgboost(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    config: Mapping[str, Any],
    n_classes: int,
    feature_names: Sequence[str],
    seed: int,
    num_boost_round: int,
    early_stopping_rounds: int = 0,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    nthread: int = 1,
    memory_backoff_rows: int = 0,
) -> Fitted:
    """Trains a booster; with `valid`, stops early on its log loss and keeps the best rounds.

    Classes with fewer than `memory_backoff_rows` training rows (but at least one) take their
    probabilities from the label memory (`rare_classes`, `txcat.engine.MemoryBackoff`)."""
    names = list(feature_names)
    train = xgb.DMatrix(x, label=y, weight=weights, feature_names=names)
    evals = []
    if valid is not None:
        evals = [(xgb.DMatrix(valid[0], label=valid[1], feature_names=names), "valid")]
    booster = xgb.train(
        xgb_params(config, n_classes, seed, nthread),
        train,
        num_boost_round=num_boost_round,
        evals=evals,
        early_stopping_rounds=early_stopping_rounds if evals and early_stopping_rounds else None,
        verbose_eval=False,
    )
    best = booster.best_iteration if evals and early_stopping_rounds else num_boost_round - 1
    booster = booster[: best + 1]
    rare = rare_classes(y, n_classes, memory_backoff_rows, names)
    params = dict(config) | {"num_boost_round": best + 1}
    return booster_candidate(booster, params, best, memory_columns(rare, names))


def rare_classes(
    y: np.ndarray, n_classes: int, min_rows: int, feature_names: Sequence[str]
) -> tuple[int, ...]:
    """Classes with 1 to `min_rows - 1` training rows: too few for a tree of their own (their
    hessians stay below `min_child_weight`). None when the features hold no label memory."""
    if min_rows <= 0 or not all(f"{MEMORY_P_PREFIX}{k}" in feature_names for k in range(n_classes)):
        return ()
    counts = np.bincount(y, minlength=n_classes)
    return tuple(int(k) for k in np.flatnonzero((counts > 0) & (counts < min_rows)))


def booster_candidate(
    booster: xgb.Booster,
    params: dict[str, Any],
    best_iteration: int | None = None,
    backoff: Sequence[tuple[int, int]] = (),
) -> Fitted:
    """Wraps a booster the way the scoring job uses it (one thread, in-place predict, the
    model's memory back-off)."""
    booster.set_param({"nthread": 1})
    n_features = booster.num_features()
    scorer = predictor(booster, XGBOOST_ENGINE, 1, backoff)

    def predict(rows: np.ndarray) -> np.ndarray:
        matrix = np.ascontiguousarray(rows, dtype=np.float32)
        if matrix.shape[1] != n_features:
            raise ValueError(f"expected {n_features} features, got {matrix.shape[1]}")
        return np.asarray(scorer.proba(matrix), dtype=np.float64).reshape(len(rows), -1)

    size = len(booster.save_raw(raw_format="ubj"))
    return Fitted(
        XGBOOST,
        predict,
        size_bytes=size,
        params=params,
        booster=booster,
        best_iteration=best_iteration,
        memory_backoff=tuple(k for k, _ in backoff),
    )


def search_space(base: TrainingConfig, budget: int, seed: int) -> list[dict[str, Any]]:
    """`budget` distinct XGBoost configurations: the configured one, then random grid draws."""
    first = {key: getattr(base, key) for key in SEARCH_GRID}
    configs = [first]
    seen = {tuple(sorted(first.items()))}
    rng = np.random.default_rng(seed)
    total = int(np.prod([len(v) for v in SEARCH_GRID.values()]))
    while len(configs) < min(budget, total + 1):
        draw = {key: values[int(rng.integers(len(values)))] for key, values in SEARCH_GRID.items()}
        marker = tuple(sorted(draw.items()))
        if marker not in seen:
            seen.add(marker)
            configs.append(draw)
    return configs


def latency_ms_per_10k(
    predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, repeats: int
) -> float:
    """Median wall time to score one batch of 10,000 rows (rows repeated if fewer are given)."""
    if len(x) == 0:
        raise ValueError("need at least one row to time predictions")
    rows = x[np.arange(10_000) % len(x)]
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(rows)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000.0


def model_cost(params: Mapping[str, Any], n_classes: int) -> dict[str, int]:
    """What a multi-class XGBoost configuration costs to predict, in tree work.

    A softprob booster grows one tree per class per round, and every row walks each tree from
    its root to a leaf: at most `max_depth` comparisons. `tree_levels` = trees x depth is
    therefore proportional to the prediction's CPU per row, whatever the machine.
    """
    trees = int(params["num_boost_round"]) * n_classes
    depth = int(params["max_depth"])
    return {"trees": trees, "max_depth": depth, "tree_levels": trees * depth}


def choose_trial(trials: Sequence[Mapping[str, Any]], tolerance: float) -> Mapping[str, Any]:
    """The cheapest trial whose mean CV macro-F1 is within `tolerance` of the best.

    Each trial holds `summary.macro_f1.mean`, `summary.latency_ms_per_10k.mean` and `cost`
    (`model_cost`). Cheapest: fewest `tree_levels`, then the lower measured latency, then the
    higher macro-F1. With tolerance 0 the best macro-F1 wins (ties: the cheapest).
    """
    if not trials:
        raise ValueError("no trial to choose from")
    best = max(t["summary"]["macro_f1"]["mean"] for t in trials)
    eligible = [t for t in trials if t["summary"]["macro_f1"]["mean"] >= best - tolerance]
    return min(
        eligible,
        key=lambda t: (
            t["cost"]["tree_levels"],
            t["summary"]["latency_ms_per_10k"]["mean"],
            -t["summary"]["macro_f1"]["mean"],
        ),
    )
