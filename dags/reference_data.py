"""`reference_data`: the dated holidays and countries tables the scoring job reads.

    build_reference

Every day at 05:00 UTC, an hour before `daily_predictions` scores the same day, the task writes
the version of the run's date (`{{ ds }}`, or the `run_date` param of a manual run) under
`TXCAT_REFERENCE_URI` (default `s3://txcat-reference`, where conf/emr.yaml reads them):

    <root>/holidays/as_of=<day>/holidays.csv
    <root>/countries/as_of=<day>/countries.csv
    <root>/_builds/as_of=<day>.json        (package versions, rows, sha256; written last)

built from the `holidays` and `pycountry` packages of the Airflow environment (pinned in its
lock, constraints-airflow.txt) by `txcat.reference`, the same code as `txcat reference build`.
A day whose version is missing is refused by the scoring job, naming the table (exit 2). A
missed day is built on purpose: `airflow dags backfill`, or a manual run with `run_date`.
The asset `txcat_reference` gets an event per version, with `as_of` in its extra.

At parse time this module imports only Airflow, its providers and standard-library-only txcat
modules; the builders' packages are imported when the task runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.sdk import DAG, Asset, Param, task

from txcat.deploy import notify
from txcat.deploy.dag_config import ReferenceSettings, load_reference_settings, run_date
from txcat.deploy.store import ObjectStore
from txcat.uris import as_uri

log = logging.getLogger(__name__)

SETTINGS: ReferenceSettings = load_reference_settings(os.environ)

DAG_ID = "reference_data"
# An hour before daily_predictions (06:00 UTC) scores the same day with this version.
SCHEDULE = "0 5 * * *"
START_DATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
CATCHUP = False

#: One event per version built; its extra names the date.
REFERENCE = Asset(uri=as_uri(SETTINGS.reference_uri), name="txcat_reference")
STORE = ObjectStore(s3_client=lambda: S3Hook(aws_conn_id=SETTINGS.aws_conn_id).get_conn())
CHANNEL = notify.channel(
    SETTINGS.notify_target, sns_publisher=lambda: SnsHook(aws_conn_id=SETTINGS.aws_conn_id)
)


@task(task_id="build_reference", outlets=[REFERENCE])
def build_reference(
    params: dict[str, Any], outlet_events: Any, ds: str | None = None
) -> dict[str, Any]:
    """Writes the holidays and countries version of the run's date; returns its build record."""
    from txcat import reference  # holidays and pycountry: loaded when the task runs

    day = run_date(params, ds)
    if not day:
        raise ValueError("a run without a logical date needs the run_date param")
    record = reference.build(SETTINGS.reference_uri, dt.date.fromisoformat(day), STORE)
    outlet_events[REFERENCE].extra = {"as_of": day}
    return record


default_args = {
    "owner": "txcat",
    "retries": SETTINGS.retries,
    "retry_delay": dt.timedelta(minutes=SETTINGS.retry_delay_minutes),
    "retry_exponential_backoff": True,
    "on_failure_callback": notify.failure_callback(DAG_ID, CHANNEL),
}

with DAG(
    dag_id=DAG_ID,
    description="Build the dated holidays and countries tables the scoring job reads",
    schedule=SCHEDULE,
    start_date=START_DATE,
    catchup=CATCHUP,
    max_active_runs=1,
    default_args=default_args,
    tags=["txcat", "reference"],
    params={
        "run_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="YYYY-MM-DD to build instead of the run's logical date",
        )
    },
    doc_md=__doc__,
) as dag:
    build_reference()
