"""The monitor's submissions after a scoring run, and its alert message."""

from __future__ import annotations

import json

import pytest

from txcat.deploy import monitoring, notify, submit
from txcat.deploy.submit import EmrPackage, JobArgs, LocalSubmit

JOB = JobArgs(
    run_date="{{ ds }}",
    input="s3://landing/daily/{{ ds }}",
    output="s3://out/daily",
    model="models:/txcat-categoriser@champion",
    env="emr",
    run_id="{{ run_id }}",
    overrides=("monitoring.psi_alert=0.3",),
)


def test_monitor_arguments_follow_the_scoring_run() -> None:
    assert submit.monitor_arguments(JOB) == [
        "--run-date", "{{ ds }}",
        "--output", "s3://out/daily",
        "--env", "emr",
        "--set", "monitoring.psi_alert=0.3",
    ]  # fmt: skip


def test_local_monitor_runs_the_script_beside_the_scoring_job() -> None:
    local = LocalSubmit("/repo/jobs/score_daily.py", "/repo/.venv/bin/python")
    kwargs = submit.local_monitor_kwargs(JOB, local)
    assert kwargs["application"] == "/repo/jobs/monitor.py"
    assert kwargs["application_args"] == submit.monitor_arguments(JOB)
    assert kwargs["name"] == submit.MONITOR_APP_NAME
    assert kwargs["env_vars"] == local.env_vars()


def test_emr_monitor_step_runs_the_deployed_monitor_with_the_shipped_conf() -> None:
    step = submit.emr_step(JOB, EmrPackage("s3://deploy/txcat/0.1.0"), monitor=True)
    args = step["HadoopJarStep"]["Args"]
    application = "s3://deploy/txcat/0.1.0/jobs/monitor.py"
    assert step["Name"] == "txcat-monitor {{ ds }}"
    assert submit.step_job_arguments(step, application) == [
        *submit.monitor_arguments(JOB)[:6],
        "--conf-dir", "conf",
        "--set", "monitoring.psi_alert=0.3",
    ]  # fmt: skip
    assert args[args.index("--name") + 1] == submit.MONITOR_APP_NAME


def test_monitoring_message_summarises_the_alerts() -> None:
    metrics = {
        "model_version": "v1",
        "alerts": [
            {
                "metric": "feature_psi",
                "value": 1.2,
                "threshold": 0.25,
                "message": "amount drifted",
                "features": ["amount_log"],
            },
        ],
        "report": {"html": "s3://out/daily/monitoring/run_date=2026-11-25/report.html"},
    }
    message = notify.monitoring_message("daily_predictions", "r1", "2026-11-25", metrics)
    assert message["status"] == "alert" and message["alert_count"] == 1
    assert message["alerts"] == [
        {"metric": "feature_psi", "value": 1.2, "threshold": 0.25, "message": "amount drifted"}
    ]
    assert message["report"].endswith("report.html")
    assert notify.subject(message) == "daily_predictions alert 2026-11-25"
    assert json.loads(notify.body(message))["event"] == "daily_predictions.monitoring_alert"


def test_the_day_to_monitor_comes_from_the_conf_or_the_newest_asset_event() -> None:
    events = [{"run_date": "2026-11-24"}, {"run_date": "2026-11-25", "rows_scored": 3}]
    assert monitoring.run_date_from({}, events) == "2026-11-25"
    assert monitoring.run_date_from({"run_date": "2026-11-20"}, events) == "2026-11-20"
    with pytest.raises(monitoring.MonitoringRunError, match="no run date"):
        monitoring.run_date_from(None, [])
    with pytest.raises(monitoring.MonitoringRunError, match="not YYYY-MM-DD"):
        monitoring.run_date_from({"run_date": "yesterday"}, [])


def test_metrics_uri_is_where_the_monitor_writes() -> None:
    from txcat.monitor import run

    uri = monitoring.metrics_uri("s3://out/daily/", "2026-11-25")
    assert uri == f"s3://out/daily/{run.MONITORING}/run_date=2026-11-25/{run.METRICS_FILE}"
