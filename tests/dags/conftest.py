"""Fixtures of the DAG tests, which run in the Airflow environment (`make dag-test`).

Airflow gets a throw-away home (SQLite metadata database, no examples) created here before
Airflow is first imported. Servers the tests talk to run on loopback only: a moto S3/SNS/SQS
server and a small webhook receiver, both started and stopped by the fixtures.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "daily_predictions.py"
JOB_VENV = Path(os.environ.get("TXCAT_TEST_JOB_VENV", REPO / ".venv"))

# The job's environment has no Airflow: there these tests are not collected.
HAVE_AIRFLOW = importlib.util.find_spec("airflow") is not None
if not HAVE_AIRFLOW:
    collect_ignore_glob = ["test_*.py"]

# Airflow reads its home and settings when first imported: set them before any import of it.
_HOME = tempfile.mkdtemp(prefix="txcat-airflow-home-")
if HAVE_AIRFLOW:
    os.environ["AIRFLOW_HOME"] = _HOME
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAG_FILE.parent)
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
    os.environ["AIRFLOW_CONN_SPARK_DEFAULT"] = json.dumps(
        {"conn_type": "spark", "host": "local[*]"}
    )
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

#: Settings valid for every runner; tests add or replace what they need. No TXCAT_MODEL_URI:
#: the DAG scores with the champion `txcat promote` publishes (`dag_config.DEFAULT_MODEL_URI`,
#: conf/emr.yaml's `lifecycle.publish_uri` + `/champion/`).
BASE_SETTINGS = {
    "TXCAT_LANDING_URI": "s3://txcat-landing/daily",
    "TXCAT_OUTPUT_URI": "s3://txcat-output/daily",
    "TXCAT_NOTIFY_TARGET": "arn:aws:sns:us-east-1:123456789012:txcat-daily",
    "TXCAT_EMR_PACKAGE_PREFIX": "s3://txcat-deploy/txcat/0.1.0",
    "TXCAT_EMR_CLUSTER_ID": "j-2AXXXXXXGAPLF",
    "TXCAT_EMR_JOB_FLOW_OVERRIDES": json.dumps(
        {
            "Name": "txcat-daily",
            "ReleaseLabel": "emr-7.5.0",
            "Applications": [{"Name": "Spark"}],
            "Instances": {"KeepJobFlowAliveWhenNoSteps": True},
        }
    ),
    "TXCAT_JOB_SCRIPT": str(REPO / "jobs" / "score_daily.py"),
    "TXCAT_JOB_PYTHON": str(JOB_VENV / "bin" / "python"),
    "TXCAT_SPARK_SUBMIT": str(JOB_VENV / "bin" / "spark-submit"),
}


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A migrated SQLite metadata database in the throw-away Airflow home."""
    airflow_cli = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow_cli), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    yield Path(_HOME)
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="module")
def fresh_metadata(airflow_db):  # type: ignore[no-untyped-def]
    """An empty metadata database for each test module.

    Each module parses the DAG with other settings, so its asset `txcat_daily_predictions` has
    another URI; in one database Airflow would keep the first (name, URI) pair active and refuse
    events for the second.
    """
    from airflow.utils.db import resetdb

    resetdb()
    return airflow_db


@pytest.fixture
def load_dag(monkeypatch, fresh_metadata):  # type: ignore[no-untyped-def]
    """Parses the DAG file with the given TXCAT_* settings; returns the DagBag and the DAG."""

    def _load(settings: Mapping[str, str], expect_errors: bool = False):  # type: ignore[no-untyped-def]
        from airflow.dag_processing.dagbag import DagBag

        for key in list(os.environ):
            if key.startswith("TXCAT_"):
                monkeypatch.delenv(key)
        for key, value in settings.items():
            monkeypatch.setenv(key, value)
        bag = DagBag(dag_folder=str(DAG_FILE), bundle_path=DAG_FILE.parent)
        if expect_errors:
            return bag, None
        assert bag.import_errors == {}, bag.import_errors
        return bag, bag.dags["daily_predictions"]

    return _load


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3, SNS, SQS, EMR APIs) on a free loopback port."""
    port = _free_port()
    server = Path(sys.executable).with_name("moto_server")
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's log, closed at teardown
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                raise RuntimeError(f"moto server did not start: {log.read()[-2000:]!r}") from None
            time.sleep(0.2)
    try:
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def aws_conn(monkeypatch, moto_endpoint):  # type: ignore[no-untyped-def]
    """Points Airflow's aws_default connection (and plain boto3) at the moto server."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    return moto_endpoint


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.messages.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A loopback HTTP server collecting the JSON bodies POSTed to it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/txcat", server.messages  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
