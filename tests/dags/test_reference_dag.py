"""The `reference_data` DAG: parsed, and run with `dag.test()` into a local folder and onto S3."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os

import boto3
import pytest
from conftest import REPO

DAG_FILE = REPO / "dags" / "reference_data.py"


@pytest.fixture
def load_reference_dag(monkeypatch, fresh_metadata):  # type: ignore[no-untyped-def]
    def _load(settings):  # type: ignore[no-untyped-def]
        from airflow.dag_processing.dagbag import DagBag

        for key in list(os.environ):
            if key.startswith("TXCAT_"):
                monkeypatch.delenv(key)
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        bag = DagBag(dag_folder=str(DAG_FILE), bundle_path=DAG_FILE.parent)
        return bag, bag.dags.get("reference_data")

    return _load


def test_the_dag_is_scheduled_before_the_scoring(load_reference_dag):
    bag, dag = load_reference_dag({"TXCAT_NOTIFY_TARGET": "https://hooks.example.test/x"})
    assert bag.import_errors == {}
    assert dag.timetable.expression == "0 5 * * *"
    assert dag.catchup is False
    assert list(dag.task_dict) == ["build_reference"]
    task = dag.get_task("build_reference")
    assert task.retries == 2
    assert [o.name for o in task.outlets] == ["txcat_reference"]
    assert task.outlets[0].uri == "s3://txcat-reference/"  # Airflow normalises the URI
    assert {name: p.value for name, p in dag.params.items()} == {"run_date": None}
    bag, _ = load_reference_dag({})
    assert "TXCAT_NOTIFY_TARGET is not set" in "\n".join(bag.import_errors.values())


def test_a_run_builds_the_version_of_its_day(load_reference_dag, webhook, tmp_path):
    url, messages = webhook
    root = tmp_path / "reference"
    _, dag = load_reference_dag({"TXCAT_NOTIFY_TARGET": url, "TXCAT_REFERENCE_URI": str(root)})
    dag_run = dag.test(logical_date=dt.datetime(2026, 11, 25, 5, tzinfo=dt.UTC))

    assert str(dag_run.state) == "success"
    record = json.loads((root / "_builds" / "as_of=2026-11-25.json").read_text())
    assert record["tables"]["holidays"]["uri"] == str(
        root / "holidays" / "as_of=2026-11-25" / "holidays.csv"
    )
    countries = (root / "countries" / "as_of=2026-11-25" / "countries.csv").read_text()
    assert "BR,BRA,076,Brazil" in countries.splitlines()
    assert messages == []

    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = [
            e for e in session.query(AssetEvent).all() if e.source_run_id == dag_run.run_id
        ]  # fmt: skip
        assert [e.extra["as_of"] for e in events] == ["2026-11-25"]


def test_a_manual_run_builds_another_day_on_s3(load_reference_dag, aws_conn, webhook):
    url, _ = webhook
    s3 = boto3.client("s3", endpoint_url=aws_conn, region_name="us-east-1")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket="txcat-reference")
    _, dag = load_reference_dag(
        {"TXCAT_NOTIFY_TARGET": url, "TXCAT_REFERENCE_URI": "s3://txcat-reference/v1"}
    )
    dag_run = dag.test(
        logical_date=dt.datetime(2026, 11, 25, 5, tzinfo=dt.UTC),
        run_conf={"run_date": "2026-01-02"},
    )

    assert str(dag_run.state) == "success"
    body = s3.get_object(Bucket="txcat-reference", Key="v1/holidays/as_of=2026-01-02/holidays.csv")[
        "Body"
    ].read()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert ["2026-01-01", "BR", "Universal Fraternization Day"] in rows
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="txcat-reference")["Contents"]}
    assert "v1/_builds/as_of=2026-01-02.json" in keys
