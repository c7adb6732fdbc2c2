from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb

from txcat import model


@pytest.fixture()
def booster() -> xgb.Booster:
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20) % 3
    return xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(x, label=y), 3)


def test_artifact_round_trips(tmp_path, booster):
    saved = model.save_artifact(
        tmp_path,
        booster,
        ["a", "b"],
        ["X", "Y", "Z"],
        ["f2", "f1"],
        {"max_depth": 3},
        {"accuracy": 0.5},
    )
    loaded = model.load_artifact(str(tmp_path))
    assert loaded.version == saved.version and loaded.sha256 == saved.sha256
    assert loaded.feature_names == ("a", "b") and loaded.categories == ("X", "Y", "Z")
    assert (tmp_path / model.TRAINING_FILES).read_text() == "f1\nf2\n"
    meta = json.loads((tmp_path / model.METADATA_FILE).read_text())
    assert meta["sha256"] == model.sha256_hex((tmp_path / model.MODEL_FILE).read_bytes())
    x = np.ones((2, 2), dtype=np.float32)
    np.testing.assert_allclose(loaded.booster().inplace_predict(x), booster.inplace_predict(x))


def test_tampered_model_is_refused(tmp_path, booster):
    model.save_artifact(tmp_path, booster, ["a", "b"], ["X", "Y", "Z"], [], {}, {})
    data = bytearray((tmp_path / model.MODEL_FILE).read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / model.MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(model.ModelArtifactError, match="checksum"):
        model.load_artifact(str(tmp_path))


def test_missing_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(model.ModelArtifactError, match="cannot read"):
        model.load_artifact(str(tmp_path / "nope"))


def test_other_features_or_categories_are_refused(tmp_path, booster):
    artifact = model.save_artifact(tmp_path, booster, ["a", "b"], ["X", "Y", "Z"], [], {}, {})
    model.check_compatible(artifact, ["a", "b"], ["X", "Y", "Z"])
    with pytest.raises(model.ModelArtifactError, match="other features"):
        model.check_compatible(artifact, ["b", "a"], ["X", "Y", "Z"])
    with pytest.raises(model.ModelArtifactError, match="missing \\['c'\\]"):
        model.check_compatible(artifact, ["a", "b", "c"], ["X", "Y", "Z"])
    with pytest.raises(model.ModelArtifactError, match="categories"):
        model.check_compatible(artifact, ["a", "b"], ["X", "Y"])
