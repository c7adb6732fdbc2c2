"""`dag.test()` of the local runner: the real scoring job on generated data, end to end, with
the model from the registry as production gets it.

The job runs exactly as the DAG launches it in development: `SparkSubmitOperator` calling the
job environment's `spark-submit` on `jobs/score_daily.py` with `local[*]`. The model comes the
production way: two versions trained and registered (`txcat train`) in a SQLite tracking store,
promoted one after the other (`txcat promote`), each promotion publishing to conf/emr.yaml's
`lifecycle.publish_uri` on the S3 protocol server (moto); the DAG's `--model` is its default,
the published champion, which the job follows through `pointer.json` over s3a, with no tracking
store. `txcat rollback` then moves the next run back to the previous version. The day's files
are generated into the landing folder with the landing marker written last, as the sender does.
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

import boto3
import pytest
from conftest import BASE_SETTINGS, JOB_VENV, REPO

from txcat.deploy.dag_config import DEFAULT_MODEL_URI

RUN_DATE = dt.date(2026, 11, 25)
EMPTY_DATE = dt.date(2026, 11, 24)
#: Where promote publishes (conf/emr.yaml) and the DAG reads: `DEFAULT_MODEL_URI`'s bucket.
MODELS_BUCKET = "txcat-models"
#: The registered model (conf/base.yaml's `lifecycle.registered_model`).
MODEL_NAME = "txcat-categoriser"
#: The columns of every prediction row (and keys of the run summary) naming the model.
MODEL_KEYS = ("model_name", "model_registry_version", "model_alias", "model_sha256")
#: A quality gate every small model passes: the test is about the path to production.
LOOSE_GATE = [
    "quality_gate.min_macro_f1_margin=-1",
    "quality_gate.min_accuracy_margin=-1",
    "quality_gate.min_support_for_recall=1000000",
    "quality_gate.max_calibration_error=1",
    "quality_gate.max_latency_ms_per_10k=1000000000.0",
]
#: hadoop-aws and the AWS SDK for s3a (`make storage-jars`).
JARS = [JOB_VENV / "jars" / n for n in ("hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar")]


def _job_env(s3_endpoint: str) -> dict[str, str]:
    python = str(JOB_VENV / "bin" / "python")
    env = {
        **os.environ,
        "PYSPARK_PYTHON": python,
        "PYSPARK_DRIVER_PYTHON": python,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    if s3_endpoint:  # boto3 in the lifecycle commands publishes to the S3 protocol server
        env["AWS_ENDPOINT_URL_S3"] = s3_endpoint
    return env


def _report(stdout: str) -> list:
    """The JSON values a job-environment script printed after `REPORT ` (commands print too)."""
    return [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("REPORT ")]


def _job_python(code: str, s3_endpoint: str = "") -> str:
    result = subprocess.run(
        [str(JOB_VENV / "bin" / "python"), "-c", code],
        check=False, capture_output=True, text=True, env=_job_env(s3_endpoint), cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def _s3a_conf(endpoint: str) -> dict[str, str]:
    """spark-submit settings reaching the S3 protocol server through s3a (`s3://` included)."""
    return {
        "spark.jars": ",".join(str(j) for j in JARS),
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "com.amazonaws.auth.EnvironmentVariableCredentialsProvider"
        ),
        "spark.hadoop.fs.s3a.change.detection.mode": "none",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory, moto_endpoint):
    """Reference data, two registered versions (2 promoted after 1, both published to S3), and
    the landing folder of RUN_DATE (marker last)."""
    if not (JOB_VENV / "bin" / "spark-submit").exists():
        pytest.fail(f"the job environment {JOB_VENV} is missing: run `make venv` first")
    missing = [str(j) for j in JARS if not j.exists()]
    if missing:
        pytest.fail(f"s3a jars missing ({', '.join(missing)}): run `make storage-jars`")
    root = tmp_path_factory.mktemp("daily")
    ref, landing, training = root / "reference", root / "landing", root / "training"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=MODELS_BUCKET)
    lifecycle = [
        f"lifecycle.tracking_uri=sqlite:///{root / 'mlflow' / 'mlflow.db'}",
        f"lifecycle.artifact_root={root / 'mlflow' / 'artifacts'}",
        # A quick model: the test is about the path to production, not model selection.
        "lifecycle.cv_folds=2",
        "lifecycle.search_budget=1",
        "lifecycle.latency_repeats=1",
        "training.early_stopping_rounds=0",
        "lifecycle.refit_all_rows=false",
        *LOOSE_GATE,
    ]
    # The day has defects, as the bank's files do: some files and rows end in quarantine.
    # The job environment generates the data, trains, registers and promotes (this one has no
    # numpy, Spark or MLflow): the report's lines are JSON.
    report = _job_python(
        "import json, pathlib\n"
        "from txcat import cli, exits\n"
        "from txcat.config import load_config\n"
        "from txcat.generate import generate\n"
        "from txcat.generate.reference import reference_overrides\n"
        "from txcat.session import build_session, release_session\n"
        f"generate({str(training)!r}, 60, '2026-06-01', '2026-10-31', seed=21, "
        f"reference_out={str(ref)!r}, rows_per_account=40)\n"
        f"r = generate({str(landing / RUN_DATE.isoformat())!r}, 24, '2026-09-01', "
        f"'{RUN_DATE}', seed=22, labels=False, rows_per_account=30, bad_share=0.25)\n"
        "print('REPORT', json.dumps([r.files, len(r.bad_files)]))\n"
        f"refs = reference_overrides(pathlib.Path({str(ref)!r}))\n"
        "print('REPORT', json.dumps(refs))\n"
        "publish = load_config('emr').lifecycle.publish_uri\n"
        f"sets = [*refs, *{lifecycle!r}, f'lifecycle.publish_uri={{publish}}']\n"
        "args = [a for item in sets for a in ('--set', item)]\n"
        # One Spark session for both trainings: the commands borrow it.
        "spark = build_session('txcat-dag-test', {'spark.master': 'local[2]'})\n"
        "sha = {}\n"
        "for version, rounds in (('1', 10), ('2', 4)):\n"
        f"    out = pathlib.Path({str(root)!r}) / f'model-{{version}}'\n"
        f"    code = cli.main(['train', '--input', {str(training)!r}, '--model-out', str(out),\n"
        f"        '--as-of', '{RUN_DATE}', *args,\n"
        "        '--set', f'training.num_boost_round={rounds}'])\n"
        "    assert code == exits.OK, code\n"
        "    sha[version] = json.loads((out / 'model.json').read_text())['sha256']\n"
        "release_session(spark)\n"
        "for version in ('1', '2'):\n"
        "    assert cli.main(['promote', '--version', version, *args]) == exits.OK\n"
        "print('REPORT', json.dumps({'sha256': sha, 'publish': publish, 'lifecycle': args}))\n",
        moto_endpoint,
    )
    (files, bad_files), references, registry = _report(report)
    assert files == 24 and bad_files > 0
    overrides = [
        *references,
        "quality.max_row_quarantine_share=0.5",
        "quality.max_file_quarantine_share=0.5",
    ]
    # What promote published is what the DAG reads by default.
    assert f"{registry['publish']}/champion/" == DEFAULT_MODEL_URI
    (landing / str(RUN_DATE) / "_SUCCESS").write_text("")
    # A day whose sender wrote the marker but no file: the run must fail and say so.
    (landing / str(EMPTY_DATE)).mkdir(parents=True)
    (landing / str(EMPTY_DATE) / "_SUCCESS").write_text("")
    return {
        "root": root,
        "landing": landing,
        "overrides": overrides,
        "s3": moto_endpoint,
        "sha256": registry["sha256"],
        "lifecycle": registry["lifecycle"],
    }


def _settings(world, webhook_url: str, **extra: str) -> dict[str, str]:
    root = world["root"]
    return {
        **BASE_SETTINGS,
        "TXCAT_RUNNER": "local",
        "TXCAT_LANDING_URI": str(world["landing"]),
        "TXCAT_OUTPUT_URI": str(root / "output"),
        "TXCAT_NOTIFY_TARGET": webhook_url,
        "TXCAT_JOB_SET": json.dumps(world["overrides"]),
        "TXCAT_SPARK_MASTER": "local[2]",
        "TXCAT_SPARK_CONF": json.dumps(_s3a_conf(world["s3"])),
        "TXCAT_RETRIES": "0",
        **extra,
    }


def _rows(output: Path, day: dt.date) -> dict:
    """A day's prediction rows: count, distinct run ids, distinct models (`MODEL_KEYS`)."""
    return json.loads(
        _job_python(
            "import json, pandas as pd\n"
            f"df = pd.read_parquet({str(output / 'predictions' / f'run_date={day}')!r})\n"
            f"models = {{tuple(r) for r in df[{list(MODEL_KEYS)!r}].astype(str).values}}\n"
            "print(json.dumps({'count': len(df), 'run_ids': sorted(df['run_id'].unique()),\n"
            "    'models': sorted(map(list, models))}))\n"
        )
    )


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

    # The predictions on disk are the day's, as many as the summary says, each naming the
    # version promoted last (2), read through the published pointer.
    rows = _rows(out, RUN_DATE)
    assert rows["count"] == summary["rows_scored"]
    assert rows["run_ids"] == [dag_run.run_id]
    champion = [MODEL_NAME, "2", "champion", world["sha256"]["2"]]
    assert rows["models"] == [champion]
    assert [summary[k] for k in MODEL_KEYS] == champion
    assert summary["model_uri"] == DEFAULT_MODEL_URI

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


