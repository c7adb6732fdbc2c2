"""Benchmark txcat against the I/O floor and other scorers; writes docs/benchmarks.{md,json}.

python scripts/benchmark.py --files 20000 [--repeats 3] [--tuning] [--large-file-lines 1000000]
python scripts/benchmark.py --large-file-only [--large-file-lines 1000000]
python scripts/benchmark.py --versions-base REF --files 5000 [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from txcat import exits
from txcat.benchmark import runner, versions
from txcat.session import configure_logging


def main(argv: list[str]) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--rows-per-file", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("data/bench"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--tuning", action="store_true", help="also time tuning variants")
    parser.add_argument("--tuning-repeats", type=int, default=1, help="runs per tuning variant")
    parser.add_argument(
        "--row-udf-limit",
        type=int,
        default=100_000,
        help="rows scored by the (slow) row-at-a-time UDF",
    )
    parser.add_argument(
        "--large-file-lines",
        type=int,
        default=runner.LARGE_FILE_LINES,
        help="lines of the one-large-file case (0 = skip it)",
    )
    parser.add_argument(
        "--large-file-only", action="store_true", help="run only the one-large-file case"
    )
    parser.add_argument(
        "--variants",
        default="",
        help="comma-separated tuning variants to run (default: all, with --tuning)",
    )
    parser.add_argument(
        "--no-s3", action="store_true", help="skip the whole job on S3 at 0 and 20 ms"
    )
    parser.add_argument(
        "--s3-files",
        type=int,
        default=runner.S3_FILES,
        help="files of the day the whole job reads from S3 at each latency",
    )
    parser.add_argument(
        "--api-requests",
        type=int,
        default=200,
        help="requests per case timing the real-time API (0 = skip)",
    )
    parser.add_argument(
        "--versions-base",
        default="",
        metavar="REF",
        help="only time the daily job of commit REF against this checkout's, on the same day",
    )
    args = parser.parse_args(argv)
    work = args.work / f"{args.files}x{args.rows_per_file}"
    if args.versions_base:
        compared = versions.compare(
            work, args.versions_base, args.files, args.rows_per_file, args.repeats, args.out
        )
        print(json.dumps({k: v for k, v in compared.items() if k != "runs"}, indent=2))
        return exits.OK
    if args.large_file_only:
        bench = runner.Bench(work, args.files, args.rows_per_file, 1, os.cpu_count() or 1)
        large = runner.large_file(bench, args.large_file_lines, args.out)
        print(json.dumps({k: v for k, v in large.items() if k != "measurements"}, indent=2))
        return exits.OK
    result = runner.run(
        work,
        args.files,
        args.rows_per_file,
        args.repeats,
        args.out,
        args.tuning,
        args.row_udf_limit,
        args.tuning_repeats,
        args.large_file_lines,
        tuple(v for v in args.variants.split(",") if v),
        not args.no_s3,
        args.api_requests,
        args.s3_files,
    )
    keys = [
        "files",
        "rows",
        "cores",
        "io_floor_s",
        "job_s",
        "job_over_io_floor",
        "explain_over_job",
        "monitor_over_job",
        "inner_rows_per_s_per_core",
        "job_scaling",
        "udf_rows_per_s",
        "xgboost_spark_rows_per_s",
        "row_udf_rows_per_s",
        "pandas_rows_per_s",
        "files_per_s_per_core",
        "s3_job",
        "api",
    ]
    print(json.dumps({k: result[k] for k in keys}, indent=2))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
