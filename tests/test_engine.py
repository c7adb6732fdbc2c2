"""Prediction engines: oneDAL against XGBoost on the same model, and one engine per model.

The artifact records its engine; the batch job's UDF and the real-time API both score through
it, so they agree exactly with each other and within `ENGINE_TOLERANCE` of XGBoost.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from pyspark.sql import types as T

from tests.serve.conftest import memory_table, save_model
from txcat import engine as E
from txcat import schema as S
from txcat.config import ConfigError
from txcat.features import FEATURE_COLUMNS
from txcat.features import memory as MEM
from txcat.model import ModelArtifactError, load_artifact, save_artifact
from txcat.score import predict_frame, predict_proba, with_predictions
from txcat.serve.scorer import load_model

#: oneDAL sums the same leaves in another order: probabilities differ in the 7th decimal.
ENGINE_TOLERANCE = 1e-5
#: Share of rows whose top category may flip between the engines (exact or near ties).
MAX_FLIPPED_SHARE = 0.001


def _features(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        rng.normal(size=(rows, len(FEATURE_COLUMNS))), columns=list(FEATURE_COLUMNS)
    )
    frame = frame.mask(rng.random(frame.shape) < 0.15)  # missing values take the default path
    frame.iloc[:, 3] = np.round(frame.iloc[:, 3], 1)  # values on split thresholds
    return frame


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    """A deeper, longer booster than the serving tests' (22 classes, 30 rounds, depth 6)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, len(FEATURE_COLUMNS))).astype(np.float32)
    y = (np.abs(x[:, 0] * 5 + x[:, 3] * 2 + x[:, 10]) * 3).astype(int) % len(S.CATEGORIES)
    x[rng.random(x.shape) < 0.15] = np.nan
    data = xgb.DMatrix(x, label=y, feature_names=list(FEATURE_COLUMNS))
    params = {
        "objective": "multi:softprob",
        "num_class": len(S.CATEGORIES),
        "max_depth": 6,
        "nthread": 1,
        "seed": 5,
    }
    return xgb.train(params, data, num_boost_round=30)


@pytest.fixture(scope="module")
def onedal_model(tmp_path_factory, booster):
    folder = tmp_path_factory.mktemp("onedal") / "model"
    memory = (MEM.table_to_parquet(memory_table()), (20.0, 5.0, 3.0, 1.0))
    save_artifact(
        folder, booster, FEATURE_COLUMNS, S.CATEGORIES, [], {}, {}, memory=memory, engine=E.ONEDAL
    )
    return folder


def test_onedal_matches_xgboost_within_the_tolerance_and_flips_almost_no_category(booster):
    matrix = np.ascontiguousarray(_features(20_000, 1).to_numpy(dtype=np.float32))
    parity = E.parity(booster, matrix, E.ONEDAL)
    assert parity["rows"] == 20_000 and parity["engine"] == E.ONEDAL
    assert 0 < parity["max_abs_difference"] <= ENGINE_TOLERANCE, parity
    assert parity["flipped_categories"] <= MAX_FLIPPED_SHARE * parity["rows"], parity
    # The count is of real flips: the same engine against itself flips nothing.
    same = E.predictor(booster).proba(matrix)
    assert (same.argmax(axis=1) == booster.inplace_predict(matrix).argmax(axis=1)).all()


def test_parity_counts_a_flipped_category(booster, monkeypatch):
    matrix = np.ascontiguousarray(_features(50, 2).to_numpy(dtype=np.float32))

    class Reversed(E.XGBoostPredictor):
        def proba(self, m):  # the top category becomes the last one on every row
            return -super().proba(m)

    monkeypatch.setattr(E, "predictor", lambda b, *_: Reversed(b))
    parity = E.parity(booster, matrix, E.ONEDAL)
    assert parity["flipped_categories"] == 50


def test_the_artifact_records_its_engine_and_every_scorer_uses_it(onedal_model, booster):
    artifact = load_artifact(str(onedal_model))
    assert json.loads((onedal_model / "model.json").read_text())["engine"] == E.ONEDAL
    assert artifact.engine == E.ONEDAL
    assert isinstance(artifact.predictor(), E.OneDALPredictor)
    served = load_model(str(onedal_model))
    assert served.predictor.engine == E.ONEDAL
    # Explanations still come from the XGBoost booster.
    assert isinstance(served.booster, xgb.Booster)