def test_after_a_rollback_the_next_run_scores_with_the_previous_version(
    load_dag, webhook, world, warehouse
):
    """`txcat rollback` (2 -> 1) republishes the pointer; the DAG's next run of the day, which
    loads the warehouse too, scores with version 1: Parquet rows and warehouse rows say so."""
    rolled = _job_python(
        "import sys\n"
        "from txcat import cli\n"
        f"sys.exit(cli.main(['rollback', *{world['lifecycle']!r}]))\n",
        world["s3"],
    )
    assert f"ROLLED BACK {MODEL_NAME}@champion: version 2 -> version 1" in rolled
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
    previous = [MODEL_NAME, "1", "champion", world["sha256"]["1"]]
    assert world["sha256"]["1"] != world["sha256"]["2"]
    assert [summary[k] for k in MODEL_KEYS] == previous
    rows = _rows(out, RUN_DATE)
    assert rows["run_ids"] == [dag_run.run_id] and rows["models"] == [previous]
    in_table = json.loads(
        _job_python(
            "import json, psycopg\n"
            f"with psycopg.connect({warehouse!r}) as c:\n"
            '    print(json.dumps(c.execute("select count(*), count(distinct run_id), '
            f"min(run_id), min(model_registry_version), max(model_registry_version) from "
            f"txcat.predictions where run_date = '{RUN_DATE}'\").fetchone()))\n"
        )
    )
    assert in_table == [summary["rows_scored"], 1, dag_run.run_id, "1", "1"]
    assert len(messages) == 1, messages
    redshift = messages[0]["redshift"]
    assert redshift["status"] == "loaded"
    assert redshift["rows_staged"] == summary["rows_scored"]
    assert redshift["run_date"] == str(RUN_DATE)
