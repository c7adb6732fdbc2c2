"""Prediction engines: what turns a model's booster and a feature matrix into probabilities.

Every scorer (the batch job's pandas UDF, the real-time API, evaluation) asks `predictor` for
the engine the model artifact records (`model.json` `engine`, from `training.engine`), so the
same model version gives the same answers wherever it is scored.

- `xgboost` (the default): `Booster.inplace_predict`.
- `onedal`: the booster converted once to oneDAL's gradient-boosted trees
  (`daal4py.mb.convert_model`, from `scikit-learn-intelex`, x86-64 only). It scores the same
  trees in another order of floating-point sums: probabilities differ from XGBoost's by about
  1e-7, enough to flip a category on an exact tie (`tests/test_engine.py` bounds both).

Explanations (contributions) always come from the XGBoost booster, whatever the engine.

A model may also name categories its trees had too few training rows to learn
(`model.json` `memory.backoff_categories`, `training.memory_backoff_rows`): their
probabilities are the row's label memory's (`mem_p_<k>`, a feature of the row), the others
the engine's, renormalised (`MemoryBackoff`). Every scorer gets that from `predictor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # the configuration checks `ENGINES` without loading XGBoost (about 1 s)
    import xgboost as xgb

XGBOOST = "xgboost"
ONEDAL = "onedal"
ENGINES = (XGBOOST, ONEDAL)


def feature_matrix(features: Any) -> np.ndarray:
    """The float32, C-ordered matrix of a feature frame (a pandas DataFrame, columns in the
    model's order) that every engine predicts from; nulls become NaN, XGBoost's missing."""
    return np.ascontiguousarray(features.to_numpy(dtype=np.float32, na_value=np.nan))


class EngineError(RuntimeError):
    """The engine is unknown or cannot run here."""


class Predictor(Protocol):
    """Class probabilities of a float32 matrix, shape (rows, classes)."""

    engine: str
    booster: xgb.Booster

    def proba(self, matrix: np.ndarray) -> np.ndarray: ...


class XGBoostPredictor:
    engine = XGBOOST

    def __init__(self, booster: xgb.Booster) -> None:
        self.booster = booster

    def proba(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.inplace_predict(matrix))


class OneDALPredictor:
    engine = ONEDAL

    def __init__(self, booster: xgb.Booster, nthread: int) -> None:
        d4p = onedal_module()
        # oneDAL's thread pool is the process's: one thread per Python worker, as XGBoost's.
        d4p.daalinit(max(nthread, 1))
        self.booster = booster
        self._model = d4p.mb.convert_model(booster)

    def proba(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.predict_proba(matrix))


def onedal_module() -> Any:
    """`daal4py`, or a clear error naming the package to install."""
    try:
        import daal4py
    except ImportError as exc:
        raise EngineError(
            "the onedal engine needs daal4py: pip install 'scikit-learn-intelex==2026.2.0' "
            "(x86-64 only)"
        ) from exc
    return daal4py


def check_engine(engine: str) -> str:
    """`engine` when it is known and can run here; raises EngineError otherwise."""
    if engine not in ENGINES:
        raise EngineError(f"unknown prediction engine {engine!r}: one of {', '.join(ENGINES)}")
    if engine == ONEDAL:
        onedal_module()
    return engine


class MemoryBackoff:
    """An engine's probabilities, with the given categories' taken from the label memory.

    `backoff` pairs a category's index with the column of its `mem_p_<k>` feature in the
    matrix. Those probabilities are replaced, then every row is renormalised to sum to 1.
    """

    def __init__(self, inner: Predictor, backoff: Sequence[tuple[int, int]]) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.booster = inner.booster
        self.classes = np.array([c for c, _ in backoff], dtype=np.intp)
        self.columns = np.array([m for _, m in backoff], dtype=np.intp)

    def proba(self, matrix: np.ndarray) -> np.ndarray:
        proba = np.array(self.inner.proba(matrix), dtype=np.float32).reshape(len(matrix), -1)
        memory = matrix[:, self.columns]
        # A missing memory feature (NaN) keeps the engine's probability.
        proba[:, self.classes] = np.where(np.isnan(memory), proba[:, self.classes], memory)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba


def predictor(
    booster: xgb.Booster,
    engine: str = XGBOOST,
    nthread: int = 1,
    backoff: Sequence[tuple[int, int]] = (),
) -> Predictor:
    """The `engine`'s predictor of `booster` (already loaded with its `nthread`); with
    `backoff` ((category index, memory column) pairs), behind `MemoryBackoff`."""
    check_engine(engine)
    inner: Predictor = (
        OneDALPredictor(booster, nthread) if engine == ONEDAL else XGBoostPredictor(booster)
    )
    return MemoryBackoff(inner, backoff) if backoff else inner


def parity(booster: xgb.Booster, matrix: np.ndarray, engine: str) -> dict[str, Any]:
    """How `engine`'s probabilities of `matrix` differ from XGBoost's on the same booster: the
    largest absolute difference and the rows whose top category flips."""
    reference = XGBoostPredictor(booster).proba(matrix).reshape(len(matrix), -1)
    other = predictor(booster, engine).proba(matrix).reshape(len(matrix), -1)
    flipped = reference.argmax(axis=1) != other.argmax(axis=1)
    return {
        "engine": engine,
        "rows": len(matrix),
        "max_abs_difference": float(np.abs(reference - other).max()) if len(matrix) else 0.0,
        "flipped_categories": int(flipped.sum()),
    }
