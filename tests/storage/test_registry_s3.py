"""From the registry to production on the S3 protocol server: train -> register -> promote
(published to S3) -> the scoring job serves that version with no tracking store -> rollback ->
the next run serves the previous version."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boto3
import pytest
from pyspark.sql import functions as F

from tests.helpers import local_config
from txcat import cli, exits, model_uri, pipeline
from txcat import schema as S
from txcat.generate import generate
from txcat.generate.reference import reference_overrides
from txcat.lifecycle import workflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN_DATE = dt.date(2026, 11, 25)
BUCKET = "txcat-models"
PUBLISH = f"s3://{BUCKET}/txcat-categoriser"
CHAMPION = f"{PUBLISH}/champion/"
NAME = "txcat-s3-model"
GATE = [
    "quality_gate.min_macro_f1_margin=-1",
    "quality_gate.min_accuracy_margin=-1",
    "quality_gate.min_support_for_recall=1000000",
    "quality_gate.max_calibration_error=1",
    "quality_gate.max_latency_ms_per_10k=1000000000.0",
]


def _lifecycle(root: Path) -> list[str]:
    return [
        f"lifecycle.tracking_uri=sqlite:///{root / 'mlflow' / 'mlflow.db'}",
        f"lifecycle.artifact_root={root / 'mlflow' / 'artifacts'}",
        f"lifecycle.registered_model={NAME}",
        f"lifecycle.publish_uri={PUBLISH}",
        "lifecycle.cutoff_date=2026-09-01",
        "lifecycle.cv_folds=2",
        "lifecycle.search_budget=1",
        "lifecycle.latency_repeats=1",
        "training.early_stopping_rounds=0",
        "quality.max_row_quarantine_share=1",
        "quality.max_file_quarantine_share=1",
        "validation.enabled=false",
        *GATE,
    ]


@pytest.fixture(scope="module")
def world(spark, s3, tmp_path_factory):
    root = tmp_path_factory.mktemp("registry-s3")
    ref = root / "reference"
    generate(
        root / "training", 40, "2026-07-01", "2026-10-31", seed=31, reference_out=ref,
        rows_per_account=30,
    )  # fmt: skip
    generate(
        root / "landing", 8, "2026-10-01", RUN_DATE, seed=32, labels=False, rows_per_account=20
    )
    boto3.client("s3", endpoint_url=s3.endpoint).create_bucket(Bucket=BUCKET)
    overrides = _lifecycle(root)
    outcomes = []
    for rounds in (8, 3):  # two versions, two different boosters
        cfg = local_config(ref, *overrides, f"training.num_boost_round={rounds}")
        model_out = str(root / f"model-{rounds}")
        outcomes.append(
            workflow.train(spark, cfg, str(root / "training"), model_out, RUN_DATE, register=True)
        )
    # The job's configuration on the cluster: no tracking store at all.
    job_cfg = local_config(
        ref,
        *overrides,
        f"lifecycle.tracking_uri=sqlite:///{root / 'nowhere' / 'mlflow.db'}",
    )
    return {"root": root, "ref": ref, "overrides": overrides, "job_cfg": job_cfg,
            "versions": outcomes, "s3": s3}  # fmt: skip


def _txcat(world, monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """A `txcat` command on the test's registry, publishing to the S3 server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", world["s3"].endpoint)
    sets = [*reference_overrides(world["ref"]), *world["overrides"]]
    code = cli.main([*args, *[a for item in sets for a in ("--set", item)]])
    return code, capsys.readouterr().out


def _score(spark, world, run_id: str) -> dict:
    root = world["root"]
    params = pipeline.RunParams(
        RUN_DATE, str(root / "landing"), str(root / "out"), CHAMPION, run_id
    )
    result = pipeline.run(spark, world["job_cfg"], params)
    assert result.exit_code == exits.OK, result.summary["problems"]
    rows = (
        spark.read.parquet(str(root / "out" / "predictions"))
        .where(F.col(S.RUN_DATE) == RUN_DATE)
        .select(S.MODEL_SHA256, S.MODEL_NAME, S.MODEL_REGISTRY_VERSION, S.MODEL_ALIAS, S.RUN_ID)
        .distinct()
        .collect()
    )
    assert [tuple(r) for r in rows] == [
        (
            result.summary["model_sha256"],
            NAME,
            result.summary["model_registry_version"],
            "champion",
            run_id,
        )
    ]
    return result.summary


def test_promote_publish_score_rollback(spark, world, monkeypatch, capsys):
    first, second = world["versions"]
    assert (first.version, second.version) == ("1", "2")
    assert first.artifact.sha256 != second.artifact.sha256
    client = boto3.client("s3", endpoint_url=world["s3"].endpoint)

    code, out = _txcat(world, monkeypatch, capsys, "promote", "--version", "1")
    assert code == exits.OK, out
    assert f"published: {PUBLISH}/versions/1 (copied); pointer {CHAMPION}pointer.json" in out
    summary = _score(spark, world, "with-v1")
    assert (summary["model_registry_version"], summary["model_sha256"]) == (
        "1",
        first.artifact.sha256,
    )
    assert summary["model_alias"] == "champion" and summary["model_uri"] == CHAMPION
    assert not (world["root"] / "nowhere").exists()  # the job never touched a tracking store

    code, out = _txcat(world, monkeypatch, capsys, "promote", "--version", "2")
    assert code == exits.OK, out
    summary = _score(spark, world, "with-v2")
    assert (summary["model_registry_version"], summary["model_sha256"]) == (
        "2",
        second.artifact.sha256,
    )

    code, out = _txcat(world, monkeypatch, capsys, "rollback")
    assert code == exits.OK, out
    assert f"ROLLED BACK {NAME}@champion: version 2 -> version 1" in out
    assert f"published: {PUBLISH}/versions/1 (already there)" in out
    summary = _score(spark, world, "after-rollback")
    assert (summary["model_registry_version"], summary["model_sha256"]) == (
        "1",
        first.artifact.sha256,
    )
    keys = sorted(
        o["Key"]
        for o in client.list_objects_v2(Bucket=BUCKET, Prefix="txcat-categoriser/")["Contents"]
    )
    assert "txcat-categoriser/champion/pointer.json" in keys
    for version in ("1", "2"):
        record = json.loads(
            client.get_object(
                Bucket=BUCKET, Key=f"txcat-categoriser/versions/{version}/registration.json"
            )["Body"].read()
        )
        assert all(f"txcat-categoriser/versions/{version}/{f}" in keys for f in record["files"])
        assert "MLmodel" in record["files"] and "model.ubj" in record["files"]


def test_a_pointer_promising_another_checksum_is_refused(spark, world):
    client = boto3.client("s3", endpoint_url=world["s3"].endpoint)
    key = "txcat-categoriser/tampered/pointer.json"
    pointer = {"name": NAME, "version": "1", "alias": "x", "sha256": "0" * 64, "path": "versions/1"}
    client.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(pointer).encode())
    with pytest.raises(model_uri.RegistryError, match="promises sha256 0000"):
        pipeline.load_model(spark, f"{PUBLISH}/tampered/", world["job_cfg"])
