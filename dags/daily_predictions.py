"""`daily_predictions`: score one day of landed card-transaction files and announce the result.

    wait_for_landing >> build_manifest >> validate_inputs >> score >> load_redshift
        >> validate_outputs >> notify

Every task is keyed to the run's date: the logical date (`{{ ds }}`), or the `run_date` param of
a manual run: the landing folder `<TXCAT_LANDING_URI>/<day>/`, the manifest and the output
partitions `run_date=<day>`. Nothing reads "latest", so a rerun or a backfill of a day replaces
exactly that day. Manual runs may also set `model_uri` and `sinks` (params).

Retries: only what can succeed on a second try is retried. A scoring try that ends with a
verdict on the data, configuration or model (`txcat.exits` codes other than 1 and 10, read from
the run summary or the process) fails at once (`AirflowFailException`); an infrastructure failure
(exit 1, a lost container or cluster, no summary) is retried with back-off. On EMR one task adds
the step and waits for it, so a retry submits a new step.

The scoring job (`jobs/score_daily.py`) runs one of three ways, chosen by `TXCAT_RUNNER`:

- `local`: `SparkSubmitOperator` with `local[*]` (development, tests);
- `emr`: one task adding the step on an existing cluster and waiting for it, with the step
  cancelled if the run fails or passes its deadline;
- `emr_transient`: a cluster created for the run and terminated by an `ALL_DONE` teardown.

All three get the job arguments from `txcat.deploy.submit.job_arguments`, so they cannot differ.
Settings come from `TXCAT_*` environment variables (see `txcat.deploy.dag_config` and
docs/orchestration.md). What the tasks check, the manifest they write and the messages they send
live in the package (`txcat.deploy.checks`, `txcat.inputs.manifest`, `txcat.deploy.notify`,
`txcat.deploy.store`), tested without Airflow. At parse time this module imports only Airflow,
its providers and those standard-library-only modules.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any

from airflow.providers.amazon.aws.hooks.emr import EmrHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.amazon.aws.utils.waiter_with_logging import wait
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Asset, BaseOperator, Param, TaskGroup, XComArg, chain, task
from airflow.sdk.bases.sensor import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.task.trigger_rule import TriggerRule

from txcat.deploy import checks, notify
from txcat.deploy.dag_config import RUN_DATE, DagSettings, load_settings, run_date
from txcat.deploy.store import ObjectStore
from txcat.deploy.submit import emr_step, local_operator_kwargs
from txcat.inputs.manifest import ManifestError, manifest_document, parse_manifest
from txcat.sinks.names import REDSHIFT, parse_sinks
from txcat.uris import as_uri

log = logging.getLogger(__name__)

SETTINGS: DagSettings = load_settings(os.environ)

DAG_ID = "daily_predictions"
# The bank's files for day D land overnight; the run for D starts at 06:00 UTC on D.
SCHEDULE = "0 6 * * *"
START_DATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
# No automatic catch-up: a missed day is backfilled on purpose (`airflow backfill create`), so a
# scheduler outage does not start a burst of cluster runs. Each run still reads only its own day.
CATCHUP = False
SCORING_DEADLINE = dt.timedelta(minutes=SETTINGS.scoring_timeout_minutes)
#: XCom key of the EMR step ids, pushed before the step is awaited.
STEP_IDS = "step_ids"
#: EMR step states of a step that ended without completing.
STEP_FAILED = ("FAILED", "CANCELLED", "INTERRUPTED")

#: Downstream DAGs schedule on this asset; each event carries the run date in its extra.
PREDICTIONS = Asset(uri=as_uri(SETTINGS.predictions_uri()), name="txcat_daily_predictions")
#: The landing area and the output: local folders, or S3 through the DAG's AWS connection.
STORE = ObjectStore(s3_client=lambda: S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn())
#: Where the success and failure messages go: an SNS topic or a webhook.
CHANNEL = notify.channel(
    SETTINGS.notify_target, sns_publisher=lambda: SnsHook(aws_conn_id=SETTINGS.aws_conn_id)
)


@task.sensor(
    task_id="wait_for_landing",
    poke_interval=SETTINGS.poke_seconds,
    timeout=SETTINGS.sensor_timeout_minutes * 60,
    mode="reschedule",
)
def wait_for_local_landing(params: dict[str, Any], ds: str | None = None) -> PokeReturnValue:
    """The day's marker in a local landing folder (the S3 variant uses S3KeySensor)."""
    marker = SETTINGS.marker_uri(the_day(params, ds))
    return PokeReturnValue(is_done=STORE.exists(marker), xcom_value=marker)


