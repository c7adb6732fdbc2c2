"""spark-submit entry point: select and train a model from labelled per-account files.

    spark-submit --master 'local[*]' jobs/train.py --input data/demo/training \
        --model-out data/demo/model --env local [--register]

Writes the artifact folder of `txcat.model` (plus evaluation.json, manifest.json and the
hold-out report); with --register also logs the run to MLflow and registers a new version.
"""

from __future__ import annotations

import argparse
import logging
import sys

from txcat import exits
from txcat.config import ConfigError
from txcat.lifecycle.commands import add_train_arguments, run_train
from txcat.session import configure_logging


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_train_arguments(parser, register_default=False)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run_train(args)
    except ConfigError as exc:
        logging.getLogger("txcat.train").error("configuration error: %s", exc)
        return exits.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
