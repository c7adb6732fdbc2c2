"""Retro-scoring: past days read as their daily run read them, scored apart from the champion."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from tests.retro.conftest import DAYS, NO_RUN_DAY
from txcat import exits
from txcat import schema as S
from txcat.retro import scoring

ROOT = Path(__file__).resolve().parents[2]
COMPARED = [S.ROW_ID, S.PREDICTED_CATEGORY, S.PREDICTED_PROBABILITY, S.TOP3]


def _job():
    spec = importlib.util.spec_from_file_location("retro_score", ROOT / "jobs" / "retro_score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*.parquet")}


@pytest.fixture(scope="module")
def retro(spark, landed):
    """The job run in process over the four days (sharing the tests' SparkSession), twice."""
    job = _job()
    out, target = landed["out"], landed["root"] / "retro"
    champion_files = _files(out / "predictions")
    argv = [
        "--model",
        str(landed["champion"]),
        "--from",
        DAYS[0].isoformat(),
        "--to",
        NO_RUN_DAY.isoformat(),
        "--runs",
        str(out),
        "--output",
        str(target),
        *[arg for override in landed["overrides"] for arg in ("--set", override)],
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(job, "build_session", lambda *_a, **_k: spark)
        mp.setattr(job, "release_session", lambda _s: None)
        first_code = job.main(argv)
        day_folder = target / "retro" / f"model_version={landed['champion_version']}"
        first_files = _files(day_folder)
        # The rerun of the first day alone: its partition replaced, the second day's kept.
        rerun = [*argv]
        rerun[rerun.index("--to") + 1] = DAYS[0].isoformat()
        second_code = job.main(rerun)
    version = landed["champion_version"]
    summary_path = target / "retro_runs" / f"model_version={version}" / "ranges"
    return {
        "codes": (first_code, second_code),
        "predictions": day_folder,
        "first_files": first_files,
        "second_files": _files(day_folder),
        "champion_files_before": champion_files,
        "summary": json.loads(
            (summary_path / f"{DAYS[0].isoformat()}_{NO_RUN_DAY.isoformat()}.json").read_text()
        ),
    }


def _day(spark, folder: Path, day: dt.date):
    return spark.read.parquet(str(folder)).where(F.col(S.RUN_DATE) == day).select(*COMPARED)


@pytest.mark.slow
@pytest.mark.parametrize("day", DAYS[:2], ids=["folder", "manifest"])
def test_retro_scores_equal_the_daily_job_row_for_row(spark, landed, retro, day):
    daily = _day(spark, landed["out"] / "predictions", day)
    again = _day(spark, retro["predictions"], day)
    assert daily.count() == landed["daily"][day].summary["rows_scored"] > 0
    assert again.count() == daily.count()
    assert again.exceptAll(daily).count() == 0 and daily.exceptAll(again).count() == 0


@pytest.mark.slow
def test_each_day_reconciles_like_the_daily_job(landed, retro):
    days = {d["run_date"]: d for d in retro["summary"]["days"]}
    for day in DAYS[:2]:
        outcome = days[day.isoformat()]
        daily = landed["daily"][day].summary
        assert outcome["status"] == "succeeded" and outcome["exit_code"] == exits.OK
        assert (outcome["rows_read"], outcome["rows_scored"], outcome["rows_quarantined"]) == (
            daily["rows_read"],
            daily["rows_scored"],
            daily["rows_quarantined"],
        )
        day_summary = json.loads(Path(outcome["summary"]).read_text())
        assert day_summary["status"] == "succeeded"
        assert day_summary["sinks"]["parquet"]["path"] == str(retro["predictions"])
    assert days[DAYS[0].isoformat()]["origin"] == scoring.FROM_SUMMARY_INPUT
    assert days[DAYS[1].isoformat()]["origin"] == scoring.FROM_STORED_MANIFEST


@pytest.mark.slow
def test_days_without_input_are_reported_and_the_exit_code_says_so(retro):
    assert retro["codes"] == (exits.BAD_INPUT, exits.OK)
    summary = retro["summary"]
    assert summary["days_input_missing"] == [DAYS[2].isoformat(), NO_RUN_DAY.isoformat()]
    assert summary["days_succeeded"] == 2 and summary["status"] == "failed"
    days = {d["run_date"]: d for d in summary["days"]}
    assert "cannot read input" in days[DAYS[2].isoformat()]["problems"][0]
    assert "no run summary" in days[NO_RUN_DAY.isoformat()]["problems"][0]


@pytest.mark.slow
def test_a_rerun_replaces_the_day_and_never_touches_the_champion(spark, landed, retro):
    def of_day(files, day):
        return {f for f in files if f.startswith(f"{S.RUN_DATE}={day.isoformat()}/")}

    first, second = retro["first_files"], retro["second_files"]
    assert of_day(second, DAYS[0]) and of_day(first, DAYS[0]).isdisjoint(of_day(second, DAYS[0]))
    assert {f: second[f] for f in of_day(second, DAYS[1])} == {
        f: first[f] for f in of_day(first, DAYS[1])
    }
    assert _files(landed["out"] / "predictions") == retro["champion_files_before"]
    assert spark.read.parquet(str(retro["predictions"])).count() == sum(
        landed["daily"][d].summary["rows_scored"] for d in DAYS[:2]
    )


def test_the_template_wins_then_the_stored_manifest_then_the_summary():
    def summary_of(record):
        return lambda _day: record

    day = dt.date(2026, 11, 25)
    stored = "out/runs/run_date=2026-11-25/manifest.json"
    every = {"manifest_uri": "s3://m/2026-11-25.json", "input": "s3://landing/x/"}
    assert scoring.day_input(
        day, "out", "s3://landing/{run_date}/", summary_of(every), lambda _u: True
    ) == scoring.DayInput(day, input="s3://landing/2026-11-25/", origin=scoring.FROM_TEMPLATE)
    assert scoring.day_input(day, "out", "", summary_of(every), lambda u: u == stored) == (
        scoring.DayInput(day, manifest=stored, origin=scoring.FROM_STORED_MANIFEST)
    )
    assert scoring.day_input(day, "out", "", summary_of(every), lambda _u: False) == (
        scoring.DayInput(day, manifest=every["manifest_uri"], origin=scoring.FROM_SUMMARY_MANIFEST)
    )
    folder_only = {"manifest_uri": "", "input": "s3://landing/x/"}
    assert scoring.day_input(day, "out", "", summary_of(folder_only), lambda _u: False) == (
        scoring.DayInput(day, input="s3://landing/x/", origin=scoring.FROM_SUMMARY_INPUT)
    )
    nothing = scoring.day_input(day, "out", "", summary_of(None), lambda _u: False)
    assert nothing.problem.startswith("no run summary in out/runs/run_date=2026-11-25")


def test_the_range_exit_code_puts_a_failed_check_before_a_missing_input():
    def day(status, code):
        return {"status": status, "exit_code": code}

    ok = day(scoring.SUCCEEDED, exits.OK)
    missing = day(scoring.INPUT_MISSING, exits.BAD_INPUT)
    reconcile = day(scoring.FAILED, exits.RECONCILIATION)
    assert scoring.range_exit_code([ok, ok]) == exits.OK
    assert scoring.range_exit_code([ok, missing]) == exits.BAD_INPUT
    assert scoring.range_exit_code([missing, reconcile]) == exits.RECONCILIATION
