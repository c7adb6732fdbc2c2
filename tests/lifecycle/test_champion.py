"""The champion scored on the candidate's hold-out rows, or the reason it is not."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from txcat import schema as S
from txcat.features import FEATURE_COLUMNS as ALL_FEATURES
from txcat.features import memory as M
from txcat.lifecycle import candidates as C
from txcat.lifecycle import metrics as LM
from txcat.lifecycle import train
from txcat.model import MEMORY_FEATURE_PREFIX, save_artifact
from txcat.serve import features as SF

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
    return _saved_champion(tmp_path, fitted.booster, FEATURE_COLUMNS, {"last_date": last_date})


def _saved_champion(tmp_path, booster, features, fitted_on, memory=None) -> train.Champion:
    """Version 3 of the registered model: `booster` over `features`, with `fitted_on` (None:
    no record) and `memory` (Parquet bytes, smoothing) when given."""
    artifact = save_artifact(
        tmp_path / "champion",
        booster,
        features,
        S.CATEGORIES,
        [],
        params={},
        metrics={},
        extra={"fitted_on": fitted_on} if fitted_on is not None else None,
        memory=memory,
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


def _memory_table(cells: dict[tuple[str, str, float], str]) -> pd.DataFrame:
    """A label memory table: the prior and 40 labelled rows per (account, city, amount) cell at
    the account x city level (the other levels unknown)."""
    rows = [{M.LEVEL: M.PRIOR, M.KEY: "", M.N: 0} | dict.fromkeys(M.COUNTS, 0)]
    for (account, city, amount), label in cells.items():
        key = SF.memory_keys(account, city, amount)["account_city"]
        counts = dict.fromkeys(M.COUNTS, 0) | {M.COUNTS[S.CATEGORIES.index(label)]: 40}
        rows.append({M.LEVEL: "account_city", M.KEY: key, M.N: 40} | counts)
    return pd.DataFrame(rows)


def _rows_with_keys(rows: int, seed: int) -> pd.DataFrame:
    """Rows of two accounts at one city: account a0 buys SERVICO, a1 RESTAURANTE; every other
    feature is noise, so only a memory that knows the accounts tells them apart."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(ALL_FEATURES))), columns=ALL_FEATURES)
    accounts = np.where(np.arange(rows) % 2 == 0, "a0", "a1")
    frame[S.ACCOUNT_ID] = accounts
    frame[S.MERCHANT_CITY] = "SAO PAULO"
    frame[S.AMOUNT] = 10.0
    frame[S.LABEL] = np.where(accounts == "a0", "SERVICO", "RESTAURANTE")
    return frame


def test_a_champion_with_a_label_memory_is_scored_with_its_own_lookups(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "FEATURE_COLUMNS", ALL_FEATURES)
    table = _memory_table(
        {("a0", "SAO PAULO", 10.0): "SERVICO", ("a1", "SAO PAULO", 10.0): "RESTAURANTE"}
    )
    memory = (M.table_to_parquet(table), (20.0, 5.0, 3.0, 1.0))
    # The champion learnt from its own memory's features.
    plain = save_artifact(
        tmp_path / "plain", _booster(), ALL_FEATURES, S.CATEGORIES, [], {}, {}, memory=memory
    )
    learnt = train.champion_features(plain, _rows_with_keys(400, 1))
    x, y = train._matrix(learnt)
    fitted = C.fit_xgboost(x, y, np.ones(len(y)), PARAMS, len(S.CATEGORIES), ALL_FEATURES, 1, 5)
    champion = _saved_champion(
        tmp_path, fitted.booster, ALL_FEATURES, {"last_date": "2026-09-30"}, memory
    )
    artifact = champion.artifact
    # The hold-out's memory features are the candidate's: noise to this champion.
    hold = _rows_with_keys(100, 2)
    own = train.champion_features(artifact, hold)
    memory_columns = [c for c in ALL_FEATURES if c.startswith(MEMORY_FEATURE_PREFIX)]
    keys = [SF.memory_keys(a, "SAO PAULO", 10.0) for a in hold[S.ACCOUNT_ID]]
    expected = M.MemoryIndex(table, (20.0, 5.0, 3.0, 1.0)).features(
        {level: [k[level] for k in keys] for level in M.LEVELS}, len(keys)
    )
    for column in memory_columns:
        np.testing.assert_array_equal(own[column].to_numpy(), expected[column])
    others = [c for c in hold.columns if c not in memory_columns]
    pd.testing.assert_frame_equal(own[others], hold[others])
    record = train.champion_on_holdout(champion, hold, CUTOFF)
    assert record["comparable"] is True and record["metrics"]["rows"] == 100
    assert record["metrics"]["accuracy"] == 1.0  # its memory knows both accounts
    x_candidate, y_candidate = train._matrix(hold)
    as_candidate = LM.evaluate(
        y_candidate,
        C.booster_candidate(artifact.booster(), {}).predict_proba(x_candidate),
        S.CATEGORIES,
    )
    assert as_candidate["accuracy"] < 0.8  # scored on the candidate's features, it guesses


def test_a_champion_whose_memory_does_not_say_its_days_is_not_compared(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "FEATURE_COLUMNS", ALL_FEATURES)
    table = _memory_table({("a0", "SAO PAULO", 10.0): "SERVICO"})
    champion = _saved_champion(
        tmp_path, _booster(), ALL_FEATURES, None, (M.table_to_parquet(table), (20.0, 5.0, 3.0, 1.0))
    )
    record = train.champion_on_holdout(champion, _rows_with_keys(10, 2), CUTOFF)
    assert record["comparable"] is False
    assert "does not say which days it counts" in record["reason"]


def _booster():
    frame = _rows_with_keys(40, 3)
    x = frame[list(ALL_FEATURES)].to_numpy(np.float32)
    y = frame[S.LABEL].map({c: i for i, c in enumerate(S.CATEGORIES)}).to_numpy()
    return C.fit_xgboost(
        x, y, np.ones(len(y)), PARAMS, len(S.CATEGORIES), ALL_FEATURES, 1, 2
    ).booster
