"""`daily_predictions`: score one day of landed card-transaction files and announce the result.

    wait_for_landing >> build_manifest >> validate_inputs >> score >> load_redshift
        >> validate_outputs >> notify

Every task is keyed to the run's logical date (`{{ ds }}`): the landing folder
`<TXCAT_LANDING_URI>/<ds>/`, the manifest and the output partitions `run_date=<ds>`. Nothing reads
"latest", so a rerun or a backfill of a day replaces exactly that day.

The scoring job (`jobs/score_daily.py`) runs one of three ways, chosen by `TXCAT_RUNNER`:

- `local`: `SparkSubmitOperator` with `local[*]` (development, tests);
- `emr`: `EmrAddStepsOperator` + `EmrStepSensor` on an existing cluster, with the step cancelled
  if the run fails or passes its deadline;
- `emr_transient`: a cluster created for the run and terminated by an `ALL_DONE` teardown.

All three get the job arguments from `txcat.deploy.submit.job_arguments`, so they cannot differ.
Settings come from `TXCAT_*` environment variables (see `txcat.deploy.dag_config` and
docs/orchestration.md). At parse time this module imports only Airflow, its providers and the
standard-library-only `txcat.deploy` modules.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import urllib.request
from typing import Any

from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Asset, TaskGroup, chain, task
from airflow.sdk.bases.sensor import PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.task.trigger_rule import TriggerRule

from txcat.deploy.dag_config import DagSettings, load_settings
from txcat.deploy.submit import emr_step, local_operator_kwargs

log = logging.getLogger(__name__)

SETTINGS: DagSettings = load_settings(os.environ)

DAG_ID = "daily_predictions"
# The bank's files for day D land overnight; the run for D starts at 06:00 UTC on D.
SCHEDULE = "0 6 * * *"
START_DATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
# No automatic catch-up: a missed day is backfilled on purpose (`airflow backfill create`), so a
# scheduler outage does not start a burst of cluster runs. Each run still reads only its own day.
CATCHUP = False
RUN_DATE = "{{ ds }}"
RUN_ID = "{{ run_id }}"
SCORING_DEADLINE = dt.timedelta(minutes=SETTINGS.scoring_timeout_minutes)
SCORE_STEP_XCOM = "{{ ti.xcom_pull(task_ids='score.add_step')[0] }}"


def _as_uri(location: str) -> str:
    return location if "://" in location else "file://" + os.path.abspath(location)


#: Downstream DAGs schedule on this asset; each event carries the run date in its extra.
PREDICTIONS = Asset(uri=_as_uri(SETTINGS.predictions_uri()), name="txcat_daily_predictions")


# ---------------------------------------------------------------------------------------------
# Storage: the landing area and the output may be s3:// (production) or local folders (tests).


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _s3_hook():  # type: ignore[no-untyped-def]
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=SETTINGS.aws_conn_id)


def list_files(prefix: str) -> list[dict[str, Any]]:
    """Data files directly under `prefix`: uri, size, etag; names starting `_`/`.` excluded.

    The entries are those of the job's manifest format (`txcat.inputs.manifest`).
    """
    files: list[dict[str, Any]] = []
    if prefix.startswith("s3://"):
        bucket, key = _split_s3(prefix.rstrip("/") + "/")
        paginator = _s3_hook().get_conn().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key, Delimiter="/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(key) :]
                if name and not name.startswith(("_", ".")):
                    files.append({
                        "uri": f"s3://{bucket}/{obj['Key']}",
                        "size": int(obj["Size"]),
                        "etag": obj["ETag"].strip('"'),
                    })  # fmt: skip
    else:
        if not os.path.isdir(prefix):
            return []
        for entry in sorted(os.scandir(prefix), key=lambda e: e.name):
            if entry.is_file() and not entry.name.startswith(("_", ".")):
                stat = entry.stat()
                # Local files have no ETag; the modification time shows a rewrite instead.
                files.append({
                    "uri": "file://" + os.path.abspath(entry.path),
                    "size": stat.st_size,
                    "etag": None,
                    "mtime_ns": stat.st_mtime_ns,
                })  # fmt: skip
    return sorted(files, key=lambda f: f["uri"])


def exists(uri: str) -> bool:
    if uri.startswith("s3://"):
        return bool(_s3_hook().check_for_key(*reversed(_split_s3(uri))))
    return os.path.isfile(uri)


def read_text(uri: str) -> str:
    if uri.startswith("s3://"):
        bucket, key = _split_s3(uri)
        return _s3_hook().read_key(key, bucket)
    with open(uri, encoding="utf-8") as handle:
        return handle.read()


def write_text(uri: str, text: str) -> None:
    if uri.startswith("s3://"):
        bucket, key = _split_s3(uri)
        _s3_hook().load_string(text, key, bucket, replace=True)
        return
    os.makedirs(os.path.dirname(uri), exist_ok=True)
    with open(uri, "w", encoding="utf-8") as handle:
        handle.write(text)


# ---------------------------------------------------------------------------------------------
# Notifications: one channel (webhook or SNS topic) for success and failure messages.


def publish(message: dict[str, Any]) -> None:
    """Sends `message` as JSON to the configured webhook or SNS topic; raises if refused."""
    body = json.dumps(message, sort_keys=True, default=str)
    if SETTINGS.notify_kind == "sns":
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        SnsHook(aws_conn_id=SETTINGS.aws_conn_id).publish_to_target(
            target_arn=SETTINGS.notify_target,
            message=body,
            subject=f"{DAG_ID} {message.get('status')} {message.get('run_date')}"[:100],
        )
        return
    request = urllib.request.Request(
        SETTINGS.notify_target,
        data=body.encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status >= 300:
            raise RuntimeError(f"webhook answered HTTP {response.status}")


def notify_failure(context: dict[str, Any]) -> None:
    """Task failure callback: tells the owners which task of which day failed, and why."""
    ti = context["ti"]
    exception = context.get("exception")
    message = {
        "event": f"{DAG_ID}.failed",
        "status": "failed",
        "dag_id": DAG_ID,
        "run_id": context.get("run_id"),
        "run_date": context.get("ds"),
        "task_id": ti.task_id,
        "try_number": ti.try_number,
        "error": (f"{type(exception).__name__}: {exception}" if exception else "unknown")[:2000],
    }
    try:
        publish(message)
    except Exception:  # a broken channel must not hide the original failure
        log.exception("could not publish the failure of %s", ti.task_id)


# ---------------------------------------------------------------------------------------------
# Tasks.


@task.sensor(
    task_id="wait_for_landing",
    poke_interval=SETTINGS.poke_seconds,
    timeout=SETTINGS.sensor_timeout_minutes * 60,
    mode="reschedule",
)
def wait_for_local_landing(ds: str | None = None) -> PokeReturnValue:
    """The day's marker in a local landing folder (the S3 variant uses S3KeySensor)."""
    marker = SETTINGS.marker_uri(ds)
    return PokeReturnValue(is_done=exists(marker), xcom_value=marker)


