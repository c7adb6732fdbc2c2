"""`txcat serve` from a model folder on the S3 protocol server: loaded, and reloaded when
rewritten in place."""

from __future__ import annotations

import json

import boto3
import pytest
from fastapi.testclient import TestClient

from tests.helpers import bank_file, bank_row, local_config
from tests.serve.conftest import RUN_DATE, save_model
from txcat import schema as S
from txcat.generate import generate
from txcat.serve.app import create_app
from txcat.serve.metrics import Metrics
from txcat.serve.service import ModelLocation, ModelService

pytestmark = pytest.mark.integration

BUCKET = "txcat-serve-models"


def _upload(client, folder, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def test_a_model_folder_on_s3_is_served_and_reloaded_when_rewritten(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    client.create_bucket(Bucket=BUCKET)
    generate(tmp_path / "unused", 1, "2026-11-20", RUN_DATE, seed=3, reference_out=tmp_path / "ref")
    cfg = local_config(tmp_path / "ref")
    first = save_model(tmp_path / "m1", seed=1)
    second = save_model(tmp_path / "m2", seed=2)
    _upload(client, tmp_path / "m1", "champion")
    metrics = Metrics()
    location = ModelLocation(f"s3://{BUCKET}/champion/", cfg)
    service = ModelService(cfg, location, metrics, clock=lambda: RUN_DATE)
    service.load()
    body = bank_file([bank_row("1.11.2026")])
    with TestClient(create_app(service, metrics, start=False)) as api:

        def version() -> str:
            response = api.post(
                "/v1/categorise",
                content=body,
                params={"account_id": "acc1"},
                headers={"content-type": "text/csv"},
            )
            assert response.status_code == 200 and len(response.json()["predictions"]) == 1
            return str(response.json()[S.MODEL_VERSION])

        assert version() == first
        assert service.check() is False
        _upload(client, tmp_path / "m2", "champion")  # the folder rewritten in place
        assert service.check() is True
        assert version() == second
    assert json.loads(json.dumps(service.status()))["model_uri"] == f"s3://{BUCKET}/champion/"
