"""`daily_monitoring`: after each scored day, the monitor's verdict on it, to the same owners.

    run_date >> monitor >> alerts

Scheduled on the `txcat_daily_predictions` asset that `daily_predictions` updates once a day's
predictions are ready; the asset event's extra names the run date, so each run monitors exactly
the day just scored (a manual run takes `{"run_date": "YYYY-MM-DD"}` as conf). The monitor
(`jobs/monitor.py`) runs like the scoring job, chosen by `TXCAT_RUNNER`: `local`
(`SparkSubmitOperator`), `emr` (a step on the existing cluster) or `emr_transient` (a cluster
created for the step and terminated by an `ALL_DONE` teardown), with the arguments of
`txcat.deploy.submit.monitor_arguments`. Its exit 8 (an alert threshold crossed) is a verdict,
not a failure to retry: `alerts` reads the day's `metrics.json` and sends the alerts' summary on
the channel failures use (`TXCAT_NOTIFY_TARGET`); a monitor that wrote no metrics fails
`alerts`, which reports it like any failed task.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Asset, BaseOperator, TaskGroup, chain, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.task.trigger_rule import TriggerRule

from txcat.deploy import monitoring, notify
from txcat.deploy.dag_config import DagSettings, load_settings
from txcat.deploy.store import ObjectStore
from txcat.deploy.submit import emr_step, local_monitor_kwargs
from txcat.uris import as_uri

log = logging.getLogger(__name__)

SETTINGS: DagSettings = load_settings(os.environ)

DAG_ID = "daily_monitoring"
START_DATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
#: The asset `daily_predictions` updates when a day's predictions are ready.
PREDICTIONS = Asset(uri=as_uri(SETTINGS.predictions_uri()), name="txcat_daily_predictions")
RUN_DATE = "{{ ti.xcom_pull(task_ids='run_date') }}"
RUN_ID = "{{ run_id }}"
MONITOR_STEP_XCOM = "{{ ti.xcom_pull(task_ids='monitor.add_step')[0] }}"
MONITOR_DEADLINE = dt.timedelta(minutes=SETTINGS.scoring_timeout_minutes)

STORE = ObjectStore(s3_client=lambda: S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn())
CHANNEL = notify.channel(
    SETTINGS.notify_target, sns_publisher=lambda: SnsHook(aws_conn_id=SETTINGS.aws_conn_id)
)


@task(task_id="run_date")
def run_date(dag_run: Any, triggering_asset_events: Any = None) -> str:
    """The day to monitor: from a manual run's conf, else from the predictions asset event."""
    events = [e for evs in (triggering_asset_events or {}).values() for e in evs]
    try:
        return monitoring.run_date_from(dag_run.conf, [e.extra or {} for e in events])
    except monitoring.MonitoringRunError as exc:
        raise AirflowFailException(str(exc)) from exc


@task(task_id="alerts", trigger_rule=TriggerRule.ALL_DONE)
def alerts(run_id: str, ti: Any) -> dict[str, Any]:
    """Sends the day's alerts on the owners' channel; fails when the monitor wrote no metrics."""
    day = ti.xcom_pull(task_ids="run_date")
    if not day:
        raise AirflowFailException("no run date: the run_date task failed")
    uri = monitoring.metrics_uri(SETTINGS.output_uri, day)
    try:
        metrics = json.loads(STORE.read_bytes(uri))
    except (FileNotFoundError, OSError) as exc:
        raise AirflowFailException(f"the monitor wrote no {uri}: see the monitor's log") from exc
    found = metrics.get("alerts") or []
    if found:
        CHANNEL.send(notify.monitoring_message(DAG_ID, run_id, day, metrics))
        log.warning("%d monitoring alerts for %s sent", len(found), day)
    return {"run_date": day, "alerts": len(found), "report": (metrics.get("report") or {})}


def monitor() -> list[BaseOperator]:
    """The monitor's tasks for `TXCAT_RUNNER`; its verdict (exit 8) is not retried."""
    job = SETTINGS.job_args(RUN_DATE, RUN_ID)
    # The verdict is `alerts`' to report: no retry, no failure message of its own.
    verdict = {"retries": 0, "on_failure_callback": None}
    if SETTINGS.local is not None:
        return [
            SparkSubmitOperator(
                task_id="monitor",
                conn_id=SETTINGS.spark_conn_id,
                spark_binary=SETTINGS.spark_submit,
                execution_timeout=MONITOR_DEADLINE,
                **verdict,
                **local_monitor_kwargs(job, SETTINGS.local),
            )
        ]
    package = SETTINGS.emr_package
    assert package is not None, "load_settings sets the package of the EMR runners"
    with TaskGroup("monitor"):
        tasks: list[BaseOperator] = []
        cluster_id: Any = SETTINGS.emr_cluster_id
        if SETTINGS.runner == "emr_transient":
            cluster = EmrCreateJobFlowOperator(
                task_id="create_cluster",
                aws_conn_id=SETTINGS.aws_conn_id,
                emr_conn_id=None,
                job_flow_overrides=dict(SETTINGS.emr_job_flow_overrides or {}),
                wait_for_completion=True,
            )
            tasks.append(cluster)
            cluster_id = cluster.output
        add_step = MonitorStepOperator(
            task_id="add_step",
            aws_conn_id=SETTINGS.aws_conn_id,
            job_flow_id=cluster_id,
            steps=[emr_step(job, package, monitor=True)],
            execution_timeout=dt.timedelta(minutes=10),
        )
        wait_step = EmrStepSensor(
            task_id="wait_step",
            aws_conn_id=SETTINGS.aws_conn_id,
            job_flow_id=cluster_id,
            step_id=MONITOR_STEP_XCOM,
            mode="reschedule",
            poke_interval=SETTINGS.poke_seconds,
            timeout=MONITOR_DEADLINE.total_seconds(),
            **verdict,
        )
        if SETTINGS.runner == "emr_transient":
            wait_step >> EmrTerminateJobFlowOperator(
                task_id="terminate_cluster",
                aws_conn_id=SETTINGS.aws_conn_id,
                job_flow_id=cluster_id,
                trigger_rule=TriggerRule.ALL_DONE,
                retries=3,
            )
    return [*tasks, add_step, wait_step]


class MonitorStepOperator(EmrAddStepsOperator):
    """EmrAddStepsOperator whose arguments are never read as template files (see
    `daily_predictions`)."""

    template_ext = ()


default_args = {
    "owner": "txcat",
    "retries": SETTINGS.retries,
    "retry_delay": dt.timedelta(minutes=SETTINGS.retry_delay_minutes),
    "on_failure_callback": notify.failure_callback(DAG_ID, CHANNEL),
}

with DAG(
    dag_id=DAG_ID,
    description="Monitor each scored day: drift, data quality, degradation; alert the owners",
    schedule=[PREDICTIONS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["txcat", "monitoring"],
    doc_md=__doc__,
) as dag:
    chain(run_date(), *monitor(), alerts())
