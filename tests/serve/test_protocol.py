"""The HTTP protocol's TCP options: no fixed wait per request on a keep-alive connection."""

from __future__ import annotations

import socket
import statistics
import threading
import time

import uvicorn

from tests.helpers import bank_file, bank_row
from tests.serve.conftest import RUN_DATE
from tests.serve.helpers import timed_posts_in_two_writes
from txcat.serve.app import create_app
from txcat.serve.metrics import Metrics
from txcat.serve.protocol import NoDelayH11Protocol
from txcat.serve.service import ModelLocation, ModelService


def test_requests_are_answered_without_a_delayed_acknowledgement_wait(serve_cfg, serve_world):
    metrics = Metrics()
    service = ModelService(
        serve_cfg, ModelLocation(str(serve_world["model"]), serve_cfg), metrics, lambda: RUN_DATE
    )
    service.load()
    app = create_app(service, metrics, start=False)
    server = uvicorn.Server(
        uvicorn.Config(app, http=NoDelayH11Protocol, lifespan="off", log_level="warning")
    )
    # Protocol 0, as uvicorn binds the socket it shares with its workers (--workers 2 and more):
    # asyncio leaves Nagle on for such a listener's connections.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        port = listener.getsockname()[1]
        body = bank_file([bank_row("1.11.2026")])
        answers = timed_posts_in_two_writes(
            port, "/v1/categorise?account_id=acc1", body, "text/csv", count=20
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
    assert {status for status, _ in answers} == {200}
    # Linux delays an acknowledgement by at least 40 ms: with Nagle on either side, every
    # request on the connection waits that long; the work itself takes a few ms.
    assert statistics.median(seconds for _, seconds in answers) < 0.030
