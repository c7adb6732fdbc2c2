"""Latency and throughput of the real-time API (`make bench-serve` -> docs/benchmarks-serve.json).

A real `txcat serve` process (uvicorn, one worker) on the loopback, and a bounded load
generator in this process: a fixed number of requests, each thread on its own keep-alive
connection, one request in flight per thread. Cases: one transaction sent with 50 history rows
(JSON, 51 transactions of one account), and one 100-row account file (`text/csv`); each
sequentially and at concurrency 8, with and without `explain`. The server's CPU time (its
workers') comes from `/proc/<pid>/stat`, so throughput is also given per CPU-second: per core.

The model is one fitted here on generated files with the training section's boosting shape
(rounds, depth: the size that sets the cost of a prediction), unless `--model` names one.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from txcat import schema as S
from txcat.config import Config, load_config
from txcat.features import FEATURE_COLUMNS
from txcat.features import memory as M
from txcat.generate import generate
from txcat.generate.reference import reference_overrides
from txcat.model import save_artifact
from txcat.serve.features import feature_frame, load_reference_tables
from txcat.serve.rows import FileRecords, cleaning_rules, read_file
from txcat.serve.scorer import read_uri

RUN_DATE = dt.date(2026, 11, 25)
HISTORY_ROWS = 50
FILE_ROWS = 100
CONCURRENCY = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (uvicorn's workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def build_world(work: Path, cfg_overrides: Sequence[str] = ()) -> tuple[Config, Path, list[bytes]]:
    """Generated account files and reference tables, and a model fitted on them.

    Returns the configuration (reference tables), the model folder and the files' bytes.
    """
    landing = work / "landing"
    if not landing.exists():
        generate(
            landing,
            120,
            "2026-08-01",
            RUN_DATE,
            seed=7,
            reference_out=work / "ref",
            rows_per_account=FILE_ROWS + 20,
        )
    cfg = load_config("local", overrides=[*reference_overrides(work / "ref"), *cfg_overrides])
    files = [p.read_bytes() for p in sorted(landing.glob("*.csv"))]
    model = work / "model"
    if not (model / "model.json").exists():
        _fit_model(cfg, files, model)
    return cfg, model, files


def _fit_model(cfg: Config, files: list[bytes], folder: Path) -> None:
    """A booster of the configured shape fitted on the files' features (the label memory
    holds the prior only: the latency does not depend on its content)."""
    labels = [r.values[S.LABEL] for f in files for r in _records(cfg, f).scorable]
    counts = [labels.count(c) for c in S.CATEGORIES]
    table = pd.DataFrame(
        [[M.PRIOR, "", sum(counts), *counts]], columns=[f.name for f in M.TABLE_SCHEMA.fields]
    )
    smoothing = tuple(cfg.features.memory_smoothing)
    memory = M.MemoryIndex(table, smoothing)
    refs = load_reference_tables(cfg.reference, RUN_DATE, read_uri)
    frames = []
    for content in files[:60]:
        records = _records(cfg, content)
        frame = feature_frame(
            records.source_file, records.account_id, records.scorable, refs, memory
        )
        frame[S.LABEL] = [r.values[S.LABEL] for r in records.scorable]
        frames.append(frame)
    data = pd.concat(frames)
    y = data[S.LABEL].map({c: i for i, c in enumerate(S.CATEGORIES)})
    keep = y.notna().to_numpy()
    matrix = xgb.DMatrix(
        data.loc[keep, list(FEATURE_COLUMNS)].to_numpy(np.float32),
        label=y[keep].to_numpy(),
        feature_names=list(FEATURE_COLUMNS),
    )
    training = cfg.training
    params = {
        "objective": "multi:softprob",
        "num_class": len(S.CATEGORIES),
        "max_depth": training.max_depth,
        "eta": training.learning_rate,
        "nthread": 1,
        "seed": training.seed,
    }
    booster = xgb.train(params, matrix, num_boost_round=training.num_boost_round)
    save_artifact(
        folder,
        booster,
        FEATURE_COLUMNS,
        S.CATEGORIES,
        [],
        params,
        {},
        memory=(M.table_to_parquet(table), smoothing),
    )


def _records(cfg: Config, content: bytes) -> FileRecords:
    return read_file("bench.csv", content, cleaning_rules(cfg, RUN_DATE))


def _lines(content: bytes) -> list[str]:
    return content.decode("latin-1").replace("\r\n", "\n").rstrip("\n").split("\n")


def requests_of(files: list[bytes], explain: bool = False) -> dict[str, list[tuple[str, bytes]]]:
    """Bodies per case: (content type, body), one per account file.

    With `explain`, the JSON case asks for the newest transaction's explanation only (what a
    support agent asks about); the file case explains every row (`?explain=true`).
    """
    single: list[tuple[str, bytes]] = []
    csv: list[tuple[str, bytes]] = []
    for i, content in enumerate(files):
        lines = _lines(content)
        header, rows = lines[0].split(";"), lines[1:]
        if len(rows) < FILE_ROWS:
            continue
        history = rows[-(HISTORY_ROWS + 1) :]
        transactions = [dict(zip(header, r.split(";"), strict=False)) for r in history]
        body: dict[str, Any] = {"account_id": f"acc{i}", "transactions": transactions}
        if explain:
            body["explain"] = [len(transactions)]
        single.append(("application/json", json.dumps(body).encode()))
        csv.append(
            ("text/csv", ("\r\n".join([lines[0], *rows[:FILE_ROWS]]) + "\r\n").encode("latin-1"))
        )
    return {"one_transaction_50_history": single, "file_100_rows": csv}


def _run(
    port: int, bodies: list[tuple[str, bytes]], query: str, total: int, concurrency: int
) -> tuple[list[float], list[int], float]:
    """`total` requests over `concurrency` connections; latencies (s), statuses, wall seconds."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    per_thread = total // concurrency

    def worker(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: list[int] = []
        for k in range(per_thread):
            kind, body = bodies[(offset + k) % len(bodies)]
            started = time.perf_counter()
            try:
                connection.request(
                    "POST", "/v1/categorise" + query, body=body, headers={"content-type": kind}
                )
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0  # counted as a failure; a new connection for the next request
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - started)
            codes.append(status)
        connection.close()
        with lock:
            latencies.extend(mine)
            statuses.extend(codes)

    threads = [threading.Thread(target=worker, args=(i * 7,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, time.perf_counter() - started


def run(
    work: Path, out: Path, requests: int = 400, model: str | None = None, workers: int = 1
) -> dict[str, Any]:
    """Starts `txcat serve`, measures every case, writes `out` (JSON) and returns the figures."""
    cfg_overrides: list[str] = []
    cfg, folder, files = build_world(work, cfg_overrides)
    model_uri = model or str(folder)
    port = _free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    )
    command = [
        sys.executable,
        "-m",
        "txcat.cli",
        "--log-level",
        "WARNING",
        "serve",
        "--model",
        model_uri,
        "--port",
        str(port),
        "--workers",
        str(workers),
        *[a for o in reference_overrides(work / "ref") for a in ("--set", o)],
    ]
    load_before = os.getloadavg()[0]
    server = subprocess.Popen(command, env=env)
    try:
        _wait_ready(port, server)
        results: dict[str, Any] = {}
        for explain in (False, True):
            for case, case_bodies in requests_of(files, explain).items():
                rows = 1 if case.startswith("one_transaction") else FILE_ROWS
                query = "?account_id=bench" if case.startswith("file") else ""
                explain_query = "&explain=true" if explain and query else ""
                for concurrency in (1, CONCURRENCY):
                    _run(port, case_bodies, query + explain_query, 2 * concurrency, concurrency)
                    cpu_before = _cpu_seconds(server.pid)
                    latencies, statuses, wall = _run(
                        port, case_bodies, query + explain_query, requests, concurrency
                    )
                    cpu = _cpu_seconds(server.pid) - cpu_before
                    name = f"{case}{'_explain' if explain else ''}_c{concurrency}"
                    results[name] = _figures(latencies, statuses, wall, cpu, rows)
        figures = {
            "what": f"txcat serve (uvicorn, {workers} worker(s)) on the loopback; bounded load "
            "generator in another process, one request in flight per connection",
            "workers": workers,
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "note": "load generator and server share the cores",
                "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            },
            "model": {"uri": "fitted here" if model is None else model, **_model_shape(cfg)},
            "requests_per_case": requests,
            "cases": results,
        }
        out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def _model_shape(cfg: Config) -> dict[str, Any]:
    return {
        "num_boost_round": cfg.training.num_boost_round,
        "max_depth": cfg.training.max_depth,
        "classes": len(S.CATEGORIES),
        "features": len(FEATURE_COLUMNS),
    }


def _wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Until 20 readiness checks in a row pass (every worker has loaded the model)."""
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while time.monotonic() < deadline and in_a_row < 20:
        if server.poll() is not None:
            raise RuntimeError(f"txcat serve exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            ready = connection.getresponse().status == 200
            connection.close()
            in_a_row = in_a_row + 1 if ready else 0
        except OSError:
            in_a_row = 0
        time.sleep(0.05 if in_a_row else 0.5)
    if in_a_row < 20:
        raise RuntimeError("txcat serve did not become ready")


def _figures(
    latencies: list[float], statuses: list[int], wall: float, cpu: float, rows: int
) -> dict[str, Any]:
    ms = np.asarray(latencies) * 1000
    n = len(latencies)
    return {
        "requests": n,
        "non_200": int(sum(s != 200 for s in statuses)),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
        "requests_per_s": round(n / wall, 1),
        "transactions_per_s": round(n * rows / wall, 1),
        "server_cpu_s": round(cpu, 3),
        "transactions_per_cpu_s": round(n * rows / cpu, 1) if cpu > 0 else None,
    }
