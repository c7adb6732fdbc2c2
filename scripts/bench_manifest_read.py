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
from typing import Any

from txcat import exits

log = logging.getLogger("bench_manifest_read")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows-per-file", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=int(os.environ.get("STORAGE_S3_PORT", "5055")))
    parser.add_argument("--threads", type=int, default=16, help="boto3 GETs per task")
    parser.add_argument("--files-per-task", type=int, default=2000)
    parser.add_argument(
        "--latency-ms", type=float, nargs="+", default=[0.0], help="waits per request to test"
    )
    parser.add_argument("--out", type=Path, help="folder for benchmarks-s3.json and .md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    endpoint = f"http://127.0.0.1:{args.port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    server = subprocess.Popen(
        [sys.executable, "-m", "txcat.benchmark.slow_s3", "--port", str(args.port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(endpoint)
        return _bench(args, endpoint)
    finally:
        server.terminate()
        server.wait(timeout=15)


def _wait(endpoint: str) -> None:
    import urllib.request

    for _ in range(150):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto_server did not answer on {endpoint}")


def _set_latency(endpoint: str, latency_ms: float) -> None:
    import urllib.request

    urllib.request.urlopen(f"{endpoint}/__latency/{latency_ms:g}", timeout=5).read()


def _bench(args: argparse.Namespace, endpoint: str) -> int:
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
        "boto3_sequential": lambda: objects.read_with_boto3(
            spark, manifest, 1, args.files_per_task
        ),
    }
    expected = manifest.total_bytes
    cores = spark.sparkContext.defaultParallelism
    by_latency: dict[str, Any] = {}
    reader_cpu: dict[str, float] = {}
    for latency in args.latency_ms:
        _set_latency(endpoint, latency)
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
                log.info("latency %g ms, %s: %.2f s", latency, name, elapsed)
        reader_cpu[f"{latency:g}"] = _reader_cpu_ms_per_object(
            entries, endpoint, args.threads, args.repeat
        )
        log.info("latency %g ms, reader CPU: %s ms per object", latency, reader_cpu)
        medians = {name: statistics.median(t) for name, t in results.items()}
        by_latency[f"{latency:g}"] = {
            "runs_s": {name: [round(t, 2) for t in times] for name, times in results.items()},
            "median_s": {name: round(m, 2) for name, m in medians.items()},
            "files_per_s_per_core": {
                name: round(len(entries) / m / cores, 1) for name, m in medians.items()
            },
        }
    _set_latency(endpoint, 0)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "files": len(entries),
        "bytes": expected,
        "cores": cores,
        "repeats": args.repeat,
        "boto3_threads_per_task": args.threads,
        "latency_ms": by_latency,
        "reader_cpu_ms_per_object": reader_cpu,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "manifest_sha256": hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:12],
    }
    print(json.dumps(report, indent=2))  # the benchmark's result, for the docs
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "benchmarks-s3.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "benchmarks-s3.md").write_text(_markdown(report))
    spark.stop()
    return exits.OK


def _reader_cpu_ms_per_object(
    entries: list[dict[str, Any]], endpoint: str, threads: int, repeat: int
) -> float:
    """The boto3 reader's own CPU per object: the process time of this process (the server runs
    in another) while `threads` threads GET every object as a task does (`fetch_object`);
    median of `repeat` rounds."""
    from txcat.inputs import objects
    from txcat.inputs.s3get import S3Getter

    getter = S3Getter(threads, endpoint)
    listed = [(e["uri"], str(e["etag"]).strip('"'), int(e["size"])) for e in entries]
    rounds = []
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda e: objects.fetch_object(getter, *e), listed[:50]))
        for _ in range(repeat):
            started = time.process_time()
            fetched = list(pool.map(lambda e: objects.fetch_object(getter, *e), listed))
            rounds.append((time.process_time() - started) * 1000.0 / len(listed))
            if any(content is None for content, _ in fetched):
                raise RuntimeError("an object did not match its manifest entry")
    return round(statistics.median(rounds), 3)


def _markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Reading many small objects from S3",
        "",
        f"Measured {report['date']} by `make bench-s3` on {report['cores']} cores: "
        f"{report['files']:,} objects ({report['bytes'] / 1e6:.1f} MB) on a local S3-protocol "
        "server that waits the given time before answering each request. Median of "
        f"{report['repeats']} runs; each run reads every object's bytes and checks the total.",
        "",
        "| wait per request | reader | median (s) | files/s per core |",
        "|---|---|---|---|",
    ]
    for latency, figures in report["latency_ms"].items():
        for name, median in figures["median_s"].items():
            lines.append(
                f"| {latency} ms | {name} | {median:.2f} | "
                f"{figures['files_per_s_per_core'][name]:,.1f} |"
            )
    lines += [
        "",
        "Readers: `spark` is `binaryFile` over s3a (a task reads its objects one after another); "
        f"`boto3` is the job's manifest reader with {report['boto3_threads_per_task']} GETs in "
        "flight per task; `boto3_sequential` is the same reader with one.",
        "",
        "The boto3 reader's own CPU per object (its client: presigning, HTTP, checks; "
        f"{report['boto3_threads_per_task']} threads GETting every object in one process, the "
        "server's CPU not counted; `txcat plan` adds it to every file): "
        + ", ".join(
            f"{ms:.2f} ms at {latency} ms"
            for latency, ms in report["reader_cpu_ms_per_object"].items()
        )
        + ".",
        "",
        f"Command: `{report['command']}`",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
