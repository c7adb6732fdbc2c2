"""One local SparkSession for the whole test session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from pyspark.sql import SparkSession

from txcat.config import load_config

DAEMON_MODULE = "spark.python.daemon.module"

#: The longest modules (`pytest --durations`), started first: with `make test`'s two workers
#: (`--dist loadfile`, one module per worker) none of them is left to run alone at the end.
LONGEST_FIRST = (
    "tests/test_e2e.py",
    "tests/test_pipeline.py",
    "tests/monitor/test_monitor_run.py",
    "tests/storage/test_s3_job.py",
    "tests/lifecycle/test_retrain.py",
    "tests/lifecycle/test_workflow.py",
    "tests/features/test_memory.py",
    "tests/storage/test_registry_s3.py",
    "tests/deploy/test_executor_archive.py",
)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("txcat-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
        # The workers fork from the job's daemon, as in production (conf/base.yaml).
        .config(DAEMON_MODULE, load_config("local").spark[DAEMON_MODULE])
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.nodeid.split("::")[0], len(rank)), order[id(item)]))
