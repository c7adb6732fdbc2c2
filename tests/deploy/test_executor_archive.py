"""The packed executor environment, unpacked elsewhere, imports what the executors run.

`make package` packs a venv without pyspark (the cluster provides it) whose interpreter links
point at the nodes' `/usr/bin/python3.11`. Here that archive is built, unpacked in a folder far
from the repository as YARN does (`--archives ...#environment`), and its own interpreter imports
the job's entry script and the modules whose functions the executors unpickle (the reader's and
the scorer's pandas UDFs), with only pyspark and py4j added on the path, as on a cluster node.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from txcat.deploy.submit import ENV_ARCHIVE

REPO = Path(__file__).resolve().parents[2]
#: The environment that builds the package (`make package` uses the Airflow one: venv-pack).
BUILDER = Path(os.environ.get("TXCAT_TEST_AIRFLOW_VENV", REPO / ".venv-airflow"))
NODE_PYTHON = Path("/usr/bin/python3.11")

#: What the driver (cluster mode) and the executors import, and a use of each native library.
EXECUTOR_CHECK = """
import runpy, sys
runpy.run_path(sys.argv[1], run_name="txcat_job_import_check")  # the entry script, not main()
import numpy, pandas, pyarrow, xgboost
import txcat.read, txcat.score, txcat.clean, txcat.features, txcat.features.enrich
import pyspark, pyspark.sql.pandas.functions
booster = xgboost.train({"objective": "multi:softprob", "num_class": 3},
                        xgboost.DMatrix(numpy.eye(3), label=[0, 1, 2]), num_boost_round=1)
assert booster.predict(xgboost.DMatrix(numpy.eye(3))).shape == (3, 3)
assert pyarrow.Table.from_pandas(pandas.DataFrame({"a": [1]})).num_rows == 1
print(sys.executable, "%d.%d" % sys.version_info[:2], txcat.__file__, pyspark.__file__, sep="\\n")
"""


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory) -> tuple[Path, Path]:
    """(the built dist/ folder, a container folder holding the unpacked `environment`)."""
    if not (BUILDER / "bin" / "venv-pack").exists():
        pytest.fail(f"{BUILDER} has no venv-pack: run `make airflow-venv` first")
    if not NODE_PYTHON.exists():
        pytest.skip(f"{NODE_PYTHON} (the nodes' interpreter) is not on this machine")
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(BUILDER / "bin" / "python"), "-m", "txcat.deploy.package", "--repo", str(REPO),
         "--out", str(dist), "--python", str(NODE_PYTHON), "--python-prefix", "/usr"],
        check=True, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    node = tmp_path_factory.mktemp("yarn-container")
    with tarfile.open(dist / ENV_ARCHIVE) as archive:
        archive.extractall(node / "environment", filter="tar")
    return dist, node


def _cluster_pyspark(tmp: Path) -> Path:
    """A folder holding only pyspark and py4j, standing in for the cluster's Spark python path."""
    import py4j
    import pyspark

    folder = tmp / "cluster-python"
    folder.mkdir(exist_ok=True)
    for module in (pyspark, py4j):
        link = folder / module.__name__
        if not link.exists():
            link.symlink_to(Path(module.__file__).parent)
    return folder


@pytest.mark.slow
@pytest.mark.e2e
def test_the_unpacked_environment_imports_what_the_executors_run(unpacked, tmp_path):
    dist, node = unpacked
    python = node / "environment" / "bin" / "python"
    assert python.resolve() == NODE_PYTHON.resolve()
    assert not list((node / "environment").glob("lib/python3.11/site-packages/pyspark"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(_cluster_pyspark(tmp_path))
    result = subprocess.run(
        [str(python), "-c", EXECUTOR_CHECK, str(dist / "jobs" / "score_daily.py")],
        cwd=node, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    executable, version, txcat_file, pyspark_file = result.stdout.split()
    assert executable == str(python)
    assert version == "3.11"
    # txcat from the archive, never from the repository; pyspark from the "cluster".
    assert txcat_file.startswith(str(node / "environment" / "lib"))
    assert pyspark_file.startswith(str(tmp_path / "cluster-python"))
