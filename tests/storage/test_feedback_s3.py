"""`txcat feedback import` on the S3 protocol server: input, predictions and store all s3://."""

from __future__ import annotations

import datetime as dt
import io

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from txcat import exits
from txcat.deploy.store import ObjectStore
from txcat.feedback import store as FS
from txcat.feedback.commands import ImportParams, import_feedback

pytestmark = pytest.mark.integration

BUCKET = "txcat-feedback"
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def client(s3, monkeypatch):
    # boto3 and pyarrow's S3 client both take the endpoint from here, for this test only.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    client.create_bucket(Bucket=BUCKET)
    sink = io.BytesIO()
    pq.write_table(pa.table({"row_id": ["r1", "r2"]}), sink)
    client.put_object(
        Bucket=BUCKET,
        Key="out/predictions/run_date=2026-11-29/part-0.parquet",
        Body=sink.getvalue(),
    )
    body = (
        "row_id,category,corrected_at\nr1,VAREJO,2026-11-29T10:00Z\nr9,VAREJO,2026-11-29T10:00Z\n"
    )
    client.put_object(Bucket=BUCKET, Key="landing/fb.csv", Body=body.encode())
    return client


def _keys(client) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="store/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_feedback_is_imported_from_and_to_s3(client):
    params = ImportParams(
        f"s3://{BUCKET}/landing/fb.csv", f"s3://{BUCKET}/store", f"s3a://{BUCKET}/out"
    )
    objects = ObjectStore(lambda: client)

    summary, code = import_feedback(params, objects, now=NOW)
    keys = _keys(client)
    again, again_code = import_feedback(params, objects, now=NOW)

    assert (code, summary["accepted"], summary["rejected_by_reason"]) == (
        exits.OK,
        1,
        {"unknown_row_id": 1},
    )
    assert f"store/batches/{summary['sha256']}.json" in keys
    assert _keys(client) == keys
    assert (again_code, again["already_imported"]) == (exits.OK, True)
    latest = FS.latest_corrections(f"s3://{BUCKET}/store")
    assert list(zip(latest["row_id"], latest["category"], strict=True)) == [("r1", "VAREJO")]
