"""The day's lock on S3 (moto's server): created by a conditional put, so exactly one run wins."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from txcat import runlock

pytestmark = pytest.mark.integration

RUN_DATE = dt.date(2026, 11, 25)
BUCKET = "txcat-locks"
STALE_AFTER = dt.timedelta(minutes=240)


@pytest.fixture(scope="module")
def bucket(s3):
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def _lock_body(client, key: str) -> dict:
    return json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _absent(client, key: str) -> bool:
    try:
        client.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return True
    return False


def test_second_run_of_the_day_is_refused_on_s3(spark, bucket):
    output = f"s3://{BUCKET}/daily"
    key = f"daily/runs/run_date={RUN_DATE}/_lock"
    assert runlock.lock_path(output, RUN_DATE) == f"s3://{BUCKET}/{key}"
    with runlock.run_lock(spark, output, RUN_DATE, "first", STALE_AFTER):
        assert _lock_body(bucket, key)["run_id"] == "first"
        with (
            pytest.raises(runlock.RunLockedError, match="run first on "),
            runlock.run_lock(spark, output, RUN_DATE, "second", STALE_AFTER),
        ):
            pytest.fail("a second run of the day entered the block")
        assert _lock_body(bucket, key)["run_id"] == "first"
    assert _absent(bucket, key)


def test_the_conditional_put_refuses_an_existing_lock(spark, bucket):
    uri = f"s3://{BUCKET}/put/_lock"
    assert runlock._put_if_absent(spark, uri, b"one") is True
    assert runlock._put_if_absent(spark, uri, b"two") is False
    assert bucket.get_object(Bucket=BUCKET, Key="put/_lock")["Body"].read() == b"one"


def test_a_stale_lock_on_s3_is_replaced(spark, bucket):
    output = f"s3://{BUCKET}/stale"
    key = f"stale/runs/run_date={RUN_DATE}/_lock"
    old = dt.datetime.now(dt.UTC) - STALE_AFTER - dt.timedelta(minutes=5)
    holder = runlock.Holder("killed", "gone-host", 77, old.isoformat())
    bucket.put_object(Bucket=BUCKET, Key=key, Body=holder.to_bytes())
    with runlock.run_lock(spark, output, RUN_DATE, "retry", STALE_AFTER):
        assert _lock_body(bucket, key)["run_id"] == "retry"
    assert _absent(bucket, key)
