"""The monitor end to end, in process: a trained model, generated days, drift, feedback."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from pyspark.sql import functions as F

from tests.helpers import local_config
from txcat import exits, pipeline
from txcat import schema as S
from txcat.features import FEATURE_COLUMNS
from txcat.generate import drift, generate
from txcat.lifecycle import train
from txcat.model import METADATA_FILE, MODEL_FILE, load_artifact, sha256_hex
from txcat.monitor import commands
from txcat.monitor import profile as P
from txcat.monitor.run import MonitorParams, run

#: Whole-pipeline runs with a trained model: left out of `make test-fast`.
pytestmark = pytest.mark.slow

RUN_DATE = dt.date(2026, 11, 25)
ACCOUNTS = 150
SEED = 11


def _config(root: Path, *extra: str):
    return local_config(
        root / "reference",
        "training.num_boost_round=15",
        "lifecycle.search_budget=1",
        "lifecycle.cv_folds=2",
        f"lifecycle.tracking_uri=sqlite:///{root}/mlflow/mlflow.db",
        f"lifecycle.artifact_root={root}/mlflow/artifacts",
        *extra,
    )


def _day(folder: Path, kind: str | None = None) -> Path:
    """A day of the same accounts as training (labelled: the labels serve as feedback)."""
    generate(folder, ACCOUNTS, "2026-07-01", RUN_DATE, seed=SEED, rows_per_account=40)
    if kind is not None:
        drift.apply_drift(folder, kind, seed=3)
    return folder


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor")
    generate(
        root / "training",
        ACCOUNTS,
        "2026-05-01",
        "2026-10-31",
        seed=SEED,
        reference_out=root / "reference",
        rows_per_account=40,
    )
    cfg = _config(root)
    train.run(spark, cfg, str(root / "training"), str(root / "model"), RUN_DATE)
    return {"root": root, "cfg": cfg}


def _score(spark, cfg, day: Path, out: Path, model: Path, run_date: dt.date = RUN_DATE):
    params = pipeline.RunParams(run_date, str(day), str(out), str(model), f"run-{run_date}")
    result = pipeline.run(spark, cfg, params)
    assert result.exit_code == exits.OK, result.summary["problems"]
    return result


@pytest.fixture(scope="module")
def normal(spark, world):
    root = world["root"]
    day = _day(root / "normal")
    _score(spark, world["cfg"], day, root / "out", root / "model")
    return run(spark, world["cfg"], MonitorParams(RUN_DATE, str(root / "out")))


def test_the_model_ships_a_reference_profile(world) -> None:
    artifact = load_artifact(str(world["root"] / "model"))
    assert artifact.profile is not None
    metadata = json.loads((world["root"] / "model" / METADATA_FILE).read_text())
    assert metadata["profile"]["sha256"] == sha256_hex(artifact.profile)
    profile = P.from_bytes(artifact.profile)
    assert set(profile["features"]["numeric"]) == set(FEATURE_COLUMNS)
    assert len(profile["features"]["numeric"]["amount_log"]["edges"]) == 9
    assert "BR" in profile["features"]["categorical"]["merchant_country"]["counts"]
    assert sum(profile["predictions"]["mix"].values()) == profile["holdout"]["rows"]
    assert 0 < profile["holdout"]["accuracy"] <= 1


def test_a_normal_day_has_no_alert(normal) -> None:
    assert normal.exit_code == exits.OK, normal.metrics["alerts"]
    metrics = json.loads((Path(normal.folder) / "metrics.json").read_text())
    assert metrics["alerts"] == [] and metrics["status"] == "ok"
    assert metrics["features"]["rows"] == metrics["predictions"]["rows"]
    assert {r["feature"] for r in metrics["features"]["drift"]} >= {
        "amount_log",
        "merchant_country",
    }
    assert metrics["expectations"]["results"], "the day's expectations are read"
    assert metrics["volume"]["note"].startswith("0 earlier runs")


def test_the_report_is_offline_and_says_what_it_checked(normal) -> None:
    folder = Path(normal.folder)
    page = (folder / "report.html").read_text()
    # Nothing fetched: no scheme, no script or stylesheet, every image inline.
    fetched = r"https?:|ftp:|url\(|@import|<script|<link|<iframe"
    assert not re.search(fetched, page, re.IGNORECASE)
    assert [s[:5] for s in re.findall(r'src="([^"]*)"', page)] == ["data:"] * 3
    assert 'src="data:image/png;base64,' in page
    assert "In plain words" in page and "No alert" in page
    assert {p.name for p in folder.glob("*.png")} == {
        "category_mix.png",
        "confidence.png",
        "trends.png",
    }


def test_daily_figures_go_to_their_own_mlflow_experiment(spark, world, normal) -> None:
    from txcat import model_uri

    cfg = world["cfg"]
    # Training creates the tracking store (registration); without one nothing is logged.
    assert "not logged to MLflow" in normal.metrics["mlflow"]["note"]
    client = model_uri.client(cfg, create=True)
    client.create_experiment(cfg.lifecycle.experiment)
    logged = run(spark, cfg, MonitorParams(RUN_DATE, str(world["root"] / "out")))
    experiment = client.get_experiment_by_name(cfg.monitoring.mlflow_experiment)
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [logged.metrics["mlflow"]["run_id"]]
    assert runs[0].data.tags["model_version"] == normal.metrics["model_version"]
    assert runs[0].data.tags["run_date"] == RUN_DATE.isoformat()
    assert "predictions_mix_psi" in runs[0].data.metrics
    # A rerun of the day updates its run instead of adding one.
    run(spark, cfg, MonitorParams(RUN_DATE, str(world["root"] / "out")))
    assert len(client.search_runs([experiment.experiment_id])) == 1


#: Each generated drift and the alert it must raise: metric, and what it names.
EXPECTED = {
    drift.AMOUNT_SHIFT: ("feature_psi", "features", "amount_log"),
    drift.CATEGORY_MIX: ("prediction_mix_psi", "categories", drift.KEPT_CATEGORIES),
    drift.NEW_COUNTRIES: ("new_category_share", "features", "merchant_country"),
    drift.MISSING_COLUMN: ("feature_psi", "features", drift.EMPTIED_FEATURE),
    drift.VOLUME_DROP: ("volume_files_read", None, None),
}


@pytest.mark.parametrize("kind", drift.DRIFT_KINDS)
def test_each_generated_drift_raises_its_alert(spark, world, normal, kind) -> None:
    root = world["root"]
    out = root / f"out-{kind}"
    # Three earlier ordinary runs give the volume and quarantine checks their history.
    for back in (1, 2, 3):
        earlier = out / "runs" / f"run_date={RUN_DATE - dt.timedelta(days=back)}"
        earlier.mkdir(parents=True)
        shutil.copy(root / "out" / "runs" / f"run_date={RUN_DATE}" / "summary.json", earlier)
    cfg = _config(root, "validation.enabled=false", "monitoring.log_to_mlflow=false")
    _score(spark, cfg, _day(root / kind, kind), out, root / "model")
    result = run(spark, cfg, MonitorParams(RUN_DATE, str(out)))
    assert result.exit_code == exits.MONITOR_ALERT
    metric, key, named = EXPECTED[kind]
    found = [a for a in result.metrics["alerts"] if a["metric"] == metric]
    assert found, result.metrics["alerts"]
    if key is not None:
        names = {named} if isinstance(named, str) else set(named)
        assert any(names & set(a[key]) for a in found), found
    if kind == drift.NEW_COUNTRIES:
        # The planted countries lead the named values; a country the small training set never
        # saw may follow them (the ordinary rows of the day keep their own countries).
        planted = len(drift.NEW_COUNTRY_CODES)
        assert set(found[0]["categories"][:planted]) == set(drift.NEW_COUNTRY_CODES)


def _feedback(spark, out: Path, folder: Path, rows: int | None = None) -> Path:
    """The day's true labels (the generated files carry them) as feedback files."""
    labels = (
        spark.read.parquet(str(out / "predictions"))
        .where(F.col(S.LABEL).isNotNull())
        .select(S.ROW_ID, F.col(S.LABEL).alias("category"))
        .orderBy(S.ROW_ID)
    )
    if rows is not None:
        labels = labels.limit(rows)
    labels.write.mode("overwrite").parquet(str(folder))
    return folder


