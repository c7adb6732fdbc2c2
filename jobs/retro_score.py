"""spark-submit entry point: score past days again with any model version.

    spark-submit --master 'local[*]' jobs/retro_score.py --model models:/txcat-categoriser/7 \
        --from 2026-11-19 --to 2026-11-25 --runs data/demo/output --output data/demo/retro

Each day reads what its daily run read (the manifest stored under RUNS/runs/run_date=D/, else
the input its summary records; --input-template 's3://landing/{run_date}/' overrides both) and
writes OUTPUT/retro/model_version=V/run_date=D/; the champion's predictions are never touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from txcat import exits
from txcat.cli import add_config_options
from txcat.config import ConfigError, load_config
from txcat.inputs import InputError
from txcat.model import ModelArtifactError
from txcat.retro import scoring
from txcat.session import build_session, configure_logging, release_session

log = logging.getLogger("txcat.retro_score")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=exits.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model URI: folder, S3, models:/NAME@ALIAS")
    parser.add_argument("--from", dest="first", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--to", dest="last", required=True, type=dt.date.fromisoformat)
    parser.add_argument(
        "--runs", required=True, help="the daily job's output root (its runs/ records)"
    )
    parser.add_argument("--output", required=True, help="retro output root (RETRO)")
    parser.add_argument(
        "--input-template",
        default="",
        help="read each day from this folder instead, e.g. 's3://landing/{run_date}/'",
    )
    add_config_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = load_config(args.env, args.conf_dir, args.overrides)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return exits.BAD_INPUT
    if args.first > args.last:  # before Spark starts
        log.error("--from %s is after --to %s", args.first, args.last)
        return exits.BAD_INPUT
    params = scoring.RangeParams(
        args.model, args.first, args.last, args.runs, args.output, args.input_template
    )
    spark = build_session("txcat-retro-score", cfg.spark)
    try:
        result = scoring.score_range(spark, cfg, params)
    except InputError as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    except ModelArtifactError as exc:
        log.error("model refused: %s", exc)
        return exits.BAD_MODEL
    finally:
        release_session(spark)
    for day in result.summary["days"]:
        print(scoring.describe_day(day))
    print(f"range summary: {result.summary_path}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
