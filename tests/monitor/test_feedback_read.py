"""Feedback for the monitor: a folder of labels, or the store of `txcat feedback import`."""

from __future__ import annotations

import datetime as dt

import pytest

from txcat.monitor.run import MonitorInputError, read_feedback


def test_the_latest_correction_of_a_row_wins_in_the_import_store(spark, tmp_path) -> None:
    t = dt.datetime(2026, 11, 26, 9)
    rows = [
        ("r1", "servico", t),
        ("r1", "RESTAURANTE", t + dt.timedelta(hours=1)),
        ("r2", "VAREJO", t),
    ]
    frame = spark.createDataFrame(rows, "row_id string, category string, corrected_at timestamp")
    frame.write.parquet(str(tmp_path / "store" / "corrections" / "received_on=2026-11-26"))
    got = {
        r["row_id"]: r["category"] for r in read_feedback(spark, str(tmp_path / "store")).collect()
    }
    assert got == {"r1": "RESTAURANTE", "r2": "VAREJO"}


def test_a_csv_folder_counts_each_row_once_and_needs_its_columns(spark, tmp_path) -> None:
    (tmp_path / "fb").mkdir()
    (tmp_path / "fb" / "a.csv").write_text("row_id,category\nr1,VAREJO\nr1,VAREJO\nr2,HOTEIS\n")
    assert read_feedback(spark, str(tmp_path / "fb")).count() == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.csv").write_text("id,label\nr1,VAREJO\n")
    with pytest.raises(MonitorInputError, match="lacks the columns"):
        read_feedback(spark, str(tmp_path / "bad"))
