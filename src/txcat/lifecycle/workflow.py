"""The lifecycle steps the command line runs: train (+ register), evaluate, promote.

Each step takes a loaded `Config` and returns what it did, so tests call them directly and the
command line only parses arguments and prints.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from txcat import model_uri as MU
from txcat import schema as S
from txcat import sources
from txcat.config import Config
from txcat.features import FEATURE_COLUMNS, Memory, memory_of
from txcat.features.memory import collected, training_memory
from txcat.lifecycle import candidates as C
from txcat.lifecycle import gate as G
from txcat.lifecycle import metrics as M
from txcat.lifecycle import publish as P
from txcat.lifecycle import registry as R
from txcat.lifecycle import report as RP
from txcat.lifecycle import retrain as RT
from txcat.lifecycle import train as training
from txcat.model import ModelArtifact, check_compatible, load_artifact
from txcat.score import predict_proba

log = logging.getLogger(__name__)

REPORT_DIR = "report"  # inside the artifact folder: the hold-out report of training
REGISTRATION_FILE = MU.REGISTRATION_FILE
EVALUATIONS_PATH = "evaluations"  # run artifacts: reports of later `txcat evaluate` runs


@dataclass(frozen=True)
class TrainOutcome:
    artifact: ModelArtifact
    model_dir: Path
    report_dir: Path
    run_id: str | None
    version: str | None


@dataclass(frozen=True)
class EvaluateOutcome:
    metrics: dict[str, Any]
    report_files: dict[str, Path]
    model_version: str | None
    artifact_version: str


@dataclass(frozen=True)
class PromoteOutcome:
    name: str
    version: str
    alias: str
    gate: G.GateResult
    promoted: bool
    #: Where the served version was published (`lifecycle.publish_uri`); None when unset.
    publication: P.Publication | None = None


@dataclass(frozen=True)
class RollbackOutcome:
    name: str
    alias: str
    previous: str | None  # the version the alias served before
    version: str
    publication: P.Publication | None


def importance(artifact: ModelArtifact) -> dict[str, float]:
    """Total gain per feature (features never split on are absent; a vector-leaf model's
    per-output gains are summed)."""
    scores = artifact.booster().get_score(importance_type="total_gain")
    return {k: float(np.sum(v)) for k, v in scores.items()}


def current_champion(cfg: Config) -> training.Champion | None:
    """The version the serving alias points at, downloaded and verified; None when unset."""
    ref = MU.ModelRef(cfg.lifecycle.registered_model, alias=cfg.lifecycle.serving_alias)
    try:
        version, _, artifact = MU.fetch_version(cfg, ref)
    except MU.RegistryError as exc:
        log.info("no champion to compare with: %s", exc)
        return None
    label = f"{ref.name} version {version.version}"
    return training.Champion(label, str(version.version), artifact)


def train(
    spark: SparkSession,
    cfg: Config,
    input_path: str,
    model_out: str,
    as_of: dt.date,
    register: bool,
    labelled_rows: training.LabelledRows | None = None,
    manifest: dict[str, Any] | None = None,
) -> TrainOutcome:
    """Selects and writes the model with its hold-out report; optionally tracks and registers.

    When registering and the serving alias points at a version, that champion is scored on the
    same hold-out rows, for the gate. `labelled_rows` and `manifest`: see `training.run`.
    """
    champion = current_champion(cfg) if register else None
    artifact = training.run(
        spark, cfg, input_path, model_out, as_of, champion, labelled_rows, manifest
    )
    folder = Path(model_out)
    evaluation = json.loads((folder / training.EVALUATION_FILE).read_text(encoding="utf-8"))
    holdout = evaluation["holdout"]
    report_dir = folder / REPORT_DIR
    RP.write_report(
        report_dir,
        holdout[C.XGBOOST],
        list(S.CATEGORIES),
        title=f"Model {artifact.version}: hold-out evaluation",
        importance=importance(artifact),
        context={
            "model_version": artifact.version,
            "sha256": artifact.sha256,
            "input": input_path,
            "as_of": as_of.isoformat(),
        }
        | evaluation["split"],
        baselines={n: holdout[n] for n in C.BASELINES},
    )
    if not register:
        return TrainOutcome(artifact, folder, report_dir, None, None)
    run_id = R.log_training_run(cfg, folder, artifact, evaluation, run_name=artifact.version)
    version = R.register_version(cfg, run_id, artifact)
    (folder / REGISTRATION_FILE).write_text(
        json.dumps(
            {
                "tracking_uri": cfg.lifecycle.tracking_uri,
                "name": cfg.lifecycle.registered_model,
                "version": version,
                "run_id": run_id,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return TrainOutcome(artifact, folder, report_dir, run_id, version)


def collect_labelled(
    spark: SparkSession,
    cfg: Config,
    input_path: str,
    as_of: dt.date,
    memory: Memory | None = None,
    also: Sequence[str] = (),
) -> pd.DataFrame:
    """Features and labels of every labelled, scorable row (no split: a whole evaluation set).

    Args:
        memory: The label memory the features read: a model's (`features.memory_of`), as the
            daily job scores. None gives the rows training's own treatment instead: each row
            reads the counts of the other time blocks of these rows (a training set).
        also: Cleaned columns kept beside the features (e.g. the merchant city).
    """
    source = sources.prepare(spark, cfg, sources.Source.folder(input_path), as_of)
    with sources.cached(source) as prepared:
        labelled = prepared.scorable.where(F.col(S.LABEL).isin(*S.CATEGORIES))
        if memory is None:
            fc = cfg.features
            memory = collected(
                training_memory(labelled, F.lit(True), fc.memory_smoothing, fc.memory_folds)
            )
        features = prepared.featured(labelled, memory).select(
            S.ACCOUNT_ID, S.LABEL, *also, *FEATURE_COLUMNS
        )
        rows = features.count()
        if rows == 0:
            raise training.TrainingDataError(f"no labelled rows under {input_path}")
        if rows > cfg.training.max_driver_rows:
            raise training.TrainingDataError(
                f"{rows} labelled rows exceed training.max_driver_rows "
                f"({cfg.training.max_driver_rows}); evaluate on a smaller set"
            )
        return features.toPandas()


def _open_model(cfg: Config, model: str) -> tuple[Any, Path, ModelArtifact]:
    """(registry version or None, local folder, artifact) for a folder or a registry reference."""
    if Path(model).is_dir():
        return None, Path(model), load_artifact(model)
    ref = R.parse_reference(model, cfg)
    return MU.fetch_version(cfg, ref)


def evaluate(
    spark: SparkSession,
    cfg: Config,
    model: str,
    input_path: str,
    out: str,
    as_of: dt.date,
) -> EvaluateOutcome:
    """Scores labelled files with a model and writes its report folder.

    Args:
        model: An artifact folder, a registered version number, `@alias` or a models:/ URI.
        out: Report folder (metrics.json, PNG plots, report.html).
    """
    version, _, artifact = _open_model(cfg, model)
    check_compatible(artifact, FEATURE_COLUMNS, S.CATEGORIES)
    frame = collect_labelled(spark, cfg, input_path, as_of, memory_of(artifact))
    index = {c: i for i, c in enumerate(artifact.categories)}
    y = frame[S.LABEL].map(index).to_numpy(dtype=np.int64)
    features = frame[list(artifact.feature_names)]
    booster = artifact.booster()
    # Scored as every scorer of the model scores it: through its recorded engine.
    metrics = M.evaluate(y, predict_proba(artifact.predictor(), features), artifact.categories)
    fitted = C.booster_candidate(booster, {}, backoff=artifact.memory_backoff)
    x = features.to_numpy(dtype=np.float32, na_value=np.nan)
    metrics["latency_ms_per_10k"] = C.latency_ms_per_10k(
        fitted.predict_proba, x, cfg.lifecycle.latency_repeats
    )
    metrics["size_bytes"] = len(artifact.model_bytes)
    label = f"version {version.version}" if version is not None else artifact.version
    context = {
        "registered_model": version.name if version is not None else "",
        "registered_version": str(version.version) if version is not None else "",
        "model_version": artifact.version,
        "sha256": artifact.sha256,
        "input": input_path,
        "accounts": int(frame[S.ACCOUNT_ID].nunique()),
        "as_of": as_of.isoformat(),
        "evaluated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    files = RP.write_report(
        out,
        metrics,
        list(artifact.categories),
        title=f"Model {label}: evaluation on {input_path}",
        importance=importance(artifact),
        context=context,
    )
    if version is not None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        MU.client(cfg).log_artifacts(version.run_id, out, f"{EVALUATIONS_PATH}/{stamp}")
    log.info(
        "evaluated %s on %d rows: macro-F1 %.4f, accuracy %.4f; report in %s",
        label,
        metrics["rows"],
        metrics["macro_f1"],
        metrics["accuracy"],
        out,
    )
    return EvaluateOutcome(
        metrics, files, str(version.version) if version else None, artifact.version
    )


def latest_version(cfg: Config) -> str:
    versions = R.search_versions(cfg)
    if not versions:
        raise MU.RegistryError(f"no version of {cfg.lifecycle.registered_model} is registered")
    return str(max(int(v.version) for v in versions))


def current_champion_version(cfg: Config) -> str | None:
    ref = MU.ModelRef(cfg.lifecycle.registered_model, alias=cfg.lifecycle.serving_alias)
    try:
        return str(MU.get_version(cfg, ref).version)
    except MU.RegistryUnavailableError:
        raise
    except MU.RegistryError:
        return None


def serve(
    cfg: Config, name: str, version: str, folder: Path, artifact: ModelArtifact
) -> P.Publication | None:
    """Points the serving alias at a version, records it, and publishes it when configured."""
    alias = cfg.lifecycle.serving_alias
    R.set_alias(cfg, name, alias, version)
    R.record_served(cfg, name, version)
    log.info("%s@%s -> version %s", name, alias, version)
    if cfg.lifecycle.publish_uri is None:
        return None
    try:
        return P.publish(cfg, name, version, folder, artifact)
    except MU.RegistryError as exc:
        raise MU.RegistryError(
            f"{name}@{alias} now serves version {version} in the registry, but it is not "
            f"published: {exc}; run the command again to publish it"
        ) from exc


def promote(cfg: Config, version: str) -> PromoteOutcome:
    """Runs the quality gate on a version; moves the serving alias only when it passes.

    The gate's verdict is recorded on the version (tags) either way. A promoted version is
    published (`txcat.lifecycle.publish`) when `lifecycle.publish_uri` is set.
    """
    alias = cfg.lifecycle.serving_alias
    number = latest_version(cfg) if version == "latest" else version
    ref = R.parse_reference(number, cfg)
    if ref.version is None:
        raise MU.RegistryError(f"promote needs a version number, got {version!r}")
    _, folder, artifact = MU.fetch_version(cfg, ref)
    evaluation_path = folder / training.EVALUATION_FILE
    if not evaluation_path.is_file():
        raise G.GateInputError(f"version {number} has no {training.EVALUATION_FILE}")
    serving = current_champion_version(cfg)
    result = G.evaluate_gate(
        json.loads(evaluation_path.read_text(encoding="utf-8")),
        cfg.quality_gate,
        serving_version=serving,
    )
    R.set_gate_tags(cfg, ref.name, number, result.passed, result.lines())
    publication = None
    if result.passed:
        publication = serve(cfg, ref.name, number, folder, artifact)
    return PromoteOutcome(ref.name, number, alias, result, result.passed, publication)


def rollback(cfg: Config, to: str | None = None) -> RollbackOutcome:
    """Serves the version served before the current one (or `to`) again, without a new gate.

    The target must have passed the quality gate. The alias moves, the move is recorded, and the
    version is published again when `lifecycle.publish_uri` is set.

    Raises:
        RegistryError: Nothing served before, or the target never passed the gate.
    """
    name, alias = cfg.lifecycle.registered_model, cfg.lifecycle.serving_alias
    current = current_champion_version(cfg)
    if to is None:
        earlier = [v for v in R.served_history(cfg, name) if v != current]
        if not earlier:
            raise MU.RegistryError(
                f"{name}@{alias} served no other version before {current}: "
                f"nothing to roll back to (give --to VERSION)"
            )
        to = earlier[-1]
    ref = MU.ModelRef(name, version=to)
    version, folder, artifact = MU.fetch_version(cfg, ref)
    verdict = (version.tags or {}).get(R.TAG_GATE)
    if verdict != "passed":
        raise MU.RegistryError(
            f"{name} version {to} did not pass the quality gate (tag {R.TAG_GATE}={verdict}): "
            f"promote it instead"
        )
    publication = serve(cfg, name, to, folder, artifact)
    return RollbackOutcome(name, alias, current, to, publication)


@dataclass(frozen=True)
class RetrainOutcome:
    trained: TrainOutcome
    manifest: dict[str, Any]
    #: The quality gate's verdict (None when not registered: the gate runs on a version).
    gate: G.GateResult | None
    #: Whether the `challenger` alias now points at the new version.
    challenger: bool


def history_input(cfg: Config) -> str:
    """The labelled history the champion was trained on (its recorded `input`).

    Raises:
        RegistryError: there is no champion, or it does not record its input.
    """
    champion = current_champion(cfg)
    if champion is None:
        raise MU.RegistryError(
            f"no {cfg.lifecycle.registered_model}@{cfg.lifecycle.serving_alias} to take the "
            "labelled history from: give --input"
        )
    recorded = champion.artifact.metadata.get("params", {}).get("input")
    if not recorded:
        raise MU.RegistryError(f"{champion.label} does not record its input: give --input")
    return str(recorded)


def retrain(
    spark: SparkSession,
    cfg: Config,
    store: str,
    predictions: str,
    model_out: str,
    as_of: dt.date,
    history: str | None = None,
    since: dt.date | None = None,
    register: bool = False,
) -> RetrainOutcome:
    """Trains on the labelled history plus the store's corrections (`lifecycle.retrain`).

    The usual selection, refit and hold-out report; the artifact's `manifest.json` says what
    data made it. Registered, the version gets the quality gate's verdict (against the
    baselines and the champion) and, when it passes, the alias `challenger`,
    never the serving alias: `txcat promote` serves it.
    """
    history = history or history_input(cfg)
    with ExitStack() as held:
        data = RT.build(spark, cfg, history, as_of, store, predictions, held, since)
        trained = train(spark, cfg, history, model_out, as_of, register, data.rows, data.manifest)
    if trained.version is None or trained.run_id is None:
        return RetrainOutcome(trained, data.manifest, None, False)
    name = cfg.lifecycle.registered_model
    MU.client(cfg).log_dict(trained.run_id, data.manifest, RT.TRAINING_SET_FILE)
    evaluation = json.loads(
        (trained.model_dir / training.EVALUATION_FILE).read_text(encoding="utf-8")
    )
    result = G.evaluate_gate(
        evaluation, cfg.quality_gate, serving_version=current_champion_version(cfg)
    )
    R.set_gate_tags(cfg, name, trained.version, result.passed, result.lines())
    if result.passed:
        R.set_alias(cfg, name, RT.CHALLENGER, trained.version)
        log.info("%s@%s -> version %s", name, RT.CHALLENGER, trained.version)
    return RetrainOutcome(trained, data.manifest, result, result.passed)
