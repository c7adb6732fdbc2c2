"""`dag.test()` of the local runner: the real scoring job on generated data, end to end.

The job runs exactly as the DAG launches it in development: `SparkSubmitOperator` calling the
job environment's `spark-submit` on `jobs/score_daily.py` with `local[*]`. The model is trained
first with `jobs/train.py` on generated labelled files; the day's files are generated into the
landing folder with the landing marker written last, as the sender does.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import BASE_SETTINGS, JOB_VENV, REPO

RUN_DATE = dt.date(2026, 11, 25)
EMPTY_DATE = dt.date(2026, 11, 24)


def _job_env() -> dict[str, str]:
    python = str(JOB_VENV / "bin" / "python")
    return {
        **os.environ,
        "PYSPARK_PYTHON": python,
        "PYSPARK_DRIVER_PYTHON": python,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }


def _job_python(code: str) -> str:
    result = subprocess.run(
        [str(JOB_VENV / "bin" / "python"), "-c", code],
        check=True, capture_output=True, text=True, env=_job_env(), cwd=REPO,
    )  # fmt: skip
    return result.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Reference data, a trained model, and the landing folder of RUN_DATE (marker last)."""
    if not (JOB_VENV / "bin" / "spark-submit").exists():
        pytest.fail(f"the job environment {JOB_VENV} is missing: run `make venv` first")
    root = tmp_path_factory.mktemp("daily")
    ref, landing, training = root / "reference", root / "landing", root / "training"
    # The day has defects, as the bank's files do: some files and rows end in quarantine.
    # The job environment generates the data and names its reference tables (this one has no
    # numpy): the report's first line, then the `--set` values as JSON.
    report = _job_python(
        "import json, pathlib\n"
        "from txcat.generate import generate\n"
        "from txcat.generate.reference import reference_overrides\n"
        f"generate({str(training)!r}, 60, '2026-06-01', '2026-10-31', seed=21, "
        f"reference_out={str(ref)!r}, rows_per_account=40)\n"
        f"r = generate({str(landing / RUN_DATE.isoformat())!r}, 24, '2026-09-01', "
        f"'{RUN_DATE}', seed=22, labels=False, rows_per_account=30, bad_share=0.25)\n"
        "print(r.files, len(r.bad_files))\n"
        f"print(json.dumps(reference_overrides(pathlib.Path({str(ref)!r}))))\n"
    ).splitlines()
    files, bad_files = (int(n) for n in report[0].split())
    assert files == 24 and bad_files > 0
    overrides = [
        *json.loads(report[1]),
        "quality.max_row_quarantine_share=0.5",
        "quality.max_file_quarantine_share=0.5",
    ]
    train = [
        str(JOB_VENV / "bin" / "spark-submit"), "--master", "local[2]",
        str(REPO / "jobs" / "train.py"), "--input", str(training),
        "--model-out", str(root / "model"), "--env", "local", "--as-of", str(RUN_DATE),
        # A quick model: the test is about orchestration, not model selection.
        "--set", "training.num_boost_round=10", "--set", "lifecycle.cv_folds=2",
        "--set", "lifecycle.search_budget=1", "--set", "lifecycle.latency_repeats=1",
    ]  # fmt: skip
    for item in overrides:
        train += ["--set", item]
    subprocess.run(train, check=True, capture_output=True, env=_job_env(), cwd=REPO)
    (landing / str(RUN_DATE) / "_SUCCESS").write_text("")
    # A day whose sender wrote the marker but no file: the run must fail and say so.
    (landing / str(EMPTY_DATE)).mkdir(parents=True)
    (landing / str(EMPTY_DATE) / "_SUCCESS").write_text("")
    return {"root": root, "landing": landing, "overrides": overrides}


def _settings(world, webhook_url: str, **extra: str) -> dict[str, str]:
    root = world["root"]
    return {
        **BASE_SETTINGS,
        "TXCAT_RUNNER": "local",
        "TXCAT_LANDING_URI": str(world["landing"]),
        "TXCAT_OUTPUT_URI": str(root / "output"),
        "TXCAT_MODEL_URI": str(root / "model"),
        "TXCAT_NOTIFY_TARGET": webhook_url,
        "TXCAT_JOB_SET": json.dumps(world["overrides"]),
        "TXCAT_SPARK_MASTER": "local[2]",
        "TXCAT_RETRIES": "0",
        **extra,
    }


