"""`retrain`: each week, a challenger trained on the corrections, judged against the champion.

    import_feedback >> retrain >> retro_score >> compare >> notify

- `import_feedback`: every correction file in `TXCAT_FEEDBACK_INBOX` goes through `txcat
  feedback import` into `TXCAT_FEEDBACK_STORE` (importing a file again changes nothing; a file
  refused by its checks is named in the message, the others still count);
- `retrain`: `txcat retrain --feedback STORE --predictions OUT [--since D] --register`; a
  version that passes the quality gate gets the alias `challenger` (never the serving one); a
  refusal by the gate (exit 9) fails the run with the reason, sent to the owners;
- `retro_score`: `jobs/retro_score.py` scores the last `TXCAT_RETRO_DAYS` (7) days ending on the
  run date with the challenger, each day read as its daily run read it, apart from the
  champion's predictions; days whose input is gone are reported, not fatal;
- `compare`: `txcat compare` of the champion (the daily output) and the challenger (the retro
  output) on those days, with the feedback store: `<TXCAT_REPORTS_URI>/<run date>/compare.html`;
- `notify`: the verdict line and the report's location to the owners (`TXCAT_NOTIFY_TARGET`).

Promotion stays a person's decision: `txcat promote --version N`, or a manual run of the
`promote_model` DAG with the version. Params of a manual run: `run_date` (the last day compared;
default the logical date), `since` (only corrections received on or after it) and
`challenger_uri` (judge that version instead of retraining: `retrain` is skipped). Each task runs
one command of the job environment (`txcat.deploy.retrain` builds them); exits 1 and 10 are
retried, any other code is a verdict that fails at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import DAG, Param, chain, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.task.trigger_rule import TriggerRule

from txcat import exits
from txcat.deploy import notify, retrain
from txcat.deploy.dag_config import RetrainSettings, load_retrain_settings, run_date
from txcat.deploy.store import ObjectStore

log = logging.getLogger(__name__)

SETTINGS: RetrainSettings = load_retrain_settings(os.environ)

DAG_ID = "retrain"
# Mondays 08:00 UTC: after that day's scoring (06:00), so the window ends on a scored day.
SCHEDULE = "0 8 * * 1"
START_DATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
RANGE_SUMMARY = re.compile(r"^range summary: (?P<uri>\S+)$", re.MULTILINE)

STORE = ObjectStore(s3_client=lambda: S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn())
CHANNEL = notify.channel(
    SETTINGS.notify_target, sns_publisher=lambda: SnsHook(aws_conn_id=SETTINGS.aws_conn_id)
)


def _day(params: dict[str, Any], ds: str | None) -> str:
    day = run_date(params, ds)
    if not day:
        raise AirflowFailException("no run date: set the run_date param or run on a schedule")
    return day


def _run(command: list[str]) -> retrain.Outcome:
    """Runs one command; a retryable failure raises for a retry, a verdict fails at once."""
    outcome = retrain.run(command, retrain.environment(SETTINGS, os.environ))
    log.info("%s", outcome.output[-retrain.OUTPUT_TAIL :])
    if outcome.exit_code == exits.OK:
        return outcome
    if outcome.retryable:
        raise AirflowException(outcome.describe())
    raise AirflowFailException(outcome.describe())


@task(task_id="import_feedback")
def import_feedback() -> dict[str, Any]:
    """Imports every correction file of the inbox; refused files are listed, not fatal."""
    files = retrain.inbox_files([e.uri for e in STORE.list_files(SETTINGS.feedback_inbox)])
    imported: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for uri in files:
        outcome = retrain.run(
            retrain.import_command(SETTINGS, uri), retrain.environment(SETTINGS, os.environ)
        )
        log.info("%s", outcome.output[-retrain.OUTPUT_TAIL :])
        if outcome.retryable:
            raise AirflowException(outcome.describe())
        (imported if outcome.exit_code == exits.OK else refused).append(
            {"file": uri, "exit_code": outcome.exit_code}
        )
    return {"imported": imported, "refused": refused}


def _challenger(params: dict[str, Any]) -> str:
    """The version judged: the `challenger_uri` param of a manual run, else the retrained one."""
    return str(params.get("challenger_uri") or SETTINGS.challenger_uri)


@task(task_id="retrain")
def retrain_challenger(params: dict[str, Any], ds: str | None = None) -> None:
    """`txcat retrain --register`: the new version is the challenger when it passes the gate.

    Skipped when a manual run names the version to judge (`challenger_uri`).
    """
    if params.get("challenger_uri"):
        raise AirflowSkipException(f"judging {params['challenger_uri']}: no retraining")
    _run(retrain.retrain_command(SETTINGS, _day(params, ds), params.get("since")))


@task(task_id="retro_score", trigger_rule=TriggerRule.NONE_FAILED)
def retro_score(params: dict[str, Any], ds: str | None = None) -> dict[str, Any]:
    """The challenger over the window; days whose input is gone (exit 2) are reported."""
    command = retrain.retro_command(SETTINGS, _day(params, ds), _challenger(params))
    outcome = retrain.run(command, retrain.environment(SETTINGS, os.environ))
    log.info("%s", outcome.output[-retrain.OUTPUT_TAIL :])
    found = RANGE_SUMMARY.search(outcome.output)
    if outcome.exit_code == exits.BAD_INPUT and found:
        summary = retrain.read_report(STORE.read_bytes(found["uri"]))
        if not summary.get("days_failed") and summary.get("days_succeeded"):
            log.warning("days not retro-scored: %s", summary.get("days_input_missing"))
            return {"summary": found["uri"], "days_missing": summary.get("days_input_missing")}
    if outcome.exit_code != exits.OK:
        if outcome.retryable:
            raise AirflowException(outcome.describe())
        raise AirflowFailException(outcome.describe())
    return {"summary": found["uri"] if found else None, "days_missing": []}


@task(task_id="compare", trigger_rule=TriggerRule.NONE_FAILED)
def compare(params: dict[str, Any], ds: str | None = None) -> str:
    """`txcat compare` of the champion and the challenger; returns the JSON report's URI."""
    day = _day(params, ds)
    _run(retrain.compare_command(SETTINGS, day, _challenger(params)))
    return f"{retrain.report_uri(SETTINGS, day)}/{retrain.COMPARE_JSON}"


