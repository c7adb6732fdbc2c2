"""Generate synthetic bank files (one CSV per account) for development and tests.

Example:
    python scripts/generate_data.py --out data/raw --accounts 20000 \
        --start-date 2020-01-01 --end-date 2020-01-31 --seed 7 --bad-share 0.01 \
        --reference-out data/reference

Users' corrections for a generated folder once the job has scored it (nothing is generated;
a share of the scored rows, biased towards the wrongly predicted ones, with the true category):
    python scripts/generate_data.py --out data/raw --feedback-out feedback.csv \
        --feedback-share 0.05 --predictions data/output --run-date 2020-01-31
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from txcat import exits
from txcat.generate import feedback as fb
from txcat.generate import generate
from txcat.generate.drift import DRIFT_KINDS, apply_drift

logger = logging.getLogger("generate_data")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {value!r}") from exc


def _share(value: str) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share within [0, 1], got {value}")
    return share


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--out",
        required=True,
        help="output folder (must be empty); with --feedback-out the generated folder",
    )
    p.add_argument("--accounts", type=int, help="number of account files")
    p.add_argument("--start-date", type=_date, help="first date, YYYY-MM-DD")
    p.add_argument("--end-date", type=_date, help="last date, YYYY-MM-DD")
    p.add_argument("--seed", type=int, help="random seed (non-negative)")
    p.add_argument("--no-labels", action="store_true", help="leave the label column empty")
    p.add_argument("--bad-share", type=_share, default=0.0, help="share of bad files")
    p.add_argument("--reference-out", default=None, help="folder for reference tables")
    p.add_argument("--rows-per-account", type=float, default=100, help="mean rows per account")
    p.add_argument(
        "--drift",
        choices=DRIFT_KINDS,
        default=None,
        help="inject one kind of drift into the generated files (txcat.generate.drift)",
    )
    p.add_argument(
        "--feedback-out",
        default=None,
        help="write users' corrections of the folder --out (scored by the job) to this CSV "
        "instead of generating files",
    )
    p.add_argument(
        "--feedback-share",
        type=_share,
        default=0.05,
        help="share of the scored rows corrected (wrong predictions "
        f"{fb.WRONG_WEIGHT:g}x as likely)",
    )
    p.add_argument(
        "--predictions", default=None, help="the job's output root (with --feedback-out)"
    )
    p.add_argument("--run-date", type=_date, default=None, help="the run date that scored --out")
    args = p.parse_args(argv)
    if args.feedback_out is not None:
        missing = [o for o in ("predictions", "run_date") if getattr(args, o) is None]
    else:
        missing = [
            o for o in ("accounts", "start_date", "end_date", "seed") if getattr(args, o) is None
        ]
    if missing:
        p.error(
            "the following arguments are required: "
            + ", ".join("--" + o.replace("_", "-") for o in missing)
        )
    return args


def write_feedback(args: argparse.Namespace) -> int:
    """The feedback mode: corrections for the scored rows of a generated folder."""
    predictions = fb.day_predictions(args.predictions, args.run_date)
    corrected_at = min(
        dt.datetime.combine(args.run_date, dt.time(18), tzinfo=dt.UTC), dt.datetime.now(dt.UTC)
    )
    frame = fb.draw_feedback(
        args.out, predictions, args.feedback_share, args.seed or 0, corrected_at
    )
    path = fb.write_feedback(frame, args.feedback_out)
    logger.info("feedback=%s corrections=%d of %d predictions", path, len(frame), len(predictions))
    return exits.OK


def main(argv: list[str] | None = None) -> int:
    """Run the generator; return the process exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.feedback_out is not None:
        try:
            return write_feedback(args)
        except (ValueError, FileNotFoundError) as exc:
            logger.error("%s", exc)
            return exits.BAD_INPUT
    try:
        report = generate(
            out_dir=args.out,
            accounts=args.accounts,
            start_date=args.start_date,
            end_date=args.end_date,
            seed=args.seed,
            labels=not args.no_labels or args.drift is not None,
            bad_share=args.bad_share,
            reference_out=args.reference_out,
            rows_per_account=args.rows_per_account,
        )
        if args.drift is not None:
            drift = apply_drift(args.out, args.drift, args.seed, labels=not args.no_labels)
            logger.info("drift %s: %s", args.drift, drift)
    except (ValueError, FileExistsError) as exc:
        logger.error("%s", exc)
        return exits.BAD_INPUT
    logger.info(
        "files=%d rows=%d bad_files=%d seconds=%.1f",
        report.files,
        report.rows,
        len(report.bad_files),
        report.seconds,
    )
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