def _states(dag_run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _logical(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC)


def test_local_run_scores_the_day_and_notifies(load_dag, webhook, world):
    url, messages = webhook
    # The job reads exactly the manifest's files and writes Parquet only: the Redshift load
    # task is skipped, with its reason, and the message says so.
    _, dag = load_dag(_settings(world, url, TXCAT_SINKS="parquet"))
    dag_run = dag.test(logical_date=_logical(RUN_DATE))

    states = _states(dag_run)
    assert str(dag_run.state) == "success", states
    assert states == {
        "wait_for_landing": "success",
        "build_manifest": "success",
        "validate_inputs": "success",
        "score": "success",
        "load_redshift": "skipped",
        "validate_outputs": "success",
        "notify": "success",
    }
    out = world["root"] / "output"
    summary = json.loads((out / "runs" / f"run_date={RUN_DATE}" / "summary.json").read_text())
    assert summary["run_id"] == dag_run.run_id
    assert summary["status"] == "succeeded"
    assert summary["files_read"] == 24
    assert summary["rows_scored"] > 0
    assert summary["rows_quarantined"] + summary["files_quarantined"] > 0

    # The predictions on disk are the day's, as many as the summary says.
    counted = _job_python(
        "import pandas as pd\n"
        f"df = pd.read_parquet({str(out / 'predictions' / f'run_date={RUN_DATE}')!r})\n"
        "print(len(df), df['run_id'].nunique(), df['run_id'].iloc[0])\n"
    ).split()
    assert int(counted[0]) == summary["rows_scored"]
    assert counted[1:] == ["1", dag_run.run_id]

    manifest = json.loads(
        (out / "manifests" / f"run_date={RUN_DATE}" / "manifest.json").read_text()
    )
    assert manifest["run_date"] == str(RUN_DATE)
    assert manifest["file_count"] == 24
    # Neither the landing marker nor the generator's hidden record is a data file.
    assert not any(f["uri"].rsplit("/", 1)[-1].startswith("_") for f in manifest["files"])

    assert len(messages) == 1, messages
    message = messages[0]
    assert message["status"] == "succeeded"
    assert message["run_date"] == str(RUN_DATE)
    assert message["run_id"] == dag_run.run_id
    assert message["rows_scored"] == summary["rows_scored"]
    assert message["rows_quarantined"] == summary["rows_quarantined"]
    assert message["predictions"] == f"{out}/predictions/run_date={RUN_DATE}"
    assert message["redshift"] == {"status": "skipped", "sinks": ["parquet"]}

    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = [
            e for e in session.query(AssetEvent).all()
            if e.source_run_id == dag_run.run_id
        ]  # fmt: skip
        assert len(events) == 1
        assert events[0].asset.uri == f"file://{out}/predictions"
        assert events[0].extra["run_date"] == str(RUN_DATE)
        assert events[0].extra["rows_scored"] == summary["rows_scored"]


def test_failed_run_notifies_with_the_failing_task(load_dag, webhook, world):
    url, messages = webhook
    _, dag = load_dag(_settings(world, url, TXCAT_SINKS="parquet"))
    dag_run = dag.test(logical_date=_logical(EMPTY_DATE))

    states = _states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["build_manifest"] == "failed"
    assert states["score"] == "upstream_failed"
    assert states["notify"] == "upstream_failed"
    assert len(messages) == 1, messages
    assert messages[0]["status"] == "failed"
    assert messages[0]["task_id"] == "build_manifest"
    assert messages[0]["run_date"] == str(EMPTY_DATE)
    assert "holds no data files" in messages[0]["error"]
    assert not (world["root"] / "output" / "runs" / f"run_date={EMPTY_DATE}").exists()


def test_a_quarantine_verdict_fails_at_once_and_the_message_carries_the_summary(
    load_dag, webhook, world
):
    """A manual run for RUN_DATE (param `run_date`, logical date another day) whose job exits 4.

    Retries are on (2, no delay): the score task still fails on its first try, and the one
    failure message carries the summary's status, exit code, problems and counts.
    """
    url, messages = webhook
    strict = [o for o in world["overrides"] if "quarantine_share" not in o]
    settings = _settings(
        world,
        url,
        TXCAT_SINKS="parquet",
        TXCAT_OUTPUT_URI=str(world["root"] / "output-verdict"),
        TXCAT_RETRIES="2",
        TXCAT_RETRY_DELAY_MINUTES="0",
        TXCAT_JOB_SET=json.dumps([*strict, "quality.max_row_quarantine_share=0.0"]),
    )
    _, dag = load_dag(settings)
    dag_run = dag.test(logical_date=_logical(EMPTY_DATE), run_conf={"run_date": str(RUN_DATE)})

    states = _states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["build_manifest"] == "success"
    assert states["score"] == "failed"
    summary_file = world["root"] / "output-verdict" / "runs" / f"run_date={RUN_DATE}"
    summary = json.loads((summary_file / "summary.json").read_text())
    assert summary["exit_code"] == 4 and summary["run_id"] == dag_run.run_id
    assert [(m["task_id"], m["try_number"]) for m in messages] == [("score", 1)], messages
    message = messages[0]
    assert message["run_date"] == str(RUN_DATE)
    assert message["error"].startswith("AirflowFailException: scoring job failed, exit code 4")
    assert message["summary"] == {
        key: summary[key]
        for key in ("status", "exit_code", "problems", "rows_read", "rows_scored",
                    "rows_quarantined", "files_read", "files_quarantined", "model_version")
    }  # fmt: skip
    assert message["summary"]["status"] == "failed"
    assert any("row quarantine share" in p for p in message["summary"]["problems"])


@pytest.fixture
def warehouse():
    """A throw-away PostgreSQL server standing in for Redshift (the job's `postgres` backend)."""
    spec = importlib.util.spec_from_file_location(
        "txcat_storage_servers", REPO / "tests" / "storage" / "servers.py"
    )
    servers = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = servers  # dataclasses look their module up while it executes
    spec.loader.exec_module(servers)
    bindir = servers.postgres_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries are missing: run `make storage-deps`")
    # Its own folder under /tmp: the server runs as an unprivileged user, which cannot enter
    # pytest's private temporary folders.
    root = Path(tempfile.mkdtemp(prefix="txcat-dag-pg-"))
    cluster = servers.PostgresCluster(root, servers.free_port(), bindir)
    try:
        cluster.start()
        yield cluster.dsn
    finally:
        if (root / "data" / "postmaster.pid").exists():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_local_run_loads_the_day_into_the_warehouse(load_dag, webhook, world, warehouse):
    url, messages = webhook
    settings = _settings(
        world,
        url,
        TXCAT_SINKS="parquet,redshift",
        TXCAT_JOB_SET=json.dumps([*world["overrides"], "redshift.backend=postgres"]),
        TXCAT_PG_DSN=warehouse,
    )
    _, dag = load_dag(settings)
    dag_run = dag.test(logical_date=_logical(RUN_DATE))

    states = _states(dag_run)
    assert str(dag_run.state) == "success", states
    assert states["load_redshift"] == "success"
    out = world["root"] / "output"
    summary = json.loads((out / "runs" / f"run_date={RUN_DATE}" / "summary.json").read_text())
    assert summary["run_id"] == dag_run.run_id
    in_table = _job_python(
        "import psycopg\n"
        f"with psycopg.connect({warehouse!r}) as c:\n"
        '    print(*c.execute("select count(*), count(distinct run_id), min(run_id) '
        f"from txcat.predictions where run_date = '{RUN_DATE}'\").fetchone())\n"
    ).split()
    assert in_table == [str(summary["rows_scored"]), "1", dag_run.run_id]
    assert len(messages) == 1, messages
    redshift = messages[0]["redshift"]
    assert redshift["status"] == "loaded"
    assert redshift["rows_staged"] == summary["rows_scored"]
    assert redshift["run_date"] == str(RUN_DATE)
