"""`txcat compare`: two model versions side by side on the same scored rows."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

from txcat import exits
from txcat.cli import add_config_options
from txcat.config import ConfigError, load_config

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="champion against challenger on the same rows (agreement, flows, feedback)",
        description="Compare two model versions' predictions of the same days: each version's "
        "rows come from its retro-scoring output (--retro) or, for the days it scored, the "
        "daily output (--predictions). Writes OUTPUT/compare.json and OUTPUT/compare.html "
        "and prints the verdict.",
    )
    p.add_argument("--champion", required=True, help="model URI of the current version")
    p.add_argument("--challenger", required=True, help="model URI of the candidate version")
    p.add_argument("--from", dest="first", required=True, type=dt.date.fromisoformat)
    p.add_argument("--to", dest="last", required=True, type=dt.date.fromisoformat)
    p.add_argument("--output", required=True, help="folder (or URI) of the report")
    p.add_argument("--predictions", default="", help="the daily job's output root (OUT)")
    p.add_argument("--retro", default="", help="the retro-scoring output root (RETRO)")
    p.add_argument("--feedback", default="", help="store of `txcat feedback import`")
    add_config_options(p)
    p.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """Runs the comparison for parsed arguments; returns the exit code (`txcat.exits`)."""
    from txcat.inputs import InputError
    from txcat.model import ModelArtifactError
    from txcat.retro.compare import CompareParams, compare
    from txcat.session import build_session, release_session

    try:
        cfg = load_config(args.env, args.conf_dir, args.overrides)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return exits.BAD_INPUT
    if args.first > args.last:
        log.error("--from %s is after --to %s", args.first, args.last)
        return exits.BAD_INPUT
    params = CompareParams(
        args.champion,
        args.challenger,
        args.first,
        args.last,
        args.output,
        args.predictions,
        args.retro,
        args.feedback,
    )
    spark = build_session("txcat-compare", cfg.spark)
    try:
        result = compare(spark, cfg, params)
    except InputError as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    except ModelArtifactError as exc:
        log.error("model refused: %s", exc)
        return exits.BAD_MODEL
    finally:
        release_session(spark)
    print(f"verdict: {result.report['verdict']}")
    print(f"report: {result.html_path}")
    print(f"figures: {result.json_path}")
    return exits.OK
