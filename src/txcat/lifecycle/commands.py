"""Sub-commands of the model lifecycle: train, evaluate, promote, dashboard."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any

from txcat import exits
from txcat.cli import add_config_options, config_from

log = logging.getLogger("txcat.lifecycle")

DASHBOARD_APP = Path(__file__).with_name("dashboard_app.py")


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def add_train_arguments(parser: argparse.ArgumentParser, register_default: bool) -> None:
    """The training job's arguments (shared by `txcat train` and jobs/train.py)."""
    parser.add_argument("--input", required=True, help="folder (or URI) of labelled files")
    parser.add_argument("--model-out", required=True, help="artifact folder to write")
    parser.add_argument(
        "--as-of",
        type=_date,
        default=dt.date.today(),
        help="date the training set is as of (reference snapshots)",
    )
    parser.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=register_default,
        help="log the run to MLflow and register a new model version "
        f"(default: {'yes' if register_default else 'no'})",
    )
    add_config_options(parser)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="select, train, track and register a model",
        description="Compare baselines and an XGBoost search on grouped folds, "
        "write the artifact folder with its hold-out report, and "
        "register it as a new version.",
    )
    add_train_arguments(p, register_default=True)
    p.set_defaults(handler=run_train)

    p = sub.add_parser(
        "retrain",
        help="train on the labelled history plus users' corrections; register a challenger",
        description="Build the training set from the labelled history and the latest "
        "correction of every corrected row (each read again from its original file, as of its "
        "run date), select and refit as `train` does, and with --register register a new "
        "version: when it passes the quality gate it gets the alias 'challenger' (never the "
        "serving alias; `txcat promote` serves it).",
    )
    p.add_argument("--feedback", required=True, help="feedback store (txcat feedback import)")
    p.add_argument(
        "--predictions", required=True, help="the job's output root (predictions/, runs/)"
    )
    p.add_argument(
        "--since",
        type=_date,
        default=None,
        help="only rows whose latest correction was received on or after this day",
    )
    p.add_argument(
        "--input",
        default=None,
        help="labelled history (default: the input the serving version was trained on)",
    )
    p.add_argument(
        "--model-out", default=None, help="artifact folder to write (default: a new temp folder)"
    )
    p.add_argument(
        "--as-of",
        type=_date,
        default=dt.date.today(),
        help="date the history is as of (its reference snapshots)",
    )
    p.add_argument(
        "--register",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="log the run to MLflow, register a new version, run the quality gate and set the "
        "alias 'challenger' when it passes (default: no)",
    )
    add_config_options(p)
    p.set_defaults(handler=run_retrain)

    p = sub.add_parser("evaluate", help="score labelled files and write a report folder")
    p.add_argument(
        "--model",
        required=True,
        help="artifact folder, registered version number, @alias or models:/ URI",
    )
    p.add_argument("--input", required=True, help="folder (or URI) of labelled files")
    p.add_argument("--out", required=True, help="report folder to write")
    p.add_argument(
        "--as-of",
        type=_date,
        default=dt.date.today(),
        help="date the files are as of (reference snapshots, future-date check)",
    )
    add_config_options(p)
    p.set_defaults(handler=run_evaluate)

    p = sub.add_parser("promote", help="run the quality gate; move the serving alias if it passes")
    p.add_argument(
        "--version", required=True, help="registered version number ('latest' = the newest)"
    )
    add_config_options(p)
    p.set_defaults(handler=run_promote)

    p = sub.add_parser(
        "rollback",
        help="serve the previously served version again (and publish it)",
        description="Move the serving alias back to the version it served before the current "
        "one (or to --to VERSION, which must have passed the quality gate), and publish it to "
        "lifecycle.publish_uri when set. No new gate run.",
    )
    p.add_argument("--to", default=None, help="version number to serve (default: the previous)")
    add_config_options(p)
    p.set_defaults(handler=run_rollback)

    p = sub.add_parser("dashboard", help="Streamlit app comparing registered versions")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="127.0.0.1")
    add_config_options(p)
    p.set_defaults(handler=run_dashboard)


