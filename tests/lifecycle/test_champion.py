"""The champion scored on the candidate's hold-out rows, or the reason it is not."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from txcat import schema as S
from txcat.features import FEATURE_COLUMNS as ALL_FEATURES
from txcat.lifecycle import candidates as C
from txcat.lifecycle import train
from txcat.model import MEMORY_FEATURE_PREFIX, save_artifact

CUTOFF = dt.date(2026, 10, 1)
#: A feature list without label-memory columns: such a champion is scored on the hold-out.
FEATURE_COLUMNS = tuple(c for c in ALL_FEATURES if not c.startswith(MEMORY_FEATURE_PREFIX))
PARAMS = {
    "max_depth": 2,
    "learning_rate": 0.3,
    "min_child_weight": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
}


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    frame[S.LABEL] = np.where(frame[FEATURE_COLUMNS[0]] > 0, "SERVICO", "RESTAURANTE")
    return frame


def _champion(tmp_path, last_date: str) -> train.Champion:
    data = _frame(300, 1)
    x, y = train._matrix(data)
    fitted = C.fit_xgboost(x, y, np.ones(len(y)), PARAMS, len(S.CATEGORIES), FEATURE_COLUMNS, 1, 5)
    artifact = save_artifact(
        tmp_path / "champion",
        fitted.booster,
        FEATURE_COLUMNS,
        S.CATEGORIES,
        [],
        params={},
        metrics={},
        extra={"fitted_on": {"last_date": last_date}},
    )
    return train.Champion("txcat-categoriser version 3", "3", artifact)


@pytest.fixture(autouse=True)
def _features_without_memory(monkeypatch):
    monkeypatch.setattr(train, "FEATURE_COLUMNS", FEATURE_COLUMNS)


def test_the_champion_is_scored_on_the_holdout_rows(tmp_path):
    champion = _champion(tmp_path, "2026-09-30")
    record = train.champion_on_holdout(champion, _frame(100, 2), CUTOFF)
    assert record["comparable"] is True and record["version"] == "3"
    assert record["metrics"]["rows"] == 100
    assert record["metrics"]["accuracy"] > 0.9  # the first feature decides the label


def test_a_champion_fitted_on_the_holdout_period_is_not_compared(tmp_path):
    champion = _champion(tmp_path, "2026-10-01")
    record = train.champion_on_holdout(champion, _frame(100, 2), CUTOFF)
    assert record["comparable"] is False
    assert "inside the hold-out period (from 2026-10-01)" in record["reason"]


def test_a_champion_on_other_features_is_not_compared(tmp_path):
    champion = _champion(tmp_path, "2026-09-30")
    other = dataclasses.replace(
        champion,
        artifact=dataclasses.replace(champion.artifact, feature_names=("a", "b")),
    )
    record = train.champion_on_holdout(other, _frame(10, 2), CUTOFF)
    assert record == {
        "label": "txcat-categoriser version 3",
        "version": "3",
        "comparable": False,
        "reason": "trained on other feature columns",
    }


def test_a_champion_with_its_own_label_memory_is_not_compared(tmp_path):
    champion = _champion(tmp_path, "2026-09-30")
    with_memory = dataclasses.replace(
        champion, artifact=dataclasses.replace(champion.artifact, memory_table=b"table")
    )
    record = train.champion_on_holdout(with_memory, _frame(10, 2), CUTOFF)
    assert record["comparable"] is False
    assert "its own label memory" in record["reason"]
