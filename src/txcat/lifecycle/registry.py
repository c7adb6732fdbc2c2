"""MLflow tracking and model registry: training runs, registered versions, gate tags, aliases.

The default store is an embedded SQLite database (`lifecycle.tracking_uri`), so no server is
needed; a shared server is one URI away. A registered version's source is the artifact folder of
`txcat.model` logged with its training run; its tags carry the model's sha256 and artifact
version, so a download is checked twice (registry tag and `model.json`). Resolving a
`models:/` URI to a verified local folder, all the scoring job needs, is `txcat.model_uri`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from txcat.config import Config
from txcat.lifecycle import mlflow_model as MLM
from txcat.model import ModelArtifact
from txcat.model_uri import (
    MODELS_SCHEME,
    ModelRef,
    RegistryError,
    client,
    parse_models_uri,
)

log = logging.getLogger(__name__)

MODEL_PATH = "model"  # where a run keeps the artifact folder
TAG_ARTIFACT_VERSION = "txcat.artifact_version"
TAG_GATE = "txcat.quality_gate"
TAG_GATE_DETAIL = "txcat.quality_gate_detail"
#: On the registered model: the versions the serving alias pointed at, oldest first (JSON).
TAG_SERVED = "txcat.served_versions"
#: Entries kept in TAG_SERVED (a tag value holds at most 5000 characters).
SERVED_KEPT = 100


def parse_reference(ref: str, cfg: Config) -> ModelRef:
    """A command-line model reference: `7`, `@champion`, `models:/...` (registry only)."""
    if ref.startswith(MODELS_SCHEME):
        return parse_models_uri(ref)
    name = cfg.lifecycle.registered_model
    if ref.isdigit():
        return ModelRef(name, version=ref)
    if ref.startswith("@") and len(ref) > 1:
        return ModelRef(name, alias=ref[1:])
    raise RegistryError(f"{ref!r} is not a version number, @alias or models:/ URI")


def store_cache(cfg: Config, purpose: str) -> Path:
    """A local cache folder per tracking store (two stores may hold the same model name)."""
    digest = hashlib.sha256(cfg.lifecycle.tracking_uri.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / purpose / digest


def _artifact_location(cfg: Config) -> str:
    root = cfg.lifecycle.artifact_root
    if "://" in root:
        return root.rstrip("/")
    return Path(root).resolve().as_uri()


def experiment_id(mlflow_client: Any, cfg: Config) -> str:
    """The configured experiment, created on first use with `lifecycle.artifact_root`."""
    found = mlflow_client.get_experiment_by_name(cfg.lifecycle.experiment)
    if found is not None:
        return str(found.experiment_id)
    return str(
        mlflow_client.create_experiment(
            cfg.lifecycle.experiment, artifact_location=_artifact_location(cfg)
        )
    )


def _flatten(prefix: str, values: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isnan(value):  # MLflow rejects NaN in some stores; skip it
            out[f"{prefix}{key}"] = float(value)
    return out


def training_metrics(evaluation: Mapping[str, Any]) -> dict[str, float]:
    """Hold-out numbers of every candidate and the CV mean/std of the chosen configuration."""
    metrics: dict[str, float] = {}
    for name, values in evaluation["holdout"].items():
        metrics |= _flatten(f"holdout.{name}.", values)
        for category, pc in values["per_class"].items():
            metrics |= _flatten(f"holdout.{name}.class.{category}.", pc)
    cv = evaluation["cross_validation"]
    chosen = evaluation["chosen_params"]
    trials = cv["xgboost"]
    for trial in trials:
        for metric, stats in trial["summary"].items():
            metrics[f"cv.xgboost_trial{trial['trial']}.{metric}_mean"] = stats["mean"]
    for name in ("majority", "logistic_regression"):
        for metric, stats in cv[name]["summary"].items():
            metrics[f"cv.{name}.{metric}_mean"] = stats["mean"]
            metrics[f"cv.{name}.{metric}_std"] = stats["std"]
    best = next(t for t in trials if t["params"] == chosen)
    for metric, stats in best["summary"].items():
        metrics[f"cv.xgboost.{metric}_mean"] = stats["mean"]
        metrics[f"cv.xgboost.{metric}_std"] = stats["std"]
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}


def log_training_run(
    cfg: Config,
    model_dir: str | Path,
    artifact: ModelArtifact,
    evaluation: Mapping[str, Any],
    run_name: str,
) -> str:
    """Logs one training run (params, metrics, manifest, artifact folder); returns its id.

    The one step that creates the tracking store when it does not exist yet.
    """
    mlflow_client = client(cfg, create=True)
    exp = experiment_id(mlflow_client, cfg)
    run = mlflow_client.create_run(
        exp,
        run_name=run_name,
        tags=MLM.tags(artifact),
    )
    run_id = run.info.run_id
    try:
        params = {f"training.{k}": v for k, v in vars(cfg.training).items()}
        params |= {f"chosen.{k}": v for k, v in evaluation["chosen_params"].items()}
        params |= {f"split.{k}": v for k, v in evaluation["split"].items()}
        params |= {
            "lifecycle.search_budget": cfg.lifecycle.search_budget,
            "input": artifact.metadata.get("params", {}).get("input", ""),
        }
        from mlflow.entities import Metric, Param

        mlflow_client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        metrics = list(training_metrics(evaluation).items())
        for start in range(0, len(metrics), 900):  # MLflow caps a batch at 1000 metrics
            batch = [Metric(k, v, 0, 0) for k, v in metrics[start : start + 900]]
            mlflow_client.log_batch(run_id, metrics=batch)
        mlflow_client.log_artifacts(run_id, str(model_dir), MODEL_PATH)
        mlflow_client.set_terminated(run_id, "FINISHED")
    except Exception:
        mlflow_client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def register_version(cfg: Config, run_id: str, artifact: ModelArtifact) -> str:
    """Registers the run's artifact folder as a new version; returns the version number."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(cfg)
    name = cfg.lifecycle.registered_model
    try:
        mlflow_client.get_registered_model(name)
    except MlflowException:
        mlflow_client.create_registered_model(
            name, description="txcat merchant-category model (XGBoost artifact folder)"
        )
    run = mlflow_client.get_run(run_id)
    version = mlflow_client.create_model_version(
        name,
        f"{run.info.artifact_uri}/{MODEL_PATH}",
        run_id,
        tags=MLM.tags(artifact) | {TAG_GATE: "not_checked"},
    )
    log.info("registered %s version %s (sha256 %s)", name, version.version, artifact.sha256)
    return str(version.version)


