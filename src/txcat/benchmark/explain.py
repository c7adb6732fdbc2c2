"""What `scoring.explain` costs per row (`make bench` -> docs/benchmarks.json `explain_cost`).

Timed in process on the benchmark's own features and model, one core: the batch job's
`predict_frame` without and with its approximate explanations (XGBoost's `approx_contribs`,
the top 5 of the predicted category), and XGBoost's exact TreeSHAP contributions, which the
real-time API returns, on the same rows. CPU time (`time.process_time`), median of the repeats.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from txcat.model import ModelArtifact
from txcat.score import predict_frame


def _cpu_us_per_row(action: Callable[[], object], rows: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        action()
        times.append(time.process_time() - started)
    return round(1e6 * statistics.median(times) / rows, 1)


def explain_cost(
    features: pd.DataFrame, artifact: ModelArtifact, repeats: int = 3
) -> dict[str, Any]:
    """CPU µs per row of a prediction, with approximate explanations, and exact ones."""
    frame = features[list(artifact.feature_names)]
    booster = artifact.booster(nthread=1)
    rows = len(frame)
    categories = artifact.categories
    predict = _cpu_us_per_row(lambda: predict_frame(booster, frame, categories), rows, repeats)
    approximate = _cpu_us_per_row(
        lambda: predict_frame(booster, frame, categories, explain=True), rows, repeats
    )
    matrix = xgb.DMatrix(
        frame.to_numpy(dtype=np.float32, na_value=np.nan), feature_names=list(frame.columns)
    )
    exact = _cpu_us_per_row(lambda: booster.predict(matrix, pred_contribs=True), rows, 1)
    return {
        "rows": rows,
        "predict_us_per_row": predict,
        "predict_with_approximate_explanation_us_per_row": approximate,
        "approximate_explanation_us_per_row": round(approximate - predict, 1),
        "exact_contributions_us_per_row": exact,
    }
