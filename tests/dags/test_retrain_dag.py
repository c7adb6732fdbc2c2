"""The `retrain` and `promote_model` DAGs, and a backfill of `daily_predictions` with a chosen
model version, run with `dag.test()` and the real commands of the job environment."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import BASE_SETTINGS, JOB_VENV, REPO

DAYS = ["2026-11-23", "2026-11-24"]
RETRAIN_FILE = REPO / "dags" / "retrain.py"
PROMOTE_FILE = REPO / "dags" / "promote_model.py"


def _job_env() -> dict[str, str]:
    python = str(JOB_VENV / "bin" / "python")
    return {**os.environ, "PYSPARK_PYTHON": python, "SPARK_LOCAL_IP": "127.0.0.1"}


def _job_python(code: str) -> list[str]:
    result = subprocess.run(
        [str(JOB_VENV / "bin" / "python"), "-c", code],
        check=True, capture_output=True, text=True, env=_job_env(), cwd=REPO,
    )  # fmt: skip
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two landed days (marker last), reference data, and two small models made without Spark."""
    root = tmp_path_factory.mktemp("retrain")
    lines = _job_python(
        "import json, pathlib\n"
        "from txcat.generate import generate\n"
        "from txcat.generate.reference import reference_overrides\n"
        "from tests.serve.conftest import save_model\n"
        f"root = pathlib.Path({str(root)!r})\n"
        f"for i, day in enumerate({DAYS!r}):\n"
        "    generate(root / 'landing' / day, 3, '2026-10-01', day, seed=60 + i,\n"
        "             reference_out=root / 'reference' if i == 0 else None, rows_per_account=6)\n"
        "    (root / 'landing' / day / '_SUCCESS').write_text('')\n"
        "print(save_model(root / 'champion', seed=1))\n"
        "print(save_model(root / 'challenger', seed=2))\n"
        "print(json.dumps(reference_overrides(root / 'reference')))\n"
    )
    return {
        "root": root,
        "champion_version": lines[0],
        "challenger_version": lines[1],
        "overrides": json.loads(lines[2]),
    }


def _load(monkeypatch, path: Path, dag_id: str, settings: dict[str, str]):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    for key in list(os.environ):
        if key.startswith("TXCAT_"):
            monkeypatch.delenv(key)
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    bag = DagBag(dag_folder=str(path), bundle_path=path.parent)
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags[dag_id]


