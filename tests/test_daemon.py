"""The Python worker daemon: workers fork with the scoring code already imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from txcat.config import load_config


def test_the_configuration_selects_the_daemon() -> None:
    assert load_config("local").spark["spark.python.daemon.module"] == "txcat.daemon"
    assert load_config("emr").spark["spark.python.daemon.module"] == "txcat.daemon"


def test_preload_imports_what_the_udfs_use() -> None:
    code = (
        "import sys\n"
        "from txcat import daemon\n"
        "daemon.preload()\n"
        "print(all(m in sys.modules for m in daemon.PRELOADED))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_a_forked_worker_predicts_with_the_preloaded_modules() -> None:
    # What the daemon does: import, fork, then use XGBoost and Arrow in the child only.
    code = (
        "import os, sys\n"
        "from txcat import daemon\n"
        "daemon.preload()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    import numpy as np, pyarrow as pa, xgboost as xgb\n"
        "    x = np.random.default_rng(0).random((200, 3), dtype=np.float32)\n"
        "    m = xgb.train({'nthread': 1}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 3)\n"
        "    p = m.inplace_predict(x)\n"
        "    t = pa.table({'p': p})\n"
        "    os._exit(0 if t.num_rows == 200 else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_spark_workers_fork_from_it(spark: SparkSession) -> None:
    def parent_command(ids: pd.Series) -> pd.Series:
        command = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        return pd.Series([command] * len(ids))

    udf = F.pandas_udf(parent_command, "string")
    commands = {r[0] for r in spark.range(4).select(udf("id")).distinct().collect()}
    assert commands and all("-m txcat.daemon" in c for c in commands), commands
