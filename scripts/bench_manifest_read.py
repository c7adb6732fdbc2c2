"""Benchmark: Spark's binaryFile reader vs the executor-side boto3 reader of a manifest.

Starts moto's S3 server on --port, uploads --files generated bank files (a few KB each), writes
their manifest, then reads every object's bytes with each reader --repeat times. Run it through
spark-submit with the s3a options (see `make storage-bench` in mk/storage.mk):

    spark-submit --jars <hadoop-aws>,<aws-sdk-bundle> --conf spark.hadoop.fs.s3a.endpoint=... \\
        scripts/bench_manifest_read.py --files 2000 --port 5055
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger("bench_manifest_read")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows-per-file", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=int(os.environ.get("STORAGE_S3_PORT", 5055)))
    parser.add_argument("--threads", type=int, default=16, help="boto3 GETs per task")
    parser.add_argument("--files-per-task", type=int, default=2000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    endpoint = f"http://127.0.0.1:{args.port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    moto = Path(sys.executable).with_name("moto_server")
    server = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(args.port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(endpoint)
        return _bench(args)
    finally:
        server.terminate()
        server.wait(timeout=15)


def _wait(endpoint: str) -> None:
    import urllib.request

    for _ in range(150):
        try:
            urllib.request.urlopen(endpoint, timeout=1)  # noqa: S310 - loopback only
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto_server did not answer on {endpoint}")


def _bench(args: argparse.Namespace) -> int:
    import boto3
    from botocore.config import Config
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from txcat.generate import generate
    from txcat.inputs import objects
    from txcat.inputs.manifest import parse_manifest

    client = boto3.client("s3", config=Config(max_pool_connections=16))
    client.create_bucket(Bucket="bench")
    with tempfile.TemporaryDirectory() as tmp:
        generate(
            Path(tmp),
            args.files,
            "2026-10-01",
            "2026-11-25",
            seed=3,
            labels=False,
            rows_per_account=args.rows_per_file,
        )
        paths = sorted(Path(tmp).rglob("*.csv"))

        def upload(path: Path) -> dict[str, object]:
            key = f"day/{path.relative_to(tmp).as_posix()}"
            body = path.read_bytes()
            put = client.put_object(Bucket="bench", Key=key, Body=body)
            return {"uri": f"s3://bench/{key}", "size": len(body), "etag": put["ETag"]}

        with ThreadPoolExecutor(16) as pool:
            entries = list(pool.map(upload, paths))
    manifest = parse_manifest("bench", json.dumps({"files": entries}).encode())
    log.info("%d objects, %.1f MB", len(entries), manifest.total_bytes / 1e6)

    spark = SparkSession.builder.appName("bench-manifest-read").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    readers = {
        "spark": lambda: objects.read_with_spark(spark, manifest),
        "boto3": lambda: objects.read_with_boto3(
            spark, manifest, args.threads, args.files_per_task
        ),
    }
    expected = manifest.total_bytes
    results: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(args.repeat):
        for name, build in readers.items():
            started = time.perf_counter()
            total = build().agg(F.sum(F.length("content")), F.count(F.lit(1))).first()
            elapsed = time.perf_counter() - started
            if total[0] != expected or total[1] != len(entries):
                raise RuntimeError(
                    f"{name} read {total[1]} objects / {total[0]} bytes, "
                    f"expected {len(entries)} / {expected}"
                )
            results[name].append(elapsed)
    report = {
        "files": len(entries),
        "bytes": expected,
        "cores": spark.sparkContext.defaultParallelism,
        "boto3_threads_per_task": args.threads,
        "runs": {name: [round(t, 2) for t in times] for name, times in results.items()},
        "median_s": {name: round(statistics.median(t), 2) for name, t in results.items()},
        "manifest_sha256": hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:12],
    }
    print(json.dumps(report, indent=2))  # the benchmark's result, for the docs
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
