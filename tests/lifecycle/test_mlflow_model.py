"""The artifact folder as an MLflow model: xgboost flavor in UBJ, signature, example, pins."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from txcat import schema as S
from txcat.features import FEATURE_COLUMNS as ALL_FEATURES
from txcat.lifecycle import candidates as C
from txcat.lifecycle import mlflow_model as MLM
from txcat.model import MEMORY_FEATURE_PREFIX, load_artifact, save_artifact
from txcat.score import predict_frame, predict_proba

#: Saving and loading through MLflow takes a few seconds (its imports).
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FEATURES = tuple(c for c in ALL_FEATURES if not c.startswith(MEMORY_FEATURE_PREFIX))


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    frame.iloc[::7, 3] = np.nan  # missing values are valid input
    return frame


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    data = _frame(400, 1)
    y = np.arange(len(data)) % len(S.CATEGORIES)
    x = data.to_numpy(dtype=np.float32, na_value=np.nan)
    params = {"max_depth": 2, "learning_rate": 0.3, "min_child_weight": 1.0}
    params |= {"subsample": 1.0, "colsample_bytree": 1.0}
    fitted = C.fit_xgboost(x, y, np.ones(len(y)), params, len(S.CATEGORIES), FEATURES, 1, 4)
    out = tmp_path_factory.mktemp("mlmodel") / "model"
    artifact = save_artifact(
        out,
        fitted.booster,
        FEATURES,
        S.CATEGORIES,
        ["a.csv"],
        params={},
        metrics={},
        extra={"fitted_on": {"rows_sha256": "f" * 64}},
    )
    MLM.write(out, artifact, MLM.input_example(data, artifact.feature_names))
    return out


def test_the_folder_is_an_xgboost_model_in_ubj_beside_the_artifact(folder):
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["xgboost"]
    assert flavor["model_format"] == "ubj" and flavor["data"] == "model.ubj"
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.xgboost"
    assert not [p.name for p in folder.iterdir() if p.suffix in (".pkl", ".pickle")]
    artifact = load_artifact(str(folder))  # the job's contract still holds, bytes unchanged
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [c["name"] for c in inputs] == list(artifact.feature_names)
    assert {c["type"] for c in inputs} == {"double"}
    outputs = json.loads(mlmodel["signature"]["outputs"])
    assert outputs[0]["tensor-spec"]["shape"] == [-1, len(S.CATEGORIES)]
    txcat = MLM.read_txcat_metadata(folder)
    assert txcat["sha256"] == artifact.sha256
    assert txcat["feature_names"] == list(artifact.feature_names)
    assert txcat["categories"] == list(S.CATEGORIES)
    assert txcat["training_data_sha256"] == "f" * 64
    tags = MLM.tags(artifact)
    assert tags["txcat.sha256"] == artifact.sha256
    assert json.loads(tags["txcat.feature_names"]) == list(artifact.feature_names)
    assert all(len(v) <= 5000 for v in tags.values())  # MLflow's tag value limit


def test_the_input_example_is_the_medians_not_a_training_row(folder):
    example = json.loads((folder / "input_example.json").read_text())
    assert example["columns"] == list(FEATURES)
    assert example["data"] == [pytest.approx(_frame(400, 1).median().tolist())]


def test_pyfunc_predicts_the_probabilities_the_job_scores_with(folder):
    import mlflow.pyfunc

    features = _frame(50, 2)
    model = mlflow.pyfunc.load_model(str(folder))
    predicted = np.asarray(model.predict(features))
    booster = load_artifact(str(folder)).booster()
    assert predicted.shape == (50, len(S.CATEGORIES))
    np.testing.assert_allclose(predicted, predict_proba(booster, features), rtol=0, atol=1e-7)
    job = predict_frame(booster, features, S.CATEGORIES)
    assert (job[S.PREDICTED_CATEGORY] == np.asarray(S.CATEGORIES)[predicted.argmax(1)]).all()


def test_pins_are_the_lock_files_versions():
    locked = {}
    for lock in ("job.txt", "lifecycle.txt"):
        for line in (REPO / "requirements" / lock).read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
            if match:
                locked.setdefault(match[1].lower(), match[2])
    pins = dict(p.split("==") for p in MLM.pip_requirements())
    assert {"mlflow", "xgboost-cpu", "numpy", "pandas", "pyarrow", "scipy"} <= set(pins)
    assert {name: locked.get(name) for name in pins} == pins


def test_requirements_file_holds_the_pins(folder):
    written = (folder / "requirements.txt").read_text().split()
    assert set(MLM.pip_requirements()) <= set(written)
