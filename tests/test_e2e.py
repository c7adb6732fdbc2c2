"""The real entry points, as a scheduler runs them: generate, train and score with spark-submit."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from txcat import exits
from txcat import schema as S
from txcat.generate.reference import reference_overrides

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
RUN_DATE = "2026-11-25"
SPARK_SUBMIT = Path(sys.executable).with_name("spark-submit")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
    )
    return env


def _submit(job: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(SPARK_SUBMIT),
        "--master",
        "local[2]",
        "--driver-memory",
        "2g",
        "--conf",
        "spark.ui.enabled=false",
        "--driver-java-options",
        f"-Dlog4j.configurationFile={ROOT / 'conf' / 'log4j2.properties'}",
        str(ROOT / "jobs" / job),
        *args,
    ]
    return subprocess.run(
        command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False
    )


def _reference_overrides(ref: Path) -> list[str]:
    return [a for item in reference_overrides(ref) for a in ("--set", item)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    ref = root / "reference"
    generate = [sys.executable, str(ROOT / "scripts" / "generate_data.py")]
    subprocess.run(
        [
            *generate,
            "--out",
            str(root / "training"),
            "--accounts",
            "150",
            "--start-date",
            "2026-06-01",
            "--end-date",
            "2026-10-31",
            "--seed",
            "3",
            "--reference-out",
            str(ref),
            "--rows-per-account",
            "40",
        ],
        check=True,
        capture_output=True,
        env=_env(),
    )
    subprocess.run(
        [
            *generate,
            "--out",
            str(root / "landing"),
            "--accounts",
            "150",
            "--start-date",
            "2026-10-01",
            "--end-date",
            RUN_DATE,
            "--seed",
            "3",
            "--no-labels",
            "--bad-share",
            "0.02",
            "--rows-per-account",
            "40",
        ],
        check=True,
        capture_output=True,
        env=_env(),
    )
    done = _submit(
        "train.py",
        "--input",
        str(root / "training"),
        "--model-out",
        str(root / "model"),
        "--env",
        "local",
        "--as-of",
        RUN_DATE,
        "--set",
        "training.num_boost_round=20",
        "--set",
        "lifecycle.search_budget=1",
        "--set",
        "lifecycle.cv_folds=2",
        *_reference_overrides(ref),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def _score(root: Path, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return _submit(
        "score_daily.py",
        "--run-date",
        RUN_DATE,
        "--input",
        str(root / "landing"),
        "--output",
        str(root / out),
        "--model",
        str(root / "model"),
        "--env",
        "local",
        *_reference_overrides(root / "reference"),
        *extra,
    )


def test_generate_train_score_and_rerun(spark, trained):
    first = _score(trained, "out", "--run-id", "first")
    assert first.returncode == 0, first.stderr[-3000:]
    summary_path = trained / "out" / "runs" / f"run_date={RUN_DATE}" / "summary.json"
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "succeeded" and summary["run_id"] == "first"
    assert summary["files_read"] == 150
    assert summary["rows_read"] == summary["rows_scored"] + summary["rows_quarantined"]
    assert summary["files_quarantined"] >= 1 and summary["rows_scored"] > 4000
    manifest = json.loads((trained / "landing" / "_generation.json").read_text())
    assert summary["rows_read"] <= manifest["counts"]["rows"]

    predictions = spark.read.parquet(str(trained / "out" / "predictions"))
    names = [f.name for f in S.PREDICTION_SCHEMA.fields]
    assert sorted(predictions.columns) == sorted(names)
    assert predictions.count() == summary["rows_scored"]
    first_rows = {(r[S.ROW_ID], r[S.PREDICTED_CATEGORY]) for r in predictions.collect()}

    again = _score(trained, "out", "--run-id", "second")
    assert again.returncode == 0, again.stderr[-3000:]
    predictions = spark.read.parquet(str(trained / "out" / "predictions"))
    assert predictions.count() == summary["rows_scored"]
    assert predictions.select(S.ROW_ID).distinct().count() == summary["rows_scored"]
    assert {r[0] for r in predictions.select(S.RUN_ID).distinct().collect()} == {"second"}
    assert {(r[S.ROW_ID], r[S.PREDICTED_CATEGORY]) for r in predictions.collect()} == first_rows
    quarantine = spark.read.parquet(str(trained / "out" / "quarantine"))
    assert quarantine.count() == summary["rows_quarantined"] + summary["files_quarantined"]
    assert quarantine.where(F.col(S.REASON).isNull()).count() == 0


def test_exit_codes_tell_what_went_wrong(trained, tmp_path):
    """Through spark-submit: exit 2 for an unreadable input, 3 for a refused model. Exit 4 (a
    quarantine share above its threshold, everything written) is asserted in process
    (tests/test_pipeline.py) and through spark-submit by the DAG's local run
    (tests/dags/test_dag_run.py), which reads the summary the failed run wrote."""
    # spark-submit merges the Python driver's stderr into its stdout.
    missing = _submit(
        "score_daily.py",
        "--run-date",
        RUN_DATE,
        "--input",
        str(tmp_path / "no"),
        "--output",
        str(tmp_path / "o"),
        "--model",
        str(trained / "model"),
        *_reference_overrides(trained / "reference"),
    )
    assert missing.returncode == 2 and "cannot read input" in missing.stdout + missing.stderr

    no_model = _submit(
        "score_daily.py",
        "--run-date",
        RUN_DATE,
        "--input",
        str(trained / "landing"),
        "--output",
        str(tmp_path / "o"),
        "--model",
        str(tmp_path / "no-model"),
        *_reference_overrides(trained / "reference"),
    )
    assert no_model.returncode == 3 and "model refused" in no_model.stdout + no_model.stderr


def test_spark_submit_conf_wins_over_the_configuration(tmp_path):
    script = tmp_path / "show_conf.py"
    script.write_text(
        "import json\n"
        "from txcat.config import load_config\n"
        "from txcat.session import build_session\n"
        "spark = build_session('conf-check', load_config('local').spark)\n"
        "keys = ['spark.sql.files.openCostInBytes', 'spark.sql.codegen.hugeMethodLimit']\n"
        "print(json.dumps({k: spark.conf.get(k) for k in keys}))\n"
        "spark.stop()\n"
    )
    command = [
        str(SPARK_SUBMIT),
        "--master",
        "local[1]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.files.openCostInBytes=4194304",
        str(script),
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300, check=True
    )
    shown = json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])
    assert shown["spark.sql.files.openCostInBytes"] == "4194304"  # given to spark-submit
    assert shown["spark.sql.codegen.hugeMethodLimit"] == "8000"  # from conf/base.yaml


KILLED_RUN = """
import datetime as dt, sys, time
from pathlib import Path
from txcat import pipeline, write
from txcat.config import load_config
from txcat.session import build_session

