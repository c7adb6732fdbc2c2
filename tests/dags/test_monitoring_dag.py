"""The `daily_monitoring` DAG as Airflow parses it: scheduled on the predictions asset, the
monitor after each scored day on every runner, alerts on the owners' channel."""

from __future__ import annotations

import json

import pytest
from conftest import BASE_SETTINGS, JOB_VENV, REPO

from txcat.deploy import submit

MONITOR_DAG = REPO / "dags" / "daily_monitoring.py"
DS = "2026-11-25"


def _settings(runner: str) -> dict[str, str]:
    return {
        **BASE_SETTINGS,
        "TXCAT_RUNNER": runner,
        "TXCAT_JOB_SET": json.dumps(["monitoring.psi_alert=0.3"]),
    }


@pytest.fixture
def load_monitoring(monkeypatch, fresh_metadata):  # type: ignore[no-untyped-def]
    def _load(settings):  # type: ignore[no-untyped-def]
        import os

        from airflow.dag_processing.dagbag import DagBag

        for key in list(os.environ):
            if key.startswith("TXCAT_"):
                monkeypatch.delenv(key)
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        bag = DagBag(dag_folder=str(MONITOR_DAG), bundle_path=MONITOR_DAG.parent)
        assert bag.import_errors == {}, bag.import_errors
        return bag.dags["daily_monitoring"]

    return _load


def _upstream(dag) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    return {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}


def _render(dag, task, content):  # type: ignore[no-untyped-def]
    context = {"ds": DS, "run_id": "r1", "ti": _Ti()}
    return task.render_template(content, context, jinja_env=dag.get_template_env())


class _Ti:
    def xcom_pull(self, task_ids: str):  # type: ignore[no-untyped-def]
        return DS if task_ids == "run_date" else ["s-1"]


def test_scheduled_on_the_predictions_asset(load_monitoring) -> None:
    dag = load_monitoring(_settings("local"))
    assets = [a.name for a in dag.timetable.asset_condition.objects]
    assert assets == ["txcat_daily_predictions"]
    assert _upstream(dag) == {"run_date": set(), "monitor": {"run_date"}, "alerts": {"monitor"}}
    assert dag.get_task("alerts").trigger_rule == "all_done"


def test_local_monitor_arguments_for_the_asset_day(load_monitoring) -> None:
    dag = load_monitoring(_settings("local"))
    task = dag.get_task("monitor")
    assert task.application == str(REPO / "jobs" / "monitor.py")
    assert task.retries == 0 and not task.on_failure_callback
    assert _render(dag, task, task.application_args) == [
        "--run-date", DS,
        "--output", BASE_SETTINGS["TXCAT_OUTPUT_URI"],
        "--env", "local",
        "--conf-dir", str(REPO / "conf"),
        "--set", "monitoring.psi_alert=0.3",
    ]  # fmt: skip
    assert _render(dag, task, task.env_vars)["PYSPARK_PYTHON"] == str(JOB_VENV / "bin" / "python")


@pytest.mark.parametrize("runner", ["emr", "emr_transient"])
def test_emr_monitor_step(load_monitoring, runner) -> None:
    dag = load_monitoring(_settings(runner))
    up = _upstream(dag)
    assert up["alerts"] == {"monitor.wait_step"}
    add_step = dag.get_task("monitor.add_step")
    (step,) = _render(dag, add_step, add_step.steps)
    package = submit.EmrPackage(BASE_SETTINGS["TXCAT_EMR_PACKAGE_PREFIX"])
    args = submit.step_job_arguments(step, package.uri("jobs", "monitor.py"))
    assert args[:2] == ["--run-date", DS]
    assert dag.get_task("monitor.wait_step").retries == 0
    if runner == "emr_transient":
        assert dag.get_task("monitor.terminate_cluster").trigger_rule == "all_done"