def print_locations(cfg: Any, *extra: tuple[str, str]) -> None:
    """Where a command reads and writes, printed before it starts (settings in brackets)."""
    lc = cfg.lifecycle
    lines = [
        ("tracking store", f"{lc.tracking_uri} (lifecycle.tracking_uri)"),
        ("registered model", f"{lc.registered_model}@{lc.serving_alias}"),
        ("artifact location", f"{lc.artifact_root} (lifecycle.artifact_root, new experiments)"),
        ("publish location", f"{lc.publish_uri or 'not set'} (lifecycle.publish_uri)"),
        *extra,
    ]
    for label, value in lines:
        print(f"{label}: {value}")


def _registry_failed(cfg: Any, exc: Exception) -> int:
    from txcat.model_uri import RegistryError

    if isinstance(exc, RegistryError):  # its message names the store or the location
        log.error("%s", exc)
    else:
        log.error(
            "model registry at %s (lifecycle.tracking_uri) failed: %s",
            cfg.lifecycle.tracking_uri,
            exc,
        )
    return exits.BAD_MODEL


def _print_publication(publication: Any) -> None:
    if publication is None:
        print("not published: lifecycle.publish_uri is not set (the registry alias only)")
        return
    state = "copied" if publication.copied else "already there"
    print(f"published: {publication.version_folder} ({state}); pointer {publication.pointer}")


def _spark(cfg: Any, name: str) -> Any:
    from txcat.session import build_session

    return build_session(name, cfg.spark)


def _release(spark: Any) -> None:
    from txcat.session import release_session

    release_session(spark)


