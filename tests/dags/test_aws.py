"""The AWS side against a real S3/SNS/SQS protocol server (moto, loopback).

The landing marker sensor, the manifest ("retrieve new files") and the input validation run
as Airflow tasks on S3; the notification is published to an SNS topic and read back from a
subscribed SQS queue; `scripts/deploy_emr.py` uploads a package.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json

import boto3
import pytest
from conftest import BASE_SETTINGS, REPO

DS = "2026-11-25"


@pytest.fixture
def s3(aws_conn):
    client = boto3.client("s3", endpoint_url=aws_conn, region_name="us-east-1")
    for bucket in ("txcat-landing", "txcat-output", "txcat-deploy"):
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
    return client


def _put_day(s3, day: str, names: list[str], marker: bool = True) -> None:
    for i, name in enumerate(names):
        body = f"line;{i}\r\n".encode("latin-1") * (i + 1)
        s3.put_object(Bucket="txcat-landing", Key=f"daily/{day}/{name}", Body=body)
    if marker:
        s3.put_object(Bucket="txcat-landing", Key=f"daily/{day}/_SUCCESS", Body=b"")


def _states(dag_run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def test_marker_manifest_and_input_checks_on_s3(load_dag, s3, webhook):
    url, messages = webhook
    _put_day(s3, DS, ["100001.csv", "100002.csv", "100003.csv.gz"])
    _, dag = load_dag({**BASE_SETTINGS, "TXCAT_RUNNER": "emr", "TXCAT_NOTIFY_TARGET": url,
                       "TXCAT_RETRIES": "0", "TXCAT_MIN_INPUT_FILES": "3"})  # fmt: skip
    part = dag.partial_subset(task_ids=["validate_inputs"], include_upstream=True)
    assert sorted(part.task_dict) == ["build_manifest", "validate_inputs", "wait_for_landing"]
    dag_run = part.test(logical_date=dt.datetime(2026, 11, 25, 6, tzinfo=dt.UTC))

    assert str(dag_run.state) == "success", _states(dag_run)
    body = s3.get_object(Bucket="txcat-output", Key=f"daily/manifests/run_date={DS}/manifest.json")[
        "Body"
    ].read()
    manifest = json.loads(body)
    assert manifest["run_date"] == DS
    assert [f["uri"] for f in manifest["files"]] == [
        f"s3://txcat-landing/daily/{DS}/100001.csv",
        f"s3://txcat-landing/daily/{DS}/100002.csv",
        f"s3://txcat-landing/daily/{DS}/100003.csv.gz",
    ]
    heads = [
        s3.head_object(Bucket="txcat-landing", Key=f"daily/{DS}/{n}")
        for n in ("100001.csv", "100002.csv", "100003.csv.gz")
    ]
    assert [f["size"] for f in manifest["files"]] == [h["ContentLength"] for h in heads]
    assert [f["etag"] for f in manifest["files"]] == [h["ETag"].strip('"') for h in heads]
    assert manifest["total_bytes"] == sum(h["ContentLength"] for h in heads)
    assert messages == []


def test_too_few_files_fail_the_input_validation_and_notify(load_dag, s3, webhook):
    url, messages = webhook
    day = "2026-11-23"
    _put_day(s3, day, ["200001.csv"])
    _, dag = load_dag({**BASE_SETTINGS, "TXCAT_RUNNER": "emr", "TXCAT_NOTIFY_TARGET": url,
                       "TXCAT_RETRIES": "0", "TXCAT_MIN_INPUT_FILES": "2"})  # fmt: skip
    part = dag.partial_subset(task_ids=["validate_inputs"], include_upstream=True)
    dag_run = part.test(logical_date=dt.datetime(2026, 11, 23, 6, tzinfo=dt.UTC))
    states = _states(dag_run)
    assert states["build_manifest"] == "success"
    assert states["validate_inputs"] == "failed"
    assert [m["task_id"] for m in messages] == ["validate_inputs"]
    assert "1 files, at least 2 expected" in messages[0]["error"]


def _dag_module(monkeypatch, settings):  # type: ignore[no-untyped-def]
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(
        "daily_predictions_module_under_test", REPO / "dags" / "daily_predictions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notification_is_published_to_sns(monkeypatch, aws_conn):
    """The DAG's channel for an SNS topic ARN publishes through the provider's SnsHook."""
    sns = boto3.client("sns", endpoint_url=aws_conn, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=aws_conn, region_name="us-east-1")
    topic = sns.create_topic(Name="txcat-daily")["TopicArn"]
    queue = sqs.create_queue(QueueName="txcat-daily-listener")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    module = _dag_module(monkeypatch, {**BASE_SETTINGS, "TXCAT_NOTIFY_TARGET": topic})
    message = {"dag_id": "daily_predictions", "status": "succeeded", "run_date": DS, "rows": 42}
    module.CHANNEL.send(message)

    received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2)["Messages"]
    assert len(received) == 1
    envelope = json.loads(received[0]["Body"])
    assert envelope["Subject"] == f"daily_predictions succeeded {DS}"
    assert json.loads(envelope["Message"]) == message


def test_deploy_uploads_the_package_and_verifies_it(s3, aws_conn, tmp_path, monkeypatch):
    from txcat.deploy import package

    dist = tmp_path / "dist"
    package.copy_jobs(REPO, dist)
    package.build_conf_archive(REPO / "conf", dist)
    (dist / "txcat-env.tar.gz").write_bytes(b"packed venv stand-in")
    (dist / "txcat-0.1.0-py3-none-any.whl").write_bytes(b"wheel stand-in")
    manifest = package.write_manifest(dist, "0.1.0")

    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    import deploy_emr

    client = boto3.client("s3", endpoint_url=aws_conn, region_name="us-east-1")
    where = deploy_emr.deploy(dist, "s3://txcat-deploy/txcat/", client)
    assert where == "s3://txcat-deploy/txcat/0.1.0"
    listed = client.list_objects_v2(Bucket="txcat-deploy", Prefix="txcat/0.1.0/")["Contents"]
    sizes = {o["Key"][len("txcat/0.1.0/") :]: o["Size"] for o in listed}
    assert sizes == {
        **{name: info["size"] for name, info in manifest["files"].items()},
        "package.json": (dist / "package.json").stat().st_size,
    }

    (dist / "jobs" / "score_daily.py").write_text("tampered\n")
    with pytest.raises(deploy_emr.DeployError, match="changed since it was packaged"):
        deploy_emr.deploy(dist, "s3://txcat-deploy/txcat", client)
    with pytest.raises(deploy_emr.DeployError, match="s3:// URI"):
        deploy_emr.deploy(tmp_path / "dist", "/local/prefix", client)


def test_transient_cluster_past_the_deadline_fails_loudly_and_is_terminated(
    load_dag, aws_conn, webhook
):
    """On moto an EMR step never finishes: the scoring task hits its deadline, cancels the step
    and fails without retry, the failure message names it, and the all_done teardown still
    terminates the cluster."""
    url, messages = webhook
    emr = boto3.client("emr", endpoint_url=aws_conn, region_name="us-east-1")
    request = {
        "Name": "txcat-deadline-test",
        "ReleaseLabel": "emr-7.5.0",
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m5.xlarge",
                                "InstanceCount": 1}],
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "ServiceRole": "EMR_DefaultRole",
    }  # fmt: skip
    settings = {
        **BASE_SETTINGS,
        "TXCAT_RUNNER": "emr_transient",
        "TXCAT_NOTIFY_TARGET": url,
        "TXCAT_RETRIES": "2",
        "TXCAT_RETRY_DELAY_MINUTES": "0",
        "TXCAT_SCORING_TIMEOUT_MINUTES": "0.25",  # 15 s
        "TXCAT_POKE_SECONDS": "5",
        "TXCAT_EMR_JOB_FLOW_OVERRIDES": json.dumps(request),
    }
    _, dag = load_dag(settings)
    scoring = [t for t in dag.task_dict if t.startswith("score.")]
    part = dag.partial_subset(task_ids=scoring, include_upstream=False)
    assert sorted(part.task_dict) == [
        "score.create_cluster", "score.run_step", "score.terminate_cluster"
    ]  # fmt: skip
    dag_run = part.test(logical_date=dt.datetime(2026, 11, 22, 6, tzinfo=dt.UTC))

    # Only the scoring group runs here, whose one leaf is the teardown; in the whole DAG the
    # run fails through the tasks downstream of the step (upstream_failed).
    states = _states(dag_run)
    assert states["score.create_cluster"] == "success"
    assert states["score.run_step"] == "failed"
    assert states["score.terminate_cluster"] == "success"
    clusters = emr.list_clusters()["Clusters"]
    ours = [c for c in clusters if c["Name"] == "txcat-deadline-test"]
    assert [c["Status"]["State"] for c in ours] == ["TERMINATED"]
    steps = emr.list_steps(ClusterId=ours[0]["Id"])["Steps"]
    assert len(steps) == 1  # past the deadline: no retry, no second step
    args = steps[0]["Config"]["Args"]
    assert args[args.index("--run-date") + 1] == "2026-11-22"
    assert [(m["task_id"], m["try_number"]) for m in messages] == [("score.run_step", 1)]
    assert messages[0]["error"].startswith("AirflowFailException: EMR step")
    # moto has no CancelSteps (HTTP 500): the message says so (test_retries.py: a cancel).
    assert "at the scoring deadline (0:00:15): cancel refused" in messages[0]["error"]