root, out, marker = (Path(a) for a in sys.argv[1:4])
ref = root / "reference"
tables = {"holidays": "holidays.csv", "countries": "countries.csv", "bureau": "bureau.jsonl"}
cfg = load_config("local", overrides=[f"reference.{k}={ref / v}" for k, v in tables.items()])
spark = build_session("killed-run", cfg.spark)
write_partitioned = write.write_partitioned


def paused(df, path, schema, **kwargs):
    if path == write.predictions_path(str(out)):
        marker.write_text("writing predictions")
        time.sleep(600)
    return write_partitioned(df, path, schema, **kwargs)


write.write_partitioned = paused
day = dt.date.fromisoformat(sys.argv[4])
params = pipeline.RunParams(day, str(root / "landing"), str(out), str(root / "model"), "killed")
pipeline.run(spark, cfg, params)
"""


def test_kill_9_while_writing_predictions_then_retries(trained, tmp_path):
    """A driver killed mid-write: the day says `running`; a retry while a live run holds the
    day exits 10 and touches nothing; the rerun replaces the dead run's lock and succeeds."""
    out = trained / "killed-out"
    runs = out / "runs" / f"run_date={RUN_DATE}"
    runs.mkdir(parents=True)
    (runs / "summary.json").write_text(json.dumps({"run_id": "yesterday", "status": "succeeded"}))
    script, marker = tmp_path / "killed_run.py", tmp_path / "writing"
    script.write_text(KILLED_RUN)
    command = [str(SPARK_SUBMIT), "--master", "local[1]", "--conf", "spark.ui.enabled=false"]
    args = [str(script), str(trained), str(out), str(marker), RUN_DATE]
    with (tmp_path / "killed.log").open("w") as log:
        proc = subprocess.Popen(
            command + args, cwd=ROOT, env=_env(), stdout=log, stderr=log, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert marker.exists(), (tmp_path / "killed.log").read_text()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, as a lost container
        proc.wait()
    summary = json.loads((runs / "summary.json").read_text())
    assert (summary["status"], summary["run_id"]) == ("running", "killed")
    dead_lock = (runs / "_lock").read_bytes()
    assert json.loads(dead_lock)["run_id"] == "killed"

    live = {"run_id": "morning", "host": socket.gethostname(), "pid": os.getpid()}
    (runs / "_lock").write_text(
        json.dumps({**live, "started_at": dt.datetime.now(dt.UTC).isoformat()})
    )
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    locked = _score(trained, "killed-out", "--run-id", "retry")
    assert locked.returncode == exits.RUN_LOCKED, locked.stdout[-3000:] + locked.stderr[-3000:]
    assert f"run morning on {live['host']} (pid {os.getpid()})" in locked.stdout + locked.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert json.loads((runs / "summary.json").read_text())["run_id"] == "killed"

    (runs / "_lock").write_bytes(dead_lock)
    rerun = _score(trained, "killed-out", "--run-id", "rerun")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads((runs / "summary.json").read_text())
    assert (summary["status"], summary["run_id"]) == ("succeeded", "rerun")
    assert not (runs / "_lock").exists()
