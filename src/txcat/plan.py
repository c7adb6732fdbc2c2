"""Capacity planner: how many vCPUs / instances score a day inside its window.

The per-core throughput comes from the benchmark's output (`docs/benchmarks.json`), never from a
constant in the code; the rest are stated assumptions with flags to change them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txcat import exits, resources

log = logging.getLogger(__name__)

#: The figures of `make bench` (docs/benchmarks.json), shipped with the package.
DEFAULT_BENCHMARKS = resources.benchmark_figures()
#: Readers of small S3 objects at injected latencies (`make bench-s3`).
DEFAULT_S3_BENCHMARKS = resources.s3_benchmark_figures()
READERS = ("boto3", "spark")

#: vCPUs of common EMR core-node types (YARN gets them all by default).
INSTANCE_VCPUS = {
    "m5.xlarge": 4,
    "m5.2xlarge": 8,
    "m5.4xlarge": 16,
    "m6i.4xlarge": 16,
    "c5.4xlarge": 16,
    "c6i.4xlarge": 16,
    "r5.2xlarge": 8,
}


@dataclass(frozen=True)
class PlanInput:
    files: int
    rows_per_file: float
    window_min: float
    s3_latency_ms: float = 0.0
    reads_in_flight_per_core: int = 1
    instance_type: str = "m5.4xlarge"
    #: The manifest reader (`storage.manifest_reader`) whose measured S3 figures apply.
    reader: str = "boto3"
    fixed_overhead_s: float = 300.0
    efficiency: float = 0.75


@dataclass(frozen=True)
class Plan:
    core_seconds: float
    usable_seconds: float
    vcpus: int
    instances: int
    rows_per_s_per_core: float
    per_file_latency_s: float
    assumptions: list[str]
    #: Seconds of the run that do not grow with the day, taken off the window.
    fixed_in_run_s: float = 0.0


def load_benchmarks(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise FileNotFoundError(f"no benchmark figures at {path}: run `make bench` first") from exc
    for key in ("rows_per_s_per_core", "files", "rows", "cores"):
        if key not in data:
            raise ValueError(f"{path} lacks {key!r}: rerun `make bench`")
    return data


def load_s3_benchmarks(path: Path) -> dict[str, Any] | None:
    """The S3 reader figures, or None when `make bench-s3` has not been run."""
    try:
        return dict(json.loads(path.read_text()))
    except OSError:
        return None


def measured_wait_per_file(
    s3_bench: dict[str, Any] | None, latency_ms: float, reader: str
) -> float | None:
    """Core-seconds a file costs at `latency_ms` beyond its cost at 0 ms, as measured.

    None when the S3 benchmark did not measure that latency (or 0 ms) for the reader.
    """
    if s3_bench is None:
        return None
    figures = s3_bench.get("latency_ms", {})
    slow, fast = figures.get(f"{latency_ms:g}"), figures.get("0")
    if slow is None or fast is None:
        return None
    slow_rate = slow["files_per_s_per_core"].get(reader)
    fast_rate = fast["files_per_s_per_core"].get(reader)
    if not slow_rate or not fast_rate:
        return None
    return max(0.0, 1.0 / slow_rate - 1.0 / fast_rate)


def job_wait_per_file(bench: dict[str, Any], latency_ms: float) -> tuple[float, str] | None:
    """Core-seconds a file costs the whole job at `latency_ms` beyond 0 ms, as `make bench`
    measured the job on S3 (its configured reader); None when it did not measure both."""
    s3_job = bench.get("s3_job") or {}
    figures = s3_job.get("latency_ms", {})
    slow, fast = figures.get(f"{latency_ms:g}"), figures.get("0")
    if not slow or not fast:
        return None
    step = slow.get("drift_free_step_s")
    files, cores = s3_job.get("files"), bench.get("cores")
    if step is not None and files and cores:
        # The wall time the wait added to a run of `files` files on `cores` cores, the host's
        # drift taken out (`benchmark.runner.drift_free_step`).
        wait = max(0.0, step * cores / files)
        how = (
            f"{step:+.2f} s per run of {files:,} files on {cores} cores, the host's drift taken "
            f"out (medians {fast['median_s']:.1f} and {slow['median_s']:.1f} s)"
        )
    else:
        wait = max(0.0, 1.0 / slow["files_per_s_per_core"] - 1.0 / fast["files_per_s_per_core"])
        how = (
            f"{fast['files_per_s_per_core']:,.1f} files/s per core at 0 ms, "
            f"{slow['files_per_s_per_core']:,.1f} at {latency_ms:g} ms"
        )
    text = (
        f"storage wait {wait * 1000:.2f} ms of core time per file at {latency_ms:g} ms per "
        f"request: the whole job measured on S3 ({how}; `make bench`, {bench.get('date', '?')})"
    )
    return wait, text


def reader_cpu_per_file(s3_bench: dict[str, Any] | None, reader: str) -> tuple[float, str]:
    """Core-seconds the manifest reader's own GET of a file costs on the executor (its client
    CPU, whatever the latency), as `make bench-s3` measured it; 0 and a note when it did not.

    The job's rate comes from files on local disk, which cost no request: on S3 every file is
    one GET, and for the boto3 reader that costs client CPU on the executors at any latency.
    """
    figures = s3_bench or {}
    figure = (figures.get("reader_cpu_ms_per_object") or {}).get("0")
    if reader != "boto3" or not figure:
        return 0.0, (
            f"the {reader} reader's own CPU per S3 object not counted: not measured "
            "(`make bench-s3` measures the boto3 reader's)"
        )
    return float(figure) / 1000.0, (
        f"the boto3 reader's own CPU {float(figure):.2f} ms per file (one presigned GET, "
        f"{figures.get('boto3_threads_per_task', '?')} in flight, at 0 ms; `make bench-s3`, "
        f"{figures.get('date', '?')}), counted at every latency"
    )


@dataclass(frozen=True)
class JobRate:
    """What the job costs: core time per row, and seconds a run pays whatever its size."""

    rows_per_s_per_core: float
    #: Seconds of a run that do not grow with the day (driver work, code generation and JIT
    #: warm-up, broadcasts, validation suites), paid once per run like the start-up.
    fixed_in_run_s: float
    note: str


def job_rate(bench: dict[str, Any]) -> JobRate:
    """The job's cost per row and per run, and what they include.

    Preferred: the marginal rate of two day sizes measured by `make bench` (`job_scaling`: the
    slope and intercept of the run's own time against its rows), so the work a run pays once
    is not spread over every row of a far larger day. Else the in-run rate (spark-submit
    start-up and shutdown excluded: a cluster pays them once a day, inside the fixed overhead),
    else the wall-clock rate.
    """
    scaling = bench.get("job_scaling") or {}
    marginal, fixed = scaling.get("marginal_rows_per_s_per_core"), scaling.get("fixed_in_run_s")
    if marginal and marginal > 0 and fixed is not None:
        small, large = scaling["rows"]
        # A negative intercept (a day costing more per row as it grows) keeps the steeper
        # marginal rate and takes nothing off the window.
        fixed = max(0.0, float(fixed))
        return JobRate(
            float(marginal),
            fixed,
            f"marginal: the run's own time against its rows at two day sizes ({small:,} and "
            f"{large:,} rows, {scaling['in_run_s'][0]:g} and {scaling['in_run_s'][1]:g} s); "
            f"the {fixed:g} s a run pays whatever its size are taken off the window, "
            "spark-submit start-up counted in the fixed overhead",
        )
    if bench.get("inner_rows_per_s_per_core"):
        return JobRate(
            float(bench["inner_rows_per_s_per_core"]),
            0.0,
            "in run; spark-submit start-up counted in the fixed overhead",
        )
    return JobRate(
        float(bench["rows_per_s_per_core"]), 0.0, "wall clock, spark-submit start-up included"
    )


def make_plan(
    spec: PlanInput, bench: dict[str, Any], s3_bench: dict[str, Any] | None = None
) -> Plan:
    """Core-seconds needed (compute + reading from storage) over the usable part of the window.

    The storage wait per file is, in order of preference: the whole job's measurement on S3 at
    the given latency (`make bench`, the configured reader), the S3 reader benchmark's for the
    reader (`make bench-s3`), else latency / reads in flight.
    """
    job = job_rate(bench)
    rate = job.rows_per_s_per_core
    rows = spec.files * spec.rows_per_file
    compute = rows / rate
    whole_job = (
        job_wait_per_file(bench, spec.s3_latency_ms)
        if spec.s3_latency_ms > 0 and spec.reader == "boto3"
        else None
    )
    measured = (
        measured_wait_per_file(s3_bench, spec.s3_latency_ms, spec.reader)
        if spec.s3_latency_ms > 0
        else None
    )
    if whole_job is not None:
        latency, storage = whole_job
    elif measured is not None and s3_bench is not None:
        latency = measured
        rates = {
            k: v["files_per_s_per_core"][spec.reader] for k, v in s3_bench["latency_ms"].items()
        }
        storage = (
            f"storage wait {latency * 1000:.2f} ms of core time per file at "
            f"{spec.s3_latency_ms:g} ms per request: measured for the {spec.reader} reader "
            f"({rates['0']:,.1f} files/s per core at 0 ms, "
            f"{rates[f'{spec.s3_latency_ms:g}']:,.1f} at {spec.s3_latency_ms:g} ms; "
            f"`make bench-s3`, {s3_bench.get('date', '?')})"
        )
    elif spec.s3_latency_ms <= 0:
        latency = 0.0
        storage = "no storage wait: files read at the benchmark's local-disk speed"
    else:
        latency = spec.s3_latency_ms / 1000.0 / max(spec.reads_in_flight_per_core, 1)
        storage = (
            f"storage wait {spec.s3_latency_ms:g} ms per file / {spec.reads_in_flight_per_core} "
            "reads in flight per core (1 = Spark's own reader, one object after another); "
            "not measured at this latency"
        )
    reader_cpu, reader_note = reader_cpu_per_file(s3_bench, spec.reader)
    latency += reader_cpu
    waiting = spec.files * latency
    core_seconds = compute + waiting
    usable = spec.window_min * 60.0 - spec.fixed_overhead_s - job.fixed_in_run_s
    if usable <= 0:
        raise ValueError("the window is shorter than the fixed overhead")
    vcpus = math.ceil(core_seconds / (usable * spec.efficiency))
    per_instance = INSTANCE_VCPUS[spec.instance_type]
    instances = math.ceil(vcpus / per_instance)
    bench_rows_per_file = bench["rows"] / bench["files"]
    assumptions = [
        f"throughput {rate:,.0f} rows/s per core ({job.note}): the end-to-end job in the "
        f"benchmark ({bench['files']:,} files x {bench_rows_per_file:.0f} rows on "
        f"{bench['cores']} cores, measured {bench.get('date', '?')}), assumed linear in rows",
        storage,
        reader_note,
        f"fixed overhead {spec.fixed_overhead_s:g} s (cluster step start, listing or manifest, "
        "driver work, summary) taken off the window",
        f"efficiency {spec.efficiency:g}: share of core time a cluster turns into work "
        "(stragglers, scheduling, start-up of executors)",
        f"{spec.instance_type}: {per_instance} vCPUs per core node, all given to YARN; "
        "the driver runs on the primary node",
    ]
    return Plan(
        core_seconds, usable, vcpus, instances, rate, latency, assumptions, job.fixed_in_run_s
    )


def render(spec: PlanInput, plan: Plan) -> str:
    rows = spec.files * spec.rows_per_file
    lines = [
        f"day: {spec.files:,} files x {spec.rows_per_file:g} rows = {rows:,.0f} rows, "
        f"window {spec.window_min:g} min",
        f"work: {plan.core_seconds:,.0f} core-seconds "
        f"({rows / plan.rows_per_s_per_core:,.0f} compute + "
        f"{spec.files * plan.per_file_latency_s:,.0f} reading from storage)",
        f"usable window: {plan.usable_seconds:,.0f} s at efficiency {spec.efficiency:g}"
        + (
            f" ({spec.window_min * 60:g} s - {spec.fixed_overhead_s:g} s fixed overhead - "
            f"{plan.fixed_in_run_s:g} s of the run independent of its size)"
            if plan.fixed_in_run_s
            else ""
        ),
        f"needed: {plan.vcpus} vCPUs = {plan.instances} x {spec.instance_type}",
        "assumptions:",
        *[f"  - {a}" for a in plan.assumptions],
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, required=True)
    parser.add_argument("--rows-per-file", type=float, default=100)
    parser.add_argument("--window-min", type=float, default=30)
    parser.add_argument("--s3-latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--reads-in-flight",
        type=int,
        default=1,
        help="concurrent object reads per core (the reader's concurrency)",
    )
    parser.add_argument("--instance-type", choices=sorted(INSTANCE_VCPUS), default="m5.4xlarge")
    parser.add_argument("--overhead-s", type=float, default=300.0)
    parser.add_argument("--efficiency", type=float, default=0.75)
    parser.add_argument("--benchmarks", type=Path, default=DEFAULT_BENCHMARKS)
    parser.add_argument(
        "--reader",
        choices=READERS,
        default="boto3",
        help="manifest reader whose measured S3 figures apply (storage.manifest_reader)",
    )
    parser.add_argument("--s3-benchmarks", type=Path, default=DEFAULT_S3_BENCHMARKS)


def register(sub: Any) -> None:
    """Adds `txcat plan` to the command line."""
    parser = sub.add_parser(
        "plan",
        help="vCPUs and instances needed to score a day inside its window",
        description="Capacity plan from the benchmark's measured per-core throughput.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        bench = load_benchmarks(args.benchmarks)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    spec = PlanInput(
        files=args.files,
        rows_per_file=args.rows_per_file,
        window_min=args.window_min,
        s3_latency_ms=args.s3_latency_ms,
        reads_in_flight_per_core=args.reads_in_flight,
        instance_type=args.instance_type,
        reader=args.reader,
        fixed_overhead_s=args.overhead_s,
        efficiency=args.efficiency,
    )
    plan = make_plan(spec, bench, load_s3_benchmarks(args.s3_benchmarks))
    print(render(spec, plan))  # the command's output
    return exits.OK
