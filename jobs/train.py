"""spark-submit entry point: train a model artifact from labelled per-account files.

    spark-submit --master 'local[*]' jobs/train.py --input data/demo/training \
        --model-out data/demo/model --env local
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from txcat import pipeline, train
from txcat.config import ConfigError, load_config
from txcat.features.enrich import ReferenceDataError
from txcat.session import build_session, configure_logging

log = logging.getLogger("txcat.train")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="folder (or URI) of labelled files")
    parser.add_argument("--model-out", required=True, help="artifact folder to write")
    parser.add_argument("--env", default="local", help="configuration overlay (conf/<env>.yaml)")
    parser.add_argument("--conf-dir", default=None, help="configuration folder (default: conf/)")
    parser.add_argument(
        "--as-of", type=dt.date.fromisoformat, default=dt.date.today(),
        help="date the training set is as of (reference snapshots, future-date check)",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a configuration value")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = load_config(args.env, args.conf_dir, args.overrides)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return pipeline.EXIT_BAD_INPUT
    spark = build_session("txcat-train", cfg.spark)
    try:
        artifact = train.run(spark, cfg, args.input, args.model_out, args.as_of)
    except (pipeline.InputError, ReferenceDataError, train.TrainingDataError) as exc:
        log.error("%s", exc)
        return pipeline.EXIT_BAD_INPUT
    finally:
        spark.stop()
    print(f"model {artifact.version} written to {args.model_out}")
    return pipeline.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
