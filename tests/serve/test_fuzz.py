"""Bad input does not hurt the service: random payloads get a 2xx or 4xx, never a 5xx."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import bank_file, bank_row
from tests.serve.conftest import RUN_DATE
from txcat import schema as S
from txcat.serve.app import create_app
from txcat.serve.metrics import Metrics
from txcat.serve.service import ModelLocation, ModelService

HEADER_NAMES = S.RAW_HEADER.split(";")
FIELD = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1.784,13", " -   ", "9.11.2026", "31.02.2026", "201405", "BR", "F", ""]),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
TRANSACTION = st.one_of(
    st.fixed_dictionaries(dict.fromkeys(HEADER_NAMES, FIELD)),
    st.dictionaries(st.sampled_from([*HEADER_NAMES, "extra", "VALOR"]), FIELD, max_size=14),
    JSON_VALUE,
)
PAYLOAD = st.one_of(
    st.fixed_dictionaries(
        {
            "account_id": st.one_of(st.text(max_size=10), JSON_VALUE),
            "transactions": st.one_of(st.lists(TRANSACTION, max_size=6), JSON_VALUE),
        },
        optional={"explain": st.one_of(st.booleans(), JSON_VALUE), "other": JSON_VALUE},
    ),
    JSON_VALUE,
)
CSV_LINES = st.lists(
    st.one_of(
        st.builds(bank_row, st.sampled_from(["1.11.2026", "31.02.2026", "x", ""]), FIELD),
        st.text(max_size=40),
    ),
    max_size=8,
)


@pytest.fixture(scope="module")
def client(serve_cfg, serve_world):
    metrics = Metrics()
    service = ModelService(
        serve_cfg, ModelLocation(str(serve_world["model"]), serve_cfg), metrics, lambda: RUN_DATE
    )
    service.load()
    with TestClient(create_app(service, metrics, start=False)) as test_client:
        yield test_client


def _still_serving(client) -> None:
    assert client.get("/healthz").status_code == 200
    good = client.post(
        "/v1/categorise",
        content=bank_file([bank_row("1.11.2026")]),
        params={"account_id": "a"},
        headers={"content-type": "text/csv"},
    )
    assert good.status_code == 200 and len(good.json()["predictions"]) == 1


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.slow  # 150 random requests
@FUZZ
@given(payload=PAYLOAD)
def test_random_json_is_answered_2xx_or_4xx(client, payload):
    response = client.post("/v1/categorise", content=json.dumps(payload).encode())
    assert response.status_code == 415  # no content type
    response = client.post(
        "/v1/categorise",
        content=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
    )
    assert 200 <= response.status_code < 500, response.text
    if response.status_code == 200:
        answer = response.json()
        assert len(answer["predictions"]) + len(answer["rejected"]) == len(payload["transactions"])


@pytest.mark.slow  # 150 random requests
@FUZZ
@given(
    lines=CSV_LINES,
    header=st.one_of(st.just(S.RAW_HEADER), st.text(max_size=30)),
    encoding=st.sampled_from(["latin-1", "utf-8", "utf-16", "utf-16-le"]),
    newline=st.sampled_from(["\r\n", "\n", "\r"]),
)
def test_random_files_are_answered_2xx_or_4xx(client, lines, header, encoding, newline):
    text = newline.join([header, *lines]) + newline
    body = text.encode(encoding, errors="replace")
    response = client.post(
        "/v1/categorise",
        content=body,
        params={"account_id": "acc1"},
        headers={"content-type": "text/csv"},
    )
    assert 200 <= response.status_code < 500, response.text


@pytest.mark.slow  # 150 random requests
@FUZZ
@given(body=st.binary(max_size=400), content_type=st.sampled_from(["application/json", "text/csv"]))
def test_random_bytes_are_answered_2xx_or_4xx(client, body, content_type):
    response = client.post(
        "/v1/categorise",
        content=body,
        params={"source_file": "x.csv"},
        headers={"content-type": content_type},
    )
    assert 200 <= response.status_code < 500, response.text


def test_the_service_still_serves_after_the_fuzzing(client):
    _still_serving(client)


def test_a_20_mb_body_is_refused_without_being_read_whole(client):
    body = b"x" * 20_000_000
    response = client.post(
        "/v1/categorise",
        content=body,
        params={"account_id": "a"},
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "body of 20000000 bytes is above the limit of 200000"
    _still_serving(client)


def test_a_20_mb_chunked_body_without_a_length_is_refused_as_it_streams(client):
    chunk = b"x" * 1_000_000
    response = client.post(
        "/v1/categorise",
        content=(chunk for _ in range(20)),
        params={"account_id": "a"},
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "body is above the limit of 200000 bytes"
    _still_serving(client)


@pytest.mark.slow  # builds a 100,000-row request
def test_100000_rows_are_refused_and_the_service_goes_on(client):
    rows = [bank_row(f"{1 + i % 28}.10.2026", f"{i % 997},00") for i in range(100_000)]
    body = json.dumps(
        {
            "account_id": "a",
            "transactions": [dict(zip(HEADER_NAMES, r.split(";"), strict=True)) for r in rows],
        }
    ).encode()
    response = client.post(
        "/v1/categorise", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    _still_serving(client)
