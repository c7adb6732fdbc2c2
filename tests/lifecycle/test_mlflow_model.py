"""The artifact folder as an MLflow model: txcat's pyfunc flavor and its code, the xgboost flavor
in UBJ, signature, example, pins."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.serve.conftest import memory_table
from txcat import pyfunc
from txcat import schema as S
from txcat.features import FEATURE_COLUMNS as ALL_FEATURES
from txcat.features import memory as MEM
from txcat.lifecycle import candidates as C
from txcat.lifecycle import mlflow_model as MLM
from txcat.model import MEMORY_FEATURE_PREFIX, MEMORY_P_PREFIX, load_artifact, save_artifact
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


def _memory_frame(rows: int, seed: int) -> pd.DataFrame:
    """Every feature, the label memory's `mem_p_*` probabilities (one missing now and then)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(ALL_FEATURES))), columns=ALL_FEATURES)
    memory = [f"{MEMORY_P_PREFIX}{k}" for k in range(len(S.CATEGORIES))]
    frame[memory] = rng.dirichlet(np.ones(len(memory)), rows)
    frame.loc[frame.index[::7], memory[-1]] = np.nan
    return frame


def _mlflow_model(out: Path, data: pd.DataFrame, **kwargs) -> Path:
    names = tuple(data.columns)
    y = np.arange(len(data)) % len(S.CATEGORIES)
    x = data.to_numpy(dtype=np.float32, na_value=np.nan)
    params = {"max_depth": 2, "learning_rate": 0.3, "min_child_weight": 1.0}
    params |= {"subsample": 1.0, "colsample_bytree": 1.0}
    fitted = C.fit_xgboost(x, y, np.ones(len(y)), params, len(S.CATEGORIES), names, 1, 4)
    artifact = save_artifact(
        out,
        fitted.booster,
        names,
        S.CATEGORIES,
        ["a.csv"],
        params={},
        metrics={},
        extra={"fitted_on": {"rows_sha256": "f" * 64}},
        **kwargs,
    )
    MLM.write(out, artifact, MLM.input_example(data, artifact.feature_names))
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return _mlflow_model(tmp_path_factory.mktemp("mlmodel") / "model", _frame(400, 1))


#: Two categories whose probabilities come from the label memory.
BACKOFF = ("ALUG DE CARROS", "INEXISTENTE")


@pytest.fixture(scope="module")
def backoff_folder(tmp_path_factory) -> Path:
    return _mlflow_model(
        tmp_path_factory.mktemp("mlmodel") / "model",
        _memory_frame(400, 1),
        memory=(MEM.table_to_parquet(memory_table()), (20.0, 5.0, 3.0, 1.0)),
        memory_backoff=list(BACKOFF),
    )


def test_the_folder_is_an_mlflow_model_beside_the_artifact(folder):
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["xgboost"]
    assert flavor["model_format"] == "ubj" and flavor["data"] == "model.ubj"
    python_function = mlmodel["flavors"]["python_function"]
    assert python_function["loader_module"] == "txcat.pyfunc"
    assert python_function["code"] == "code" and "data" not in python_function
    assert python_function["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    package = Path(pyfunc.__file__).parent
    shipped = sorted(p.name for p in (folder / "code" / "txcat").iterdir())
    assert shipped == sorted(pyfunc.SHIPPED_MODULES)
    for name in shipped:  # the modules as they were when the model was written
        assert (folder / "code" / "txcat" / name).read_bytes() == (package / name).read_bytes()
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


def test_pyfunc_applies_the_memory_backoff_the_trees_alone_do_not(backoff_folder):
    import mlflow.pyfunc
    import mlflow.xgboost

    artifact = load_artifact(str(backoff_folder))
    assert artifact.memory_backoff
    features = _memory_frame(200, 3)
    predicted = np.asarray(mlflow.pyfunc.load_model(str(backoff_folder)).predict(features))
    job = predict_proba(artifact.predictor(), features[list(artifact.feature_names)])
    np.testing.assert_allclose(predicted, job, rtol=0, atol=1e-7)
    trees = predict_proba(mlflow.xgboost.load_model(str(backoff_folder)), features)
    backed = [S.CATEGORIES.index(c) for c in BACKOFF]
    assert np.abs(predicted[:, backed] - trees[:, backed]).max() > 0.01
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, atol=1e-5)


def test_pyfunc_names_the_feature_columns_its_input_lacks(folder):
    model = pyfunc._load_pyfunc(str(folder))
    with pytest.raises(ValueError, match="lacks the model's feature columns \\['amount_log'\\]"):
        model.predict(_frame(5, 4).drop(columns=["amount_log"]))


#: Loads a model folder where `txcat` can only come from the folder's own code: any other
#: source of the package (an installed or editable txcat) is refused.
ISOLATED = """
import importlib.abc, importlib.machinery, json, sys
import pandas as pd

folder = sys.argv[1]
code = folder + "/code"

class OnlyTheModelsCode(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] != "txcat":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path or [code])
        if spec is None or not spec.origin.startswith(code):
            raise ModuleNotFoundError(name)
        return spec

sys.meta_path.insert(0, OnlyTheModelsCode())
import mlflow.pyfunc

frame = pd.read_json(sys.argv[2], orient="split")
predicted = mlflow.pyfunc.load_model(folder).predict(frame)
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "txcat")
print(json.dumps({"modules": loaded, "file": sys.modules["txcat"].__file__,
                  "predicted": predicted.tolist()}))
"""


def test_the_model_loads_where_txcat_is_not_installed(backoff_folder, tmp_path):
    features = _memory_frame(30, 5)
    rows = tmp_path / "rows.json"
    features.to_json(rows, orient="split", double_precision=15)
    done = subprocess.run(
        [sys.executable, "-c", ISOLATED, str(backoff_folder), str(rows)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["file"].startswith(str(backoff_folder / "code" / "txcat"))
    assert answer["modules"] == ["txcat", "txcat.engine", "txcat.model", "txcat.pyfunc"]
    artifact = load_artifact(str(backoff_folder))
    job = predict_proba(artifact.predictor(), features[list(artifact.feature_names)])
    np.testing.assert_allclose(np.asarray(answer["predicted"]), job, rtol=0, atol=1e-7)


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
