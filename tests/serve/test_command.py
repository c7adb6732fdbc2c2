"""`txcat serve`: the exit codes before serving, and a real server on the loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import bank_file, bank_row
from tests.serve.helpers import timed_posts_in_two_writes, waited_for_delayed_acks
from txcat import cli, exits
from txcat.generate.reference import reference_overrides

SRC = Path(__file__).parents[2] / "src"


def test_a_refused_model_exits_bad_model_before_serving(tmp_path):
    assert cli.main(["serve", "--model", str(tmp_path / "missing")]) == exits.BAD_MODEL


def test_a_wrong_port_exits_bad_input(serve_world):
    overrides = [a for o in reference_overrides(serve_world["ref"]) for a in ("--set", o)]
    code = cli.main(["serve", "--model", str(serve_world["model"]), "--port", "0", *overrides])
    assert code == exits.BAD_INPUT


def test_missing_reference_data_exits_bad_input(serve_world, tmp_path):
    code = cli.main(
        [
            "serve",
            "--model",
            str(serve_world["model"]),
            "--set",
            f"reference.bureau={tmp_path / 'none.jsonl'}",
        ]
    )
    assert code == exits.BAD_INPUT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.slow  # starts a uvicorn server with two workers
def test_the_command_serves_over_http_with_two_workers(serve_world):
    port = _free_port()
    overrides = [a for o in reference_overrides(serve_world["ref"]) for a in ("--set", o)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "txcat.cli",
            "serve",
            "--model",
            str(serve_world["model"]),
            "--port",
            str(port),
            "--workers",
            "2",
            *overrides,
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Each worker loads the model for itself: ready once 20 checks in a row (on new
        # connections, which either worker may accept) say so.
        deadline = time.monotonic() + 120
        in_a_row = 0
        while time.monotonic() < deadline and in_a_row < 20:
            try:
                in_a_row = in_a_row + 1 if _get(f"{base}/readyz")[0] == 200 else 0
            except OSError:
                in_a_row = 0
            assert server.poll() is None, "txcat serve stopped"
            time.sleep(0.05 if in_a_row else 0.5)
        assert _get(f"{base}/healthz") == (200, b'{"status":"ok"}')
        request = urllib.request.Request(
            f"{base}/v1/categorise?source_file=acc1.csv",
            data=bank_file([bank_row("1.11.2026"), bank_row("40.11.2026")]),
            headers={"content-type": "text/csv"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert len(answer["predictions"]) == 1 and answer["rejected"][0]["reason"] == "bad_date"
        # No fixed wait per request (Nagle + delayed acknowledgements, docs/serving.md), even
        # for a client that leaves Nagle on and writes headers and body apart.
        answers = timed_posts_in_two_writes(
            port,
            "/v1/categorise?account_id=acc1",
            bank_file([bank_row("1.11.2026")]),
            "text/csv",
            20,
        )
        assert {s for s, _ in answers} == {200}
        assert not waited_for_delayed_acks(answers)
        status, metrics = _get(f"{base}/metrics")
        assert status == 200 and b"txcat_serve_ready 1" in metrics
    finally:
        server.terminate()
        server.wait(timeout=30)
