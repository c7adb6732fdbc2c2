"""One measured piece of the benchmark, run on its own (spark-submit, or plain python for pandas).

    benchmark_stage.py io-floor --input DIR --output DIR --run-date D
    benchmark_stage.py read --input DIR --run-date D
    benchmark_stage.py features --input DIR --output DIR --run-date D --model DIR [--set k=v ...]
    benchmark_stage.py score --variant txcat_udf|txcat_udf_onedal|xgboost_spark|row_udf|pandas \
        --features DIR --model DIR [--limit N]

Prints one JSON line: {"stage", "rows", "seconds"} timing only the work, not start-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import replace

from txcat import exits
from txcat.benchmark import stages
from txcat.config import load_config
from txcat.engine import ONEDAL
from txcat.model import load_artifact
from txcat.session import build_session, configure_logging, release_session


def main(argv: list[str]) -> int:
    configure_logging("WARNING")
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=["io-floor", "read", "features", "score"])
    parser.add_argument("--input")
    parser.add_argument("--output")
    parser.add_argument("--run-date", type=dt.date.fromisoformat)
    parser.add_argument(
        "--variant",
        choices=["txcat_udf", "txcat_udf_onedal", "xgboost_spark", "row_udf", "pandas"],
    )
    parser.add_argument("--features")
    parser.add_argument("--model")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    cfg = load_config("local", overrides=args.overrides)

    if args.stage == "score" and args.variant == "pandas":
        artifact = load_artifact(args.model)
        start = time.monotonic()
        rows = stages.score_pandas_single_process(args.features, artifact)
        return _report("score_pandas", rows, start)

    spark = build_session("txcat-benchmark", cfg.spark)
    try:
        if args.stage == "io-floor":
            start = time.monotonic()
            rows = stages.io_floor(spark, args.input, args.output, args.run_date)
            return _report("io_floor", rows, start)
        if args.stage == "read":
            start = time.monotonic()
            records = stages.read_stage(spark, cfg, args.input, args.run_date)
            seconds = time.monotonic() - start
            return _report("read", records.count(), start, seconds)
        if args.stage == "features":
            start = time.monotonic()
            artifact = load_artifact(args.model)
            rows = stages.write_feature_rows(
                spark, cfg, args.input, args.output, args.run_date, artifact
            )
            return _report("features", rows, start)
        artifact = load_artifact(args.model)
        if args.variant == "txcat_udf_onedal":  # the same model, recorded with the other engine
            artifact = replace(artifact, metadata={**artifact.metadata, "engine": ONEDAL})
        features = spark.read.parquet(args.features)
        if args.limit:
            features = features.limit(args.limit).cache()
        rows = features.count()
        scorer = {
            "txcat_udf": stages.score_txcat_udf,
            "txcat_udf_onedal": stages.score_txcat_udf,
            "xgboost_spark": stages.score_xgboost_spark,
            "row_udf": stages.score_row_udf,
        }[args.variant]
        start = time.monotonic()
        scorer(spark, features, artifact)
        return _report(f"score_{args.variant}", rows, start)
    finally:
        release_session(spark)


def _report(stage: str, rows: int, start: float, seconds: float | None = None) -> int:
    if seconds is None:
        seconds = time.monotonic() - start
    print(json.dumps({"stage": stage, "rows": rows, "seconds": round(seconds, 3)}))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