@task(task_id="build_manifest")
def build_manifest(params: dict[str, Any], ds: str | None = None) -> dict[str, Any]:
    """Retrieves the day's new files: lists the landing folder once and writes the manifest.

    The manifest (URIs, sizes, ETags) is kept with the run's output, so every prediction can be
    traced to the exact objects it came from, and the job reads exactly these files.
    """
    day = the_day(params, ds)
    folder = SETTINGS.day_uri(day)
    files = STORE.list_files(folder)
    if not files:
        raise AirflowFailException(f"the landing marker exists but {folder} holds no data files")
    document = manifest_document(day, folder, files, created_at=dt.datetime.now(dt.UTC))
    uri = SETTINGS.manifest_uri(day)
    STORE.write_bytes(uri, json.dumps(document, indent=1).encode("utf-8"))
    log.info("manifest %s: %d files, %d bytes", uri, len(files), document["total_bytes"])
    return {"uri": uri, "file_count": len(files), "total_bytes": document["total_bytes"]}


def the_day(params: dict[str, Any], ds: str | None) -> str:
    """The run's date (`RUN_DATE` for Python tasks); a run with neither fails at once."""
    day = run_date(params, ds)
    if not day:
        raise AirflowFailException("a run without a logical date needs the run_date param")
    return day


def job_summary(day: str, run_id: str) -> dict[str, Any] | None:
    """The scoring job's summary of `day` if this run wrote it, else its refusal record (a run
    stopped before writing by a bad input, reference table or model), else None."""
    for uri in (SETTINGS.summary_uri(day), SETTINGS.refusal_uri(day)):
        summary = checks.summary_of_run(STORE.read_if_exists(uri), day, run_id)
        if summary is not None:
            return summary
    return None


def job_failed(context: Any, exit_code: int | None, error: str) -> AirflowException:
    """The exception that ends a failed scoring try: retried only if a retry can succeed."""
    summary = job_summary(the_day(context["params"], context.get("ds")), context["run_id"])
    verdict = checks.job_failure(summary, exit_code, error)
    if verdict.retry:
        return AirflowException(verdict.message)
    return AirflowFailException(verdict.message)


@task(task_id="validate_inputs")
def validate_inputs(
    manifest: dict[str, Any], params: dict[str, Any], ds: str | None = None
) -> dict[str, Any]:
    """Refuses to score an incomplete or still-changing day (`txcat.deploy.checks`)."""
    day = the_day(params, ds)
    try:
        recorded = parse_manifest(manifest["uri"], STORE.read_bytes(manifest["uri"]))
    except ManifestError as exc:
        raise AirflowFailException(f"input validation failed: {exc}") from exc
    current = STORE.list_files(SETTINGS.day_uri(day))
    problems = checks.input_problems(recorded, day, current, SETTINGS.min_input_files)
    if problems:
        raise AirflowFailException("input validation failed: " + "; ".join(problems))
    empty = sum(1 for e in recorded.entries if e.size == 0)
    log.info("inputs valid: %d files (%d empty, quarantined by the job)", len(current), empty)
    return {"file_count": len(recorded.entries), "empty_files": empty}


@task(task_id="load_redshift")
def load_redshift(params: dict[str, Any], ds: str | None = None) -> dict[str, Any]:
    """Confirms the day's Redshift load, or says plainly that it is switched off.

    The scoring job loads Redshift itself when `--sink` includes `redshift` (one transaction:
    delete the run date, insert the staged rows), and exits non-zero if the load fails. This
    task reads the job's run summary and fails unless it reports that load for this day.
    With sinks (param `sinks`, default `TXCAT_SINKS`) without `redshift` the task is skipped
    with that reason in its log.
    """
    if REDSHIFT not in parse_sinks(params["sinks"]):
        raise AirflowSkipException(
            f"Redshift load disabled: sinks {params['sinks']!r} (param sinks, default "
            "TXCAT_SINKS) do not include redshift; predictions are in Parquet only"
        )
    day = the_day(params, ds)
    summary = json.loads(STORE.read_bytes(SETTINGS.summary_uri(day)))
    problems = checks.redshift_problems(summary, day)
    if problems:
        raise AirflowFailException("; ".join(problems))
    report: dict[str, Any] = summary["sinks"]["redshift"]
    log.info(
        "Redshift %s holds the %d rows of %s", report.get("target"), summary["rows_scored"], day
    )
    return report


