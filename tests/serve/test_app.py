"""The HTTP API: answers, refusals (4xx), health, metrics, explanations and model reloads."""

from __future__ import annotations

import gzip
import json
import threading
import time

import numpy as np
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from tests.helpers import bank_file, bank_row
from tests.serve.conftest import RUN_DATE, save_model
from txcat import reasons
from txcat import schema as S
from txcat.model import ModelArtifactError
from txcat.serve.app import create_app
from txcat.serve.metrics import Metrics
from txcat.serve.rows import row_id
from txcat.serve.scorer import Scorer
from txcat.serve.service import ModelLocation, ModelService

ROWS = [
    bank_row("1.11.2026", "10,00", merchant_city="SANTOS"),
    bank_row("2.11.2026", "20,50", merchant_city="SAO PAULO"),
    bank_row("31.02.2026"),
    bank_row("3.11.2026", "abc"),
    bank_row("4.11.2026", "1.784,13", country="AR"),
    bank_row("1.11.2026", "10,00", merchant_city="SANTOS"),
]
HEADER_NAMES = S.RAW_HEADER.split(";")


def _transactions(rows: list[str]) -> list[dict[str, str]]:
    return [dict(zip(HEADER_NAMES, row.split(";"), strict=True)) for row in rows]


def _service(cfg, folder, load=True) -> tuple[ModelService, Metrics]:
    metrics = Metrics()
    service = ModelService(cfg, ModelLocation(str(folder), cfg), metrics, clock=lambda: RUN_DATE)
    if load:
        service.load()
    return service, metrics


@pytest.fixture(scope="module")
def client(serve_cfg, serve_world):
    service, metrics = _service(serve_cfg, serve_world["model"])
    with TestClient(create_app(service, metrics, start=False)) as test_client:
        yield test_client


def _csv(client, body: bytes, **params: str):
    return client.post(
        "/v1/categorise", content=body, params=params, headers={"content-type": "text/csv"}
    )


def test_a_file_gives_predictions_and_the_batch_jobs_rejections(client):
    response = _csv(client, bank_file(ROWS), source_file="file:/landing/acc1.csv")
    assert response.status_code == 200
    answer = response.json()
    assert answer[S.ACCOUNT_ID] == "acc1"
    # Line 7 repeats line 2: scored, and flagged.
    assert [(p[S.LINE_NUMBER], p[S.IS_REPEATED_LINE]) for p in answer["predictions"]] == [
        (2, False),
        (3, False),
        (6, False),
        (7, True),
    ]
    assert [(r[S.LINE_NUMBER], r[S.REASON]) for r in answer["rejected"]] == [
        (4, reasons.BAD_DATE),
        (5, reasons.BAD_AMOUNT),
    ]
    first = answer["predictions"][0]
    assert first[S.ROW_ID] == row_id("file:/landing/acc1.csv", 2)
    assert first[S.PREDICTED_CATEGORY] in S.CATEGORIES
    assert first[S.TOP3][0] == {
        "category": first[S.PREDICTED_CATEGORY],
        "probability": first[S.PREDICTED_PROBABILITY],
    }
    probabilities = [t["probability"] for t in first[S.TOP3]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0
    assert "explanation" not in first


def test_json_transactions_score_as_the_same_file_does(client):
    file_answer = _csv(client, bank_file(ROWS), account_id="acc1").json()
    response = client.post(
        "/v1/categorise", json={"account_id": "acc1", "transactions": _transactions(ROWS)}
    )
    assert response.status_code == 200
    json_answer = response.json()
    # Transaction i plays line i + 1 of the file (the header is line 1).
    assert [p[S.LINE_NUMBER] + 1 for p in json_answer["predictions"]] == [
        p[S.LINE_NUMBER] for p in file_answer["predictions"]
    ]
    for mine, theirs in zip(json_answer["predictions"], file_answer["predictions"], strict=True):
        assert mine[S.TOP3] == theirs[S.TOP3]
        assert mine[S.ROW_ID] is None  # no source_file: no row id
    assert [r[S.REASON] for r in json_answer["rejected"]] == [
        r[S.REASON] for r in file_answer["rejected"]
    ]


def test_json_transactions_named_by_a_file_get_the_jobs_row_ids_of_its_lines(client):
    name = "file:/landing/acc1.csv"
    file_answer = _csv(client, bank_file(ROWS), source_file=name).json()
    json_answer = client.post(
        "/v1/categorise",
        params={"source_file": name},
        json={"account_id": "acc1", "transactions": _transactions(ROWS)},
    ).json()
    for kind in ("predictions", "rejected"):
        assert [p[S.ROW_ID] for p in json_answer[kind]] == [p[S.ROW_ID] for p in file_answer[kind]]
    assert json_answer["predictions"][0][S.ROW_ID] == row_id(name, 2)


def test_the_account_changes_the_label_memory_features(client):
    rows = _transactions(ROWS[:1])
    known = client.post("/v1/categorise", json={"account_id": "acc1", "transactions": rows})
    other = client.post("/v1/categorise", json={"account_id": "zzz", "transactions": rows})
    assert known.json()["predictions"][0][S.TOP3] != other.json()["predictions"][0][S.TOP3]


def test_a_gzip_file_in_latin1_is_read_like_the_plain_one(client):
    plain = _csv(client, bank_file(ROWS), account_id="acc1").json()
    packed = _csv(client, gzip.compress(bank_file(ROWS)), source_file="acc1.csv.gz").json()
    assert [p[S.TOP3] for p in packed["predictions"]] == [p[S.TOP3] for p in plain["predictions"]]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", reasons.EMPTY_FILE),
        (bank_file([]), reasons.HEADER_ONLY),
        (b"id,data,valor\r\n1,1.11.2026,3\r\n", reasons.WRONG_SEPARATOR),
        (b"\x1f\x8b\x08\x00broken", reasons.CORRUPT_GZIP),
        (bank_file(ROWS, header=S.RAW_HEADER.replace(" valor ", "amount")), "missing_columns"),
    ],
)
def test_a_file_the_job_rejects_whole_is_a_422_with_its_reason(client, body, reason):
    response = _csv(client, body, account_id="acc1")
    assert response.status_code == 422
    assert response.json()["reason"] == reason
    assert response.json()["level"] == S.LEVEL_FILE


