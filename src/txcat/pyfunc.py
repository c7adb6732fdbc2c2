"""MLflow's `python_function` flavor of a model artifact: the scoring job's own predictor.

`mlflow.pyfunc.load_model` (and `mlflow models serve`, `mlflow.pyfunc.spark_udf`,
`mlflow.evaluate`) imports this module from the model's `MLmodel` and calls `_load_pyfunc`
with the artifact folder. The model it returns loads the folder with `txcat.model.load_artifact`
and predicts with `ModelArtifact.predictor`: the engine the artifact records, and the label
memory's back-off of its rare categories, exactly as the batch job and the real-time API do.

Every model folder carries a copy of this module and of the two it imports (`txcat.model`,
`txcat.engine`; `SHIPPED_MODULES`) in MLflow's code folder, so an environment without txcat
installed loads the model too. Those three modules therefore import nothing else of txcat.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from txcat.engine import feature_matrix
from txcat.model import ModelArtifact, load_artifact

#: The files of the `txcat` package a model folder carries (`code/txcat/`).
SHIPPED_MODULES = ("__init__.py", "engine.py", "model.py", "pyfunc.py")


class ArtifactModel:
    """Class probabilities of feature rows, shape (rows, categories), `categories` order.

    The input holds the artifact's `feature_names` columns (others are ignored), with the label
    memory's features already looked up, as the job's feature frame does; a missing value is
    XGBoost's missing.
    """

    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        self.predictor = artifact.predictor()

    def predict(self, model_input: Any) -> np.ndarray:
        """The probabilities of the rows of `model_input` (a pandas DataFrame).

        Raises:
            ValueError: a feature column is missing from the input.
        """
        names = list(self.artifact.feature_names)
        missing = [n for n in names if n not in model_input.columns]
        if missing:
            raise ValueError(f"the input lacks the model's feature columns {missing}")
        matrix = feature_matrix(model_input[names])
        proba = np.asarray(self.predictor.proba(matrix), dtype=np.float32)
        return proba.reshape(len(matrix), len(self.artifact.categories))


def _load_pyfunc(path: str) -> ArtifactModel:
    """MLflow's entry point: the model of the artifact folder `path`."""
    return ArtifactModel(load_artifact(path))
