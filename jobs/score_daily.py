"""spark-submit entry point: score one day of per-account CSV files.

    spark-submit --master 'local[*]' jobs/score_daily.py --run-date 2026-11-25 \
        --input data/demo/landing --output data/demo/output --model data/demo/model --env local

    # exactly the files of a manifest, predictions to S3 and into Redshift (docs/storage.md)
    spark-submit ... jobs/score_daily.py --run-date 2026-11-25 \
        --manifest s3://bank-landing/manifests/2026-11-25.json --output s3://txcat/output \
        --model s3://txcat/models/current --env emr --sink parquet,redshift
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import SparkSession

from txcat import exits
from txcat.cli import add_config_options
from txcat.config import Config, ConfigError, load_config
from txcat.inputs import InputError
from txcat.inputs.rundate import check_run_date
from txcat.session import build_session, configure_logging, release_session
from txcat.sinks.names import parse_sinks
from txcat.write import record_refusal

#: What the run itself needs and the refusals of the arguments do not: pandas, PyArrow,
#: XGBoost and scikit-learn come with it (about 1.5 s to import).
PIPELINE = "txcat.pipeline"

log = logging.getLogger("txcat.score_daily")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-date", required=True, type=dt.date.fromisoformat)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="folder or prefix (URI) of the day's files")
    source.add_argument(
        "--manifest", help="URI of the day's manifest (JSON or CSV): read exactly its files"
    )
    parser.add_argument("--output", required=True, help="output root (or URI)")
    parser.add_argument("--model", required=True, help="model artifact folder (or URI)")
    parser.add_argument("--run-id", default="", help="run identifier (default: generated)")
    parser.add_argument(
        "--sink",
        default="parquet",
        type=_sinks,
        help="parquet, redshift or parquet,redshift (default: parquet)",
    )
    add_config_options(parser)
    return parser.parse_args(argv)


def _sinks(value: str) -> tuple[str, ...]:
    try:
        return parse_sinks(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = load_config(args.env, args.conf_dir, args.overrides)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return exits.BAD_INPUT
    try:  # before Spark starts: a wrong date fails in a second
        check_run_date(args.run_date, cfg)
    except InputError as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    # The pipeline's libraries load while the JVM starts the session: that wait leaves the
    # Python side idle.
    with ThreadPoolExecutor(1, "import-pipeline") as loader:
        loading = loader.submit(importlib.import_module, PIPELINE)
        spark = build_session("txcat-score-daily", cfg.spark)
    try:
        loading.result()
        return _score(spark, cfg, args)
    finally:
        release_session(spark)


def _score(spark: SparkSession, cfg: Config, args: argparse.Namespace) -> int:
    """The run on a started session: its exit code, refusals recorded beside the summary."""
    from txcat import pipeline  # loaded by `main` beside the session's start
    from txcat.features.enrich import ReferenceDataError
    from txcat.model import ModelArtifactError
    from txcat.runlock import RunLockedError

    params = pipeline.RunParams(
        args.run_date,
        args.input or "",
        args.output,
        args.model,
        args.run_id,
        manifest=args.manifest or "",
        sinks=args.sink,
    )
    try:
        result = pipeline.run(spark, cfg, params)
    except (InputError, ReferenceDataError) as exc:
        log.error("%s", exc)
        return _refused(spark, args, exits.BAD_INPUT, str(exc))
    except ModelArtifactError as exc:
        log.error("model refused: %s", exc)
        return _refused(spark, args, exits.BAD_MODEL, f"model refused: {exc}")
    except RunLockedError as exc:
        log.error("%s", exc)
        return exits.RUN_LOCKED
    for problem in result.summary["problems"]:
        log.error("%s", problem)
    print(f"summary: {result.summary_path}")
    return result.exit_code


def _refused(spark: SparkSession, args: argparse.Namespace, code: int, problem: str) -> int:
    """Records the verdict beside the day's summary (`write.record_refusal`); returns `code`."""
    record_refusal(spark, args.output, args.run_date, args.run_id, code, problem)
    return code


if __name__ == "__main__":
    sys.exit(main())
