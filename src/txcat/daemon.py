"""Spark's Python worker daemon, with the scoring code imported before it forks workers.

PySpark starts one daemon per executor (`python -m pyspark.daemon`) and forks a worker from it
for each Python task slot; every worker then imported pandas, pyarrow, XGBoost (which imports
scikit-learn) and txcat on its first task: seconds of CPU per worker, paid again whenever a
worker is replaced. Imported here once, in the daemon, the forked workers inherit them.

Selected by `spark.python.daemon.module: txcat.daemon` (`conf/base.yaml`); the executors' Python
must have txcat installed (the packed environment of `make package` does). Nothing runs before
the fork but imports. They leave only idle threads of the BLAS and Arrow allocator pools, which
those libraries reset at fork, as PySpark's own daemon already forks after importing numpy;
XGBoost's OpenMP threads start on first use, in the worker (`tests/test_daemon.py` forks and
predicts).
"""

from __future__ import annotations

import importlib

from pyspark import daemon

#: What the job's Python stages import on their first batch (the Arrow reader, scoring, label
#: memory, per-file aggregates, the feature histogram).
PRELOADED = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.compute",
    "xgboost",
    "txcat.read_arrow",
    "txcat.score",
    "txcat.features",
    "txcat.monitor.profile",
)


def preload(modules: tuple[str, ...] = PRELOADED) -> None:
    for module in modules:
        importlib.import_module(module)


if __name__ == "__main__":
    preload()
    daemon.manager()
