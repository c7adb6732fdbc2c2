"""Data loading for the Streamlit dashboard (kept out of the app so it is tested without a UI).

Everything comes from the MLflow registry of the configuration: the versions of the registered
model with their aliases, quality-gate verdict and hold-out metrics (the training run's metrics),
and each version's report folder (downloaded once into a local cache).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from txcat import model_uri as MU
from txcat.config import Config
from txcat.lifecycle import registry as R
from txcat.lifecycle import report as RP
from txcat.lifecycle.metrics import SUMMARY_KEYS

#: Columns of the comparison table after the identifying ones.
METRIC_COLUMNS: tuple[str, ...] = (*SUMMARY_KEYS, "latency_ms_per_10k", "size_bytes")
REPORT_SUBPATH = "report"


def versions_table(cfg: Config) -> pd.DataFrame:
    """One row per registered version, newest first: aliases, gate verdict, hold-out metrics.

    Columns: version, aliases, quality_gate, created, artifact_version, sha256, run_id, then
    METRIC_COLUMNS (the chosen model's hold-out numbers) and baseline_macro_f1 (the best
    baseline's). Empty (with these columns) when nothing is registered yet.
    """
    client = MU.client(cfg)
    name = cfg.lifecycle.registered_model
    columns = [
        "version",
        "aliases",
        "quality_gate",
        "created",
        "artifact_version",
        "sha256",
        "run_id",
        *METRIC_COLUMNS,
        "baseline_macro_f1",
    ]
    versions = client.search_model_versions(f"name='{name}'")
    if not versions:
        return pd.DataFrame(columns=columns)
    aliases: dict[str, list[str]] = {}
    for alias, number in (client.get_registered_model(name).aliases or {}).items():
        aliases.setdefault(str(number), []).append(alias)
    rows = []
    for v in versions:
        tags = v.tags or {}
        metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
        row: dict[str, Any] = {
            "version": int(v.version),
            "aliases": ", ".join(sorted(aliases.get(str(v.version), []))),
            "quality_gate": tags.get(R.TAG_GATE, ""),
            "created": pd.Timestamp(v.creation_timestamp, unit="ms", tz="UTC"),
            "artifact_version": tags.get(R.TAG_ARTIFACT_VERSION, ""),
            "sha256": tags.get(MU.TAG_SHA256, ""),
            "run_id": v.run_id,
        }
        for key in METRIC_COLUMNS:
            row[key] = metrics.get(f"holdout.xgboost.{key}")
        baselines = [
            metrics.get(f"holdout.{b}.macro_f1") for b in ("majority", "logistic_regression")
        ]
        known = [b for b in baselines if b is not None]
        row["baseline_macro_f1"] = max(known) if known else None
        rows.append(row)
    return pd.DataFrame(rows, columns=columns).sort_values(
        "version", ascending=False, ignore_index=True
    )


def comparison(table: pd.DataFrame, versions: list[int]) -> pd.DataFrame:
    """Metrics side by side: one row per metric, one column per selected version."""
    chosen = table[table["version"].isin(versions)].set_index("version")
    return chosen[[*METRIC_COLUMNS, "baseline_macro_f1"]].T.rename(columns=lambda v: f"v{v}")


def gate_detail(cfg: Config, version: int) -> list[str]:
    """The gate's check lines recorded at the last promotion attempt (empty if never run)."""
    tags = MU.client(cfg).get_model_version(cfg.lifecycle.registered_model, str(version)).tags
    raw = (tags or {}).get(R.TAG_GATE_DETAIL)
    return list(json.loads(raw)) if raw else []


def cache_dir(cfg: Config) -> Path:
    return R.store_cache(cfg, "txcat-dashboard") / cfg.lifecycle.registered_model


def report_folder(cfg: Config, version: int) -> Path:
    """The version's hold-out report, downloaded once (a version's artifacts never change)."""
    target = cache_dir(cfg) / str(version)
    ready = target / REPORT_SUBPATH / RP.METRICS_FILE
    if ready.is_file():
        return ready.parent
    model_version = MU.get_version(
        cfg, MU.ModelRef(cfg.lifecycle.registered_model, version=str(version))
    )
    return MU.download_version(cfg, model_version, target, subpath=REPORT_SUBPATH)


def load_report(folder: str | Path) -> dict[str, Any]:
    """metrics.json of a report folder, the paths of its plots and its HTML page."""
    base = Path(folder)
    document = RP.read_metrics(base)
    plots = {name: base / name for name in RP.FIGSIZES if (base / name).is_file()}
    page = base / RP.HTML_FILE
    return {
        "document": document,
        "per_class": pd.DataFrame(document["metrics"]["per_class"]).T.reset_index(names="category"),
        "plots": plots,
        "html": page.read_text(encoding="utf-8") if page.is_file() else "",
    }