@task(task_id="build_manifest")
def build_manifest(ds: str | None = None) -> dict[str, Any]:
    """Retrieves the day's new files: lists the landing folder once and writes the manifest.

    The manifest (URIs, sizes, ETags) is kept with the run's output, so every prediction can be
    traced to the exact objects it came from, and the job reads exactly these files.
    """
    day = SETTINGS.day_uri(ds)
    files = list_files(day)
    if not files:
        raise AirflowFailException(f"the landing marker exists but {day} holds no data files")
    manifest = {
        "run_date": ds,
        "source": day,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "file_count": len(files),
        "total_bytes": sum(f["size"] for f in files),
        "files": files,
    }
    uri = SETTINGS.manifest_uri(ds)
    write_text(uri, json.dumps(manifest, indent=1))
    log.info("manifest %s: %d files, %d bytes", uri, len(files), manifest["total_bytes"])
    return {"uri": uri, "file_count": len(files), "total_bytes": manifest["total_bytes"]}


@task(task_id="validate_inputs")
def validate_inputs(manifest: dict[str, Any], ds: str | None = None) -> dict[str, Any]:
    """Refuses to score an incomplete or still-changing day.

    Checks the manifest has at least `TXCAT_MIN_INPUT_FILES` files and some bytes, and that the
    landing folder still holds exactly the manifest's files (a sender still writing, or files
    replaced after the marker, would make the scored data differ from the recorded data).
    """
    recorded = json.loads(read_text(manifest["uri"]))
    problems = []
    if recorded["run_date"] != ds:
        problems.append(f"manifest is for {recorded['run_date']}, run is for {ds}")
    if recorded["file_count"] < SETTINGS.min_input_files:
        problems.append(
            f"{recorded['file_count']} files, at least {SETTINGS.min_input_files} expected"
        )
    if recorded["total_bytes"] == 0:
        problems.append("every file is empty")
    now = {f["uri"]: _version(f) for f in list_files(SETTINGS.day_uri(ds))}
    then = {f["uri"]: _version(f) for f in recorded["files"]}
    if now != then:
        added = sorted(set(now) - set(then))
        removed = sorted(set(then) - set(now))
        changed = sorted(u for u in set(now) & set(then) if now[u] != then[u])
        problems.append(
            f"landing folder changed since the manifest: {len(added)} added, {len(removed)} "
            f"removed, {len(changed)} changed (e.g. {(added + removed + changed)[:3]})"
        )
    if problems:
        raise AirflowFailException("input validation failed: " + "; ".join(problems))
    empty = sum(1 for f in recorded["files"] if f["size"] == 0)
    log.info("inputs valid: %d files (%d empty, quarantined by the job)", len(then), empty)
    return {"file_count": recorded["file_count"], "empty_files": empty}


