"""The benchmark: the I/O floor, the real job and four scorers, side by side on the same files.

Every measured piece runs as its own `spark-submit` process, the way a scheduler runs the job,
and is timed from outside (wall clock, and peak resident memory of the whole process tree:
JVM and Python workers). Ratios are taken within one run, since the machines are noisy.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from txcat import exits, resources
from txcat.generate.reference import reference_overrides

log = logging.getLogger(__name__)

RUN_DATE = "2026-11-25"
SCORERS = ("txcat_udf", "txcat_udf_onedal", "xgboost_spark", "row_udf", "pandas")
#: Lines of the one large account file of the large-file case.
LARGE_FILE_LINES = 1_000_000
#: The job is also timed on a day of files / this many files: two sizes give its cost per row
#: apart from what a run pays whatever its size (`job_scaling`).
SMALL_DAY_DIVISOR = 4
#: Lines per file when the same lines are spread over many files.
SPREAD_LINES_PER_FILE = 100


def repository() -> Path:
    """The source checkout the benchmark runs from (it runs `scripts/` and `jobs/`)."""
    root = resources.source_checkout()
    if root is None:
        raise RuntimeError("the benchmark runs from a source checkout of txcat, not a wheel")
    return root


@dataclass
class Measurement:
    name: str
    command: str
    wall_s: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    inner: list[dict[str, Any]] = field(default_factory=list)
    #: The job's own `duration_s` of each run (its summary): listing to summary, start-up
    #: excluded.
    in_run_s: list[float] = field(default_factory=list)
    #: The place of each run in a sequence of runs taking turns (`taking_turns`), 0 first.
    turns: list[int] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.wall_s)

    @property
    def median_in_run_s(self) -> float:
        return statistics.median(self.in_run_s)


def _tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * page
    total = 0
    for pid, resident in rss.items():
        walk = pid
        while walk > 1:
            if walk == root_pid:
                total += resident
                break
            walk = parents.get(walk, 0)
    return total


def run_measured(
    command: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> tuple[float, float, str]:
    """Runs a command; returns (wall seconds, peak tree RSS in MB, stdout).

    Raises:
        RuntimeError: the command exited with a code not in `ok`.
    """
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=repository(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_bytes(process.pid))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    stop.set()
    sampler.join()
    wall = time.monotonic() - start
    if process.returncode not in ok:
        raise RuntimeError(f"{shlex.join(command)} exited {process.returncode}:\n{err[-3000:]}")
    return wall, peak / 2**20, out


class Bench:
    def __init__(self, work: Path, files: int, rows_per_file: int, repeats: int, cores: int):
        self.work = work
        self.files = files
        self.rows_per_file = rows_per_file
        self.repeats = repeats
        self.cores = cores
        self.python = sys.executable
        self.submit = str(Path(sys.executable).with_name("spark-submit"))
        self.env = dict(
            os.environ,
            PYSPARK_PYTHON=sys.executable,
            PYSPARK_DRIVER_PYTHON=sys.executable,
            SPARK_LOCAL_IP="127.0.0.1",
        )

    @property
    def landing(self) -> Path:
        return self.work / "landing"

    @property
    def landing_small(self) -> Path:
        """A day of `small_files()` files from the same generator: the second point of the
        job's cost against its size."""
        return self.work / "landing-small"

    def small_files(self) -> int:
        return max(1, self.files // SMALL_DAY_DIVISOR)

    @property
    def reference(self) -> Path:
        return self.work / "reference"

    def reference_overrides(self) -> list[str]:
        """`--set` options pointing a job at this workspace's generated reference tables."""
        return [a for item in reference_overrides(self.reference) for a in ("--set", item)]

    def spark_submit(
        self, script: str, *args: str, conf: dict[str, str] | None = None
    ) -> list[str]:
        command = [
            self.submit,
            "--master",
            f"local[{self.cores}]",
            "--driver-memory",
            "6g",
            "--conf",
            "spark.ui.enabled=false",
            "--driver-java-options",
            f"-Dlog4j.configurationFile={repository() / 'conf' / 'log4j2.properties'}",
        ]
        for key, value in (conf or {}).items():
            command += ["--conf", f"{key}={value}"]
        return [*command, str(repository() / script), *args]

    def prepare(self, train: bool = True) -> None:
        """Generates the day (and a labelled set), trains the model scored with (`train`)."""
        generate = [self.python, str(repository() / "scripts" / "generate_data.py")]
        for day, accounts, extra in (
            (self.landing, self.files, ["--reference-out", str(self.reference)]),
            (self.landing_small, self.small_files(), []),
        ):
            if (day / "_generation.json").exists():
                continue
            subprocess.run(
                [
                    *generate,
                    "--out",
                    str(day),
                    "--accounts",
                    str(accounts),
                    "--start-date",
                    "2026-10-26",
                    "--end-date",
                    RUN_DATE,
                    "--seed",
                    "5",
                    "--no-labels",
                    "--rows-per-account",
                    str(self.rows_per_file),
                    *extra,
                ],
                check=True,
                env=self.env,
            )
        training = self.work / "training"
        if not (training / "_generation.json").exists():
            subprocess.run(
                [
                    *generate,
                    "--out",
                    str(training),
                    "--accounts",
                    str(min(self.files, 2000)),
                    "--start-date",
                    "2026-05-01",
                    "--end-date",
                    "2026-10-31",
                    "--seed",
                    "5",
                ],
                check=True,
                env=self.env,
            )
        if train and not (self.work / "model" / "model.json").exists():
            subprocess.run(
                self.spark_submit(
                    "jobs/train.py",
                    "--input",
                    str(training),
                    "--model-out",
                    str(self.work / "model"),
                    "--as-of",
                    RUN_DATE,
                    *self.reference_overrides(),
                    # the configured model, without a search
                    "--set",
                    "lifecycle.search_budget=1",
                ),
                check=True,
                env=self.env,
                capture_output=True,
            )

    def measure(
        self,
        name: str,
        command: list[str],
        repeats: int | None = None,
        ok: tuple[int, ...] = (0,),
        summary: Path | None = None,
    ) -> Measurement:
        """Runs `command` `repeats` times; `summary` is the job's run summary, read after each
        run for its own duration."""
        result = Measurement(name, shlex.join(command))
        for i in range(repeats or self.repeats):
            wall, peak, out = run_measured(command, self.env, ok)
            result.wall_s.append(round(wall, 2))
            result.peak_rss_mb.append(round(peak))
            inner = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
            result.inner.extend(inner)
            if summary is not None:
                result.in_run_s.append(float(json.loads(summary.read_text())["duration_s"]))
            log.info("%s run %d: %.1f s, peak %.0f MB", name, i + 1, wall, peak)
        return result

    def io_floor(self, repeats: int | None = None) -> Measurement:
        return self.measure(
            "io_floor",
            self.spark_submit(
                "scripts/benchmark_stage.py",
                "io-floor",
                "--input",
                str(self.landing),
                "--output",
                str(self.work / "floor-out"),
                "--run-date",
                RUN_DATE,
            ),
            repeats=repeats,
        )

    def job(
        self,
        name: str = "job",
        conf: dict[str, str] | None = None,
        settings: list[str] | None = None,
        repeats: int | None = None,
        manifest: Path | None = None,
        landing: Path | None = None,
    ) -> Measurement:
        """The daily job on the day (`landing`, default the benchmark's day, or a manifest)."""
        overrides = [arg for item in settings or [] for arg in ("--set", item)]
        source = (
            ["--manifest", str(manifest)] if manifest else ["--input", str(landing or self.landing)]
        )
        out = self.work / f"{name}-out"
        return self.measure(
            name,
            self.spark_submit(
                "jobs/score_daily.py",
                "--run-date",
                RUN_DATE,
                *source,
                "--output",
                str(out),
                "--model",
                str(self.work / "model"),
                "--env",
                "local",
                *self.reference_overrides(),
                *overrides,
                conf=conf,
            ),
            repeats=repeats,
            summary=out / "runs" / f"run_date={RUN_DATE}" / "summary.json",
        )

    def monitor(self) -> Measurement:
        """The monitor on the job's output (`job` first): its cost against the job's.

        An alert (exit 8) is a verdict on the generated day, not a failed measurement.
        """
        return self.measure(
            "monitor",
            self.spark_submit(
                "jobs/monitor.py",
                "--run-date",
                RUN_DATE,
                "--output",
                str(self.work / "job-out"),
                "--env",
                "local",
                *self.reference_overrides(),
                "--set",
                "monitoring.log_to_mlflow=false",
            ),
            ok=(exits.OK, exits.MONITOR_ALERT),
        )

    def read_stage(self, name: str, input_path: Path, settings: Sequence[str] = ()) -> Measurement:
        return self.measure(
            name,
            self.spark_submit(
                "scripts/benchmark_stage.py",
                "read",
                "--input",
                str(input_path),
                "--run-date",
                RUN_DATE,
                *[arg for setting in settings for arg in ("--set", setting)],
            ),
            repeats=1,
        )

    def features(self) -> Measurement:
        return self.measure(
            "features",
            self.spark_submit(
                "scripts/benchmark_stage.py",
                "features",
                "--input",
                str(self.landing),
                "--output",
                str(self.work / "features"),
                "--run-date",
                RUN_DATE,
                "--model",
                str(self.work / "model"),
                *self.reference_overrides(),
            ),
            repeats=1,
        )

    def scorer(self, variant: str, limit: int | None, repeats: int | None = None) -> Measurement:
        args = [
            "score",
            "--variant",
            variant,
            "--features",
            str(self.work / "features"),
            "--model",
            str(self.work / "model"),
        ]
        if limit:
            args += ["--limit", str(limit)]
        if variant == "pandas":
            command = [self.python, str(repository() / "scripts" / "benchmark_stage.py"), *args]
        else:
            command = self.spark_submit("scripts/benchmark_stage.py", *args)
        return self.measure(f"score_{variant}", command, repeats=repeats)


#: Waits per S3 request at which the whole job is timed on a manifest (`job_on_s3`).
S3_LATENCIES_MS = (0, 20)
#: Files of the day the job reads from S3 at each latency (`job_on_s3`).
S3_FILES = 5000
S3_BUCKET = "bench"


def _s3a_conf(endpoint: str) -> dict[str, str]:
    """s3a against the local S3-protocol server (the settings `make bench-s3` gives)."""
    jars = Path(sys.executable).parents[1] / "jars"
    return {
        "spark.jars": ",".join(
            str(jars / j) for j in ("hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar")
        ),
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "com.amazonaws.auth.EnvironmentVariableCredentialsProvider"
        ),
        "spark.hadoop.fs.s3a.change.detection.mode": "none",
    }


