"""The spark-submit lines of the scoring job, locally and as an EMR step."""

from __future__ import annotations

import json
import shlex

import pytest

from txcat import exits
from txcat.deploy import submit
from txcat.deploy.submit import EmrPackage, JobArgs, LocalSubmit, SubmitError

JOB = JobArgs(
    run_date="2026-11-25",
    input="s3://landing/daily/2026-11-25",
    output="s3://out/daily",
    model="s3://models/champion",
    env="emr",
    run_id="run-1",
    manifest="s3://out/daily/manifests/run_date=2026-11-25/manifest.json",
    sinks=("parquet", "redshift"),
    overrides=("quality.max_row_quarantine_share=0.1", "spark.spark.sql.shuffle.partitions=400"),
)
PACKAGE = EmrPackage("s3://deploy/txcat/0.1.0/")


def test_job_arguments_in_order():
    assert submit.job_arguments(JOB) == [
        "--run-date", "2026-11-25",
        "--manifest", "s3://out/daily/manifests/run_date=2026-11-25/manifest.json",
        "--output", "s3://out/daily",
        "--model", "s3://models/champion",
        "--env", "emr",
        "--run-id", "run-1",
        "--sink", "parquet,redshift",
        "--set", "quality.max_row_quarantine_share=0.1",
        "--set", "spark.spark.sql.shuffle.partitions=400",
    ]  # fmt: skip


def test_without_manifest_the_folder_is_the_input_and_no_sink_is_passed():
    job = JobArgs("2026-11-25", "/data/landing/2026-11-25", "/out", "/model", "local", "r")
    assert submit.job_arguments(job) == [
        "--run-date", "2026-11-25", "--input", "/data/landing/2026-11-25", "--output", "/out",
        "--model", "/model", "--env", "local", "--run-id", "r",
    ]  # fmt: skip


def test_templates_are_accepted_as_run_date():
    job = JobArgs("{{ ds }}", "s3://l/{{ ds }}", "s3://o", "s3://m", "emr", "{{ run_id }}")
    assert submit.job_arguments(job)[:2] == ["--run-date", "{{ ds }}"]


def test_a_template_is_accepted_as_the_sinks():
    job = JobArgs(
        "{{ ds }}", "s3://l", "s3://o", "{{ params.model_uri }}", "emr", "r",
        sinks=("{{ params.sinks }}",),
    )  # fmt: skip
    args = submit.job_arguments(job)
    assert args[args.index("--sink") + 1] == "{{ params.sinks }}"
    assert args[args.index("--model") + 1] == "{{ params.model_uri }}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"run_date": "25.11.2026"}, "YYYY-MM-DD"),
        ({"run_date": "2026-02-30"}, "day is out of range"),
        ({"output": ""}, "'output' is empty"),
        ({"input": "", "manifest": None}, "input folder or a manifest"),
        ({"sinks": ("parquet", "bigquery")}, "sinks must be"),
        ({"sinks": ("parquet", "parquet")}, "sinks must be"),
        ({"overrides": ("max_share=1",)}, "section.key=value"),
        ({"overrides": ("quality.max_share",)}, "section.key=value"),
    ],
)
def test_bad_job_arguments_are_refused(change, message):
    fields = {**JOB.__dict__, **change}
    with pytest.raises(SubmitError, match=message):
        JobArgs(**fields)


def test_emr_command_is_bootstrap_free_cluster_mode_with_packed_env():
    argv = submit.emr_command(JOB, PACKAGE)
    assert argv[:5] == ["spark-submit", "--master", "yarn", "--deploy-mode", "cluster"]
    confs = [argv[i + 1] for i, a in enumerate(argv) if a == "--conf"]
    assert confs == sorted(confs)
    assert "spark.yarn.appMasterEnv.PYSPARK_PYTHON=./environment/bin/python" in confs
    assert "spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python" in confs
    assert "spark.yarn.maxAppAttempts=1" in confs
    assert argv[argv.index("--archives") + 1] == (
        "s3://deploy/txcat/0.1.0/txcat-env.tar.gz#environment,"
        "s3://deploy/txcat/0.1.0/txcat-conf.tar.gz#conf"
    )
    app = argv.index("s3://deploy/txcat/0.1.0/jobs/score_daily.py")
    job_args = argv[app + 1 :]
    assert job_args[job_args.index("--conf-dir") + 1] == "conf"
    without_conf_dir = (
        job_args[: job_args.index("--conf-dir")] + job_args[job_args.index("--conf-dir") + 2 :]
    )
    assert without_conf_dir == submit.job_arguments(JOB)
    assert "--py-files" not in argv and "--packages" not in argv


def test_emr_step_wraps_the_command_for_command_runner():
    step = submit.emr_step(JOB, PACKAGE)
    assert step["Name"] == "txcat-score-daily 2026-11-25"
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["HadoopJarStep"] == {
        "Jar": "command-runner.jar",
        "Args": submit.emr_command(JOB, PACKAGE),
    }
    assert submit.step_job_arguments(step, PACKAGE.application)[:2] == ["--run-date", "2026-11-25"]
    with pytest.raises(SubmitError):
        submit.emr_step(JOB, PACKAGE, action_on_failure="RETRY")


def test_emr_refuses_a_local_conf_dir_and_a_local_prefix():
    job = JobArgs(**{**JOB.__dict__, "conf_dir": "/work/conf"})
    with pytest.raises(SubmitError, match="conf folder"):
        submit.emr_command(job, PACKAGE)
    with pytest.raises(SubmitError, match="s3://"):
        EmrPackage("/tmp/dist")


def test_local_command_matches_the_operator_arguments():
    local = LocalSubmit("/repo/jobs/score_daily.py", "/repo/.venv/bin/python", conf={"a.b": "1"})
    job = JobArgs(**{**JOB.__dict__, "env": "local", "conf_dir": "/repo/conf"})
    argv = submit.local_command(job, local, "/repo/.venv/bin/spark-submit")
    kwargs = submit.local_operator_kwargs(job, local)
    assert argv == [
        "/repo/.venv/bin/spark-submit", "--master", "local[*]",
        "--conf", "a.b=1", "--conf", "spark.ui.showConsoleProgress=false",
        "--driver-memory", "2g", "--name", "txcat-score-daily",
        "/repo/jobs/score_daily.py", *kwargs["application_args"],
    ]  # fmt: skip
    assert kwargs["env_vars"]["PYSPARK_PYTHON"] == "/repo/.venv/bin/python"
    assert kwargs["application_args"] == submit.job_arguments(job)


def test_cli_prints_the_emr_line_and_step(capsys):
    common = ["--run-date", "2026-11-25", "--input", "s3://l/d", "--output", "s3://o",
              "--model", "s3://m", "--run-id", "r1"]  # fmt: skip
    assert submit.main(["--target", "emr", *common, "--package-prefix", "s3://p/v1"]) == exits.OK
    line = capsys.readouterr().out.strip()
    assert shlex.split(line) == submit.emr_command(
        JobArgs("2026-11-25", "s3://l/d", "s3://o", "s3://m", "emr", "r1"), EmrPackage("s3://p/v1")
    )
    assert (
        submit.main(["--target", "emr", *common, "--package-prefix", "s3://p/v1", "--json"])
        == exits.OK
    )
    step = json.loads(capsys.readouterr().out)
    assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"
    assert submit.main(["--target", "local", *common, "--sink", "kafka"]) == exits.BAD_INPUT
    assert "sinks must be" in capsys.readouterr().err