def _degraded(world) -> Path:
    """The model with its booster replaced by one fitted on noise: its hold-out figures and
    reference profile still promise the real model's quality."""
    root = world["root"]
    folder = root / "degraded"
    shutil.copytree(root / "model", folder)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, len(FEATURE_COLUMNS)))
    y = rng.integers(0, len(S.CATEGORIES), 2000)
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": len(S.CATEGORIES), "max_depth": 2},
        xgb.DMatrix(x, label=y, feature_names=list(FEATURE_COLUMNS)),
        num_boost_round=3,
    )
    data = bytes(booster.save_raw(raw_format="ubj"))
    (folder / MODEL_FILE).write_bytes(data)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["sha256"] = sha256_hex(data)
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    return folder


def test_a_degraded_model_raises_a_degradation_alert(spark, world, normal) -> None:
    root = world["root"]
    out = root / "out-degraded"
    cfg = _config(root, "validation.enabled=false", "monitoring.log_to_mlflow=false")
    _score(spark, cfg, root / "normal", out, _degraded(world))
    feedback = _feedback(spark, out, root / "feedback-degraded")
    result = run(spark, cfg, MonitorParams(RUN_DATE, str(out), feedback=str(feedback)))
    assert result.exit_code == exits.MONITOR_ALERT
    metrics = {a["metric"] for a in result.metrics["alerts"]}
    assert "feedback_accuracy" in metrics, result.metrics["alerts"]
    assert result.metrics["feedback"]["judged"] is True
    assert (
        result.metrics["feedback"]["accuracy"] < result.metrics["feedback"]["holdout"]["accuracy"]
    )


