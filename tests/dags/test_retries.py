"""Which scoring failures Airflow retries: the job's verdicts fail at once, infrastructure retries.

The scoring operators of the DAG are run on their own, with the job (spark-submit, the EMR
step) replaced by its outcome: an exit code, a failed step, and the run summary the job left in
the output folder. `test_dag_run.py` runs the real job into such a verdict.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.providers.amazon.aws.operators.emr import EmrAddStepsOperator
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from conftest import BASE_SETTINGS, REPO

DS = "2026-11-25"
RUN_ID = "scheduled__2026-11-25T06:00:00+00:00"


def _dag_module(monkeypatch, settings):  # type: ignore[no-untyped-def]
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(
        "daily_predictions_retries_under_test", REPO / "dags" / "daily_predictions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_summary(output: Path, **fields: object) -> None:
    folder = output / "runs" / f"run_date={DS}"
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "run_date": DS, "run_id": RUN_ID, "status": "failed", "exit_code": 4,
        "problems": ["row quarantine share 0.3000 above 0.05"], "rows_read": 10,
        "rows_scored": 7, "rows_quarantined": 3, "files_read": 2, "files_quarantined": 0,
        **fields,
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))


def _context(**params: object) -> dict:
    pushed: dict[str, object] = {}

    def xcom_push(key: str, value: object) -> None:
        pushed[key] = value

    ti = SimpleNamespace(xcom_push=xcom_push)
    defaults = {"run_date": None, "model_uri": "m", "sinks": "parquet"}
    return {"ds": DS, "run_id": RUN_ID, "params": {**defaults, **params}, "ti": ti,
            "pushed": pushed}  # fmt: skip


@pytest.fixture
def local_module(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    settings = {**BASE_SETTINGS, "TXCAT_RUNNER": "local", "TXCAT_OUTPUT_URI": str(tmp_path)}
    return _dag_module(monkeypatch, settings)


def _spark_submit_exits(monkeypatch, code: int) -> None:
    def execute(self, context):  # type: ignore[no-untyped-def]
        raise AirflowException(f"Cannot execute: spark-submit ... Error code is: {code}.")

    monkeypatch.setattr(SparkSubmitOperator, "execute", execute)


def test_a_quarantine_verdict_fails_the_local_task_at_once(local_module, monkeypatch, tmp_path):
    _write_summary(tmp_path)
    _spark_submit_exits(monkeypatch, 4)
    score = local_module.dag.get_task("score")
    with pytest.raises(AirflowFailException) as caught:
        score.execute(_context())
    message = str(caught.value)
    assert "exit code 4: quarantine share above its threshold" in message
    assert "rows_read=10, rows_scored=7, rows_quarantined=3" in message
    assert "problem: row quarantine share 0.3000 above 0.05" in message


@pytest.mark.parametrize("code", [2, 3, 5, 6, 7])
def test_every_verdict_code_fails_at_once_without_a_summary(local_module, monkeypatch, code):
    _spark_submit_exits(monkeypatch, code)
    with pytest.raises(AirflowFailException, match=f"exit code {code}"):
        local_module.dag.get_task("score").execute(_context())


@pytest.mark.parametrize("code", [1, 10])
def test_infrastructure_and_lock_failures_are_retried(local_module, monkeypatch, code):
    _spark_submit_exits(monkeypatch, code)
    with pytest.raises(AirflowException) as caught:
        local_module.dag.get_task("score").execute(_context())
    assert not isinstance(caught.value, AirflowFailException)
    assert "retrying" in str(caught.value)


def test_a_summary_of_another_run_is_not_taken_for_this_ones(local_module, monkeypatch, tmp_path):
    # Yesterday's scheduled run failed with 4; today's manual rerun crashed before writing.
    _write_summary(tmp_path, run_id="scheduled__earlier")
    _spark_submit_exits(monkeypatch, 1)
    with pytest.raises(AirflowException) as caught:
        local_module.dag.get_task("score").execute(_context())
    assert not isinstance(caught.value, AirflowFailException)


class _Emr:
    """Stands in for the EMR client: one step, in the given state."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.cancelled: list[list[str]] = []

    def get_waiter(self, name: str) -> str:
        return name

    def describe_step(self, ClusterId: str, StepId: str) -> dict:  # noqa: N803 - boto3 names
        status = {"State": self.state, "FailureDetails": {"Reason": "Unknown Error."}}
        return {"Step": {"Status": status}}

    def cancel_steps(self, ClusterId: str, StepIds: list[str], **kwargs: str) -> dict:  # noqa: N803
        self.cancelled.append(StepIds)
        return {}


@pytest.fixture
def emr_step(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """The DAG's EMR scoring task with the step added and its wait ended by a failure."""

    def _make(state: str):  # type: ignore[no-untyped-def]
        settings = {**BASE_SETTINGS, "TXCAT_RUNNER": "emr", "TXCAT_OUTPUT_URI": str(tmp_path)}
        module = _dag_module(monkeypatch, settings)
        emr = _Emr(state)
        monkeypatch.setattr(EmrAddStepsOperator, "execute", lambda *_: ["s-1"])
        monkeypatch.setattr(module, "EmrHook", lambda **_: SimpleNamespace(conn=emr))

        def wait(**kwargs):  # type: ignore[no-untyped-def]
            raise AirflowException(kwargs["failure_message"])

        monkeypatch.setattr(module, "wait", wait)
        return module.dag.get_task("score.run_step"), emr

    return _make


def test_a_failed_step_with_a_data_verdict_is_not_retried(emr_step, tmp_path):
    task, _ = emr_step("FAILED")
    _write_summary(tmp_path, exit_code=6, problems=["expectation row_id_unique failed"])
    context = _context()
    with pytest.raises(AirflowFailException, match="exit code 6: a critical data expectation"):
        task.execute(context)
    assert context["pushed"] == {"step_ids": ["s-1"]}


def test_a_step_refused_before_writing_is_not_retried(emr_step, tmp_path):
    """A refused model (exit 3) writes no summary, only its refusal record beside it."""
    task, _ = emr_step("FAILED")
    _write_summary(tmp_path, run_id="scheduled__an_earlier_run")  # the day's older summary
    record = {"run_date": DS, "run_id": RUN_ID, "status": "failed", "exit_code": 3,
              "problems": ["model refused: checksum mismatch"]}  # fmt: skip
    (tmp_path / "runs" / f"run_date={DS}" / "_refused.json").write_text(json.dumps(record))
    with pytest.raises(AirflowFailException) as caught:
        task.execute(_context())
    assert "exit code 3: model refused or unreachable" in str(caught.value)
    assert "problem: model refused: checksum mismatch" in str(caught.value)


def test_a_failed_step_without_a_summary_is_retried_as_a_new_step(emr_step):
    task, _ = emr_step("FAILED")
    with pytest.raises(AirflowException) as caught:
        task.execute(_context())
    assert not isinstance(caught.value, AirflowFailException)
    assert "no exit code (EMR step FAILED: {'Reason': 'Unknown Error.'})" in str(caught.value)


def test_a_step_past_the_deadline_is_cancelled_and_not_retried(emr_step):
    task, emr = emr_step("RUNNING")
    with pytest.raises(AirflowFailException, match="still RUNNING at the scoring deadline"):
        task.execute(_context())
    assert emr.cancelled == [["s-1"]]