def test_a_model_without_an_engine_is_an_xgboost_model(tmp_path):
    save_model(tmp_path / "m", seed=1)
    metadata = json.loads((tmp_path / "m" / "model.json").read_text())
    assert metadata["engine"] == E.XGBOOST
    del metadata["engine"]  # an artifact written before engines were recorded
    (tmp_path / "m" / "model.json").write_text(json.dumps(metadata))
    artifact = load_artifact(str(tmp_path / "m"))
    assert artifact.engine == E.XGBOOST
    assert isinstance(artifact.predictor(), E.XGBoostPredictor)


def test_an_unknown_engine_is_refused_in_the_artifact_and_in_the_configuration(tmp_path):
    from tests.helpers import local_config

    save_model(tmp_path / "m", seed=1)
    metadata = json.loads((tmp_path / "m" / "model.json").read_text())
    (tmp_path / "m" / "model.json").write_text(json.dumps(metadata | {"engine": "treelite"}))
    with pytest.raises(ModelArtifactError, match="'engine' must be one of xgboost, onedal"):
        load_artifact(str(tmp_path / "m"))
    with pytest.raises(ConfigError, match=r"training\.engine"):
        local_config(tmp_path, "training.engine=treelite")


def test_without_onedal_installed_the_model_is_refused_with_what_to_install(
    onedal_model, monkeypatch
):
    monkeypatch.setitem(sys.modules, "daal4py", None)  # `import daal4py` raises ImportError
    artifact = load_artifact(str(onedal_model))  # reading the artifact needs no engine
    with pytest.raises(E.EngineError, match="scikit-learn-intelex"):
        artifact.predictor()
    with pytest.raises(ModelArtifactError, match="needs daal4py"):
        load_model(str(onedal_model))


def _assert_batch_equals_api(spark, folder, features: pd.DataFrame) -> pd.DataFrame:
    """The batch UDF's and the real-time API's answers for `features` are identical, to the
    bit; returns the API's."""
    frame = features[list(FEATURE_COLUMNS)].assign(row=range(len(features)))
    schema = T.StructType(
        [T.StructField(c, T.DoubleType()) for c in FEATURE_COLUMNS]
        + [T.StructField("row", T.LongType())]
    )
    batch = (
        with_predictions(spark.createDataFrame(frame, schema), spark, load_artifact(str(folder)))
        .select("row", S.PREDICTED_CATEGORY, S.PREDICTED_PROBABILITY)
        .toPandas()
        .sort_values("row")
    )
    api = predict_frame(
        load_model(str(folder)).predictor, frame[list(FEATURE_COLUMNS)], S.CATEGORIES
    )
    assert list(batch[S.PREDICTED_CATEGORY]) == list(api[S.PREDICTED_CATEGORY])
    np.testing.assert_array_equal(
        batch[S.PREDICTED_PROBABILITY].to_numpy(), api[S.PREDICTED_PROBABILITY].to_numpy()
    )
    return api


def test_the_batch_udf_and_the_api_give_identical_answers_through_onedal(
    spark, onedal_model, booster
):
    artifact = load_artifact(str(onedal_model))
    features = _features(300, 3)
    _assert_batch_equals_api(spark, onedal_model, features)
    # ... and those answers are oneDAL's, not XGBoost's bit for bit.
    xgboost = predict_proba(booster, features)
    onedal = predict_proba(artifact.predictor(), features)
    assert not np.array_equal(xgboost, onedal)
    np.testing.assert_allclose(onedal, xgboost, rtol=0, atol=ENGINE_TOLERANCE)


def test_training_with_onedal_records_the_engine_and_its_parity_on_the_hold_out(spark, tmp_path):
    from tests.helpers import local_config
    from txcat.generate import generate
    from txcat.lifecycle import train

    generate(
        tmp_path / "training",
        30,
        "2026-06-01",
        "2026-10-31",
        seed=4,
        reference_out=tmp_path / "ref",
        rows_per_account=30,
    )
    cfg = local_config(
        tmp_path / "ref",
        "training.engine=onedal",
        "training.num_boost_round=10",
        "lifecycle.search_budget=1",
        "lifecycle.cv_folds=2",
        "lifecycle.refit_all_rows=false",
    )
    artifact = train.run(
        spark, cfg, str(tmp_path / "training"), str(tmp_path / "model"), dt.date(2026, 11, 1)
    )
    assert artifact.engine == E.ONEDAL
    parity = json.loads((tmp_path / "model" / train.EVALUATION_FILE).read_text())["engine_parity"]
    assert parity["engine"] == E.ONEDAL and parity["rows"] > 0
    assert parity["max_abs_difference"] <= ENGINE_TOLERANCE
    assert parity["flipped_categories"] <= MAX_FLIPPED_SHARE * parity["rows"] + 1
    assert artifact.metadata["evaluation"]["engine_parity"] == parity


