"""A small model artifact and reference data made without Spark, for the API tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from tests.helpers import local_config
from txcat import schema as S
from txcat.features import FEATURE_COLUMNS
from txcat.features import memory as MEM
from txcat.generate import generate
from txcat.model import save_artifact

RUN_DATE = dt.date(2026, 11, 25)


def memory_table() -> pd.DataFrame:
    """A label memory: the prior, two cities and one account."""
    rows = []
    for level, key, counts in (
        (MEM.PRIOR, "", {0: 30, 1: 20, 5: 10}),
        ("city", "SANTOS", {5: 8, 0: 2}),
        ("city", "SAO PAULO", {1: 6}),
        ("account", "acc1", {0: 3, 1: 1}),
    ):
        values = [counts.get(i, 0) for i in range(len(S.CATEGORIES))]
        rows.append([level, key, sum(values), *values])
    return pd.DataFrame(rows, columns=[f.name for f in MEM.TABLE_SCHEMA.fields])


def save_model(folder: Path, seed: int) -> str:
    """A booster fitted on random features (every column), saved with a memory table."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, len(FEATURE_COLUMNS))).astype(np.float32)
    y = (np.abs(x[:, 0] * 7 + x[:, 1] * 3 + x[:, 40]) * 3).astype(int) % len(S.CATEGORIES)
    data = xgb.DMatrix(x, label=y, feature_names=list(FEATURE_COLUMNS))
    params = {"objective": "multi:softprob", "num_class": len(S.CATEGORIES), "max_depth": 3}
    booster = xgb.train({**params, "nthread": 1, "seed": seed}, data, num_boost_round=4)
    artifact = save_artifact(
        folder,
        booster,
        FEATURE_COLUMNS,
        S.CATEGORIES,
        [],
        params,
        {},
        memory=(MEM.table_to_parquet(memory_table()), (20.0, 5.0, 3.0, 1.0)),
    )
    return artifact.version


@pytest.fixture(scope="session")
def serve_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    generate(root / "unused", 2, "2026-11-01", RUN_DATE, seed=3, reference_out=root / "ref")
    save_model(root / "model", seed=1)
    return {"root": root, "ref": root / "ref", "model": root / "model"}


@pytest.fixture(scope="session")
def serve_cfg(serve_world):
    return local_config(serve_world["ref"], "serving.max_rows=200", "serving.max_body_bytes=200000")