@task(task_id="validate_outputs", trigger_rule=TriggerRule.NONE_FAILED)
def validate_outputs(
    inputs: dict[str, Any], params: dict[str, Any], run_id: str, ti: Any, ds: str | None = None
) -> dict[str, Any]:
    """Checks the job's run summary for this day and that the predictions partition exists."""
    day = the_day(params, ds)
    summary = json.loads(STORE.read_bytes(SETTINGS.summary_uri(day)))
    partition = f"{SETTINGS.predictions_uri()}/run_date={day}"
    has_parquet = any(e.uri.endswith(".parquet") for e in STORE.list_files(partition))
    problems = checks.output_problems(
        summary, day, run_id, inputs["file_count"], has_parquet, partition
    )
    if problems:
        raise AirflowFailException("output validation failed: " + "; ".join(problems))
    redshift = ti.xcom_pull(task_ids="load_redshift")
    return checks.run_result(summary, partition, redshift, parse_sinks(params["sinks"]))


@task(task_id="notify", outlets=[PREDICTIONS])
def announce(
    result: dict[str, Any],
    params: dict[str, Any],
    run_id: str,
    outlet_events: Any,
    ds: str | None = None,
) -> dict[str, Any]:
    """Tells the owners and downstream pipelines that the day's predictions are ready."""
    day = the_day(params, ds)
    message = notify.success_message(DAG_ID, run_id, day, result)
    CHANNEL.send(message)
    outlet_events[PREDICTIONS].extra = {"run_date": day, "rows_scored": result["rows_scored"]}
    return message


@task(task_id="cancel_step", trigger_rule=TriggerRule.ONE_FAILED)
def cancel_step(ti: Any) -> None:
    """Cancels the EMR step when the run failed or passed its deadline (no orphan jobs)."""
    step_ids = ti.xcom_pull(task_ids="score.run_step", key=STEP_IDS)
    if not step_ids:
        raise AirflowSkipException("no EMR step was added, nothing to cancel")
    answer = EmrHook(aws_conn_id=SETTINGS.aws_conn_id).conn.cancel_steps(
        ClusterId=SETTINGS.emr_cluster_id,
        StepIds=list(step_ids),
        StepCancellationOption="SEND_INTERRUPT",
    )
    log.warning("cancelled EMR steps %s: %s", step_ids, answer.get("CancelStepsInfoList"))


class ScoringJob(SparkSubmitOperator):
    """SparkSubmitOperator that retries only what can succeed (local runner).

    spark-submit exits with the job's code; with the run summary it decides (`job_failed`)
    whether the failure is retried or fails the task at once.
    """

    def execute(self, context: Any) -> None:
        try:
            super().execute(context)
        except AirflowException as exc:
            raise job_failed(context, checks.submit_exit_code(str(exc)), str(exc)) from exc