def set_gate_tags(cfg: Config, name: str, version: str, passed: bool, detail: list[str]) -> None:
    mlflow_client = client(cfg)
    mlflow_client.set_model_version_tag(name, version, TAG_GATE, "passed" if passed else "failed")
    mlflow_client.set_model_version_tag(name, version, TAG_GATE_DETAIL, json.dumps(detail))


def set_alias(cfg: Config, name: str, alias: str, version: str) -> None:
    client(cfg).set_registered_model_alias(name, alias, version)


def search_versions(cfg: Config) -> list[Any]:
    """Every registered version of the configured model."""
    return list(client(cfg).search_model_versions(f"name='{cfg.lifecycle.registered_model}'"))


def served_history(cfg: Config, name: str) -> list[str]:
    """The versions the serving alias pointed at, oldest first (`TAG_SERVED`)."""
    tags = client(cfg).get_registered_model(name).tags or {}
    try:
        history = json.loads(tags.get(TAG_SERVED, "[]"))
    except ValueError:
        log.warning("registered model tag %s is not JSON: history ignored", TAG_SERVED)
        return []
    return [str(v) for v in history] if isinstance(history, list) else []


def record_served(cfg: Config, name: str, version: str) -> None:
    """Appends `version` to the serving history (what `txcat rollback` goes back through)."""
    history = [*served_history(cfg, name), str(version)][-SERVED_KEPT:]
    client(cfg).set_registered_model_tag(name, TAG_SERVED, json.dumps(history))
