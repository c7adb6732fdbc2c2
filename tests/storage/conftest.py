"""Fixtures of the storage tests: S3 (moto server) and PostgreSQL, started and stopped here.

Spark can only load the s3a classes when its JVM starts, so the jars and the s3a settings are
passed as spark-submit options at import time, before the session fixture starts Spark. The
moto port is chosen now and the server started on it by the `s3` fixture.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage import servers

MOTO_PORT = servers.free_port()
_JARS_PRESENT = all(j.exists() for j in servers.JARS)

# Spark's Python workers inherit the environment of the JVM, which starts before any fixture
# runs: the credentials for the local server are set now. The endpoint is only in the s3a
# settings below (txcat's boto3 clients take it from there), so that no other AWS client of the
# test session is redirected.
_AWS = {
    "AWS_ACCESS_KEY_ID": servers.S3_KEY,
    "AWS_SECRET_ACCESS_KEY": servers.S3_SECRET,
    "AWS_DEFAULT_REGION": servers.S3_REGION,
}
for _key, _value in _AWS.items():
    os.environ.setdefault(_key, _value)

_ENV_CREDENTIALS = "com.amazonaws.auth.EnvironmentVariableCredentialsProvider"

if _JARS_PRESENT and "PYSPARK_SUBMIT_ARGS" not in os.environ:
    _s3a = {
        "spark.hadoop.fs.s3a.endpoint": f"http://127.0.0.1:{MOTO_PORT}",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": _ENV_CREDENTIALS,
        "spark.hadoop.fs.s3a.change.detection.mode": "none",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }
    os.environ["PYSPARK_SUBMIT_ARGS"] = " ".join(
        ["--jars", ",".join(str(j) for j in servers.JARS)]
        + [f"--conf {k}={v}" for k, v in _s3a.items()]
        + ["pyspark-shell"]
    )


@pytest.fixture(scope="session")
def s3(tmp_path_factory) -> Iterator[servers.MotoServer]:
    """moto's S3 server on the loopback port the AWS_* variables and s3a settings point at."""
    if servers.moto_server_command() is None:
        pytest.skip("moto_server is not installed: run `make storage-deps`")
    if not _JARS_PRESENT:
        pytest.skip(
            f"hadoop-aws / AWS SDK jars missing in {servers.JAR_DIR}: run `make storage-deps`"
        )
    server = servers.MotoServer(MOTO_PORT)
    server.start(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[servers.PostgresCluster]:
    """A PostgreSQL cluster in a temporary folder, stopped after the session."""
    bindir = servers.postgres_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make storage-deps`"
        )
    # Not under pytest's own temp folder: that one is private to root, and the server runs as
    # an unprivileged user when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="txcat-pg-"))
    cluster = servers.PostgresCluster(root, servers.free_port(), bindir)
    try:
        cluster.start()
        yield cluster
        cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