def _backoff_model(folder, booster, categories=("ALUG DE CARROS", "INEXISTENTE")):
    save_artifact(
        folder,
        booster,
        FEATURE_COLUMNS,
        S.CATEGORIES,
        [],
        {},
        {},
        memory=(MEM.table_to_parquet(memory_table()), (20.0, 5.0, 3.0, 1.0)),
        memory_backoff=list(categories),
    )
    return folder


def _memory_frame(rows: int, seed: int) -> pd.DataFrame:
    """Features whose `mem_p_*` are probabilities (one missing now and then)."""
    frame = _features(rows, seed)
    rng = np.random.default_rng(seed)
    memory = [f"mem_p_{k}" for k in range(len(S.CATEGORIES))]
    frame[memory] = rng.dirichlet(np.ones(len(memory)), rows)
    frame.loc[frame.index[::7], "mem_p_21"] = np.nan
    return frame


def test_memory_backoff_takes_the_named_categories_from_the_label_memory(booster, tmp_path):
    artifact = load_artifact(str(_backoff_model(tmp_path / "m", booster)))
    k = [S.CATEGORIES.index("ALUG DE CARROS"), S.CATEGORIES.index("INEXISTENTE")]
    assert json.loads((tmp_path / "m" / "model.json").read_text())["memory"][
        "backoff_categories"
    ] == ["ALUG DE CARROS", "INEXISTENTE"]
    assert artifact.memory_backoff == tuple(
        (c, list(FEATURE_COLUMNS).index(f"mem_p_{c}")) for c in k
    )
    frame = _memory_frame(200, 4)
    trees = predict_proba(booster, frame)
    backed = predict_proba(artifact.predictor(), frame)
    np.testing.assert_allclose(backed.sum(axis=1), 1.0, atol=1e-6)
    others = [c for c in range(len(S.CATEGORIES)) if c not in k]
    # The other categories keep the trees' proportions; the named ones the memory's values.
    np.testing.assert_allclose(
        backed[:, others] / backed[:, others].sum(axis=1, keepdims=True),
        trees[:, others] / trees[:, others].sum(axis=1, keepdims=True),
        rtol=1e-5,
    )
    memory = frame[[f"mem_p_{c}" for c in k]].to_numpy()
    scale = trees[:, others].sum(axis=1) / backed[:, others].sum(axis=1)
    expected = np.where(np.isnan(memory), trees[:, k], memory)  # a missing memory keeps the trees'
    np.testing.assert_allclose(backed[:, k] * scale[:, None], expected, rtol=1e-5)


def test_a_memory_backoff_the_model_cannot_serve_is_refused(booster, tmp_path):
    _backoff_model(tmp_path / "m", booster)
    metadata = json.loads((tmp_path / "m" / "model.json").read_text())
    metadata["memory"]["backoff_categories"] = ["PADARIA"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelArtifactError, match="'PADARIA' is not predicted"):
        load_artifact(str(tmp_path / "m"))
    with pytest.raises(ValueError, match="needs the label memory"):
        save_artifact(
            tmp_path / "n", booster, FEATURE_COLUMNS, S.CATEGORIES, [], {}, {}, memory_backoff=["x"]
        )


def test_the_batch_udf_and_the_api_give_identical_answers_with_a_memory_backoff(
    spark, booster, tmp_path
):
    folder = _backoff_model(tmp_path / "m", booster)
    api = _assert_batch_equals_api(spark, folder, _memory_frame(300, 5))
    # ... and the back-off answered some rows: a named category is some row's best.
    assert {"ALUG DE CARROS", "INEXISTENTE"} & set(api[S.PREDICTED_CATEGORY])
