"""The scoring job's entry point in process: refusals that need no (or only a borrowed) Spark."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from txcat import exits
from txcat.inputs import rundate

ROOT = Path(__file__).resolve().parents[1]
RUN_DATE = "2026-11-25"
HEAVY = ("pandas", "pyarrow", "xgboost", "sklearn", "txcat.pipeline")


@pytest.fixture(scope="module")
def job():
    spec = importlib.util.spec_from_file_location("score_daily", ROOT / "jobs" / "score_daily.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_spark(job, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a refusal of the arguments must not start Spark")

    monkeypatch.setattr(job, "build_session", refuse)


@pytest.fixture
def borrowed_spark(job, spark, monkeypatch):
    """The tests' session stands in for the job's; the job must not stop it."""
    monkeypatch.setattr(job, "build_session", lambda *_args, **_kwargs: spark)
    monkeypatch.setattr(job, "release_session", lambda _spark: None)


def _argv(tmp_path: Path, run_date: str = RUN_DATE, output: Path | None = None) -> list[str]:
    return [
        "--run-date",
        run_date,
        "--input",
        str(tmp_path / "no-input-here"),
        "--output",
        str(output or tmp_path / "out"),
        "--model",
        str(tmp_path / "model"),
        "--env",
        "local",
    ]


@pytest.mark.parametrize("run_date", ["0001-01-01", "1999-12-31", "2026-11-27"])
def test_run_date_out_of_range_exits_2_before_spark(
    job, no_spark, tmp_path, caplog, monkeypatch, run_date
):
    # A fixed clock: a date computed when the tests are collected turns valid if the run
    # crosses midnight UTC (today + 2 becomes tomorrow).
    monkeypatch.setattr(rundate, "utc_today", lambda: dt.date(2026, 11, 25))
    with caplog.at_level(logging.ERROR):
        assert job.main(_argv(tmp_path, run_date)) == exits.BAD_INPUT
    assert f"run date {run_date} outside 2000-01-01" in caplog.text


def test_refusing_the_arguments_loads_none_of_the_pipelines_libraries(tmp_path):
    """`main` loads pandas, PyArrow, XGBoost and scikit-learn while the JVM starts the session;
    the configuration and the run-date check before it must not need them."""
    argv = _argv(tmp_path, "1999-12-31")
    entry_point = str(ROOT / "jobs" / "score_daily.py")
    script = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("score_daily", {entry_point!r})
job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job)
code = job.main({argv!r})
print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == f"{exits.BAD_INPUT} []", done.stderr


def test_output_that_is_a_file_exits_2_before_reading(job, borrowed_spark, tmp_path, caplog):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with caplog.at_level(logging.ERROR):
        assert job.main(_argv(tmp_path, output=a_file)) == exits.BAD_INPUT
    assert f"output {a_file} is not usable: {a_file} is a file, not a folder" in caplog.text


def test_model_json_holding_null_exits_3(job, borrowed_spark, tmp_path, caplog):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text("null")
    (tmp_path / "model" / "model.ubj").write_bytes(b"{}")
    with caplog.at_level(logging.ERROR):
        assert job.main(_argv(tmp_path)) == exits.BAD_MODEL
    assert "model refused: model metadata must be a JSON object, got NoneType" in caplog.text


def test_a_refused_model_is_recorded_beside_the_summary(job, borrowed_spark, tmp_path):
    """An EMR step says only FAILED: the record tells the scheduler it was exit 3, no retry."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text("null")
    (tmp_path / "model" / "model.ubj").write_bytes(b"{}")
    argv = [*_argv(tmp_path), "--run-id", "scheduled__2026-11-25"]
    assert job.main(argv) == exits.BAD_MODEL
    day = tmp_path / "out" / "runs" / f"run_date={RUN_DATE}"
    record = json.loads((day / "_refused.json").read_text())
    assert record == {
        "run_date": RUN_DATE,
        "run_id": "scheduled__2026-11-25",
        "status": "failed",
        "exit_code": exits.BAD_MODEL,
        "problems": ["model refused: model metadata must be a JSON object, got NoneType"],
    }
    assert not (day / "summary.json").exists()  # the day's summary stays as it was


def test_an_unusable_output_records_nothing_and_still_exits_2(job, borrowed_spark, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert job.main([*_argv(tmp_path, output=a_file), "--run-id", "r1"]) == exits.BAD_INPUT
    assert a_file.read_text() == "x"


@pytest.mark.slow  # imports MLflow
def test_a_registry_uri_with_a_missing_tracking_store_exits_3_and_creates_nothing(
    job, borrowed_spark, tmp_path, caplog
):
    store = tmp_path / "mlflow" / "mlflow.db"
    argv = _argv(tmp_path)
    argv[argv.index("--model") + 1] = "models:/txcat-categoriser@champion"
    argv += ["--set", f"lifecycle.tracking_uri=sqlite:///{store}"]
    with caplog.at_level(logging.ERROR):
        assert job.main(argv) == exits.BAD_MODEL
    assert (
        f"model refused: tracking store sqlite:///{store} (lifecycle.tracking_uri) does not "
        f"exist: {store} is missing"
    ) in caplog.text
    assert not (tmp_path / "mlflow").exists()