class EmrScoringStep(EmrAddStepsOperator):
    """Adds the scoring step and waits for it, in one task, so a retry submits a new step.

    The step ids go to XCom (`step_ids`) before the wait, for `cancel_step`. A failed step is
    judged on the run summary the job wrote (`job_failed`): a verdict on the data fails the task
    at once, anything else is retried. A step still running at the scoring deadline is cancelled
    and the task fails without retry, as a sensor timeout does.

    Job arguments are never read as template files: the stock operator loads any rendered
    string ending in `.json` (its `steps` may be a JSON file); `--manifest .../manifest.json`
    is a URI, not a template.
    """

    template_ext = ()

    def __init__(self, *, deadline: dt.timedelta, poke_seconds: int, **kwargs: Any) -> None:
        super().__init__(wait_for_completion=False, deferrable=False, **kwargs)
        self.deadline = deadline
        self.poke_seconds = poke_seconds

    def execute(self, context: Any) -> list[str]:
        step_ids: list[str] = super().execute(context)
        context["ti"].xcom_push(key=STEP_IDS, value=step_ids)
        emr = EmrHook(aws_conn_id=self.aws_conn_id).conn
        cluster_id = self.job_flow_id
        try:
            wait(
                waiter=emr.get_waiter("step_complete"),
                waiter_delay=self.poke_seconds,
                waiter_max_attempts=max(1, int(self.deadline.total_seconds() // self.poke_seconds)),
                args={"ClusterId": cluster_id, "StepId": step_ids[0]},
                failure_message=f"EMR step {step_ids[0]} failed",
                status_message="EMR step status is",
                status_args=["Step.Status.State"],
            )
        except AirflowException as exc:
            status = emr.describe_step(ClusterId=cluster_id, StepId=step_ids[0])["Step"]["Status"]
            if status["State"] not in STEP_FAILED:
                try:
                    emr.cancel_steps(
                        ClusterId=cluster_id,
                        StepIds=step_ids,
                        StepCancellationOption="SEND_INTERRUPT",
                    )
                    cancelled = "cancelled"
                except Exception as refused:  # noqa: BLE001 - the verdict must still be reported
                    cancelled = f"cancel refused, cancel it by hand ({refused})"
                raise AirflowFailException(
                    f"EMR step {step_ids[0]} still {status['State']} at the scoring deadline "
                    f"({self.deadline}): {cancelled}"
                ) from exc
            details = status.get("FailureDetails") or status.get("StateChangeReason") or {}
            raise job_failed(context, None, f"EMR step {status['State']}: {details}") from exc
        return step_ids


def scoring() -> list[BaseOperator]:
    """The scoring tasks of `TXCAT_RUNNER`, in the order they run.

    `local`: one `ScoringJob`. `emr` / `emr_transient`: the `score` group, whose step is
    cancelled (`cancel_step`) or whose transient cluster is terminated (`terminate_cluster`,
    `all_done`) however the step ends.
    """
    job = SETTINGS.templated_job_args()
    if SETTINGS.local is not None:  # TXCAT_RUNNER=local
        return [
            ScoringJob(
                task_id="score",
                conn_id=SETTINGS.spark_conn_id,
                spark_binary=SETTINGS.spark_submit,
                execution_timeout=SCORING_DEADLINE,
                **local_operator_kwargs(job, SETTINGS.local),
            )
        ]
    package = SETTINGS.emr_package
    assert package is not None, "load_settings sets the package of the EMR runners"
    with TaskGroup("score"):
        tasks: list[BaseOperator] = []
        if SETTINGS.runner == "emr_transient":
            cluster = EmrCreateJobFlowOperator(
                task_id="create_cluster",
                aws_conn_id=SETTINGS.aws_conn_id,
                emr_conn_id=None,  # the whole RunJobFlow request is TXCAT_EMR_JOB_FLOW_OVERRIDES
                job_flow_overrides=dict(SETTINGS.emr_job_flow_overrides or {}),
                wait_for_completion=True,
            )
            tasks.append(cluster)
            cluster_id = cluster.output
        else:
            cluster_id = SETTINGS.emr_cluster_id
        run_step = EmrScoringStep(
            task_id="run_step",
            aws_conn_id=SETTINGS.aws_conn_id,
            job_flow_id=cluster_id,
            steps=[emr_step(job, package)],
            deadline=SCORING_DEADLINE,
            poke_seconds=SETTINGS.poke_seconds,
            # The deadline is the step's; this only bounds a hung API call after it.
            execution_timeout=SCORING_DEADLINE + dt.timedelta(minutes=10),
        )
        if SETTINGS.runner == "emr_transient":
            run_step >> EmrTerminateJobFlowOperator(
                task_id="terminate_cluster",
                aws_conn_id=SETTINGS.aws_conn_id,
                job_flow_id=cluster_id,
                trigger_rule=TriggerRule.ALL_DONE,
                retries=3,
            )
        else:
            run_step >> cancel_step()
    return [*tasks, run_step]


def wait_for_landing() -> BaseOperator | XComArg:
    """S3KeySensor on the day's marker in an S3 landing area; a file sensor for a local one."""
    if SETTINGS.landing_uri.startswith("s3://"):
        return S3KeySensor(
            task_id="wait_for_landing",
            aws_conn_id=SETTINGS.aws_conn_id,
            bucket_key=SETTINGS.marker_uri(RUN_DATE),
            poke_interval=SETTINGS.poke_seconds,
            timeout=SETTINGS.sensor_timeout_minutes * 60,
            mode="reschedule",
        )
    return wait_for_local_landing()


# A failed task is retried unless it raised AirflowFailException (a verdict: bad input, a failed
# check, the job's data verdicts). The scoring job's exit 10 (txcat.exits.RUN_LOCKED: another run
# of the day still holds its lock, nothing touched) is retried: the back-off lets that run finish.
default_args = {
    "owner": "txcat",
    "retries": SETTINGS.retries,
    "retry_delay": dt.timedelta(minutes=SETTINGS.retry_delay_minutes),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": notify.failure_callback(DAG_ID, CHANNEL, summary_of=job_summary),
}

with DAG(
    dag_id=DAG_ID,
    description="Score the day's card transactions, load them, tell the owners",
    schedule=SCHEDULE,
    start_date=START_DATE,
    catchup=CATCHUP,
    max_active_runs=1,
    default_args=default_args,
    tags=["txcat", "predictions"],
    params={name: Param(**spec) for name, spec in SETTINGS.params().items()},
    doc_md=__doc__,
) as dag:
    manifest = build_manifest()
    inputs = validate_inputs(manifest)
    outputs = validate_outputs(inputs)
    chain(
        wait_for_landing(),
        manifest,
        inputs,
        *scoring(),
        load_redshift(),
        outputs,
        announce(outputs),
    )
