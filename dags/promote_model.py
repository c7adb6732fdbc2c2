"""`promote_model`: a person's decision, run by hand: `txcat promote --version N`.

Manual runs only, with the registered version to serve as the `version` param (after reading
the `retrain` DAG's comparison report). The quality gate still runs: a version it refuses
(exit 9) fails the run with the reason, and the serving alias stays where it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from txcat import exits
from txcat.deploy import notify, retrain
from txcat.deploy.dag_config import RetrainSettings, load_retrain_settings

log = logging.getLogger(__name__)

SETTINGS: RetrainSettings = load_retrain_settings(os.environ)
DAG_ID = "promote_model"
CHANNEL = notify.channel(
    SETTINGS.notify_target, sns_publisher=lambda: SnsHook(aws_conn_id=SETTINGS.aws_conn_id)
)


@task(task_id="promote")
def promote(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Runs the gate and moves the serving alias to the version; tells the owners."""
    version = str(params["version"])
    outcome = retrain.run(
        retrain.promote_command(SETTINGS, version), retrain.environment(SETTINGS, os.environ)
    )
    log.info("%s", outcome.output[-retrain.OUTPUT_TAIL :])
    if outcome.exit_code != exits.OK:
        if outcome.retryable:
            raise AirflowException(outcome.describe())
        raise AirflowFailException(outcome.describe())
    message = {
        "event": f"{DAG_ID}.succeeded",
        "status": "succeeded",
        "dag_id": DAG_ID,
        "run_id": run_id,
        "run_date": None,
        "version": version,
    }
    CHANNEL.send(message)
    return message


with DAG(
    dag_id=DAG_ID,
    description="Promote a registered version (a person's decision, after the comparison)",
    schedule=None,
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "txcat",
        "retries": 0,
        "on_failure_callback": notify.failure_callback(DAG_ID, CHANNEL),
    },
    params={
        "version": Param(
            type="string",
            pattern=r"^[0-9]+$",
            description="the registered version number to serve",
        )
    },
    tags=["txcat", "lifecycle"],
    doc_md=__doc__,
) as dag:
    promote()
