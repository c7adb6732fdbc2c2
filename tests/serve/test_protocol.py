"""The API on a real uvicorn server (in process): no fixed wait per request, slow clients."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from tests.helpers import bank_file, bank_row, local_config
from tests.serve.conftest import RUN_DATE
from tests.serve.helpers import timed_posts_in_two_writes, waited_for_delayed_acks
from txcat.serve.app import create_app
from txcat.serve.metrics import Metrics
from txcat.serve.protocol import NoDelayH11Protocol
from txcat.serve.service import ModelLocation, ModelService

BODY = bank_file([bank_row("1.11.2026")])
CATEGORISE = "/v1/categorise?account_id=acc1"


@pytest.fixture(scope="module")
def port(serve_world):
    cfg = local_config(serve_world["ref"], "serving.read_timeout_s=0.5")
    metrics = Metrics()
    service = ModelService(
        cfg, ModelLocation(str(serve_world["model"]), cfg), metrics, lambda: RUN_DATE
    )
    service.load()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service, metrics, start=False),
            http=NoDelayH11Protocol,
            lifespan="off",
            log_level="warning",
        )
    )
    # Protocol 0, as uvicorn binds the socket it shares with its workers (--workers 2 and more):
    # asyncio leaves Nagle on for such a listener's connections.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield listener.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


def _post(port: int) -> int:
    return timed_posts_in_two_writes(port, CATEGORISE, BODY, "text/csv", 1)[0][0]


def test_requests_are_answered_without_a_delayed_acknowledgement_wait(port):
    answers = timed_posts_in_two_writes(port, CATEGORISE, BODY, "text/csv", count=20)
    assert {status for status, _ in answers} == {200}
    # Linux delays an acknowledgement by at least 40 ms: with Nagle on either side, every
    # request on the connection waits that long; the work itself takes a few ms.
    assert not waited_for_delayed_acks(answers)


def test_a_slow_body_is_a_408_and_others_are_served_meanwhile(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        slow.sendall(
            f"POST {CATEGORISE} HTTP/1.1\r\nHost: x\r\ncontent-type: text/csv\r\n"
            f"content-length: {len(BODY)}\r\n\r\n".encode()
            + BODY[:10]
        )
        started = time.monotonic()
        assert _post(port) == 200  # while the slow body is pending
        reply = b""
        while chunk := slow.recv(65536):  # until the server closes the connection
            reply += chunk
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408")
    assert b"body not received within 0.5 s" in reply
    # Closed, not kept open to read the rest of that body.
    assert b"connection: close" in reply and 0.3 < waited < 3


def test_a_client_trickling_its_headers_does_not_hold_the_others(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        for byte in b"POST /v1/categorise HTTP/1.1\r\nHo":
            slow.sendall(bytes([byte]))
        assert [_post(port) for _ in range(3)] == [200, 200, 200]
