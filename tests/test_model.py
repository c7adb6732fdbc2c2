from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb

from txcat import model


@pytest.fixture
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


def _train(n_features: int, n_classes: int, names: list[str] | None = None) -> xgb.Booster:
    x = np.arange(30 * n_features, dtype=np.float32).reshape(30, n_features)
    y = np.arange(30) % n_classes
    params = {"objective": "multi:softprob", "num_class": n_classes}
    return xgb.train(params, xgb.DMatrix(x, label=y, feature_names=names), 2)


def _write_artifact(folder, booster: xgb.Booster, metadata: object) -> None:
    """An artifact folder whose model.json says what the test wants, checksum recomputed."""
    folder.mkdir(parents=True, exist_ok=True)
    data = bytes(booster.save_raw(raw_format="ubj"))
    (folder / model.MODEL_FILE).write_bytes(data)
    if isinstance(metadata, dict):
        metadata = {"version": "v-test", "sha256": model.sha256_hex(data), **metadata}
    (folder / model.METADATA_FILE).write_text(json.dumps(metadata))


def test_booster_with_fewer_classes_than_listed_categories_is_refused(tmp_path):
    categories = [f"C{i}" for i in range(22)]
    _write_artifact(tmp_path, _train(2, 3), {"feature_names": ["a", "b"], "categories": categories})
    with pytest.raises(model.ModelArtifactError, match=r"booster has 3 classes.* 22 categories"):
        model.load_artifact(str(tmp_path))


def test_booster_with_other_feature_count_is_refused(tmp_path):
    meta = {"feature_names": ["a", "b"], "categories": ["X", "Y", "Z"]}
    _write_artifact(tmp_path, _train(10, 3), meta)
    with pytest.raises(model.ModelArtifactError, match=r"takes 10 features, model\.json lists 2"):
        model.load_artifact(str(tmp_path))


def test_booster_with_other_stored_feature_names_is_refused(tmp_path):
    meta = {"feature_names": ["a", "b"], "categories": ["X", "Y", "Z"]}
    _write_artifact(tmp_path, _train(2, 3, names=["b", "a"]), meta)
    with pytest.raises(model.ModelArtifactError, match=r"feature names differ.*0: 'b' != 'a'"):
        model.load_artifact(str(tmp_path))


def test_booster_without_class_probabilities_is_refused(tmp_path):
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    binary = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=np.arange(20) % 2), 2)
    _write_artifact(tmp_path, binary, {"feature_names": ["a", "b"], "categories": ["X", "Y"]})
    with pytest.raises(model.ModelArtifactError, match="objective is 'binary:logistic'"):
        model.load_artifact(str(tmp_path))


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, "must be a JSON object, got NoneType"),
        ([1, 2], "must be a JSON object, got list"),
        ({"feature_names": "ab", "categories": ["X", "Y", "Z"]}, "'feature_names' must be"),
        ({"feature_names": ["a", None], "categories": ["X", "Y", "Z"]}, "'feature_names' must"),
        ({"feature_names": ["a", "b"], "categories": {"X": 1}}, "'categories' must be"),
        ({"feature_names": ["a", "a"], "categories": ["X", "Y", "Z"]}, "repeated names"),
        ({"feature_names": ["a", "b"], "categories": ["X", "Y", "Z"], "version": 7}, "'version'"),
        ({"feature_names": ["a", "b"], "categories": ["X", "Y", "Z"], "sha256": None}, "'sha256'"),
    ],
)
def test_malformed_metadata_is_refused(tmp_path, booster, metadata, message):
    _write_artifact(tmp_path, booster, metadata)
    with pytest.raises(model.ModelArtifactError, match=message):
        model.load_artifact(str(tmp_path))


def test_bytes_that_are_no_booster_are_refused(tmp_path):
    with pytest.raises(model.ModelArtifactError, match="not a loadable booster"):
        model.booster_from_bytes(b"not a model")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / model.MODEL_FILE).write_bytes(b"{}")
    meta = {"version": "v", "sha256": model.sha256_hex(b"{}"), "feature_names": ["a"]}
    (folder / model.METADATA_FILE).write_text(json.dumps({**meta, "categories": ["X"]}))
    with pytest.raises(model.ModelArtifactError, match="not a loadable booster"):
        model.load_artifact(str(folder))


def test_booster_from_bytes_sets_threads_and_predicts_like_the_original(booster):
    data = bytes(booster.save_raw(raw_format="ubj"))
    loaded = model.booster_from_bytes(data, nthread=2)
    assert json.loads(loaded.save_config())["learner"]["generic_param"]["nthread"] == "2"
    x = np.ones((2, 2), dtype=np.float32)
    np.testing.assert_allclose(loaded.inplace_predict(x), booster.inplace_predict(x))


def test_memory_table_ships_with_the_model_and_is_checked(tmp_path, booster):
    table = b"PAR1 pretend table"
    saved = model.save_artifact(
        tmp_path, booster, ["a", "mem_p_0"], ["X", "Y", "Z"], [], {}, {}, memory=(table, [20, 1])
    )
    loaded = model.load_artifact(str(tmp_path))
    assert loaded.memory_table == saved.memory_table == table
    assert loaded.memory_smoothing == (20.0, 1.0)
    meta = json.loads((tmp_path / model.METADATA_FILE).read_text())
    assert meta["memory"]["sha256"] == model.sha256_hex(table)

    (tmp_path / model.MEMORY_FILE).write_bytes(b"PAR1 pretend tablf")
    with pytest.raises(model.ModelArtifactError, match="memory table checksum mismatch"):
        model.load_artifact(str(tmp_path))
    (tmp_path / model.MEMORY_FILE).unlink()
    with pytest.raises(model.ModelArtifactError, match="cannot read"):
        model.load_artifact(str(tmp_path))


def test_memory_features_need_a_table_other_models_load_without(tmp_path, booster):
    with pytest.raises(model.ModelArtifactError, match="no memory table"):
        model.save_artifact(tmp_path / "x", booster, ["a", "mem_p_0"], ["X", "Y", "Z"], [], {}, {})
    folder = tmp_path / "with"
    names = ["a", "mem_p_0"]
    model.save_artifact(folder, booster, names, ["X", "Y", "Z"], [], {}, {}, memory=(b"t", [1]))
    meta = json.loads((folder / model.METADATA_FILE).read_text())
    del meta["memory"]
    (folder / model.METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(model.ModelArtifactError, match="no memory table"):
        model.load_artifact(str(folder))
    model.save_artifact(tmp_path / "without", booster, ["a", "b"], ["X", "Y", "Z"], [], {}, {})
    assert model.load_artifact(str(tmp_path / "without")).memory_table is None
