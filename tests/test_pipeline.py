"""The daily run end to end, in process: generated data, a trained model, every bad input."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
import os
import shutil
import socket
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from pyspark.sql import functions as F

from tests.helpers import bank_file, bank_row, local_config, write_file
from txcat import exits, pipeline, reasons, sources, write
from txcat import schema as S
from txcat.engine import predictor
from txcat.features import memory_of
from txcat.features.enrich import ReferenceDataError
from txcat.generate import BAD_KINDS, generate
from txcat.inputs import InputError
from txcat.lifecycle import train
from txcat.model import ModelArtifactError, load_artifact, sha256_hex
from txcat.runlock import RunLockedError
from txcat.score import predict_frame

#: Whole-pipeline runs with a trained model: left out of `make test-fast`.
pytestmark = pytest.mark.slow

RUN_DATE = dt.date(2026, 11, 25)

#: What the job must make of each injected defect: a file reason, a row reason, or None (scored).
EXPECTED = {
    "empty_file": ("file", reasons.EMPTY_FILE),
    "header_only": ("file", reasons.HEADER_ONLY),
    "missing_column": ("file", reasons.MISSING_COLUMNS),
    "extra_column": ("file", None),
    "reordered_columns": ("file", None),
    "wrong_separator": ("file", reasons.WRONG_SEPARATOR),
    "utf8_bom": ("file", None),
    "utf8": ("file", None),
    "lf_line_ends": ("file", None),
    "no_final_newline": ("file", None),
    "binary_garbage": ("file", reasons.BINARY_CONTENT),
    "gzip": ("file", None),
    "non_csv_file": ("file", reasons.UNSUPPORTED_FILE),
    "amount_missing": ("row", None),
    "amount_abc": ("row", reasons.BAD_AMOUNT),
    "amount_dot_decimal": ("row", reasons.BAD_AMOUNT),
    "negative_amount": ("row", None),
    "date_invalid": ("row", reasons.BAD_DATE),
    "date_other_format": ("row", reasons.BAD_DATE),
    "future_date": ("row", reasons.FUTURE_DATE),
    "fewer_fields": ("row", reasons.FIELD_COUNT),
    "more_fields": ("row", reasons.FIELD_COUNT),
    "quoted_semicolon": ("row", None),
    "duplicate_row": ("row", None),  # scored, flagged is_repeated_line
}


def _config(ref: Path, *extra: str):
    return local_config(
        ref,
        "training.num_boost_round=15",
        "lifecycle.search_budget=1",
        "lifecycle.cv_folds=2",
        "lifecycle.refit_all_rows=false",  # the model is fitted once: these tests score with it
        *extra,
    )


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    ref = root / "reference"
    generate(
        root / "training",
        120,
        "2026-06-01",
        "2026-10-31",
        seed=11,
        reference_out=ref,
        rows_per_account=40,
    )
    report = generate(
        root / "landing",
        2 * len(BAD_KINDS),
        "2026-09-01",
        RUN_DATE,
        seed=12,
        labels=False,
        bad_share=0.5,
        rows_per_account=30,
    )
    cfg = _config(ref, "quality.max_row_quarantine_share=1", "quality.max_file_quarantine_share=1")
    train.run(spark, cfg, str(root / "training"), str(root / "model"), RUN_DATE)
    return {"root": root, "ref": ref, "cfg": cfg, "report": report}


@pytest.fixture(scope="module")
def first_run(spark, world):
    params = pipeline.RunParams(
        RUN_DATE,
        str(world["root"] / "landing"),
        str(world["root"] / "out"),
        str(world["root"] / "model"),
        "run-1",
    )
    return pipeline.run(spark, world["cfg"], params)


def _predictions(spark, out: Path, day: dt.date = RUN_DATE):
    return spark.read.parquet(str(out / "predictions")).where(F.col(S.RUN_DATE) == day)


def _quarantine(spark, out: Path, day: dt.date = RUN_DATE):
    return spark.read.parquet(str(out / "quarantine")).where(F.col(S.RUN_DATE) == day)


def test_summary_reconciles(first_run, world):
    s = first_run.summary
    assert first_run.exit_code == exits.OK, s["problems"]
    assert s["rows_read"] == s["rows_scored"] + s["rows_quarantined"]
    assert s["rows_scored"] > 0 and s["rows_quarantined"] > 0
    assert s["files_read"] == world["report"].files
    assert sum(s["quarantined_by_reason"].values()) == s["rows_quarantined"]
    assert sum(s["files_quarantined_by_reason"].values()) == s["files_quarantined"]
    assert s["warnings"] == []
    on_disk = json.loads(Path(first_run.summary_path).read_text())
    assert on_disk == s
    for key in (
        "files_read",
        "rows_read",
        "rows_scored",
        "rows_quarantined",
        "quarantined_by_reason",
        "model_version",
        "run_id",
        "duration_s",
    ):
        assert key in on_disk
    # Where the run's time went, stage by stage.
    assert set(on_disk["stage_seconds"]) == {
        "load_model",
        "read_clean_count",
        "write_quarantine",
        "features_score_write",
        "feature_histogram",
        "validate_input",
        "count_written",
        "validate_output",
    }
    assert all(seconds >= 0 for seconds in on_disk["stage_seconds"].values())
    assert sum(on_disk["stage_seconds"].values()) >= s["duration_s"] - 1.0
    # The feature histogram was counted while scoring: every scored row, once.
    histogram = json.loads(
        (Path(first_run.summary_path).parent / "feature_histogram.json").read_text()
    )
    assert histogram["rows"] == s["rows_scored"] and histogram["file_share"] == 1.0


def test_every_injected_defect_gets_its_verdict(spark, first_run, world):
    out = world["root"] / "out"
    quarantine = {
        (r[S.SOURCE_FILE].rsplit("/", 1)[-1], r[S.LINE_NUMBER]): r[S.REASON]
        for r in _quarantine(spark, out).collect()
    }
    scored = {
        (r[S.SOURCE_FILE].rsplit("/", 1)[-1], r[S.LINE_NUMBER])
        for r in _predictions(spark, out).select(S.SOURCE_FILE, S.LINE_NUMBER).collect()
    }
    seen_kinds = set()
    for bad in world["report"].bad_file_details:
        level, reason = EXPECTED[bad.kind]
        seen_kinds.add(bad.kind)
        if level == "file" and reason is not None:
            assert quarantine.get((bad.file, None)) == reason, bad
        elif level == "file":
            assert any(f == bad.file for f, _ in scored), bad
            assert (bad.file, None) not in quarantine, bad
        elif reason is not None:
            assert quarantine.get((bad.file, bad.line)) == reason, bad
        else:
            assert (bad.file, bad.line) in scored, bad
    assert seen_kinds == set(BAD_KINDS)


def test_repeated_lines_are_scored_flagged_and_counted(spark, first_run, world):
    predictions = _predictions(spark, world["root"] / "out")
    flagged = {
        (r[S.SOURCE_FILE].rsplit("/", 1)[-1], r[S.LINE_NUMBER])
        for r in predictions.where(F.col(S.IS_REPEATED_LINE)).collect()
    }
    injected = {
        (b.file, b.line) for b in world["report"].bad_file_details if b.kind == "duplicate_row"
    }
    assert injected and injected <= flagged
    # The first copy (the line before the injected one) is scored and not flagged.
    scored = {
        (r[S.SOURCE_FILE].rsplit("/", 1)[-1], r[S.LINE_NUMBER])
        for r in predictions.select(S.SOURCE_FILE, S.LINE_NUMBER).collect()
    }
    first_copies = {(file, line - 1) for file, line in injected}
    assert first_copies <= scored and not first_copies & flagged
    s = first_run.summary
    assert s["rows_repeated"] == len(flagged)
    assert s["checks"]["repeated_lines_written"] == len(flagged)
    assert reasons.DUPLICATE_ROW not in s["quarantined_by_reason"]


def test_repeated_lines_are_quarantined_when_configured(spark, first_run, world):
    root = world["root"]
    cfg = _config(
        world["ref"],
        "quality.max_row_quarantine_share=1",
        "quality.max_file_quarantine_share=1",
        "quality.quarantine_duplicate_rows=true",
    )
    out = root / "out-quarantine-repeats"
    result = pipeline.run(
        spark,
        cfg,
        pipeline.RunParams(RUN_DATE, str(root / "landing"), str(out), str(root / "model"), "q"),
    )
    s, default = result.summary, first_run.summary
    assert result.exit_code == exits.OK, s["problems"]
    assert s["rows_read"] == default["rows_read"] == s["rows_scored"] + s["rows_quarantined"]
    assert s["quarantined_by_reason"][reasons.DUPLICATE_ROW] == default["rows_repeated"] > 0
    assert s["rows_scored"] == default["rows_scored"] - default["rows_repeated"]
    assert s["rows_repeated"] == 0
    assert _predictions(spark, out).where(F.col(S.IS_REPEATED_LINE)).count() == 0
    repeats = {
        (r[S.SOURCE_FILE].rsplit("/", 1)[-1], r[S.LINE_NUMBER])
        for r in _quarantine(spark, out).where(F.col(S.REASON) == reasons.DUPLICATE_ROW).collect()
    }
    injected = {
        (b.file, b.line) for b in world["report"].bad_file_details if b.kind == "duplicate_row"
    }
    assert injected <= repeats


def test_predictions_follow_the_contract(spark, first_run, world):
    predictions = _predictions(spark, world["root"] / "out")
    actual = {f.name: f.dataType for f in predictions.schema.fields}
    expected = {f.name: f.dataType for f in S.PREDICTION_SCHEMA.fields}
    assert actual.keys() == expected.keys()
    for name, dtype in expected.items():
        assert actual[name].simpleString() == dtype.simpleString(), name
    bad = predictions.where(
        ~F.col(S.PREDICTED_CATEGORY).isin(*S.CATEGORIES)
        | ~F.col(S.PREDICTED_PROBABILITY).between(0, 1)
        | (F.col(S.TOP3)[0]["category"] != F.col(S.PREDICTED_CATEGORY))
        | (F.col(S.TOP3)[0]["probability"] < F.col(S.TOP3)[1]["probability"])
        | (F.size(S.TOP3) != 3)
        | (F.col(S.MODEL_VERSION) != first_run.summary["model_version"])
        | (F.col(S.MODEL_SHA256) != first_run.summary["model_sha256"])
        | F.col(S.MODEL_NAME).isNotNull()  # an unregistered folder: no registry entry
        | F.col(S.MODEL_REGISTRY_VERSION).isNotNull()
        | F.col(S.MODEL_ALIAS).isNotNull()
        | (F.col(S.RUN_ID) != "run-1")
    )
    assert bad.count() == 0
    assert first_run.summary["model_name"] is None
    assert predictions.where(F.col(S.LABEL).isNotNull()).count() == 0  # unlabelled day


def test_the_scoring_udf_s_memory_lookup_gives_the_lookup_stage_s_answers(spark, first_run, world):
    """The job looks the model's label memory up and computes the per-file aggregates inside
    its scoring pass; the features the lookup and aggregates stages build (what evaluation,
    training's champion check and the benchmark read) give the same predictions, to the last
    bit."""
    assert world["cfg"].features.aggregates == "partition"  # the scorer's own aggregates
    artifact = load_artifact(str(world["root"] / "model"))
    names = list(artifact.feature_names)
    prepared = sources.prepare(
        spark,
        world["cfg"],
        sources.Source.folder(str(world["root"] / "landing")),
        RUN_DATE,
        memory=memory_of(artifact),
    )
    features = prepared.features.select(S.ROW_ID, *names).toPandas()
    scorer = predictor(artifact.booster(), artifact.engine, 1, artifact.memory_backoff)
    expected = predict_frame(scorer, features[names], artifact.categories)
    expected[S.ROW_ID] = features[S.ROW_ID]
    written = _predictions(spark, world["root"] / "out")
    got = written.select(S.ROW_ID, S.PREDICTED_CATEGORY, S.PREDICTED_PROBABILITY).toPandas()
    both = got.merge(expected, on=S.ROW_ID, suffixes=("", "_stage"), validate="one_to_one")
    assert len(both) == len(got) == first_run.summary["rows_scored"] > 100
    category, probability = S.PREDICTED_CATEGORY, S.PREDICTED_PROBABILITY
    assert (both[category] == both[f"{category}_stage"]).all()
    assert (both[probability] == both[f"{probability}_stage"]).all()


def test_labels_are_kept_beside_predictions(spark, world):
    out = world["root"] / "labelled-out"
    params = pipeline.RunParams(
        RUN_DATE,
        str(world["root"] / "training"),
        str(out),
        str(world["root"] / "model"),
        "labelled",
    )
    result = pipeline.run(spark, world["cfg"], params)
    predictions = _predictions(spark, out)
    assert predictions.where(F.col(S.LABEL).isNull()).count() == 0
    accuracy = predictions.select(
        F.avg((F.col(S.LABEL) == F.col(S.PREDICTED_CATEGORY)).cast("double"))
    ).first()[0]
    assert accuracy > 0.4  # clearly above the ~36% majority class on learnable data
    assert result.summary["rows_scored"] == predictions.count()


def test_rerun_replaces_the_day_and_keeps_other_days(spark, first_run, world):
    root = world["root"]
    out = root / "out"
    before = sorted(r[0] for r in _predictions(spark, out).select(S.ROW_ID).collect())
    other_day = RUN_DATE + dt.timedelta(days=1)
    pipeline.run(
        spark,
        world["cfg"],
        pipeline.RunParams(
            other_day, str(root / "landing"), str(out), str(root / "model"), "other-day"
        ),
    )
    again = pipeline.run(
        spark,
        world["cfg"],
        pipeline.RunParams(RUN_DATE, str(root / "landing"), str(out), str(root / "model"), "run-2"),
    )
    after = _predictions(spark, out)
    assert sorted(r[0] for r in after.select(S.ROW_ID).collect()) == before
    assert {r[0] for r in after.select(S.RUN_ID).distinct().collect()} == {"run-2"}
    assert _predictions(spark, out, other_day).count() > 0
    assert _quarantine(spark, out).where(F.col(S.RUN_ID) != "run-2").count() == 0
    assert again.summary["rows_scored"] == first_run.summary["rows_scored"]


def test_quarantine_share_above_threshold_fails_after_writing(spark, world):
    out = world["root"] / "strict-out"
    cfg = _config(world["ref"], "quality.max_file_quarantine_share=0.01")
    result = pipeline.run(
        spark,
        cfg,
        pipeline.RunParams(
            RUN_DATE, str(world["root"] / "landing"), str(out), str(world["root"] / "model")
        ),
    )
    assert result.exit_code == exits.QUARANTINE_THRESHOLD
    assert result.summary["status"] == "failed"
    assert "file quarantine share" in result.summary["problems"][0]
    assert _predictions(spark, out).count() == result.summary["rows_scored"] > 0
    assert Path(write.summary_path(str(out), RUN_DATE)).is_file()


def test_a_critical_input_expectation_fails_the_run_after_writing(spark, world):
    out = world["root"] / "strict-input-out"
    # The day holds quarantined rows: a parse-success floor of 1 cannot be met.
    cfg = replace(world["cfg"], validation=replace(world["cfg"].validation, min_parse_success=1.0))
    result = pipeline.run(spark, cfg, _params(world, out, "strict-input"))
    assert result.exit_code == exits.VALIDATION
    assert result.summary["status"] == "failed"
    validation = result.summary["validation"]
    assert not validation["success"] and validation["critical_failures"] >= 1
    assert _predictions(spark, out).count() == result.summary["rows_scored"] > 0


def test_an_input_suite_that_breaks_fails_the_run_with_its_error(spark, world, monkeypatch):
    from txcat.validate import stage

    out = world["root"] / "broken-suite-out"

    def broken(*args, **kwargs):
        raise RuntimeError("suite broke")

    # The input suite runs beside the writes: its error still ends the run, marked failed.
    monkeypatch.setattr(stage, "validate_input", broken)
    with pytest.raises(RuntimeError, match="suite broke"):
        pipeline.run(spark, world["cfg"], _params(world, out, "broken-suite"))
    summary = json.loads(Path(write.summary_path(str(out), RUN_DATE)).read_text())
    assert (summary["status"], summary["run_id"]) == ("failed", "broken-suite")
    assert summary["problems"] == ["unexpected failure: RuntimeError: suite broke"]


def test_tampered_model_is_refused(spark, world, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(world["root"] / "model", model)
    meta = json.loads((model / "model.json").read_text())
    meta["feature_names"] = meta["feature_names"][::-1]
    (model / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelArtifactError, match=r"booster feature names differ from model\.json"):
        pipeline.run(
            spark,
            world["cfg"],
            pipeline.RunParams(
                RUN_DATE, str(world["root"] / "landing"), str(tmp_path / "o"), str(model)
            ),
        )


def test_missing_input_is_a_clear_error(spark, world, tmp_path):
    with pytest.raises(InputError, match="cannot read input"):
        pipeline.run(
            spark,
            world["cfg"],
            pipeline.RunParams(
                RUN_DATE,
                str(tmp_path / "nothing-here"),
                str(tmp_path / "o"),
                str(world["root"] / "model"),
            ),
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no input files"):
        pipeline.run(
            spark,
            world["cfg"],
            pipeline.RunParams(
                RUN_DATE, str(tmp_path / "empty"), str(tmp_path / "o"), str(world["root"] / "model")
            ),
        )


def test_clean_rerun_removes_the_day_s_old_quarantine(spark, world):
    root = world["root"]
    out = root / "clean-out"
    clean_day = root / "clean-landing"
    generate(clean_day, 8, "2026-11-01", RUN_DATE, seed=21, labels=False, rows_per_account=10)
    cfg = _config(world["ref"], "quality.quarantine_duplicate_rows=false")
    dirty = pipeline.run(
        spark,
        world["cfg"],
        pipeline.RunParams(RUN_DATE, str(root / "landing"), str(out), str(root / "model"), "dirty"),
    )
    assert dirty.summary["rows_quarantined"] > 0
    clean = pipeline.run(
        spark,
        cfg,
        pipeline.RunParams(RUN_DATE, str(clean_day), str(out), str(root / "model"), "clean"),
    )
    assert clean.exit_code == exits.OK, clean.summary["problems"]
    assert clean.summary["rows_quarantined"] == 0 and clean.summary["files_quarantined"] == 0
    assert not (out / "quarantine" / f"run_date={RUN_DATE}").exists()
    assert _predictions(spark, out).count() == clean.summary["rows_scored"] > 0


def test_absurd_amount_is_quarantined_and_leaves_its_account_s_scores_alone(spark, world):
    """One 400-digit amount must not reach the per-account aggregates of the other rows."""
    root = world["root"] / "absurd"
    generate(root / "plain", 3, "2026-11-01", RUN_DATE, seed=31, labels=False, rows_per_account=12)
    shutil.copytree(root / "plain", root / "with-absurd")
    victim = min((root / "with-absurd").glob("*.csv"))
    lines = victim.read_bytes().split(b"\r\n")
    fields = lines[1].split(b";")
    fields[9] = b"1" + b"0" * 400
    victim.write_bytes(b"\r\n".join([*lines[:-1], b";".join(fields), b""]))
    absurd_line = len(lines)  # header is line 1; the new line follows the last data line
    # A bureau whose snapshots all postdate the run date: the run goes on, with a warning.
    (root / "ref").mkdir()
    for name in ("holidays.csv", "countries.csv"):
        shutil.copy(world["ref"] / name, root / "ref" / name)
    (root / "ref" / "bureau.jsonl").write_text(
        '{"account_id": "x", "score_band": "A", "n_cards": 1, "delinquent": false, '
        '"snapshot_date": "2026-12-31"}\n'
    )
    cfg = _config(root / "ref", "quality.quarantine_duplicate_rows=false")

    def scores(landing: str) -> tuple[dict, pipeline.RunResult]:
        result = pipeline.run(
            spark,
            cfg,
            pipeline.RunParams(
                RUN_DATE,
                str(root / landing),
                str(root / f"out-{landing}"),
                str(world["root"] / "model"),
                landing,
            ),
        )
        rows = _predictions(spark, root / f"out-{landing}").collect()
        return {
            (r[S.SOURCE_FILE].rsplit("/", 1)[-1], r[S.LINE_NUMBER]): (
                r[S.PREDICTED_CATEGORY],
                round(r[S.PREDICTED_PROBABILITY], 9),
            )
            for r in rows
        }, result

    plain, _ = scores("plain")
    absurd, result = scores("with-absurd")
    assert absurd == plain
    quarantined = _quarantine(spark, root / "out-with-absurd").collect()
    assert [(r[S.LINE_NUMBER], r[S.REASON], r[S.DETAIL]) for r in quarantined] == [
        (absurd_line, reasons.BAD_AMOUNT, "amount 1.0E400 outside ±10000000")
    ]
    assert result.summary["quarantined_by_reason"] == {reasons.BAD_AMOUNT: 1}
    assert result.summary["warnings"] == [
        "reference table bureau (reference.bureau) has no snapshot on or before 2026-11-25: "
        f"{root / 'ref' / 'bureau.jsonl'}"
    ]


def _refused_before_reading(spark, cfg, tmp_path, exception, match, **changes):
    """Runs with an input that does not exist: the refusal must come before any reading."""
    values = {
        "run_date": RUN_DATE,
        "input": str(tmp_path / "no-input-here"),
        "output": str(tmp_path / "out"),
        "model": str(cfg["model"]),
    }
    values.update(changes)
    with pytest.raises(exception, match=match):
        pipeline.run(spark, cfg["cfg"], pipeline.RunParams(**values))


def test_model_whose_booster_differs_from_model_json_is_refused_before_reading(
    spark, world, tmp_path
):
    model = tmp_path / "model"
    shutil.copytree(world["root"] / "model", model)
    meta = json.loads((model / "model.json").read_text())
    x = np.random.default_rng(0).normal(size=(60, len(meta["feature_names"])))
    data = xgb.DMatrix(x, label=np.arange(60) % 3, feature_names=meta["feature_names"])
    three = xgb.train({"objective": "multi:softprob", "num_class": 3}, data, 2)
    (model / "model.ubj").write_bytes(bytes(three.save_raw(raw_format="ubj")))
    meta["sha256"] = sha256_hex((model / "model.ubj").read_bytes())
    (model / "model.json").write_text(json.dumps(meta))
    given = {"cfg": world["cfg"], "model": model}
    _refused_before_reading(
        spark, given, tmp_path, ModelArtifactError, "booster has 3 classes, model.json lists 22"
    )
    (model / "model.json").write_text("null")
    _refused_before_reading(spark, given, tmp_path, ModelArtifactError, "must be a JSON object")


def test_run_date_and_output_are_checked_before_reading(spark, world, tmp_path):
    given = {"cfg": world["cfg"], "model": world["root"] / "model"}
    for day in (
        dt.date(1, 1, 1),
        dt.date(1999, 12, 31),
        dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3),
    ):
        _refused_before_reading(
            spark,
            given,
            tmp_path,
            InputError,
            f"run date {day.isoformat()} outside",
            run_date=day,
        )
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for output, problem in (
        (a_file, "is a file, not a folder"),
        (a_file / "below", "ParentNotDirectoryException"),
        ("/proc/txcat-output", "cannot create folder"),  # not writable, even for root
    ):
        _refused_before_reading(
            spark,
            given,
            tmp_path,
            InputError,
            f"output {output} is not usable: .*{problem}",
            output=str(output),
        )


def test_missing_reference_table_names_its_setting(spark, world, tmp_path):
    cfg = _config(world["ref"], f"reference.countries={tmp_path / 'no-countries.csv'}")
    _refused_before_reading(
        spark,
        {"cfg": cfg, "model": world["root"] / "model"},
        tmp_path,
        ReferenceDataError,
        r"reference table countries \(setting reference.countries\) not found",
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _params(world, out: Path, run_id: str) -> pipeline.RunParams:
    root = world["root"]
    return pipeline.RunParams(
        RUN_DATE, str(root / "landing"), str(out), str(root / "model"), run_id
    )


def test_a_second_run_of_the_day_waits_its_turn_and_touches_nothing(spark, world, monkeypatch):
    """A retry started while the morning run is still going: refused, the morning run intact."""
    out = world["root"] / "concurrent-out"
    inside, second_done = threading.Event(), threading.Event()
    load_model = pipeline.load_model

    def slow_load_model(*args, **kwargs):  # the morning run, paused once it has started
        if threading.current_thread().name == "morning":
            inside.set()
            second_done.wait(timeout=300)
        return load_model(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_model", slow_load_model)
    outcome = {}

    def morning() -> None:
        try:
            outcome["morning"] = pipeline.run(spark, world["cfg"], _params(world, out, "morning"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            outcome["morning"] = exc

    first = threading.Thread(target=morning, name="morning")
    first.start()
    try:
        assert inside.wait(timeout=120)
        before = _snapshot(out)
        try:
            outcome["retry"] = pipeline.run(spark, world["cfg"], _params(world, out, "retry"))
        except Exception as exc:  # noqa: BLE001
            outcome["retry"] = exc
        assert _snapshot(out) == before  # no summary, no partition, no deletion
    finally:
        second_done.set()
        first.join(timeout=600)
    retry = outcome["retry"]
    assert isinstance(retry, RunLockedError), retry
    assert retry.holder.run_id == "morning" and "run morning on " in str(retry)
    result = outcome["morning"]
    assert isinstance(result, pipeline.RunResult), result
    assert result.exit_code == exits.OK, result.summary["problems"]
    assert json.loads(Path(result.summary_path).read_text())["run_id"] == "morning"
    assert {r[0] for r in _predictions(spark, out).select(S.RUN_ID).distinct().collect()} == {
        "morning"
    }
    quarantine = _quarantine(spark, out)
    assert quarantine.where(F.col(S.RUN_ID) != "morning").count() == 0
    assert (
        quarantine.count()
        == result.summary["rows_quarantined"] + result.summary["files_quarantined"]
        > 0
    )
    assert not (out / "runs" / f"run_date={RUN_DATE}" / "_lock").exists()


def test_a_run_locked_out_by_a_live_holder_leaves_the_finished_day_alone(spark, world, first_run):
    out = world["root"] / "out"
    lock = out / "runs" / f"run_date={RUN_DATE}" / "_lock"
    holder = {"run_id": "holder", "host": socket.gethostname(), "pid": os.getpid()}
    lock.write_text(json.dumps({**holder, "started_at": dt.datetime.now(dt.UTC).isoformat()}))
    before = _snapshot(out)
    try:
        with pytest.raises(RunLockedError, match=f"run holder on .* \\(pid {os.getpid()}\\)"):
            pipeline.run(spark, world["cfg"], _params(world, out, "retry"))
        assert _snapshot(out) == before
    finally:
        lock.unlink()


def test_a_run_that_dies_while_writing_never_leaves_the_previous_success(spark, world, monkeypatch):
    out = world["root"] / "crash-out"
    good = pipeline.run(spark, world["cfg"], _params(world, out, "good"))
    assert good.summary["status"] == "succeeded"
    write_partitioned = write.write_partitioned

    def failing_predictions(df, path, schema, *, error, **kwargs):
        if path == write.predictions_path(str(out)):
            raise error
        return write_partitioned(df, path, schema, **kwargs)

    # Killed (nothing can run after the quarantine write): the summary says the day is in
    # progress, never the previous run's success next to this run's quarantine.
    monkeypatch.setattr(
        write, "write_partitioned", functools.partial(failing_predictions, error=SystemExit(9))
    )
    with pytest.raises(SystemExit):
        pipeline.run(spark, world["cfg"], _params(world, out, "killed"))
    summary = json.loads(Path(good.summary_path).read_text())
    assert (summary["status"], summary["run_id"]) == ("running", "killed")
    assert summary["model_version"] == good.summary["model_version"]
    assert summary["started_at"] and summary["input"] == str(world["root"] / "landing")
    assert _quarantine(spark, out).select(S.RUN_ID).distinct().collect()[0][0] == "killed"

    # An ordinary exception: the run marks the day failed, with the error, then re-raises.
    monkeypatch.setattr(
        write,
        "write_partitioned",
        functools.partial(failing_predictions, error=OSError("disk full")),
    )
    with pytest.raises(OSError, match="disk full"):
        pipeline.run(spark, world["cfg"], _params(world, out, "crashed"))
    summary = json.loads(Path(good.summary_path).read_text())
    assert (summary["status"], summary["run_id"]) == ("failed", "crashed")
    assert summary["exit_code"] == exits.FAILED
    assert summary["problems"] == ["unexpected failure: OSError: disk full"]
    assert not (out / "runs" / f"run_date={RUN_DATE}" / "_lock").exists()


# --- The file listing: every file considered once, each with a verdict -------------------------


def _lines(n: int, start: int = 1) -> bytes:
    return bank_file([bank_row(amount=f"{i},00") for i in range(start, start + n)])


def _listing_run(spark, world, input_path, out, manifest: str = ""):
    cfg = _config(
        world["ref"],
        "validation.enabled=false",
        "quality.max_row_quarantine_share=1",
        "quality.max_file_quarantine_share=1",
    )
    params = pipeline.RunParams(
        RUN_DATE, str(input_path), str(out), str(world["root"] / "model"), "listing", manifest
    )
    result = pipeline.run(spark, cfg, params)
    written = out / "quarantine" / f"run_date={RUN_DATE}"
    quarantine = [r.asDict() for r in _quarantine(spark, out).collect()] if written.exists() else []
    scored = {
        r[S.SOURCE_FILE]: r["count"]
        for r in _predictions(spark, out).groupBy(S.SOURCE_FILE).count().collect()
    }
    return result, quarantine, scored


def _file_verdicts(quarantine) -> dict[str, tuple[str, str]]:
    return {
        r[S.SOURCE_FILE].rsplit("/", 1)[-1]: (r[S.REASON], r[S.DETAIL])
        for r in quarantine
        if r[S.LEVEL] == S.LEVEL_FILE
    }


def _names(scored) -> dict[str, int]:
    return {path.rsplit("/", 1)[-1]: n for path, n in scored.items()}


def test_folder_links_are_not_followed_and_each_file_is_read_once(spark, world, tmp_path):
    landing = tmp_path / "landing"
    write_file(landing, "a.csv", _lines(3))
    write_file(landing, "b.csv", _lines(3))
    c = write_file(landing, "c.csv", _lines(2))
    write_file(tmp_path / "yesterday", "d.csv", _lines(5))
    (landing / "loop").symlink_to(".")
    (landing / "yesterday").symlink_to(tmp_path / "yesterday")
    (landing / "link_b.csv").symlink_to("b.csv")
    os.link(c, landing / "hard_c.csv")
    result, quarantine, scored = _listing_run(spark, world, landing, tmp_path / "out")
    s = result.summary
    assert result.exit_code == exits.OK, s["problems"]
    assert _names(scored) == {"a.csv": 3, "b.csv": 3, "c.csv": 2}
    assert (s["files_read"], s["files_scored"], s["files_quarantined"]) == (7, 3, 4)
    assert (s["rows_read"], s["rows_scored"], s["rows_quarantined"]) == (8, 8, 0)
    assert _file_verdicts(quarantine) == {
        "loop": (reasons.SYMLINK_FOLDER, "link to folder ., not followed"),
        "yesterday": (
            reasons.SYMLINK_FOLDER,
            f"link to folder {tmp_path / 'yesterday'}, not followed",
        ),
        "link_b.csv": (reasons.DUPLICATE_FILE, f"same file as file:{landing / 'b.csv'}"),
        "hard_c.csv": (reasons.DUPLICATE_FILE, f"same file as file:{landing / 'c.csv'}"),
    }


def test_an_account_listed_twice_is_scored_once(spark, world, tmp_path):
    landing = tmp_path / "landing"
    write_file(landing, "a.csv", _lines(3))
    write_file(landing / "sub", "a.csv", _lines(4))
    write_file(landing, "a.csv.gz", gzip.compress(_lines(5)))
    write_file(landing, "b.csv", _lines(2))
    result, quarantine, scored = _listing_run(spark, world, landing, tmp_path / "out")
    s = result.summary
    assert result.exit_code == exits.OK, s["problems"]
    assert scored == {f"file:{landing / 'a.csv'}": 3, f"file:{landing / 'b.csv'}": 2}
    assert (s["files_read"], s["files_scored"], s["files_quarantined"]) == (4, 2, 2)
    assert s["files_quarantined_by_reason"] == {reasons.DUPLICATE_ACCOUNT: 2}
    kept = f"account a also in file:{landing / 'a.csv'}"
    assert {(r[S.SOURCE_FILE], r[S.REASON], r[S.DETAIL], r[S.ACCOUNT_ID]) for r in quarantine} == {
        (f"file:{landing / 'a.csv.gz'}", reasons.DUPLICATE_ACCOUNT, kept, "a"),
        (f"file:{landing / 'sub' / 'a.csv'}", reasons.DUPLICATE_ACCOUNT, kept, "a"),
    }


ODD_NAMES = ("conta ç#1%20x;y.csv", "a b.csv", "100%.csv", "x%20y.csv", "semi;colon.csv", "#1.csv")


@pytest.mark.parametrize("with_empty_file", [True, False])
def test_file_names_with_spaces_and_escapes_are_listed_once(
    spark, world, tmp_path, with_empty_file
):
    landing = tmp_path / "landing"
    for i, name in enumerate(ODD_NAMES):
        write_file(landing, name, _lines(2, start=10 * i))
    if with_empty_file:
        write_file(landing, "vazio ç.csv", b"")
    result, quarantine, scored = _listing_run(spark, world, landing, tmp_path / "out")
    s = result.summary
    assert result.exit_code == exits.OK, s["problems"]
    assert _names(scored) == dict.fromkeys(ODD_NAMES, 2)
    assert s["files_read"] == len(ODD_NAMES) + with_empty_file
    assert s["files_scored"] == len(ODD_NAMES)
    expected = {"vazio ç.csv": (reasons.EMPTY_FILE, "0 bytes")} if with_empty_file else {}
    assert _file_verdicts(quarantine) == expected
    assert s["files_quarantined_by_reason"] == {r: 1 for r, _ in expected.values()}


def test_a_folder_named_like_a_glob_is_read_as_that_folder(spark, world, tmp_path):
    day = tmp_path / "day[1]"
    write_file(day, "a.csv", _lines(2))
    write_file(tmp_path / "day1", "b.csv", _lines(3))  # what the glob `day[1]` would match
    result, _, scored = _listing_run(spark, world, day, tmp_path / "out")
    assert result.exit_code == exits.OK, result.summary["problems"]
    assert scored == {f"file:{day / 'a.csv'}": 2}


def test_uploads_in_progress_broken_links_and_hidden_names_are_accounted_for(
    spark, world, tmp_path
):
    landing = tmp_path / "landing"
    write_file(landing, "good.csv", _lines(3))
    write_file(landing, "bad.csv", bank_file([bank_row(amount="abc"), bank_row(date="x")]))
    write_file(landing, "late.csv._COPYING_", _lines(4))
    (landing / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    write_file(landing, "_SUCCESS", b"")
    write_file(landing, ".DS_Store", b"\x00")
    result, quarantine, scored = _listing_run(spark, world, landing, tmp_path / "out")
    s = result.summary
    assert result.exit_code == exits.OK, s["problems"]
    assert _names(scored) == {"good.csv": 3}
    assert _file_verdicts(quarantine) == {
        "late.csv._COPYING_": (
            reasons.INCOMPLETE_UPLOAD,
            "upload in progress (name ends with ._COPYING_)",
        ),
        "gone.csv": (
            reasons.BROKEN_SYMLINK,
            f"link to {tmp_path / 'nowhere.csv'}, which does not exist",
        ),
    }
    assert {
        k: s[k]
        for k in (
            "files_read",
            "files_scored",
            "files_fully_quarantined",
            "files_quarantined",
            "files_ignored_hidden",
            "rows_read",
            "rows_quarantined",
        )
    } == {
        "files_read": 4,
        "files_scored": 1,
        "files_fully_quarantined": 1,  # bad.csv: read, every line quarantined
        "files_quarantined": 2,
        "files_ignored_hidden": 2,
        "rows_read": 5,
        "rows_quarantined": 2,
    }


def test_a_manifest_gets_the_same_file_checks(spark, world, tmp_path):
    landing = tmp_path / "landing"
    files = [
        write_file(landing / "day[1]", "a.csv", _lines(3)),
        write_file(landing / "sub", "a.csv", _lines(2)),
        write_file(landing, "b c#1.csv", _lines(2)),
        write_file(landing, "d.csv._COPYING_", _lines(1)),
        write_file(landing, "vazio.csv", b""),
    ]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps({"files": [{"uri": str(f), "size": f.stat().st_size} for f in files]})
    )
    result, quarantine, scored = _listing_run(
        spark, world, landing, tmp_path / "out", manifest=str(manifest)
    )
    s = result.summary
    assert result.exit_code == exits.OK, s["problems"]
    assert _names(scored) == {"a.csv": 3, "b c#1.csv": 2}
    assert f"file:{files[0]}" in scored
    assert (s["files_read"], s["files_scored"], s["files_quarantined"]) == (5, 2, 3)
    assert {(r[S.SOURCE_FILE], r[S.REASON]) for r in quarantine} == {
        (f"file:{files[1]}", reasons.DUPLICATE_ACCOUNT),
        (f"file:{files[3]}", reasons.INCOMPLETE_UPLOAD),
        (f"file:{files[4]}", reasons.EMPTY_FILE),
    }


def test_scoring_explain_adds_the_top_contributions_to_the_predictions(spark, world):
    out = world["root"] / "explained-out"
    cfg = replace(world["cfg"], scoring=replace(world["cfg"].scoring, explain=True))
    params = pipeline.RunParams(
        RUN_DATE, str(world["root"] / "landing"), str(out), str(world["root"] / "model"), "x"
    )
    assert pipeline.run(spark, cfg, params).exit_code == exits.OK
    predictions = _predictions(spark, out).toPandas()
    assert len(predictions) > 0
    features = set(load_artifact(str(world["root"] / "model")).feature_names)
    for explanation in predictions[S.EXPLANATION]:
        assert len(explanation) == 5
        assert {e["feature"] for e in explanation} <= features
        sizes = [abs(e["contribution"]) for e in explanation]
        assert sizes == sorted(sizes, reverse=True)