def _retrain_settings(world, url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    root = world["root"]
    return {
        "TXCAT_FEEDBACK_INBOX": str(root / "inbox"),
        "TXCAT_FEEDBACK_STORE": str(root / "store"),
        "TXCAT_OUTPUT_URI": str(root / "output"),
        "TXCAT_RETRO_URI": str(root / "retro"),
        "TXCAT_REPORTS_URI": str(root / "reports"),
        "TXCAT_MODEL_URI": str(root / "champion"),
        "TXCAT_NOTIFY_TARGET": url,
        "TXCAT_JOB_PYTHON": str(JOB_VENV / "bin" / "python"),
        "TXCAT_SPARK_SUBMIT": str(JOB_VENV / "bin" / "spark-submit"),
        "TXCAT_RETRO_SCRIPT": str(REPO / "jobs" / "retro_score.py"),
        "TXCAT_JOB_CONF_DIR": str(REPO / "conf"),
        "TXCAT_JOB_SET": json.dumps(world["overrides"]),
        "TXCAT_RETRO_DAYS": str(len(DAYS)),
        "TXCAT_RETRIES": "0",
    }


def _states(dag_run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _summary(world, day: str) -> dict:  # type: ignore[no-untyped-def]
    path = world["root"] / "output" / "runs" / f"run_date={day}" / "summary.json"
    return json.loads(path.read_text())


def _backfill(load_dag, world, url: str) -> list:  # type: ignore[no-untyped-def]
    """`daily_predictions` over DAYS with the champion given as the runs' conf, as
    `airflow backfill create ... --dag-run-conf '{"model_uri": ...}'` starts them: one run per
    day. The settings' model does not exist: a run that ignored the conf would fail (exit 3)."""
    root = world["root"]
    _, dag = load_dag(
        {
            **BASE_SETTINGS,
            "TXCAT_RUNNER": "local",
            "TXCAT_LANDING_URI": str(root / "landing"),
            "TXCAT_OUTPUT_URI": str(root / "output"),
            "TXCAT_MODEL_URI": str(root / "no-model-here"),
            "TXCAT_NOTIFY_TARGET": url,
            "TXCAT_JOB_SET": json.dumps(world["overrides"]),
            "TXCAT_SPARK_MASTER": "local[2]",
            "TXCAT_SINKS": "parquet",
            "TXCAT_RETRIES": "0",
        }
    )
    conf = {"model_uri": str(root / "champion")}
    return [
        dag.test(logical_date=dt.datetime.fromisoformat(f"{day}T06:00:00+00:00"), run_conf=conf)
        for day in DAYS
    ]


def test_a_backfill_rescores_the_range_with_the_chosen_version(load_dag, webhook, world):
    url, messages = webhook
    runs = _backfill(load_dag, world, url)
    assert [str(r.state) for r in runs] == ["success", "success"], [_states(r) for r in runs]
    for day in DAYS:
        summary = _summary(world, day)
        assert summary["status"] == "succeeded" and summary["run_date"] == day
        assert summary["model_uri"] == str(world["root"] / "champion")
        assert summary["model_version"] == world["champion_version"]
    assert [m["run_date"] for m in messages if m["status"] == "succeeded"] == DAYS


def test_the_dags_parse_with_their_chain_and_params(monkeypatch, fresh_metadata, world):
    settings = _retrain_settings(world, "https://hooks.example.test/txcat")
    dag = _load(monkeypatch, RETRAIN_FILE, "retrain", settings)
    assert dag.timetable.expression == "0 8 * * 1" and dag.catchup is False
    upstream = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    assert upstream == {
        "import_feedback": set(),
        "retrain": {"import_feedback"},
        "retro_score": {"retrain"},
        "compare": {"retro_score"},
        "notify": {"compare", "import_feedback"},
    }
    assert {n: p.value for n, p in dag.params.items()} == {
        "run_date": None,
        "since": None,
        "challenger_uri": None,
    }
    promote = _load(monkeypatch, PROMOTE_FILE, "promote_model", settings)
    assert type(promote.timetable).__name__ == "NullTimetable"  # manual runs only
    assert list(promote.task_dict) == ["promote"]
    assert "version" in promote.params


def test_a_manual_run_judges_a_given_version_and_sends_the_verdict(
    load_dag, monkeypatch, webhook, world
):
    url, messages = webhook
    root = world["root"]
    if not all(
        (root / "output" / "runs" / f"run_date={d}" / "summary.json").exists() for d in DAYS
    ):
        _backfill(load_dag, world, url)
    # Four corrections of the champion's rows arrive in the inbox.
    inbox = root / "inbox"
    inbox.mkdir(exist_ok=True)
    _job_python(
        "import pandas as pd\n"
        f"rows = pd.read_parquet({str(root / 'output' / 'predictions')!r}).sort_values('row_id')\n"
        "rows = rows.head(4)\n"
        "pd.DataFrame({'row_id': rows['row_id'], 'category': rows['predicted_category'],\n"
        "              'corrected_at': '2026-11-24T09:00:00Z'})"
        f".to_csv({str(inbox / 'corrections.csv')!r}, index=False)\n"
    )
    dag = _load(monkeypatch, RETRAIN_FILE, "retrain", _retrain_settings(world, url))
    dag_run = dag.test(
        logical_date=dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC),
        run_conf={"challenger_uri": str(root / "challenger")},
    )
    assert _states(dag_run) == {
        "import_feedback": "success",
        "retrain": "skipped",
        "retro_score": "success",
        "compare": "success",
        "notify": "success",
    }
    verdicts = [m for m in messages if m.get("event") == "retrain.verdict"]
    assert len(verdicts) == 1
    verdict = verdicts[0]
    assert verdict["challenger"] == world["challenger_version"]
    assert verdict["champion"] == world["champion_version"]
    assert verdict["feedback_rows"] == 4 and " over 4 corrected rows " in verdict["verdict"]
    assert verdict["report"] == str(root / "reports" / "2026-11-24" / "compare.html")
    assert html.escape(verdict["verdict"]) in Path(verdict["report"]).read_text()
    retro = root / "retro" / "retro" / f"model_version={world['challenger_version']}"
    assert sorted(p.name for p in retro.iterdir()) == [f"run_date={d}" for d in DAYS]