def test_a_wrong_file_name_is_the_jobs_unsupported_file(client):
    response = _csv(client, bank_file(ROWS), source_file="acc1.txt")
    assert response.status_code == 422 and response.json()["reason"] == reasons.UNSUPPORTED_FILE


@pytest.mark.parametrize(
    "payload",
    [
        {"transactions": _transactions(ROWS)},
        {"account_id": "acc1"},
        {"account_id": "acc1", "transactions": []},
        {"account_id": "acc1", "transactions": "x"},
        {"account_id": 7, "transactions": _transactions(ROWS)},
        {"account_id": "acc1", "transactions": [{"data": 1}]},
        {"account_id": "acc1", "transactions": [None]},
        {"account_id": "a/b", "transactions": _transactions(ROWS)},
        {"account_id": "acc1", "transactions": _transactions(ROWS), "explain": "yes"},
        {"account_id": "acc1", "transactions": _transactions(ROWS), "unknown": 1},
        [1, 2, 3],
        "text",
    ],
)
def test_a_wrong_shape_is_a_422(client, payload):
    response = client.post("/v1/categorise", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"] == "wrong shape"


def test_a_wrong_shape_names_the_field(client):
    response = client.post("/v1/categorise", json={"account_id": 7, "transactions": [None]})
    errors = {tuple(e["loc"]): e["type"] for e in response.json()["errors"]}
    assert errors == {("account_id",): "string_type", ("transactions", "0"): "dict_type"}


def test_a_transaction_without_a_required_column_is_a_422_naming_it(client):
    rows = _transactions(ROWS[:2])
    del rows[1][" valor "]
    response = client.post("/v1/categorise", json={"account_id": "acc1", "transactions": rows})
    assert response.status_code == 422
    assert response.json()["detail"] == "transaction 2 lacks columns: valor"


def test_extra_columns_are_ignored_as_in_a_file(client):
    rows = _transactions(ROWS[:2])
    plain = client.post("/v1/categorise", json={"account_id": "acc1", "transactions": rows})
    for row in rows:
        row["extra"] = "1"
    extra = client.post("/v1/categorise", json={"account_id": "acc1", "transactions": rows})
    assert extra.status_code == 200 and extra.json() == plain.json()


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"account_id": "a", ',
        b"\xff\xfe\x00garbage",
        '{"account_id": "\xe9"}'.encode("latin-1"),
    ],
)
def test_malformed_json_or_bytes_are_a_400(client, body):
    response = client.post(
        "/v1/categorise", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
def test_another_content_type_is_a_415(client, content_type):
    response = client.post(
        "/v1/categorise", content=bank_file(ROWS), headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert response.json()["detail"] == (
        f"content type {content_type or 'none'!r}: send application/json or text/csv"
    )


def test_a_body_over_the_limit_is_a_413(client):
    response = _csv(client, b"x" * 300_000, account_id="acc1")
    assert response.status_code == 413
    assert response.json()["detail"] == "body of 300000 bytes is above the limit of 200000"


def test_more_rows_than_the_limit_are_a_413(client):
    rows = [bank_row(f"{1 + i % 28}.10.2026", f"{i},00") for i in range(201)]
    response = _csv(client, bank_file(rows), account_id="acc1")
    assert response.status_code == 413
    assert response.json()["detail"] == "201 data lines, above the limit of 200"
    response = client.post(
        "/v1/categorise", json={"account_id": "acc1", "transactions": _transactions(rows)}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "201 transactions, above the limit of 200"


def test_a_gzip_bomb_is_a_413(client):
    bomb = gzip.compress(bank_file([bank_row()]) + b" " * 2_000_000)
    assert len(bomb) < 200_000
    assert _csv(client, bomb, account_id="acc1").status_code == 413


def test_a_text_csv_body_needs_a_file_name_or_an_account(client):
    assert _csv(client, bank_file(ROWS)).status_code == 422


def test_explain_gives_xgboosts_exact_contributions_of_the_predicted_category(client):
    response = client.post(
        "/v1/categorise",
        json={"account_id": "acc1", "transactions": _transactions(ROWS[:2]), "explain": True},
    )
    prediction = response.json()["predictions"][0]
    explanation = prediction["explanation"]
    assert len(explanation) == 5
    sizes = [abs(e["contribution"]) for e in explanation]
    assert sizes == sorted(sizes, reverse=True)
    csv_answer = _csv(client, bank_file(ROWS[:2]), account_id="acc1", explain="true").json()
    assert csv_answer["predictions"][0]["explanation"] == explanation


def test_explanations_match_the_boosters_pred_contribs(serve_cfg, serve_world):
    service, _ = _service(serve_cfg, serve_world["model"])
    scorer = service.current()
    from txcat.serve.rows import read_file

    records = read_file("acc1.csv", bank_file(ROWS[:2]), scorer.rules)
    answer = scorer.categorise(records, explain=True)
    frame = scorer.features(records)[list(scorer.model.artifact.feature_names)]
    contribs = scorer.model.booster.predict(
        xgb.DMatrix(frame.to_numpy(np.float32), feature_names=list(frame.columns)),
        pred_contribs=True,
    )
    for i, prediction in enumerate(answer["predictions"]):
        k = S.CATEGORIES.index(prediction[S.PREDICTED_CATEGORY])
        row = contribs[i, k, :-1]
        top = np.argsort(-np.abs(row), kind="stable")[:5]
        assert [e["feature"] for e in prediction["explanation"]] == [frame.columns[j] for j in top]
        np.testing.assert_allclose([e["contribution"] for e in prediction["explanation"]], row[top])


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    client.post("/v1/categorise", content=b"x", headers={"content-type": "text/plain"})
    text = client.get("/metrics").text
    assert 'txcat_serve_requests_total{method="POST",path="/v1/categorise",status="415"}' in text
    assert 'txcat_serve_request_duration_seconds_bucket{path="/v1/categorise",le="+Inf"}' in text
    assert f'txcat_serve_model_info{{version="{ready.json()["model_version"]}"}} 1' in text
    assert "txcat_serve_ready 1" in text


def test_openapi_documents_both_bodies(client):
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/v1/categorise"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "text/csv"}
    assert client.get("/docs").status_code == 200


def test_not_ready_before_the_model_is_loaded(serve_cfg, serve_world):
    service, metrics = _service(serve_cfg, serve_world["model"], load=False)
    with TestClient(create_app(service, metrics, start=False)) as cold:
        assert cold.get("/healthz").status_code == 200
        assert cold.get("/readyz").status_code == 503
        response = cold.post("/v1/categorise", json={"account_id": "a", "transactions": []})
        assert response.status_code == 503 and response.headers["retry-after"] == "5"


def test_ready_only_once_the_model_is_warmed_up(serve_cfg, serve_world, monkeypatch):
    service, metrics = _service(serve_cfg, serve_world["model"], load=False)
    during: list[int] = []
    warm_up = Scorer.warm_up

    def watched(scorer: Scorer) -> float:
        during.append(cold.get("/readyz").status_code)
        return warm_up(scorer)

    monkeypatch.setattr(Scorer, "warm_up", watched)
    with TestClient(create_app(service, metrics, start=False)) as cold:
        service.load()
        assert during == [503]
        assert cold.get("/readyz").status_code == 200


def test_what_is_loaded_is_kept_out_of_the_collectors_full_passes(serve_cfg, serve_world):
    import gc

    gc.unfreeze()
    service, _ = _service(serve_cfg, serve_world["model"])
    scorer = service.current()
    assert gc.is_tracked(scorer) and gc.get_freeze_count() > 0
    # The collector's generations no longer hold the scorer: it is in the frozen set.
    assert not any(o is scorer for o in gc.get_objects())


def test_the_poller_follows_a_moved_alias_without_dropping_requests(serve_world, tmp_path):
    from tests.helpers import local_config

    cfg = local_config(serve_world["ref"], "serving.reload_interval_s=0.2")
    first = _publish(tmp_path, "1", seed=1)
    service, metrics = _service(cfg, tmp_path / "champion", load=False)
    body = json.dumps({"account_id": "acc1", "transactions": _transactions(ROWS[:2])})
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()
    # start=True: the app loads the model in the background, then polls the alias.
    with TestClient(create_app(service, metrics)) as test_client:

        def keep_requesting() -> None:
            while not stop.is_set():
                response = test_client.post(
                    "/v1/categorise", content=body, headers={"content-type": "application/json"}
                )
                answers.append((response.status_code, response.json().get(S.MODEL_VERSION)))

        def wait_for(version: str) -> None:
            deadline = time.monotonic() + 60
            while (200, version) not in answers[-3:] and time.monotonic() < deadline:
                time.sleep(0.05)

        for _ in range(600):
            if test_client.get("/readyz").status_code == 200:
                break
            time.sleep(0.05)
        requester = threading.Thread(target=keep_requesting)
        requester.start()
        try:
            wait_for(first)
            second = _publish(tmp_path, "2", seed=2)  # the alias moves
            wait_for(second)
        finally:
            stop.set()
            requester.join()
    assert {status for status, _ in answers} == {200}
    versions = [version for _, version in answers]
    switched = versions.index(second)
    assert set(versions[:switched]) == {first} and set(versions[switched:]) == {second}
    assert 'txcat_serve_model_reloads_total{outcome="loaded"} 1' in metrics.render()


def test_a_new_model_in_the_folder_is_loaded_without_dropping_requests(
    serve_cfg, serve_world, tmp_path
):
    folder = tmp_path / "model"
    first = save_model(folder, seed=1)
    service, metrics = _service(serve_cfg, folder)
    assert service.check() is False  # nothing moved
    body = json.dumps({"account_id": "acc1", "transactions": _transactions(ROWS[:2])})
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()
    with TestClient(create_app(service, metrics, start=False)) as test_client:

        def hammer() -> None:
            while not stop.is_set():
                response = test_client.post(
                    "/v1/categorise", content=body, headers={"content-type": "application/json"}
                )
                statuses.append(response.status_code)
                versions.add(response.json()[S.MODEL_VERSION])

        worker = threading.Thread(target=hammer)
        worker.start()
        try:
            second = save_model(folder, seed=2)
            assert service.check() is True
            stop.wait(0.3)
        finally:
            stop.set()
            worker.join()
        assert test_client.get("/readyz").json()["model_version"] == second != first
    assert statuses and set(statuses) == {200}
    assert second in versions
    assert 'txcat_serve_model_reloads_total{outcome="loaded"} 1' in metrics.render()


def test_a_broken_new_model_keeps_the_old_one(serve_cfg, tmp_path):
    folder = tmp_path / "model"
    first = save_model(folder, seed=1)
    service, metrics = _service(serve_cfg, folder)
    (folder / "model.ubj").write_bytes(b"not a model")
    metadata = json.loads((folder / "model.json").read_text())
    metadata["sha256"] = "0" * 64
    (folder / "model.json").write_text(json.dumps(metadata))
    assert service.check() is False
    assert service.current().model.version == first
    assert "checksum" in service.status()["problem"]
    assert 'txcat_serve_model_reloads_total{outcome="failed"} 1' in metrics.render()


def test_a_new_day_rebuilds_the_rules_and_references(serve_cfg, serve_world):
    days = [RUN_DATE]
    metrics = Metrics()
    source = ModelLocation(str(serve_world["model"]), serve_cfg)
    service = ModelService(serve_cfg, source, metrics, clock=lambda: days[-1])
    service.load()
    import datetime as dt

    days.append(RUN_DATE + dt.timedelta(days=1))
    assert service.current().rules.run_date == RUN_DATE + dt.timedelta(days=1)


def _publish(root, version: str, seed: int) -> str:
    """A published version folder and the alias pointer naming it (`txcat promote`'s layout)."""
    model_version = save_model(root / "versions" / version, seed=seed)
    sha256 = json.loads((root / "versions" / version / "model.json").read_text())["sha256"]
    (root / "champion").mkdir(parents=True, exist_ok=True)
    pointer = {
        "name": "txcat-categoriser",
        "version": version,
        "alias": "champion",
        "sha256": sha256,
        "path": f"versions/{version}",
    }
    (root / "champion" / "pointer.json").write_text(json.dumps(pointer))
    return model_version


def test_a_published_alias_is_followed_and_its_move_reloads(serve_cfg, tmp_path):
    first = _publish(tmp_path, "1", seed=1)
    service, _ = _service(serve_cfg, tmp_path / "champion")
    assert service.current().model.version == first
    assert service.check() is False
    second = _publish(tmp_path, "2", seed=2)
    assert service.check() is True
    assert service.current().model.version == second


def test_a_pointer_promising_another_checksum_is_refused(serve_cfg, tmp_path):
    _publish(tmp_path, "1", seed=1)
    pointer = json.loads((tmp_path / "champion" / "pointer.json").read_text())
    pointer["sha256"] = "0" * 64
    (tmp_path / "champion" / "pointer.json").write_text(json.dumps(pointer))
    service, _ = _service(serve_cfg, tmp_path / "champion", load=False)
    with pytest.raises(ModelArtifactError, match="promises sha256"):
        service.load()


def test_explain_may_name_the_transactions_to_explain(client):
    response = client.post(
        "/v1/categorise",
        json={"account_id": "acc1", "transactions": _transactions(ROWS[:2]), "explain": [2]},
    )
    first, second = response.json()["predictions"]
    assert "explanation" not in first and len(second["explanation"]) == 5
    everything = client.post(
        "/v1/categorise",
        json={"account_id": "acc1", "transactions": _transactions(ROWS[:2]), "explain": True},
    )
    assert everything.json()["predictions"][1]["explanation"] == second["explanation"]
    bad = client.post(
        "/v1/categorise",
        json={"account_id": "acc1", "transactions": _transactions(ROWS[:2]), "explain": [0]},
    )
    assert bad.status_code == 422


def _register(cfg, folder, run_name: str) -> str:
    """Logs a model folder as a run's artifact and registers it (the registry's layout)."""
    from txcat.lifecycle import registry
    from txcat.model import load_artifact
    from txcat.model_uri import client

    mlflow_client = client(cfg, create=True)
    run = mlflow_client.create_run(registry.experiment_id(mlflow_client, cfg), run_name=run_name)
    mlflow_client.log_artifacts(run.info.run_id, str(folder), registry.MODEL_PATH)
    mlflow_client.set_terminated(run.info.run_id, "FINISHED")
    return registry.register_version(cfg, run.info.run_id, load_artifact(str(folder)))


@pytest.mark.slow  # creates an MLflow tracking store
def test_a_moved_registry_alias_reloads(serve_world, tmp_path):
    from tests.helpers import local_config
    from txcat.lifecycle import registry

    cfg = local_config(
        serve_world["ref"],
        f"lifecycle.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"lifecycle.artifact_root={tmp_path}/artifacts",
    )
    first = save_model(tmp_path / "m1", seed=1)
    second = save_model(tmp_path / "m2", seed=2)
    name = cfg.lifecycle.registered_model
    registry.set_alias(cfg, name, "champion", _register(cfg, tmp_path / "m1", "one"))
    service, _ = _service(cfg, f"models:/{name}@champion")
    assert service.current().model.version == first
    assert service.check() is False
    registry.set_alias(cfg, name, "champion", _register(cfg, tmp_path / "m2", "two"))
    assert service.check() is True
    assert service.current().model.version == second
    assert service.current().model.source_version == "2"
