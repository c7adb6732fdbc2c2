"""The artifact folder as an MLflow model: txcat's own `python_function` flavor beside the
`xgboost` flavor.

Training writes `MLmodel`, the environment files, an input example and a code folder into the
artifact folder (`txcat.model`), so a registered version is both what the scoring job loads
(`model.json`, `model.ubj`, `memory.parquet`) and what `mlflow.pyfunc.load_model`,
`mlflow models serve`, `mlflow.pyfunc.spark_udf` and `mlflow.evaluate` load.

- `python_function` is `txcat.pyfunc`: the artifact's own predictor, so the probabilities are
  the job's, including the label memory's back-off of the categories `model.json` lists in
  `memory.backoff_categories` (`txcat.engine.MemoryBackoff`), which the trees alone do not
  give. The folder carries `txcat.pyfunc` and the modules it imports under `code/txcat/`
  (MLflow's code paths): a serving environment needs the pinned packages, not txcat.
- `xgboost` is the booster alone, for `mlflow.xgboost.load_model`. Its data file is the
  artifact's own `model.ubj` (UBJSON, never pickle): the bytes MLflow writes are checked
  against the artifact's sha256 and only the artifact's copy is kept.

The pyfunc model takes the job's feature frame (columns `feature_names`; the label memory
features already looked up in `memory.parquet`) and returns one probability per category
(`categories` order).
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from txcat import pyfunc
from txcat.model import MEMORY_FILE, MODEL_FILE, ModelArtifact, ModelArtifactError, sha256_hex

MLMODEL_FILE = "MLmodel"
#: MLflow's code folder of the model: `code/txcat/` holds `pyfunc.SHIPPED_MODULES`.
CODE_DIR = "code"
#: Packages the pyfunc model imports, pinned to the versions training ran with (installed from
#: the lock files, `requirements/job.txt` and `requirements/lifecycle.txt`). The first
#: distribution found of each group is pinned: xgboost ships as `xgboost-cpu` in the locks.
PINNED: tuple[tuple[str, ...], ...] = (
    ("mlflow",),
    ("xgboost-cpu", "xgboost"),
    ("numpy",),
    ("pandas",),
    ("pyarrow",),
    ("scipy",),
)


def pip_requirements() -> list[str]:
    """`name==version` of every package the pyfunc model needs, as installed here."""
    pins = []
    for group in PINNED:
        for name in group:
            try:
                pins.append(f"{name}=={importlib.metadata.version(name)}")
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        else:
            raise ModelArtifactError(f"none of {group} is installed: cannot pin the model's needs")
    return pins


def txcat_metadata(artifact: ModelArtifact) -> dict[str, Any]:
    """What a scorer checks, also stored in `MLmodel` and as registry tags."""
    memory = artifact.metadata.get("memory") or {}
    fitted = artifact.metadata.get("fitted_on") or {}
    return {
        "artifact_version": artifact.version,
        "sha256": artifact.sha256,
        "feature_names": list(artifact.feature_names),
        "categories": list(artifact.categories),
        "training_data_sha256": fitted.get("rows_sha256"),
        "memory_file": memory.get("file", MEMORY_FILE) if memory else None,
        "memory_sha256": memory.get("sha256"),
    }


def input_example(features: pd.DataFrame, feature_names: tuple[str, ...]) -> pd.DataFrame:
    """One row: each feature's median over `features` (0 where a feature is always missing).

    No row of the training data itself goes to the registry: feature rows carry amounts and
    label-memory lookups of real accounts. Missing values are valid input (the signature's
    columns are optional doubles; NaN is XGBoost's missing) but stay out of the example, whose
    JSON must be strict for `mlflow models serve`.
    """
    frame = features[list(feature_names)].astype("float64")
    medians = frame.median(skipna=True).fillna(0.0)
    return pd.DataFrame([medians.to_numpy()], columns=list(feature_names))


def signature(artifact: ModelArtifact) -> Any:
    """Input: the ordered feature columns, doubles, missing allowed; output: probabilities."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    inputs = Schema([ColSpec("double", name, required=False) for name in artifact.feature_names])
    outputs = Schema([TensorSpec(np.dtype("float32"), (-1, len(artifact.categories)))])
    return ModelSignature(inputs=inputs, outputs=outputs)


def write(folder: str | Path, artifact: ModelArtifact, example: pd.DataFrame) -> list[str]:
    """Adds the MLflow model files to an artifact folder; returns the names written.

    Raises:
        ModelArtifactError: MLflow's copy of the booster differs from the artifact's bytes.
    """
    import mlflow.xgboost

    out = Path(folder)
    with tempfile.TemporaryDirectory(prefix="txcat-mlmodel-") as tmp:
        staged = Path(tmp) / "model"
        mlflow.xgboost.save_model(
            artifact.booster(),
            str(staged),
            signature=signature(artifact),
            input_example=example,
            pip_requirements=pip_requirements(),
            model_format="ubj",
            metadata={"txcat": txcat_metadata(artifact)},
        )
        written = sha256_hex((staged / MODEL_FILE).read_bytes())
        if written != artifact.sha256:
            raise ModelArtifactError(
                f"MLflow wrote booster bytes {written}, the artifact's are {artifact.sha256}"
            )
        _use_txcat_pyfunc(staged)
        names = sorted(p.name for p in staged.iterdir() if p.name != MODEL_FILE)
        for name in names:
            shutil.move(str(staged / name), str(out / name))
    return names


def _use_txcat_pyfunc(staged: Path) -> None:
    """Makes `txcat.pyfunc` the model's `python_function` flavor, its modules in the code
    folder; the environment files the xgboost flavor wrote stay the model's."""
    import mlflow.pyfunc
    from mlflow.models import Model

    mlmodel = Model.load(str(staged / MLMODEL_FILE))
    env = mlmodel.flavors.pop(mlflow.pyfunc.FLAVOR_NAME)[mlflow.pyfunc.ENV]
    package = pyfunc.__name__.split(".")[0]
    code = staged / CODE_DIR / package
    code.mkdir(parents=True)
    for name in pyfunc.SHIPPED_MODULES:
        # Read through the import system: the package may be installed as files or in a zip.
        (code / name).write_bytes(importlib.resources.files(package).joinpath(name).read_bytes())
    mlflow.pyfunc.add_to_model(
        mlmodel,
        loader_module=pyfunc.__name__,
        code=CODE_DIR,
        conda_env=env.get("conda"),
        python_env=env.get("virtualenv"),
    )
    mlmodel.save(str(staged / MLMODEL_FILE))


def read_txcat_metadata(folder: str | Path) -> Mapping[str, Any]:
    """The txcat entry of a folder's `MLmodel` (empty when the folder is not an MLflow model)."""
    import yaml

    path = Path(folder) / MLMODEL_FILE
    if not path.is_file():
        return {}
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict((document.get("metadata") or {}).get("txcat") or {})


def tags(artifact: ModelArtifact) -> dict[str, str]:
    """Registry tags of a version: txcat's metadata, one tag per entry (lists as JSON)."""
    values = txcat_metadata(artifact)
    return {
        f"txcat.{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in values.items()
        if value is not None
    }
