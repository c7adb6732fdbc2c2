"""The Redshift Data API path, against botocore's Stubber: requests, polling, failures."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber

from txcat.sinks.redshift import SinkError
from txcat.sinks.warehouses import DataApiTarget, DataApiWarehouse

ROLE = "arn:aws:iam::123456789012:role/txcat-copy"


@pytest.fixture
def client():
    client = boto3.client(
        "redshift-data",
        region_name="us-east-1",
        endpoint_url="https://redshift-data.invalid",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _warehouse(client, clock=None, timeout=60.0, **target):
    clock = clock or FakeClock()
    target = {"database": "dev", "iam_role": ROLE, "workgroup": "txcat-wg", **target}
    return DataApiWarehouse(
        client,
        DataApiTarget(**target),
        poll_interval_s=2.0,
        timeout_s=timeout,
        clock=clock,
        sleep=clock.sleep,
        statement_name="txcat-run",
    )


def _described(status, **extra):
    return {"Id": "st-1", "Status": status, **extra}


def test_batch_runs_as_one_request_and_polls_until_finished(client):
    clock = FakeClock()
    client.stubber.add_response(
        "batch_execute_statement",
        {"Id": "st-1"},
        {
            "WorkgroupName": "txcat-wg",
            "Database": "dev",
            "Sqls": ["DELETE 1", "INSERT 2"],
            "StatementName": "txcat-run",
        },
    )
    for status in ("SUBMITTED", "STARTED", "FINISHED"):
        client.stubber.add_response("describe_statement", _described(status), {"Id": "st-1"})
    _warehouse(client, clock).execute(["DELETE 1", "INSERT 2"])
    assert clock.sleeps == [2.0, 2.0]


def test_cluster_with_secret_is_addressed_by_identifier(client):
    client.stubber.add_response(
        "batch_execute_statement",
        {"Id": "st-1"},
        {
            "ClusterIdentifier": "c1",
            "Database": "dev",
            "SecretArn": "arn:secret",
            "Sqls": ["SELECT 1"],
            "StatementName": "txcat-run",
        },
    )
    client.stubber.add_response("describe_statement", _described("FINISHED"), {"Id": "st-1"})
    _warehouse(client, workgroup=None, cluster="c1", secret_arn="arn:secret").execute(["SELECT 1"])


def test_copy_names_the_staged_prefix_and_the_role(client):
    expected_copy = (
        "COPY txcat.stage (row_id, run_date) FROM 's3://bucket/out/day/' "
        f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET"
    )
    client.stubber.add_response(
        "batch_execute_statement",
        {"Id": "st-1"},
        {
            "WorkgroupName": "txcat-wg",
            "Database": "dev",
            "Sqls": [expected_copy],
            "StatementName": "txcat-run",
        },
    )
    client.stubber.add_response("describe_statement", _described("FINISHED"), {"Id": "st-1"})
    _warehouse(client).load_staging("txcat.stage", "s3://bucket/out/day", ["row_id", "run_date"])


def test_failed_statement_raises_with_the_server_error(client):
    client.stubber.add_response("batch_execute_statement", {"Id": "st-1"}, None)
    client.stubber.add_response("describe_statement", _described("PICKED"), {"Id": "st-1"})
    client.stubber.add_response(
        "describe_statement",
        _described("FAILED", Error="ERROR: Load into table 'stage' failed."),
        {"Id": "st-1"},
    )
    with pytest.raises(SinkError, match="st-1 failed: ERROR: Load into table 'stage' failed"):
        _warehouse(client).execute(["COPY x"])


def test_statement_still_running_at_the_timeout_is_cancelled(client):
    client.stubber.add_response("batch_execute_statement", {"Id": "st-1"}, None)
    for _ in range(4):  # t = 0, 2, 4, 6: the last poll is at the 6 s deadline
        client.stubber.add_response("describe_statement", _described("STARTED"), {"Id": "st-1"})
    client.stubber.add_response("cancel_statement", {"Status": True}, {"Id": "st-1"})
    with pytest.raises(SinkError, match="still STARTED after 6 s: cancelled"):
        _warehouse(client, timeout=6.0).execute(["DELETE 1"])


def test_refused_request_is_a_sink_error(client):
    client.stubber.add_client_error(
        "batch_execute_statement",
        service_error_code="ValidationException",
        service_message="Workgroup txcat-wg not found",
        expected_params={
            "WorkgroupName": "txcat-wg",
            "Database": "dev",
            "Sqls": ["SELECT 1"],
            "StatementName": ANY,
        },
    )
    with pytest.raises(SinkError, match="Workgroup txcat-wg not found"):
        _warehouse(client).execute(["SELECT 1"])


def test_target_from_environment():
    env = {
        "TXCAT_REDSHIFT_WORKGROUP": "txcat-wg",
        "TXCAT_REDSHIFT_DATABASE": "dev",
        "TXCAT_REDSHIFT_IAM_ROLE": ROLE,
    }
    target = DataApiTarget.from_env(env)
    assert target.request() == {"Database": "dev", "WorkgroupName": "txcat-wg"}
    with pytest.raises(SinkError, match="TXCAT_REDSHIFT_IAM_ROLE"):
        DataApiTarget.from_env({k: v for k, v in env.items() if "ROLE" not in k})
    with pytest.raises(SinkError, match="not an IAM role ARN"):
        DataApiTarget.from_env({**env, "TXCAT_REDSHIFT_IAM_ROLE": "admin"})
