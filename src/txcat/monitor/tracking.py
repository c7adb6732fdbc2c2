"""The day's monitoring figures in MLflow: an experiment of their own, one run per run date.

A rerun of the same day replaces that day's figures in its run (found by its `run_date` tag)
instead of adding a second run, so the MLflow charts keep one point per day. Logging is
best-effort: an unreachable tracking server is a warning, never the monitor's failure.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from txcat import model_uri
from txcat.config import Config

log = logging.getLogger(__name__)


def day_figures(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The day's scalar figures, named for MLflow's charts."""
    figures: dict[str, float] = {"alerts": float(len(metrics.get("alerts") or []))}
    predictions = metrics.get("predictions") or {}
    for key in ("mix_psi", "mean_top_probability", "low_confidence_share", "rows"):
        if key in predictions:
            figures[f"predictions_{key}"] = float(predictions[key])
    for record in (metrics.get("features") or {}).get("drift") or []:
        if record.get("psi") is not None:
            figures[f"psi_{record['feature']}"] = float(record["psi"])
    volume = metrics.get("volume") or {}
    for key in ("files_read", "rows_read"):
        if key in volume:
            figures[key] = float(volume[key]["today"])
    quarantine = metrics.get("quarantine") or {}
    if quarantine.get("row_share") is not None:
        figures["quarantine_row_share"] = float(quarantine["row_share"])
    figures["expectations_failed"] = float((metrics.get("expectations") or {}).get("failed", 0))
    feedback = metrics.get("feedback") or {}
    if feedback.get("rows"):
        figures["feedback_rows"] = float(feedback["rows"])
        figures["feedback_accuracy"] = float(feedback["accuracy"])
        figures["feedback_macro_f1"] = float(feedback["macro_f1"])
    return figures


def log_day(cfg: Config, metrics: Mapping[str, Any]) -> dict[str, str]:
    """Logs the day's figures; returns `{"run_id": ...}`, or `{"note": why not}`.

    The tracking store must exist (training creates it, as every reader expects): a missing
    one is a note, not a new store in a mistyped place.
    """
    try:
        client = model_uri.client(cfg)
        name = cfg.monitoring.mlflow_experiment
        experiment = client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(name, artifact_location=_artifacts(cfg))
        )
        day = str(metrics["run_date"])
        found = client.search_runs([experiment_id], f"tags.run_date = '{day}'", max_results=1)
        run_id = (
            found[0].info.run_id
            if found
            else client.create_run(experiment_id, run_name=day, tags={"run_date": day}).info.run_id
        )
        client.set_tag(run_id, "model_version", str(metrics.get("model_version")))
        if metrics.get("model_registry_version"):
            client.set_tag(run_id, "model_registry_version", str(metrics["model_registry_version"]))
        client.set_tag(run_id, "status", str(metrics.get("status")))
        step = (dt.date.fromisoformat(day) - dt.date(2000, 1, 1)).days
        for key, value in day_figures(metrics).items():
            client.log_metric(run_id, key, value, step=step)
        client.set_terminated(run_id)
    except Exception as exc:  # noqa: BLE001 - logging must never fail the monitor
        log.warning("monitoring figures not logged to MLflow: %s", exc)
        return {"note": f"not logged to MLflow: {exc}"[:500]}
    log.info("monitoring figures logged to MLflow experiment %s, run %s", name, run_id)
    return {"experiment": name, "run_id": run_id}


def _artifacts(cfg: Config) -> str:
    root = cfg.lifecycle.artifact_root
    if "://" in root:
        return f"{root.rstrip('/')}/{cfg.monitoring.mlflow_experiment}"
    return (Path(root) / cfg.monitoring.mlflow_experiment).resolve().as_uri()