@task(task_id="notify", trigger_rule=TriggerRule.NONE_FAILED)
def announce(
    report_json: str,
    imports: dict[str, Any],
    run_id: str,
    params: dict[str, Any],
    ds: str | None = None,
) -> dict[str, Any]:
    """Sends the verdict and the report's location; promotion is left to a person."""
    report = retrain.read_report(STORE.read_bytes(report_json))
    message = retrain.verdict_message(DAG_ID, run_id, _day(params, ds), report)
    message["feedback_files_refused"] = imports.get("refused", [])
    CHANNEL.send(message)
    log.info("verdict: %s", message["verdict"])
    return message


default_args = {
    "owner": "txcat",
    "retries": SETTINGS.retries,
    "retry_delay": dt.timedelta(minutes=SETTINGS.retry_delay_minutes),
    "retry_exponential_backoff": True,
    "on_failure_callback": notify.failure_callback(DAG_ID, CHANNEL),
}

with DAG(
    dag_id=DAG_ID,
    description="Weekly: import feedback, retrain a challenger, retro-score it, compare, notify",
    schedule=SCHEDULE,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    params={
        "run_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="YYYY-MM-DD: the last day compared (default: the logical date)",
        ),
        "since": Param(
            None,
            type=["null", "string"],
            format="date",
            description="only corrections received on or after this day (default: all)",
        ),
        "challenger_uri": Param(
            None,
            type=["null", "string"],
            description="judge this version instead of retraining (a folder, S3, models:/...)",
        ),
    },
    tags=["txcat", "lifecycle"],
    doc_md=__doc__,
) as dag:
    imports = import_feedback()
    trained = retrain_challenger()
    scored = retro_score()
    report = compare()
    chain(imports, trained, scored, report, announce(report, imports))