def test_too_little_feedback_gives_no_verdict_and_the_report_says_why(spark, world, normal) -> None:
    root = world["root"]
    cfg = _config(root, "monitoring.log_to_mlflow=false")
    feedback = _feedback(spark, root / "out", root / "feedback-few", rows=50)
    result = run(spark, cfg, MonitorParams(RUN_DATE, str(root / "out"), feedback=str(feedback)))
    assert result.exit_code == exits.OK, result.metrics["alerts"]
    assert result.metrics["feedback"]["judged"] is False
    assert result.metrics["feedback"]["rows"] == 50
    page = (Path(result.folder) / "report.html").read_text()
    assert "50 labelled rows" in page and "fewer than monitoring.min_feedback_rows" in page


def test_a_day_without_predictions_is_exit_2(spark, tmp_path, caplog, capsys) -> None:
    parser = argparse.ArgumentParser()
    commands.add_monitor_arguments(parser)
    out = tmp_path / "empty"
    args = parser.parse_args(["--run-date", "2026-11-20", "--output", str(out)])
    assert commands.run_monitor(args) == exits.BAD_INPUT
    assert "no scoring run for 2026-11-20" in caplog.text
    # Where it reads and writes, before it starts.
    printed = capsys.readouterr().out.splitlines()
    assert printed[:5] == [
        f"output: {out} (the day's run summary and predictions; writes "
        f"{out}/monitoring/run_date=2026-11-20/)",
        "model: the one the day's run summary names (--model)",
        "tracking store: sqlite:///data/mlflow/mlflow.db (lifecycle.tracking_uri)",
        "experiment: txcat-monitoring (monitoring.mlflow_experiment)",
        "artifact location: data/mlflow/artifacts (lifecycle.artifact_root, new experiments)",
    ]
