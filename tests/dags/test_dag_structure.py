"""The DAG as Airflow parses it: tasks, dependencies, retries, deadlines, rendered arguments."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from conftest import BASE_SETTINGS, JOB_VENV, REPO

from txcat.deploy import submit

DS = "2026-11-25"
RUN_ID = "scheduled__2026-11-25T06:00:00+00:00"

CHAIN = ["wait_for_landing", "build_manifest", "validate_inputs"]
AFTER = ["load_redshift", "validate_outputs", "notify"]

#: The job arguments every runner must pass for 2026-11-25 (before the per-runner conf dir).
EXPECTED_JOB_ARGS = [
    "--run-date", DS,
    "--manifest", f"s3://txcat-output/daily/manifests/run_date={DS}/manifest.json",
    "--output", "s3://txcat-output/daily",
    "--model", "s3://txcat-models/txcat-categoriser/champion/",
    "--env", "{env}",
    "--run-id", RUN_ID,
    "--conf-dir", "{conf_dir}",
    "--sink", "parquet,redshift",
    "--set", "quality.max_row_quarantine_share=0.1",
]  # fmt: skip


def _settings(runner: str, **extra: str) -> dict[str, str]:
    return {
        **BASE_SETTINGS,
        "TXCAT_RUNNER": runner,
        "TXCAT_JOB_SET": json.dumps(["quality.max_row_quarantine_share=0.1"]),
        **extra,
    }


def _upstream(dag) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    return {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}


def _render(dag, task, content, **params):  # type: ignore[no-untyped-def]
    defaults = {name: param.value for name, param in dag.params.items()}
    context = {
        "ds": DS,
        "run_id": RUN_ID,
        "ds_nodash": DS.replace("-", ""),
        "params": {**defaults, **params},
    }
    return task.render_template(content, context, jinja_env=dag.get_template_env())


def _expected(env: str, conf_dir: str) -> list[str]:
    return [a.format(env=env, conf_dir=conf_dir) for a in EXPECTED_JOB_ARGS]


@pytest.mark.parametrize("runner", ["local", "emr", "emr_transient"])
def test_dagbag_imports_without_errors(load_dag, runner):
    bag, dag = load_dag(_settings(runner))
    assert list(bag.dags) == ["daily_predictions"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.timetable.expression == "0 6 * * *"
    assert "txcat" in dag.tags


def test_local_tasks_and_dependencies(load_dag):
    _, dag = load_dag(_settings("local"))
    assert _upstream(dag) == {
        "wait_for_landing": set(),
        "build_manifest": {"wait_for_landing"},
        "validate_inputs": {"build_manifest"},
        "score": {"validate_inputs"},
        "load_redshift": {"score"},
        "validate_outputs": {"load_redshift", "validate_inputs"},
        "notify": {"validate_outputs"},
    }


def test_emr_tasks_and_dependencies(load_dag):
    _, dag = load_dag(_settings("emr"))
    assert _upstream(dag) == {
        "wait_for_landing": set(),
        "build_manifest": {"wait_for_landing"},
        "validate_inputs": {"build_manifest"},
        "score.run_step": {"validate_inputs"},
        "score.cancel_step": {"score.run_step"},
        "load_redshift": {"score.run_step"},
        "validate_outputs": {"load_redshift", "validate_inputs"},
        "notify": {"validate_outputs"},
    }
    assert dag.get_task("score.cancel_step").trigger_rule == "one_failed"
    assert dag.get_task("wait_for_landing").__class__.__name__ == "S3KeySensor"


def test_transient_cluster_is_always_terminated(load_dag):
    _, dag = load_dag(_settings("emr_transient"))
    up = _upstream(dag)
    assert up["score.create_cluster"] == {"validate_inputs"}
    assert up["score.run_step"] == {"score.create_cluster"}
    assert up["score.terminate_cluster"] == {"score.run_step", "score.create_cluster"}
    terminate = dag.get_task("score.terminate_cluster")
    assert terminate.trigger_rule == "all_done"
    assert "score.cancel_step" not in up
    create = dag.get_task("score.create_cluster")
    assert create.job_flow_overrides["ReleaseLabel"] == submit.EMR_RELEASE


def test_retries_backoff_and_failure_callbacks(load_dag):
    _, dag = load_dag(_settings("emr", TXCAT_RETRIES="3", TXCAT_RETRY_DELAY_MINUTES="5"))
    for task in dag.tasks:
        assert task.retries == 3, task.task_id
        assert task.retry_delay == dt.timedelta(minutes=5), task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.max_retry_delay == dt.timedelta(minutes=30)
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert [c.__name__ for c in callbacks] == ["notify_failure"], task.task_id


def test_scoring_deadline_fails_loudly(load_dag):
    _, local = load_dag(_settings("local", TXCAT_SCORING_TIMEOUT_MINUTES="30"))
    assert local.get_task("score").execution_timeout == dt.timedelta(minutes=30)
    _, emr = load_dag(_settings("emr", TXCAT_SCORING_TIMEOUT_MINUTES="30"))
    step = emr.get_task("score.run_step")
    assert step.deadline == dt.timedelta(minutes=30)
    assert step.wait_for_completion is False and step.deferrable is False


def test_local_job_arguments_for_a_date(load_dag):
    _, dag = load_dag(_settings("local"))
    score = dag.get_task("score")
    assert score.application == str(REPO / "jobs" / "score_daily.py")
    args = _render(dag, score, score.application_args)
    assert args == _expected("local", str(REPO / "conf"))
    env = _render(dag, score, score.env_vars)
    assert env["PYSPARK_PYTHON"] == str(JOB_VENV / "bin" / "python")


def test_emr_step_renders_the_same_job_arguments_as_local(load_dag):
    _, local_dag = load_dag(_settings("local"))
    _, emr_dag = load_dag(_settings("emr", TXCAT_JOB_ENV="local"))
    local = local_dag.get_task("score")
    add_step = emr_dag.get_task("score.run_step")
    steps = _render(emr_dag, add_step, add_step.steps)
    assert len(steps) == 1
    step = steps[0]
    assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"
    assert step["ActionOnFailure"] == "CONTINUE"
    package = submit.EmrPackage(BASE_SETTINGS["TXCAT_EMR_PACKAGE_PREFIX"])
    emr_args = submit.step_job_arguments(step, package.application)
    local_args = _render(local_dag, local, local.application_args)
    # Identical but for where the conf files are: the repository locally, the archive on EMR.
    assert emr_args == [submit.CONF_ALIAS if a == str(REPO / "conf") else a for a in local_args]
    argv = step["HadoopJarStep"]["Args"]
    assert argv[:5] == ["spark-submit", "--master", "yarn", "--deploy-mode", "cluster"]
    archives = argv[argv.index("--archives") + 1]
    assert archives == (
        "s3://txcat-deploy/txcat/0.1.0/txcat-env.tar.gz#environment,"
        "s3://txcat-deploy/txcat/0.1.0/txcat-conf.tar.gz#conf"
    )
    assert "spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python" in argv
    assert "spark.yarn.appMasterEnv.PYSPARK_PYTHON=./environment/bin/python" in argv


def test_local_operator_runs_the_documented_command(load_dag):
    """What SparkSubmitHook executes is exactly `txcat.deploy.submit.local_command`."""
    _, dag = load_dag(_settings("local"))
    score = dag.get_task("score")
    hook = SparkSubmitHook(
        conn_id="spark_default",
        conf=score.conf,
        name=score.name,
        driver_memory=score._driver_memory,
        application_args=_render(dag, score, score.application_args),
        env_vars=score.env_vars,
        spark_binary=score._spark_binary,
    )
    built = hook._build_spark_submit_command(score.application)
    from txcat.deploy.dag_config import load_settings

    settings = load_settings(_settings("local"))
    expected = submit.local_command(
        settings.job_args(DS, RUN_ID), settings.local, BASE_SETTINGS["TXCAT_SPARK_SUBMIT"]
    )
    assert built == expected


def test_redshift_off_and_manifest_off_change_only_their_arguments(load_dag):
    _, dag = load_dag(_settings("local", TXCAT_SINKS="parquet", TXCAT_PASS_MANIFEST="false"))
    score = dag.get_task("score")
    args = _render(dag, score, score.application_args)
    assert "--manifest" not in args
    assert args[args.index("--input") + 1] == f"s3://txcat-landing/daily/{DS}"
    assert args[args.index("--sink") + 1] == "parquet"


def test_manual_run_params_change_the_day_the_model_and_the_sinks(load_dag):
    _, dag = load_dag(_settings("emr"))
    assert {name: p.value for name, p in dag.params.items()} == {
        "run_date": None,
        "model_uri": "s3://txcat-models/txcat-categoriser/champion/",
        "sinks": "parquet,redshift",
    }
    step = dag.get_task("score.run_step")
    rendered = _render(
        dag, step, step.steps, run_date="2026-11-20", model_uri="s3://m/v7", sinks="parquet"
    )
    args = rendered[0]["HadoopJarStep"]["Args"]
    assert args[args.index("--run-date") + 1] == "2026-11-20"
    assert args[args.index("--manifest") + 1] == (
        "s3://txcat-output/daily/manifests/run_date=2026-11-20/manifest.json"
    )
    assert args[args.index("--model") + 1] == "s3://m/v7"
    assert args[args.index("--sink") + 1] == "parquet"
    marker = dag.get_task("wait_for_landing")
    assert _render(dag, marker, marker.bucket_key, run_date="2026-11-20") == (
        "s3://txcat-landing/daily/2026-11-20/_SUCCESS"
    )


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("TXCAT_RUNNER", "kubernetes", "TXCAT_RUNNER must be one of"),
        ("TXCAT_NOTIFY_TARGET", "", "TXCAT_NOTIFY_TARGET is not set"),
        ("TXCAT_NOTIFY_TARGET", "mailto:x@y", "webhook URL or an SNS topic ARN"),
        ("TXCAT_SINKS", "parquet,bigquery", "TXCAT_SINKS"),
        ("TXCAT_EMR_CLUSTER_ID", "cluster-1", "TXCAT_EMR_CLUSTER_ID"),
        ("TXCAT_EMR_PACKAGE_PREFIX", "/local/path", "s3:// URI"),
        ("TXCAT_RETRIES", "two", "TXCAT_RETRIES must be a whole number"),
        ("TXCAT_LANDING_MARKER", "READY", "TXCAT_LANDING_MARKER"),
    ],
)
def test_bad_settings_are_import_errors_naming_the_variable(load_dag, setting, value, message):
    bag, _ = load_dag({**_settings("emr"), setting: value}, expect_errors=True)
    assert "daily_predictions" not in bag.dags
    errors = "\n".join(bag.import_errors.values())
    assert message in errors