def _wait_for(endpoint: str, server: subprocess.Popen[bytes]) -> None:
    import urllib.request

    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError(f"the S3 server exited with {server.returncode}")
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the S3 server did not answer on {endpoint}")


def _day_manifest(bench: Bench, files: int) -> Path:
    """The manifest of the benchmark day's first `files` files as objects of `S3_BUCKET` under
    `landing/` (what `static_s3` serves from the landing folder); a local JSON file."""
    from txcat.benchmark.static_s3 import etag_of

    paths = sorted(p for p in bench.landing.rglob("*.csv") if not p.name.startswith(("_", ".")))
    entries = []
    for path in paths[:files]:
        body = path.read_bytes()
        key = f"landing/{path.relative_to(bench.landing).as_posix()}"
        entries.append({"uri": f"s3://{S3_BUCKET}/{key}", "size": len(body), "etag": etag_of(body)})
    manifest = bench.work / "s3-manifest.json"
    manifest.write_text(json.dumps({"files": entries}) + "\n")
    return manifest


def job_on_s3(
    bench: Bench, files: int, latencies: tuple[int, ...] = S3_LATENCIES_MS
) -> dict[str, Any]:
    """The whole job on the day's first `files` files in S3, at each wait per request, the
    waits taking turns (`bench.repeats` runs each): files/s per core.

    A local read-only S3-protocol server (`txcat.benchmark.static_s3`: 0.22 to 0.31 ms of its
    own CPU per GET, moto's 2.8 to 3.4 ms; docs/performance.md) serves them; the job
    reads them through a manifest with its configured reader (`storage.manifest_reader`) and
    writes to local disk. Every figure includes spark-submit start-up, like the `job` line;
    `txcat plan` takes the difference of the cost per file between two latencies, where it
    cancels out. The server shares the cores with the job, so fewer files than the day keep
    the measurement short without changing that difference.
    """
    import urllib.request

    files = min(files, bench.files)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved_env = dict(bench.env)
    bench.env.update(credentials)
    manifest = _day_manifest(bench, files)
    server = subprocess.Popen(
        [
            bench.python,
            "-m",
            "txcat.benchmark.static_s3",
            "--port",
            str(port),
            "--bucket",
            S3_BUCKET,
            "--root",
            str(bench.landing),
            "--prefix",
            "landing/",
        ],
        env=bench.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(endpoint, server)

        def at(latency: int) -> Callable[[], Measurement]:
            def run() -> Measurement:
                urllib.request.urlopen(f"{endpoint}/__latency/{latency:g}", timeout=10).read()
                return bench.job(
                    f"job_s3_{latency}ms", conf=_s3a_conf(endpoint), repeats=1, manifest=manifest
                )

            return run

        # The plan takes the difference between the latencies: they take turns.
        measurements = taking_turns({latency: at(latency) for latency in latencies}, bench.repeats)
        base = measurements[latencies[0]]
    finally:
        server.terminate()
        server.wait(timeout=30)
        bench.env.clear()
        bench.env.update(saved_env)
    return {
        "files": files,
        "reader": "the job's configured manifest reader (storage.manifest_reader)",
        "server": "txcat.benchmark.static_s3",
        "latency_ms": {
            f"{latency:g}": {
                "median_s": m.median_s,
                "wall_s": m.wall_s,
                "turns": m.turns,
                "files_per_s_per_core": round(files / m.median_s / bench.cores, 2),
                # The wall time this wait adds to the run, the host's drift taken out
                # (`txcat plan` prefers it to the medians' difference).
                "drift_free_step_s": (
                    drift_free_step(base.wall_s, base.turns, m.wall_s, m.turns)
                    if m is not base
                    else None
                ),
                "command": m.command,
            }
            for latency, m in measurements.items()
        },
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_cost(work: Path, requests: int) -> dict[str, Any]:
    """The real-time API's cost per row, from `txcat.benchmark.serve` (its own world and model
    of the configured shape), written under `work` (docs/benchmarks-serve.json is
    `make bench-serve`'s)."""
    from txcat.benchmark import serve

    figures = serve.run(work / "serve", work / "serve.json", requests=requests)
    return api_figures(figures)


def api_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """Latency and server CPU per row of every case `txcat.benchmark.serve` measured.

    A case of one transaction scores one row per request; a file case `serve.FILE_ROWS`.
    """
    from txcat.benchmark import serve

    result: dict[str, Any] = {
        "requests_per_case": figures["requests_per_case"],
        "load": figures["machine"],
    }
    for case, c in figures["cases"].items():
        rows = 1 if case.startswith("one_transaction") else serve.FILE_ROWS
        result[case] = {
            "p50_ms": c["p50_ms"],
            "p99_ms": c["p99_ms"],
            "server_cpu_us_per_row": round(c["server_cpu_s"] * 1e6 / (c["requests"] * rows), 1),
            "rows_per_cpu_s": c["transactions_per_cpu_s"],
        }
    return result


def prepare_large_file(folder: Path, lines: int, env: dict[str, str]) -> int:
    """Writes `lines` generated lines as 100-line files (`many/`) and as one file (`one/`).

    Both hold the same data lines; returns their number.
    """
    many, one = folder / "many", folder / "one"
    if not (many / "_generation.json").exists():
        subprocess.run(
            [
                sys.executable,
                str(repository() / "scripts" / "generate_data.py"),
                "--out",
                str(many),
                "--accounts",
                str(max(1, lines // SPREAD_LINES_PER_FILE)),
                "--start-date",
                "2026-10-26",
                "--end-date",
                RUN_DATE,
                "--seed",
                "11",
                "--no-labels",
                "--rows-per-account",
                str(SPREAD_LINES_PER_FILE),
            ],
            check=True,
            env=env,
        )
    big = one / "one_account.csv"
    if not big.exists():
        one.mkdir(parents=True, exist_ok=True)
        partial = big.with_name("_partial")
        with partial.open("wb") as out:
            for i, path in enumerate(sorted(many.glob("*.csv"))):
                header, _, body = path.read_bytes().partition(b"\r\n")
                if i == 0:
                    out.write(header + b"\r\n")
                out.write(body)
        partial.rename(big)
    with big.open("rb") as f:
        return sum(1 for _ in f) - 1


def large_file(bench: Bench, lines: int, out_dir: Path) -> dict[str, Any]:
    """Read-stage rows/s on one file of `lines` lines against the same lines in many files.

    Every per-file step must be linear in the file's lines: the two rates should be close.
    """
    folder = bench.work.parent / f"large-file-{lines}"
    count = prepare_large_file(folder, lines, bench.env)
    spread = bench.read_stage("read_many_files", folder / "many")
    single = bench.read_stage("read_one_file", folder / "one")
    many_rate, one_rate = round(rows_per_s(spread), 1), round(rows_per_s(single), 1)
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "cores": bench.cores,
        "lines": count,
        "files_spread": len(list((folder / "many").glob("*.csv"))),
        "many_files_rows_per_s": many_rate,
        "one_file_rows_per_s": one_rate,
        "one_file_over_many_files": round(one_rate / max(many_rate, 1e-9), 3),
        "measurements": [vars(m) | {"median_s": m.median_s} for m in [spread, single]],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "benchmarks-large-file.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "benchmarks-large-file.md").write_text(render_large_file(result))
    return result


def render_large_file(r: dict[str, Any]) -> str:
    lines = [
        "# Benchmark: one large account file",
        "",
        f"Measured {r['date']} by `make bench-large-file` on {r['cores']} cores: the read and "
        f"clean stages (`scripts/benchmark_stage.py read`, every column computed, nothing "
        f"written) on {r['lines']:,} lines, once as one file and once spread over "
        f"{r['files_spread']:,} files. The rate times only the stage, not start-up. A file is "
        "one record of the scan, read by one task on one core; the spread files keep every "
        "core busy, so on N cores a ratio near 1/N means the per-file steps are linear.",
        "",
        "| input | rows/s | wall (s) |",
        "|---|---|---|",
        f"| {r['files_spread']:,} files | {r['many_files_rows_per_s']:,} | "
        f"{r['measurements'][0]['median_s']:.1f} |",
        f"| one file | {r['one_file_rows_per_s']:,} | {r['measurements'][1]['median_s']:.1f} |",
        "",
        f"One file / many files: **{r['one_file_over_many_files']}**.",
    ]
    return "\n".join(lines) + "\n"


def rows_per_s(m: Measurement) -> float:
    """Median throughput of the timed action inside the process (startup excluded)."""
    rates = [i["rows"] / i["seconds"] for i in m.inner if i.get("seconds")]
    return statistics.median(rates) if rates else 0.0


def measure_explain_cost(features: Path, model: Path, rows: int = 5_000) -> dict[str, Any]:
    """`scoring.explain`'s CPU cost per row, in this process, on the first `rows` features."""
    import pandas as pd

    from txcat.benchmark.explain import explain_cost
    from txcat.model import load_artifact

    artifact = load_artifact(str(model))
    frame = pd.read_parquet(features, columns=list(artifact.feature_names)).head(rows)
    return explain_cost(frame, artifact)


def _merged(first: Measurement, more: Measurement) -> Measurement:
    first.wall_s += more.wall_s
    first.peak_rss_mb += more.peak_rss_mb
    first.inner += more.inner
    first.in_run_s += more.in_run_s
    first.turns += more.turns
    return first


def taking_turns(
    runs: dict[Any, Callable[[], Measurement]], repeats: int
) -> dict[Any, Measurement]:
    """Each of `runs` `repeats` times, taking turns, the order reversed every round (a, b, b,
    a, a, b, ...), so a machine warming up or slowing down weighs on each alike and neither
    always runs after the other; every run returns one measured run, whose place in the
    sequence goes to `Measurement.turns` (`drift_free_step` uses it)."""
    measured: dict[Any, Measurement] = {}
    keys = list(runs)
    turn = 0
    for round_ in range(repeats):
        for key in keys if round_ % 2 == 0 else reversed(keys):
            done = runs[key]()
            done.turns = [turn]
            turn += 1
            measured[key] = _merged(measured[key], done) if key in measured else done
    return measured


def drift_free_step(
    base: list[float], base_turns: list[int], other: list[float], other_turns: list[int]
) -> float | None:
    """How much longer `other`'s runs took than `base`'s, a steady drift of the machine taken
    out: the least-squares line through every run's time against its place in the sequence
    (one slope for both), with one step for `other`'s runs. The difference of the medians
    holds the drift of the runs between them: on a host slowing down through a section, the
    runs that come later look slower. None with fewer than two runs of each or without their
    places.
    """
    if len(base) < 2 or len(other) < 2:
        return None
    if len(base_turns) != len(base) or len(other_turns) != len(other):
        return None
    times = np.array([*base, *other], dtype=float)
    places = np.array([*base_turns, *other_turns], dtype=float)
    is_other = np.r_[np.zeros(len(base)), np.ones(len(other))]
    design = np.column_stack([np.ones_like(places), places, is_other])
    coef, _, rank, _ = np.linalg.lstsq(design, times, rcond=None)
    return round(float(coef[2]), 3) if rank == 3 else None


def floor_and_job_on_two_days(bench: Bench) -> tuple[Measurement, Measurement, Measurement]:
    """The I/O floor, the job on the day and the job on the small day, taking turns (`repeats`
    runs each), so the job / floor ratio and the two days' step see the same machine: a host
    whose speed drifts within minutes would otherwise weigh on one side of each."""

    def floor() -> Measurement:
        return bench.io_floor(repeats=1)

    def day() -> Measurement:
        return bench.job(repeats=1)

    def small_day() -> Measurement:
        return bench.job("job_small", landing=bench.landing_small, repeats=1)

    measured = taking_turns({"floor": floor, "day": day, "small": small_day}, bench.repeats)
    return measured["floor"], measured["day"], measured["small"]


def scorers_side_by_side(bench: Bench, row_udf_limit: int) -> dict[str, Measurement]:
    """Every scorer of `SCORERS` on the job's featured rows, taking turns (`repeats` runs
    each), so the ratios between them (txcat's UDF over `xgboost.spark` first) see the same
    machine; the row-at-a-time UDF on its first `row_udf_limit` rows."""

    def scorer(variant: str) -> Callable[[], Measurement]:
        limit = row_udf_limit if variant == "row_udf" else None
        return lambda: bench.scorer(variant, limit, repeats=1)

    return taking_turns({v: scorer(v) for v in SCORERS}, bench.repeats)


#: The two `input.parser` readers, the JVM's first (the base of the comparison).
READERS = ("spark", "arrow")


def readers_side_by_side(bench: Bench) -> dict[str, Any]:
    """The read and clean stages on the small day, by each `input.parser`, taking turns
    (`repeats` runs each): the stage's own seconds, start-up excluded."""

    def reader(parser: str) -> Callable[[], Measurement]:
        return lambda: bench.read_stage(
            f"read_{parser}", bench.landing_small, [f"input.parser={parser}"]
        )

    measured = taking_turns({p: reader(p) for p in READERS}, bench.repeats)
    return readers_figures(measured, bench.cores)


def readers_figures(measured: dict[str, Measurement], cores: int) -> dict[str, Any]:
    """Per parser: rows, the stage's seconds per run and their median, µs per row and core;
    the arrow parser's time over the spark parser's; the drift-free difference."""
    out: dict[str, Any] = {}
    for parser, m in measured.items():
        seconds = [float(i["seconds"]) for i in m.inner]
        rows = int(m.inner[0]["rows"])
        median = statistics.median(seconds)
        out[parser] = {
            "rows": rows,
            "seconds": [round(x, 2) for x in seconds],
            "turns": m.turns,
            "median_s": round(median, 2),
            "us_per_row_core": round(median * cores / rows * 1e6, 2),
        }
    spark, arrow = out["spark"], out["arrow"]
    out["arrow_over_spark"] = round(arrow["median_s"] / spark["median_s"], 3)
    out["arrow_minus_spark_drift_free_s"] = drift_free_step(
        spark["seconds"], spark["turns"], arrow["seconds"], arrow["turns"]
    )
    return out


def job_scaling(
    rows_small: int,
    in_run_small_s: float,
    rows: int,
    in_run_s: float,
    cores: int,
    step_s: float | None = None,
) -> dict[str, Any]:
    """The job's own time against its rows, as a line through two day sizes.

    The slope is the marginal cost of a row (reported as rows/s per core); the intercept is
    what a run pays whatever its size (driver work, code generation and JIT warm-up,
    broadcasts, the validation suites). `step_s`, the larger day's extra time with the host's
    drift taken out (`drift_free_step`), gives the slope when measured, else the medians'
    difference does; the line then goes through the two medians' mean. None for the rate
    when the larger day did not take longer (the noise of the machine swamped the
    difference), and then no intercept either.

    Raises:
        ValueError: the two days have the same number of rows.
    """
    if rows == rows_small:
        raise ValueError("two different day sizes are needed")
    difference = in_run_s - in_run_small_s if step_s is None else step_s
    slope = difference / (rows - rows_small)
    measured = slope > 0
    fixed = (in_run_s + in_run_small_s - slope * (rows + rows_small)) / 2
    return {
        "rows": [rows_small, rows],
        "in_run_s": [round(in_run_small_s, 2), round(in_run_s, 2)],
        "drift_free_step_s": step_s,
        "marginal_rows_per_s_per_core": round(1.0 / (slope * cores), 1) if measured else None,
        "fixed_in_run_s": round(fixed, 2) if measured else None,
    }


def run(
    work: Path,
    files: int,
    rows_per_file: int,
    repeats: int,
    out_dir: Path,
    tuning: bool,
    row_udf_limit: int,
    tuning_repeats: int = 1,
    large_file_lines: int = LARGE_FILE_LINES,
    variants: tuple[str, ...] = (),
    s3: bool = True,
    api_requests: int = 200,
    s3_files: int = S3_FILES,
) -> dict[str, Any]:
    """Every measurement of `make bench`, side by side on one generated day.

    `variants` limits the tuning variants run (all when empty); `s3` times the whole job on
    S3 at `S3_LATENCIES_MS` on the day's first `s3_files` files; `api_requests` per case time
    the real-time API (0: skipped). The job with `scoring.explain` runs once: it costs several
    times the job on a large day.
    """
    cores = os.cpu_count() or 1
    bench = Bench(work, files, rows_per_file, repeats, cores)
    bench.prepare()
    manifest = json.loads((bench.landing / "_generation.json").read_text())
    rows = manifest["counts"]["rows"]
    load_before = os.getloadavg()
    floor, job, job_small = floor_and_job_on_two_days(bench)
    readers = readers_side_by_side(bench)
    small_manifest = json.loads((bench.landing_small / "_generation.json").read_text())
    job_explain = bench.job("job_explain", settings=["scoring.explain=true"], repeats=1)
    monitor = bench.monitor()
    bench.features()
    scorers = scorers_side_by_side(bench, row_udf_limit)
    explain = measure_explain_cost(work / "features", work / "model")
    on_s3 = job_on_s3(bench, s3_files) if s3 else None
    api = api_cost(work, api_requests) if api_requests > 0 else None
    tuning_rows = []
    if tuning:
        for label, conf, settings in TUNING_VARIANTS:
            if variants and label not in variants:
                continue
            m = bench.job(f"job_{label}", conf, settings, repeats=tuning_repeats)
            tuning_rows.append(
                {
                    "variant": label,
                    "conf": conf,
                    "settings": settings,
                    "median_s": m.median_s,
                    "wall_s": m.wall_s,
                    "command": m.command,
                }
            )
    large = large_file(bench, large_file_lines, out_dir) if large_file_lines > 0 else None
    summary_path = work / "job-out" / "runs" / f"run_date={RUN_DATE}" / "summary.json"
    job_summary = json.loads(summary_path.read_text())
    inner = job.median_in_run_s
    result = {
        "date": dt.date.today().isoformat(),
        "load_average": {
            "before": [round(x, 1) for x in load_before],
            "after": [round(x, 1) for x in os.getloadavg()],
        },
        "files": files,
        "rows": rows,
        "rows_scored": job_summary["rows_scored"],
        "cores": cores,
        "repeats": repeats,
        "io_floor_s": floor.median_s,
        "job_s": job.median_s,
        "job_over_io_floor": round(job.median_s / floor.median_s, 3),
        "job_inner_duration_s": inner,
        "job_startup_and_shutdown_s": round(job.median_s - inner, 2),
        "job_explain_s": job_explain.median_s,
        "explain_over_job": round(job_explain.median_s / job.median_s, 3),
        "monitor_s": monitor.median_s,
        "monitor_over_job": round(monitor.median_s / job.median_s, 3),
        "files_per_s_per_core": round(files / job.median_s / cores, 2),
        "rows_per_s_per_core": round(rows / job.median_s / cores, 1),
        # The job without spark-submit's start-up and shutdown, which a cluster pays once per
        # day (the capacity plan counts it in its fixed overhead).
        "inner_rows_per_s_per_core": round(rows / inner / cores, 1),
        "job_scaling": job_scaling(
            small_manifest["counts"]["rows"],
            job_small.median_in_run_s,
            rows,
            inner,
            cores,
            drift_free_step(job_small.in_run_s, job_small.turns, job.in_run_s, job.turns),
        )
        | {"files": [bench.small_files(), files]},
        "s3_job": on_s3,
        "api": api,
        "io_floor_files_per_s_per_core": round(files / floor.median_s / cores, 2),
        "udf_rows_per_s": round(rows_per_s(scorers["txcat_udf"]), 1),
        "udf_onedal_rows_per_s": round(rows_per_s(scorers["txcat_udf_onedal"]), 1),
        "xgboost_spark_rows_per_s": round(rows_per_s(scorers["xgboost_spark"]), 1),
        "row_udf_rows_per_s": round(rows_per_s(scorers["row_udf"]), 1),
        "pandas_rows_per_s": round(rows_per_s(scorers["pandas"]), 1),
        "peak_rss_mb": {
            m.name: max(m.peak_rss_mb)
            for m in [floor, job, job_small, job_explain, monitor, *scorers.values()]
        },
        "model": json.loads((work / "model" / "model.json").read_text())["version"],
        "measurements": [
            vars(m) | {"median_s": m.median_s}
            for m in [floor, job, job_small, job_explain, monitor, *scorers.values()]
        ],
        "tuning": tuning_rows,
        "explain_cost": explain,
        "large_file": large,
        "readers": readers,
    }
    result["udf_over_xgboost_spark"] = round(
        result["udf_rows_per_s"] / max(result["xgboost_spark_rows_per_s"], 1e-9), 3
    )
    result["udf_onedal_over_xgboost_spark"] = round(
        result["udf_onedal_rows_per_s"] / max(result["xgboost_spark_rows_per_s"], 1e-9), 3
    )
    result["udf_over_row_udf"] = round(
        result["udf_rows_per_s"] / max(result["row_udf_rows_per_s"], 1e-9), 2
    )
    result["udf_over_pandas_per_core"] = round(
        result["udf_rows_per_s"] / cores / max(result["pandas_rows_per_s"], 1e-9), 3
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "benchmarks.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "benchmarks.md").write_text(render_markdown(result))
    return result


#: One change at a time against the configured job: (label, --conf settings, --set overrides).
TUNING_VARIANTS: list[tuple[str, dict[str, str], list[str]]] = [
    # Spark's default file packing: 4 MB open cost, ~31 small files per task.
    ("default_file_packing", {"spark.sql.files.openCostInBytes": "4194304"}, []),
    ("max_partition_32mb", {"spark.sql.files.maxPartitionBytes": "33554432"}, []),
    ("arrow_batch_2000", {"spark.sql.execution.arrow.maxRecordsPerBatch": "2000"}, []),
    ("arrow_batch_50000", {"spark.sql.execution.arrow.maxRecordsPerBatch": "50000"}, []),
    ("no_aqe", {"spark.sql.adaptive.enabled": "false"}, []),
    ("no_broadcast_threshold", {"spark.sql.autoBroadcastJoinThreshold": "-1"}, []),
    # Spark's default: huge generated methods stay whole and the JVM interprets them.
    ("codegen_huge_method_65535", {"spark.sql.codegen.hugeMethodLimit": "65535"}, []),
    # What the Great Expectations suites and their reads cost.
    ("no_validation", {}, ["validation.enabled=false"]),
    # The files cut into records by the JVM's expressions instead of the Arrow reader.
    ("parser_spark", {}, ["input.parser=spark"]),
    # (explanations on: the `job_explain` measurement, every run, with the job's repeats)
    # The per-file aggregates as windows: one shuffle by file.
    ("aggregates_window", {}, ["features.aggregates=window"]),
    (
        "aggregates_window_shuffle_2",
        {"spark.sql.shuffle.partitions": "2"},
        ["features.aggregates=window"],
    ),
]


def _scaling_rows(scaling: dict[str, Any] | None) -> list[str]:
    if not scaling:
        return []
    (small, large), (t_small, t_large) = scaling["rows"], scaling["in_run_s"]
    fixed = scaling.get("fixed_in_run_s")
    step = scaling.get("drift_free_step_s")
    how = "" if step is None else f": {step} s apart, the host's drift taken out"
    return [
        f"| job in run on {small:,} and {large:,} rows (the small day and the day) | "
        f"{t_small} s, {t_large} s |",
        f"| job rows/s per core, marginal (slope between the two days{how}; `txcat plan`) | "
        f"**{scaling.get('marginal_rows_per_s_per_core') or '-'}** |",
        f"| job seconds a run pays whatever its size (intercept) | "
        f"{'-' if fixed is None else fixed} s |",
    ]


def render_markdown(r: dict[str, Any]) -> str:
    load = r.get("load_average", {})
    lines = [
        "# Benchmarks",
        "",
        f"Measured {r['date']} by `make bench` on {r['cores']} cores (`local[*]`): "
        f"{r['files']:,} files, {r['rows']:,} rows, median of {r['repeats']} runs. "
        "Wall times include spark-submit start-up; throughputs of the scorers time only the "
        "scoring action. The I/O floor and the job on the two days take turns, and so do the "
        "scorers: these machines are shared, so read the ratios, taken within one run. "
        f"Load average (1, 5, 15 min) before: {load.get('before', '?')}, after: "
        f"{load.get('after', '?')}.",
        "",
        "| measurement | median wall (s) | runs (s) | peak memory (MB) |",
        "|---|---|---|---|",
    ]
    lines.extend(
        f"| {m['name']} | {m['median_s']:.1f} | "
        f"{', '.join(f'{w:.1f}' for w in m['wall_s'])} | {max(m['peak_rss_mb'])} |"
        for m in r["measurements"]
    )
    lines += [
        "",
        "| figure | value |",
        "|---|---|",
        f"| job / I/O floor | **{r['job_over_io_floor']}** (target ≤ 2.5) |",
        f"| job files/s per core | {r['files_per_s_per_core']} |",
        f"| job start-up and shutdown (wall minus in-run duration) | "
        f"{r.get('job_startup_and_shutdown_s', '-')} s |",
        f"| job rows/s per core, in run (start-up excluded) | "
        f"{r.get('inner_rows_per_s_per_core', '-')} |",
        *_scaling_rows(r.get("job_scaling")),
        f"| job with `scoring.explain` / job | **{r.get('explain_over_job', '-')}** |",
        f"| monitor / job | **{r.get('monitor_over_job', '-')}** (target ≤ 0.25) |",
        f"| I/O floor files/s per core | {r['io_floor_files_per_s_per_core']} |",
        f"| txcat UDF rows/s | {r['udf_rows_per_s']:,} |",
        f"| txcat UDF, `training.engine: onedal`, rows/s | {r.get('udf_onedal_rows_per_s', '-')} |",
        f"| xgboost.spark transform rows/s | {r['xgboost_spark_rows_per_s']:,} |",
        f"| row-at-a-time UDF rows/s | {r['row_udf_rows_per_s']:,} |",
        f"| pandas + Booster.predict, one core, rows/s | {r['pandas_rows_per_s']:,} |",
        f"| txcat UDF / xgboost.spark | **{r['udf_over_xgboost_spark']}** (target ≥ 1.5) |",
        f"| txcat UDF with oneDAL / xgboost.spark | "
        f"**{r.get('udf_onedal_over_xgboost_spark', '-')}** |",
        f"| txcat UDF / row UDF | **{r['udf_over_row_udf']}** (target ≥ 10) |",
        f"| txcat UDF per core / pandas floor | {r['udf_over_pandas_per_core']} |",
        "",
    ]
    if r.get("readers"):
        readers = r["readers"]
        step = readers.get("arrow_minus_spark_drift_free_s")
        lines += [
            "",
            "## The two readers (`input.parser`), read and clean stages on the small day",
            "",
            "`scripts/benchmark_stage.py read` (every column computed, nothing written), taking "
            "turns; the stage's own seconds, start-up excluded. "
            f"arrow / spark: **{readers['arrow_over_spark']}**"
            + ("" if step is None else f"; arrow minus spark, drift taken out: {step:+.2f} s")
            + ".",
            "",
            "| parser | rows | runs (s), in their turns | median (s) | µs per row and core |",
            "|---|---|---|---|---|",
        ]
        for parser in READERS:
            f = readers[parser]
            runs = ", ".join(
                f"{w:.2f} ({t})" for w, t in zip(f["seconds"], f["turns"], strict=False)
            )
            lines.append(
                f"| {parser} | {f['rows']:,} | {runs} | {f['median_s']} | {f['us_per_row_core']} |"
            )
    if r.get("s3_job"):
        lines += [
            "",
            "## The whole job on S3 (manifest, local S3-protocol server with a wait per request)",
            "",
            f"The day's first {r['s3_job'].get('files', r['files']):,} files; spark-submit "
            "start-up included. `txcat plan` uses the difference of core time per file between "
            "the two waits: the wall time a wait adds with the host's drift taken out (a line "
            "through the runs in their order, one step per wait) when measured, else the "
            "medians' difference.",
            "",
            "| wait per request | median wall (s) | runs (s), in their turns | files/s per core "
            "| added, drift taken out (s) |",
            "|---|---|---|---|---|",
        ]
        for latency, f in r["s3_job"]["latency_ms"].items():
            turns = f.get("turns") or []
            runs = ", ".join(
                f"{w:.1f}" + (f" ({t})" if len(turns) == len(f["wall_s"]) else "")
                for w, t in zip(f["wall_s"], turns or [None] * len(f["wall_s"]), strict=True)
            )
            step = f.get("drift_free_step_s")
            lines.append(
                f"| {latency} ms | {f['median_s']:.1f} | {runs} | {f['files_per_s_per_core']} "
                f"| {'-' if step is None else f'{step:+.2f}'} |"
            )
    if r.get("api"):
        lines += [
            "",
            "## The real-time API (`txcat.benchmark.serve`, one uvicorn worker)",
            "",
            "| case | p50 (ms) | p99 (ms) | server CPU µs per row | rows per CPU-second |",
            "|---|---|---|---|---|",
        ]
        for case, f in r["api"].items():
            if isinstance(f, dict) and "p50_ms" in f:
                lines.append(
                    f"| {case} | {f['p50_ms']} | {f['p99_ms']} | {f['server_cpu_us_per_row']} | "
                    f"{f['rows_per_cpu_s']} |"
                )
    lines += ["", "## Commands", ""]
    for m in r["measurements"]:
        lines += [f"- {m['name']}: `{m['command']}`"]
    for latency, f in (r.get("s3_job") or {}).get("latency_ms", {}).items():
        lines += [f"- job_s3_{latency}ms: `{f['command']}`"]
    if r.get("large_file"):
        large = r["large_file"]
        lines += [
            "",
            "## One large account file (read and clean stages)",
            "",
            f"{large['lines']:,} lines: {large['one_file_rows_per_s']:,} rows/s as one file, "
            f"{large['many_files_rows_per_s']:,} rows/s over {large['files_spread']:,} files "
            f"(ratio {large['one_file_over_many_files']}; `docs/benchmarks-large-file.md`).",
        ]
    if r.get("explain_cost"):
        cost = r["explain_cost"]
        lines += [
            "",
            "## Explanations (`scoring.explain`), CPU per row on one core",
            "",
            f"On {cost['rows']:,} of the day's feature rows, in process: the prediction "
            f"{cost['predict_us_per_row']} µs; with the approximate explanation (XGBoost "
            f"`approx_contribs`, top 5) {cost['predict_with_approximate_explanation_us_per_row']}"
            f" µs, i.e. {cost['approximate_explanation_us_per_row']} µs more; exact TreeSHAP "
            f"contributions (the real-time API's) {cost['exact_contributions_us_per_row']} µs.",
        ]
    if r["tuning"]:
        lines += [
            "",
            "## Tuning (the job, one setting changed at a time)",
            "",
            "| variant | setting | median (s) | vs default job |",
            "|---|---|---|---|",
        ]
        for t in r["tuning"]:
            setting = ", ".join(
                [f"`{k}={v}`" for k, v in t["conf"].items()]
                + [f"`--set {s}`" for s in t.get("settings", [])]
            )
            lines.append(
                f"| {t['variant']} | {setting} | {t['median_s']:.1f} | "
                f"{t['median_s'] / r['job_s']:.2f} |"
            )
    return "\n".join(lines) + "\n"