def _version(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry["size"], entry.get("etag"), entry.get("mtime_ns")


@task(task_id="load_redshift")
def load_redshift(ds: str | None = None) -> dict[str, Any]:
    """Confirms the day's Redshift load, or says plainly that it is switched off.

    The scoring job loads Redshift itself when `--sink` includes `redshift` (one transaction:
    delete the run date, insert the staged rows), and exits non-zero if the load fails. This
    task reads the job's run summary and fails unless it reports that load for this day.
    With `TXCAT_SINKS` without `redshift` the task is skipped with that reason in its log.
    """
    if not SETTINGS.loads_redshift:
        raise AirflowSkipException(
            f"Redshift load disabled: TXCAT_SINKS={','.join(SETTINGS.sinks) or '(job default)'}"
            " does not include redshift; predictions are in Parquet only"
        )
    summary = json.loads(read_text(SETTINGS.summary_uri(ds)))
    report = (summary.get("sinks") or {}).get("redshift")
    if not isinstance(report, dict):
        raise AirflowFailException(
            "the job was run with --sink including redshift but its summary has no "
            f"sinks.redshift block (sinks: {summary.get('sinks')})"
        )
    if report.get("status") != "loaded":
        raise AirflowFailException(f"Redshift load for {ds} did not happen: {report}")
    if report.get("run_date") != ds or report.get("rows_staged") != summary["rows_scored"]:
        raise AirflowFailException(
            f"Redshift load reports {report.get('rows_staged')} rows for "
            f"{report.get('run_date')}, the job scored {summary['rows_scored']} for {ds}"
        )
    log.info(
        "Redshift %s holds the %d rows of %s", report.get("target"), summary["rows_scored"], ds
    )
    return report


@task(task_id="validate_outputs", trigger_rule=TriggerRule.NONE_FAILED)
def validate_outputs(
    inputs: dict[str, Any], ds: str | None = None, run_id: str | None = None, ti=None
) -> dict[str, Any]:
    """Checks the job's run summary for this day and that the predictions partition exists."""
    summary = json.loads(read_text(SETTINGS.summary_uri(ds)))
    problems = []
    if summary.get("run_date") != ds:
        problems.append(f"summary is for {summary.get('run_date')}, run is for {ds}")
    if summary.get("run_id") != run_id:
        problems.append(f"summary belongs to run {summary.get('run_id')!r}, not {run_id!r}")
    if summary.get("status") != "succeeded":
        problems.append(f"job status {summary.get('status')!r}: {summary.get('problems')}")
    if summary.get("rows_read") != summary.get("rows_scored", 0) + summary.get(
        "rows_quarantined", 0
    ):
        problems.append("rows_read != rows_scored + rows_quarantined")
    if not summary.get("rows_scored"):
        problems.append("no row was scored")
    if summary.get("files_read") != inputs["file_count"]:
        problems.append(
            f"job read {summary.get('files_read')} files, the manifest lists {inputs['file_count']}"
        )
    partition = f"{SETTINGS.predictions_uri()}/run_date={ds}"
    if not any(f["uri"].endswith(".parquet") for f in list_files(partition)):
        problems.append(f"no Parquet file under {partition}")
    if problems:
        raise AirflowFailException("output validation failed: " + "; ".join(problems))
    redshift = ti.xcom_pull(task_ids="load_redshift") if ti is not None else None
    return {
        "rows_read": summary["rows_read"],
        "rows_scored": summary["rows_scored"],
        "rows_quarantined": summary["rows_quarantined"],
        "files_read": summary["files_read"],
        "files_quarantined": summary["files_quarantined"],
        "model_version": summary.get("model_version"),
        "predictions": partition,
        "redshift": redshift or {"status": "skipped", "sinks": list(SETTINGS.sinks)},
    }


@task(task_id="notify", outlets=[PREDICTIONS])
def notify(
    result: dict[str, Any], ds: str | None = None, run_id: str | None = None, outlet_events=None
) -> dict[str, Any]:
    """Tells the owners and downstream pipelines that the day's predictions are ready."""
    message = {
        "event": f"{DAG_ID}.succeeded",
        "status": "succeeded",
        "dag_id": DAG_ID,
        "run_id": run_id,
        "run_date": ds,
        **result,
    }
    publish(message)
    if outlet_events is not None:
        outlet_events[PREDICTIONS].extra = {"run_date": ds, "rows_scored": result["rows_scored"]}
    return message


@task(task_id="cancel_step", trigger_rule=TriggerRule.ONE_FAILED)
def cancel_step(ti=None) -> None:
    """Cancels the EMR step when the run failed or passed its deadline (no orphan jobs)."""
    from airflow.providers.amazon.aws.hooks.emr import EmrHook

    step_ids = ti.xcom_pull(task_ids="score.add_step")
    if not step_ids:
        raise AirflowSkipException("no EMR step was added, nothing to cancel")

    answer = EmrHook(aws_conn_id=SETTINGS.aws_conn_id).conn.cancel_steps(
        ClusterId=SETTINGS.emr_cluster_id,
        StepIds=list(step_ids),
        StepCancellationOption="SEND_INTERRUPT",
    )
    log.warning("cancelled EMR steps %s: %s", step_ids, answer.get("CancelStepsInfoList"))


# ---------------------------------------------------------------------------------------------
# Scoring, by runner.


class EmrAddStepOperator(EmrAddStepsOperator):
    """EmrAddStepsOperator whose job arguments are never read as template files.

    The stock operator treats any rendered string ending in `.json` as a file to load (its
    `steps` may be a JSON file); `--manifest .../manifest.json` is a URI, not a template.
    """

    template_ext = ()


def scoring_local():  # type: ignore[no-untyped-def]
    job = SETTINGS.job_args(RUN_DATE, RUN_ID)
    return SparkSubmitOperator(
        task_id="score",
        conn_id=SETTINGS.spark_conn_id,
        spark_binary=SETTINGS.spark_submit,
        execution_timeout=SCORING_DEADLINE,
        **local_operator_kwargs(job, SETTINGS.local),
    )


def scoring_emr():  # type: ignore[no-untyped-def]
    job = SETTINGS.job_args(RUN_DATE, RUN_ID)
    with TaskGroup("score") as group:
        if SETTINGS.runner == "emr_transient":
            cluster = EmrCreateJobFlowOperator(
                task_id="create_cluster",
                aws_conn_id=SETTINGS.aws_conn_id,
                emr_conn_id=None,  # the whole RunJobFlow request is TXCAT_EMR_JOB_FLOW_OVERRIDES
                job_flow_overrides=dict(SETTINGS.emr_job_flow_overrides or {}),
                wait_for_completion=True,
            )
            cluster_id = cluster.output
        else:
            cluster_id = SETTINGS.emr_cluster_id
        add_step = EmrAddStepOperator(
            task_id="add_step",
            aws_conn_id=SETTINGS.aws_conn_id,
            job_flow_id=cluster_id,
            steps=[emr_step(job, SETTINGS.emr_package)],
            execution_timeout=dt.timedelta(minutes=10),
        )
        wait_step = EmrStepSensor(
            task_id="wait_step",
            aws_conn_id=SETTINGS.aws_conn_id,
            job_flow_id=cluster_id,
            step_id=SCORE_STEP_XCOM,
            mode="reschedule",
            poke_interval=SETTINGS.poke_seconds,
            timeout=SCORING_DEADLINE.total_seconds(),
        )
        add_step >> wait_step
        if SETTINGS.runner == "emr_transient":
            terminate = EmrTerminateJobFlowOperator(
                task_id="terminate_cluster",
                aws_conn_id=SETTINGS.aws_conn_id,
                job_flow_id=cluster_id,
                trigger_rule=TriggerRule.ALL_DONE,
                retries=3,
            )
            wait_step >> terminate
        else:
            wait_step >> cancel_step()
    return group, wait_step


# ---------------------------------------------------------------------------------------------

default_args = {
    "owner": "txcat",
    "retries": SETTINGS.retries,
    "retry_delay": dt.timedelta(minutes=SETTINGS.retry_delay_minutes),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": notify_failure,
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
    doc_md=__doc__,
) as dag:
    if SETTINGS.landing_uri.startswith("s3://"):
        landing = S3KeySensor(
            task_id="wait_for_landing",
            aws_conn_id=SETTINGS.aws_conn_id,
            bucket_key=SETTINGS.marker_uri(RUN_DATE),
            poke_interval=SETTINGS.poke_seconds,
            timeout=SETTINGS.sensor_timeout_minutes * 60,
            mode="reschedule",
        )
    else:
        landing = wait_for_local_landing()
    manifest = build_manifest()
    inputs = validate_inputs(manifest)
    if SETTINGS.runner == "local":
        score = scoring_local()
        score_done = score
    else:
        score, score_done = scoring_emr()
    loaded = load_redshift()
    outputs = validate_outputs(inputs)
    chain(landing, manifest, inputs, score)
    chain(score_done, loaded, outputs, notify(outputs))
