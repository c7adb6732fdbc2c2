"""`txcat monitor` and `jobs/monitor.py`: one scored day against the model's reference."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

from txcat import exits
from txcat.cli import add_config_options
from txcat.config import Config, ConfigError, load_config

log = logging.getLogger("txcat.monitor")


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    """The monitor's arguments (shared by `txcat monitor` and jobs/monitor.py)."""
    parser.add_argument("--run-date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--output", required=True, help="the scoring job's output root (or URI)")
    parser.add_argument(
        "--model",
        default="",
        help="model artifact or registry URI holding the reference profile "
        "(default: the model that scored the day, from its run summary)",
    )
    parser.add_argument(
        "--feedback",
        default="",
        help="store of txcat feedback import, or a folder of Parquet or CSV labels: "
        "row_id, category",
    )
    add_config_options(parser)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "monitor",
        help="drift, data quality and degradation of one scored day",
        description="Compare one scored day with the model's reference profile and the recent "
        "runs; write OUTPUT/monitoring/run_date=D/ (metrics.json, report.html, charts). "
        f"Exit {exits.MONITOR_ALERT} when an alert threshold is crossed.",
    )
    add_monitor_arguments(p)
    p.set_defaults(handler=run_monitor)


def print_locations(args: argparse.Namespace, cfg: Config) -> None:
    """Where the monitor reads and writes, printed before it starts (settings in brackets)."""
    folder = f"{args.output.rstrip('/')}/monitoring/run_date={args.run_date}/"
    lines = [
        ("output", f"{args.output} (the day's run summary and predictions; writes {folder})"),
        ("model", args.model or "the one the day's run summary names (--model)"),
    ]
    if cfg.monitoring.log_to_mlflow:
        lc = cfg.lifecycle
        lines += [
            ("tracking store", f"{lc.tracking_uri} (lifecycle.tracking_uri)"),
            ("experiment", f"{cfg.monitoring.mlflow_experiment} (monitoring.mlflow_experiment)"),
            ("artifact location", f"{lc.artifact_root} (lifecycle.artifact_root, new experiments)"),
        ]
    else:
        lines.append(("tracking store", "not used (monitoring.log_to_mlflow is false)"))
    for label, value in lines:
        print(f"{label}: {value}")


def run_monitor(args: argparse.Namespace) -> int:
    """Runs the monitor for parsed arguments; returns the exit code (`txcat.exits`)."""
    from txcat.features.enrich import ReferenceDataError
    from txcat.model import ModelArtifactError
    from txcat.monitor.run import MonitorInputError, MonitorParams, run
    from txcat.session import build_session, release_session

    try:
        cfg = load_config(args.env, args.conf_dir, args.overrides)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return exits.BAD_INPUT
    print_locations(args, cfg)
    spark = build_session("txcat-monitor", cfg.spark)
    try:
        result = run(
            spark, cfg, MonitorParams(args.run_date, args.output, args.model, args.feedback)
        )
    except (MonitorInputError, ReferenceDataError) as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    except ModelArtifactError as exc:
        log.error("model refused: %s", exc)
        return exits.BAD_MODEL
    finally:
        release_session(spark)
    for alert in result.metrics["alerts"]:
        log.warning("alert %s: %s", alert["metric"], alert["message"])
    print(f"monitoring report: {result.metrics['report']['html']}")
    return result.exit_code