def run_train(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from txcat.features.enrich import ReferenceDataError
    from txcat.inputs import InputError
    from txcat.lifecycle import train, workflow
    from txcat.model_uri import RegistryError

    cfg = config_from(args)
    print_locations(cfg, ("input", args.input), ("model folder", args.model_out))
    spark = _spark(cfg, "txcat-train")
    try:
        outcome = workflow.train(
            spark, cfg, args.input, args.model_out, args.as_of, register=args.register
        )
    except (InputError, ReferenceDataError, train.TrainingDataError) as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    except (RegistryError, MlflowException) as exc:
        return _registry_failed(cfg, exc)
    finally:
        _release(spark)
    print(f"model {outcome.artifact.version} written to {args.model_out}")
    print(f"hold-out report: {outcome.report_dir / 'report.html'}")
    if outcome.version is not None:
        print(
            f"registered {cfg.lifecycle.registered_model} version {outcome.version} "
            f"(run {outcome.run_id}) in {cfg.lifecycle.tracking_uri}"
        )
    return exits.OK


def run_retrain(args: argparse.Namespace) -> int:
    import tempfile

    from mlflow.exceptions import MlflowException

    from txcat.features.enrich import ReferenceDataError
    from txcat.inputs import InputError
    from txcat.lifecycle import retrain, train, workflow
    from txcat.model_uri import RegistryError

    cfg = config_from(args)
    model_out = args.model_out or tempfile.mkdtemp(prefix="txcat-retrain-")
    print_locations(
        cfg,
        ("feedback store", args.feedback),
        ("predictions", args.predictions),
        ("model folder", model_out),
    )
    spark = _spark(cfg, "txcat-retrain")
    try:
        outcome = workflow.retrain(
            spark,
            cfg,
            args.feedback,
            args.predictions,
            model_out,
            args.as_of,
            history=args.input,
            since=args.since,
            register=args.register,
        )
    except (
        InputError,
        ReferenceDataError,
        train.TrainingDataError,
        FileNotFoundError,
    ) as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    except (RegistryError, MlflowException) as exc:
        return _registry_failed(cfg, exc)
    finally:
        _release(spark)
    feedback = outcome.manifest["feedback"]
    not_used = ", ".join(f"{n} {r}" for r, n in feedback["not_used"].items() if n) or "none"
    print(
        f"corrections: {feedback['latest_corrections']} latest, {feedback['used']} used "
        f"({feedback['in_history']} in the history, {feedback['from_runs']} read again from "
        f"{len(outcome.manifest['corrected_files'])} source files); not used: {not_used}"
    )
    print(
        f"training set: {outcome.manifest['rows']} rows from {len(outcome.manifest['files'])} "
        f"history files + the corrected rows; manifest "
        f"{outcome.trained.model_dir / train.MANIFEST_FILE}"
    )
    print(f"model {outcome.trained.artifact.version} written to {model_out}")
    print(f"hold-out report: {outcome.trained.report_dir / 'report.html'}")
    if outcome.gate is None:
        return exits.OK
    name, version = cfg.lifecycle.registered_model, outcome.trained.version
    print(
        f"registered {name} version {version} (run {outcome.trained.run_id}, training set "
        f"{retrain.TRAINING_SET_FILE}) in {cfg.lifecycle.tracking_uri}"
    )
    for line in outcome.gate.lines():
        print(line)
    if outcome.challenger:
        print(f"CHALLENGER {name} version {version}: {name}@{retrain.CHALLENGER} points at it")
        return exits.OK
    failed = ", ".join(c.name for c in outcome.gate.failed)
    print(f"NOT A CHALLENGER {name} version {version}: quality gate failed ({failed})")
    return exits.GATE_REFUSED


def run_evaluate(args: argparse.Namespace) -> int:
    from txcat.features.enrich import ReferenceDataError
    from txcat.inputs import InputError
    from txcat.lifecycle import train, workflow
    from txcat.model import ModelArtifactError
    from txcat.model_uri import RegistryError

    cfg = config_from(args)
    print_locations(cfg, ("model", args.model), ("input", args.input), ("report", args.out))
    spark = _spark(cfg, "txcat-evaluate")
    try:
        outcome = workflow.evaluate(spark, cfg, args.model, args.input, args.out, args.as_of)
    except (RegistryError, ModelArtifactError) as exc:
        log.error("model refused: %s", exc)
        return exits.BAD_MODEL
    except (InputError, ReferenceDataError, train.TrainingDataError) as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    finally:
        _release(spark)
    m = outcome.metrics
    print(
        f"{m['rows']} rows: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
        f"weighted-F1 {m['weighted_f1']:.4f}, log loss {m['log_loss']:.4f}"
    )
    print(f"report: {outcome.report_files['report.html']}")
    return exits.OK


def run_promote(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from txcat.lifecycle import gate, workflow
    from txcat.model_uri import RegistryError

    cfg = config_from(args)
    print_locations(cfg)
    try:
        outcome = workflow.promote(cfg, args.version)
    except gate.GateInputError as exc:
        log.error("cannot promote: %s", exc)
        return exits.BAD_MODEL
    except (RegistryError, MlflowException) as exc:
        return _registry_failed(cfg, exc)
    for line in outcome.gate.lines():
        print(line)
    if outcome.promoted:
        print(
            f"PROMOTED {outcome.name} version {outcome.version}: "
            f"{outcome.name}@{outcome.alias} now serves it"
        )
        _print_publication(outcome.publication)
        return exits.OK
    failed = ", ".join(c.name for c in outcome.gate.failed)
    print(
        f"NOT PROMOTED {outcome.name} version {outcome.version}: quality gate failed "
        f"({failed}); {outcome.alias} unchanged"
    )
    return exits.GATE_REFUSED


def run_rollback(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from txcat.lifecycle import workflow
    from txcat.model_uri import RegistryError

    cfg = config_from(args)
    print_locations(cfg)
    try:
        outcome = workflow.rollback(cfg, args.to)
    except (RegistryError, MlflowException) as exc:
        return _registry_failed(cfg, exc)
    print(
        f"ROLLED BACK {outcome.name}@{outcome.alias}: version {outcome.previous} -> "
        f"version {outcome.version}"
    )
    _print_publication(outcome.publication)
    return exits.OK


def run_dashboard(args: argparse.Namespace) -> int:
    from txcat.model_uri import RegistryError, tracking_uri

    cfg = config_from(args)  # fail here, not inside the app, on a bad configuration
    print_locations(cfg)
    try:
        tracking_uri(cfg)  # an existing store: the app reads it, never creates it
    except RegistryError as exc:
        log.error("%s", exc)
        return exits.BAD_MODEL
    app_args = ["--env", args.env]
    if args.conf_dir:
        app_args += ["--conf-dir", args.conf_dir]
    for item in args.overrides:
        app_args += ["--set", item]
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_APP),
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--",
        *app_args,
    ]
    log.info("dashboard on http://%s:%d", args.address, args.port)
    # Become the Streamlit server, so a signal to this process stops the server itself.
    os.execv(sys.executable, command)
    return exits.FAILED  # not reached
