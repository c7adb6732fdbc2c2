"""The lifecycle on Spark and a real (SQLite) MLflow registry: train and register, the gate's
pass and fail paths through `txcat promote`, evaluation reports, the dashboard's data, and the
scoring job resolving the serving alias."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from txcat import cli, exits, model_uri, pipeline
from txcat import schema as S
from txcat.config import load_config
from txcat.generate import generate
from txcat.generate.reference import reference_overrides
from txcat.lifecycle import dashboard, registry, splits, train, workflow
from txcat.lifecycle import report as RP
from txcat.model import ModelArtifactError

#: Trains, registers and scores through MLflow: left out of `make test-fast`.
pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 11, 25)
NAME = "txcat-test-model"


def _overrides(root: Path) -> list[str]:
    return [
        *reference_overrides(root / "reference"),
        f"lifecycle.tracking_uri=sqlite:///{root / 'mlflow' / 'mlflow.db'}",
        f"lifecycle.artifact_root={root / 'mlflow' / 'artifacts'}",
        f"lifecycle.registered_model={NAME}",
        "lifecycle.cutoff_date=2026-09-01",
        "lifecycle.cv_folds=2",
        "lifecycle.search_budget=2",
        "lifecycle.latency_repeats=1",
        "training.num_boost_round=10",
        "training.early_stopping_rounds=3",
        "quality.max_row_quarantine_share=1",
        "quality.max_file_quarantine_share=1",
    ]


#: A gate any model trained on a few hundred rows passes / fails (model size cap of 1 byte).
LENIENT = [
    "quality_gate.min_macro_f1_margin=-1",
    "quality_gate.min_accuracy_margin=-1",
    "quality_gate.min_support_for_recall=1000000",
    "quality_gate.max_calibration_error=1",
    "quality_gate.max_latency_ms_per_10k=1000000000.0",
]
STRICT = [*LENIENT, "quality_gate.max_size_bytes=1"]


def _cli_args(root: Path, extra: list[str]) -> list[str]:
    return [a for item in [*_overrides(root), *extra] for a in ("--set", item)]


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("lifecycle")
    generate(
        root / "training",
        40,
        "2026-07-01",
        "2026-10-31",
        seed=21,
        reference_out=root / "reference",
        rows_per_account=30,
    )
    generate(root / "evaluation", 12, "2026-10-01", "2026-11-20", seed=22, rows_per_account=30)
    generate(
        root / "landing",
        8,
        "2026-10-01",
        AS_OF,
        seed=23,
        labels=False,
        bad_share=0.3,
        rows_per_account=20,
    )
    cfg = load_config("local", overrides=_overrides(root))
    outcome = workflow.train(
        spark, cfg, str(root / "training"), str(root / "model"), AS_OF, register=True
    )
    return {"root": root, "cfg": cfg, "outcome": outcome}


def test_time_holdout_puts_every_account_on_both_sides_with_per_side_aggregates(spark, world):
    data = train.collect_training_set(spark, world["cfg"], str(world["root"] / "training"), AS_OF)
    frame = data.frame
    cutoff = world["cfg"].lifecycle.cutoff_date
    dates = frame[S.TRANSACTION_DATE]
    assert (dates[frame[splits.SIDE] == splits.TRAIN] < cutoff).all()
    assert (dates[frame[splits.SIDE] == splits.HOLDOUT] >= cutoff).all()
    assert data.rows_outside_split == 0 and data.cutoff == cutoff and not data.cutoff_derived
    assert (frame.groupby(S.ACCOUNT_ID)[splits.SIDE].nunique() == 2).any()
    # Per-file aggregates see one side of a file only.
    sizes = frame.groupby([S.SOURCE_FILE, splits.SIDE]).size()
    counted = frame.groupby([S.SOURCE_FILE, splits.SIDE])["file_row_count"].agg(["min", "max"])
    assert (counted["min"] == sizes).all() and (counted["max"] == sizes).all()
    assert not frame[S.SOURCE_FILE].str.contains("#").any()
    # The refit's input: every labelled row, aggregates over whole files.
    assert len(data.full) == len(frame)
    whole = data.full.groupby(S.SOURCE_FILE).size()
    assert (data.full.groupby(S.SOURCE_FILE)["file_row_count"].max() == whole).all()


def test_training_reads_the_cleaned_records_from_a_cache_released_after(spark, world):
    def reads_a_cache(frame):
        return (
            "InMemoryRelation" in frame.select("*")._jdf.queryExecution().optimizedPlan().toString()
        )

    path = str(world["root"] / "training")
    with train.folder_rows(spark, world["cfg"], path, AS_OF) as labelled:
        assert reads_a_cache(labelled.rows)
    assert not reads_a_cache(labelled.rows)


def test_unseen_accounts_holdout_keeps_accounts_on_one_side(spark, world):
    cfg = load_config(
        "local", overrides=[*_overrides(world["root"]), "lifecycle.holdout=time_unseen_accounts"]
    )
    data = train.collect_training_set(spark, cfg, str(world["root"] / "training"), AS_OF)
    frame = data.frame
    sides = frame.groupby(S.ACCOUNT_ID)[splits.SIDE].nunique()
    assert (sides == 1).all()
    cutoff = cfg.lifecycle.cutoff_date
    dates = frame[S.TRANSACTION_DATE]
    assert (dates[frame[splits.SIDE] == splits.TRAIN] < cutoff).all()
    assert (dates[frame[splits.SIDE] == splits.HOLDOUT] >= cutoff).all()
    assert set(frame[splits.SIDE]) == {splits.TRAIN, splits.HOLDOUT}
    assert data.rows_outside_split > 0


def test_the_shipped_model_is_refitted_on_every_labelled_row(world):
    folder = world["outcome"].model_dir
    metadata = json.loads((folder / "model.json").read_text())
    evaluation = json.loads((folder / train.EVALUATION_FILE).read_text())
    split = evaluation["split"]
    fitted = metadata["fitted_on"]
    assert fitted["refit_all_rows"] is True
    assert fitted["rows"] == split["training_rows"] + split["holdout_rows"]
    assert metadata["evaluation"]["candidate_fitted_on"]["rows"] == split["training_rows"]
    assert metadata["evaluation"]["metrics"]["macro_f1"] == pytest.approx(
        evaluation["holdout"]["xgboost"]["macro_f1"]
    )
    assert len(fitted["rows_sha256"]) == 64 and fitted["last_date"] <= AS_OF.isoformat()


def test_training_writes_artifact_evaluation_manifest_and_report(world):
    outcome = world["outcome"]
    folder = outcome.model_dir
    evaluation = json.loads((folder / train.EVALUATION_FILE).read_text())
    assert set(evaluation["holdout"]) == {"majority", "logistic_regression", "xgboost"}
    # The lead over each baseline on the same hold-out rows, with its bootstrap interval.
    assert set(evaluation["holdout_leads"]) == {"majority", "logistic_regression"}
    for name, record in evaluation["holdout_leads"].items():
        assert record["rows"] == evaluation["holdout"]["xgboost"]["rows"]
        for metric in ("accuracy", "macro_f1"):
            lead = record[metric]
            assert lead["lead"] == pytest.approx(
                evaluation["holdout"]["xgboost"][metric] - evaluation["holdout"][name][metric]
            )
            assert lead["low"] <= lead["high"]
    assert len(evaluation["cross_validation"]["xgboost"]) == 2
    for name in ("majority", "logistic_regression"):
        folds = evaluation["cross_validation"][name]["folds"]
        assert len(folds) == 2
        summary = evaluation["cross_validation"][name]["summary"]["macro_f1"]
        assert summary["mean"] == pytest.approx(sum(f["macro_f1"] for f in folds) / 2)
    chosen = evaluation["holdout"]["xgboost"]
    for key in (
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "roc_auc_ovr_macro",
        "log_loss",
        "calibration_error",
        "latency_ms_per_10k",
        "size_bytes",
        "per_class",
        "confusion_matrix",
    ):
        assert key in chosen
    assert chosen["rows"] == evaluation["split"]["holdout_rows"]
    assert chosen["size_bytes"] == (folder / "model.ubj").stat().st_size
    manifest = json.loads((folder / train.MANIFEST_FILE).read_text())
    assert len(manifest["files"]) == 40 and all(len(f["sha256"]) == 64 for f in manifest["files"])
    saved = RP.read_metrics(outcome.report_dir)["metrics"]
    assert saved["macro_f1"] == pytest.approx(chosen["macro_f1"])
    assert (outcome.report_dir / RP.CONFUSION_PNG).stat().st_size > 0
    assert outcome.version == "1"
    assert json.loads((folder / workflow.REGISTRATION_FILE).read_text())["version"] == "1"


def test_a_version_failing_the_gate_is_registered_but_not_promoted(world, capsys):
    code = cli.main(["promote", "--version", "1", *_cli_args(world["root"], STRICT)])
    out = capsys.readouterr().out
    assert code == exits.GATE_REFUSED
    assert "FAIL size:" in out and "PASS macro_f1_vs_baselines" in out
    assert f"NOT PROMOTED {NAME} version 1: quality gate failed (size); champion unchanged" in out
    with pytest.raises(model_uri.RegistryError, match="no alias 'champion'"):
        model_uri.get_version(world["cfg"], model_uri.ModelRef(NAME, alias="champion"))
    assert dashboard.versions_table(world["cfg"])["quality_gate"].tolist() == ["failed"]


@pytest.fixture(scope="module")
def promoted(world):
    code = cli.main(["promote", "--version", "latest", *_cli_args(world["root"], LENIENT)])
    assert code == 0
    return world


def test_passing_the_gate_moves_the_alias(promoted, capsys):
    version = model_uri.get_version(promoted["cfg"], model_uri.ModelRef(NAME, alias="champion"))
    assert str(version.version) == "1"
    assert version.tags[registry.TAG_GATE] == "passed"
    assert dashboard.gate_detail(promoted["cfg"], 1)[-1].startswith("PASS size:")


def test_alias_resolves_to_a_verified_local_folder(promoted):
    cfg = promoted["cfg"]
    folder = model_uri.resolve_model_uri(f"models:/{NAME}@champion", cfg)
    from txcat.model import load_artifact

    artifact = load_artifact(folder)
    assert artifact.sha256 == promoted["outcome"].artifact.sha256
    assert model_uri.resolve_model_uri(f"models:/{NAME}/1", cfg) == folder
    assert model_uri.resolve_model_uri("/some/folder", cfg) == "/some/folder"
    with pytest.raises(model_uri.RegistryError, match="no version 7"):
        model_uri.resolve_model_uri(f"models:/{NAME}/7", cfg)
    with pytest.raises(model_uri.RegistryError, match="not models:/"):
        model_uri.resolve_model_uri(f"models:/{NAME}/latest", cfg)


def test_a_tampered_registry_download_is_refused(promoted):
    cfg = promoted["cfg"]
    client = model_uri.client(cfg)
    client.set_model_version_tag(NAME, "1", model_uri.TAG_SHA256, "0" * 64)
    try:
        with pytest.raises(ModelArtifactError, match="registry says sha256 0000"):
            model_uri.resolve_model_uri(f"models:/{NAME}@champion", cfg)
    finally:
        client.set_model_version_tag(
            NAME, "1", model_uri.TAG_SHA256, promoted["outcome"].artifact.sha256
        )


def test_scoring_job_serves_the_alias(spark, promoted):
    root = promoted["root"]
    params = pipeline.RunParams(
        AS_OF, str(root / "landing"), str(root / "out"), f"models:/{NAME}@champion", "alias-run"
    )
    result = pipeline.run(spark, promoted["cfg"], params)
    assert result.exit_code == exits.OK, result.summary["problems"]
    summary = result.summary
    assert summary["model_version"] == promoted["outcome"].artifact.version
    assert summary["model_sha256"] == promoted["outcome"].artifact.sha256
    assert (summary["model_name"], summary["model_registry_version"]) == (NAME, "1")
    assert summary["model_alias"] == "champion"
    assert summary["rows_scored"] > 0
    lineage = (
        spark.read.parquet(str(root / "out" / "predictions"))
        .select(S.MODEL_SHA256, S.MODEL_NAME, S.MODEL_REGISTRY_VERSION, S.MODEL_ALIAS)
        .distinct()
        .collect()
    )
    assert [tuple(r) for r in lineage] == [(summary["model_sha256"], NAME, "1", "champion")]


def test_the_registered_version_is_an_mlflow_model_scoring_as_the_job(spark, promoted, monkeypatch):
    """pyfunc through the alias gives the probabilities the job's UDF ranks, row for row."""
    import mlflow.pyfunc
    import numpy as np

    from txcat.features import memory_of
    from txcat.lifecycle import mlflow_model
    from txcat.model import load_artifact
    from txcat.score import with_predictions

    cfg = promoted["cfg"]
    folder = model_uri.resolve_model_uri(f"models:/{NAME}@champion", cfg)
    artifact = load_artifact(folder)
    version = model_uri.get_version(cfg, model_uri.ModelRef(NAME, alias="champion"))
    assert version.tags["txcat.sha256"] == artifact.sha256
    assert json.loads(version.tags["txcat.feature_names"]) == list(artifact.feature_names)
    assert json.loads(version.tags["txcat.categories"]) == list(S.CATEGORIES)
    assert (
        version.tags["txcat.training_data_sha256"] == artifact.metadata["fitted_on"]["rows_sha256"]
    )
    assert version.tags["txcat.memory_sha256"] == artifact.metadata["memory"]["sha256"]
    assert mlflow_model.read_txcat_metadata(folder)["sha256"] == artifact.sha256

    frame = workflow.collect_labelled(
        spark, cfg, str(promoted["root"] / "evaluation"), AS_OF, memory_of(artifact)
    )
    features = frame[list(artifact.feature_names)]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cfg.lifecycle.tracking_uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", cfg.lifecycle.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    probabilities = np.asarray(model.predict(features), dtype=np.float64)
    scored = (
        with_predictions(spark.createDataFrame(features.reset_index()), spark, artifact)
        .orderBy("index")
        .toPandas()
    )
    assert probabilities.shape == (len(features), len(S.CATEGORIES))
    top = np.sort(probabilities, axis=1)[:, ::-1][:, :3]
    job_top = np.array([[t["probability"] for t in row] for row in scored[S.TOP3]])
    np.testing.assert_allclose(job_top, top, rtol=0, atol=1e-7)
    best = np.asarray(S.CATEGORIES)[probabilities.argmax(axis=1)]
    assert (scored[S.PREDICTED_CATEGORY].to_numpy() == best).all()


def test_scoring_job_refuses_an_unknown_alias(spark, promoted):
    root = promoted["root"]
    params = pipeline.RunParams(
        AS_OF, str(root / "landing"), str(root / "out-bad"), f"models:/{NAME}@nobody", "bad-run"
    )
    with pytest.raises(ModelArtifactError, match="no alias 'nobody'"):
        pipeline.run(spark, promoted["cfg"], params)


def test_evaluate_writes_the_report_and_logs_it(spark, promoted, capsys):
    root = promoted["root"]
    out = root / "reports" / "champion"
    code = cli.main(
        [
            "evaluate",
            "--model",
            "@champion",
            "--input",
            str(root / "evaluation"),
            "--out",
            str(out),
            "--as-of",
            AS_OF.isoformat(),
            *_cli_args(root, []),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    document = RP.read_metrics(out)
    metrics = document["metrics"]
    assert metrics["rows"] == sum(pc["support"] for pc in metrics["per_class"].values())
    assert f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}" in printed
    assert document["context"]["registered_version"] == "1"
    for name in (RP.CONFUSION_PNG, RP.HTML_FILE, RP.IMPORTANCE_PNG):
        assert (out / name).stat().st_size > 0
    run_id = promoted["outcome"].run_id
    logged = model_uri.client(promoted["cfg"]).list_artifacts(run_id, workflow.EVALUATIONS_PATH)
    assert len(logged) == 1


def test_evaluate_refuses_an_unknown_version(spark, promoted):
    root = promoted["root"]
    code = cli.main(
        [
            "evaluate",
            "--model",
            "9",
            "--input",
            str(root / "evaluation"),
            "--out",
            str(root / "reports" / "nine"),
            *_cli_args(root, []),
        ]
    )
    assert code == 3


def test_dashboard_data(promoted):
    cfg = promoted["cfg"]
    table = dashboard.versions_table(cfg)
    evaluation = json.loads((promoted["outcome"].model_dir / train.EVALUATION_FILE).read_text())
    row = table.iloc[0]
    assert row["version"] == 1 and row["aliases"] == "champion"
    assert row["macro_f1"] == pytest.approx(evaluation["holdout"]["xgboost"]["macro_f1"])
    assert row["baseline_macro_f1"] == pytest.approx(
        max(evaluation["holdout"][n]["macro_f1"] for n in ("majority", "logistic_regression"))
    )
    side_by_side = dashboard.comparison(table, [1])
    assert side_by_side.loc["accuracy", "v1"] == pytest.approx(
        evaluation["holdout"]["xgboost"]["accuracy"]
    )
    report = dashboard.load_report(dashboard.report_folder(cfg, 1))
    assert set(report["plots"]) == set(RP.FIGSIZES)
    assert report["per_class"]["support"].sum() == evaluation["split"]["holdout_rows"]
    assert "<h1>" in report["html"]


def test_dashboard_data_without_versions(world, tmp_path):
    cfg = load_config("local", overrides=[f"lifecycle.tracking_uri=sqlite:///{tmp_path}/m.db"])
    with pytest.raises(model_uri.RegistryError, match="does not exist"):
        dashboard.versions_table(cfg)  # never creates a store
    model_uri.client(cfg, create=True).search_experiments()  # an empty store
    table = dashboard.versions_table(cfg)
    assert table.empty and "macro_f1" in table.columns


def test_dashboard_app_renders_the_registry(promoted, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from txcat.lifecycle.commands import DASHBOARD_APP

    args = [a for item in _overrides(promoted["root"]) for a in ("--set", item)]
    monkeypatch.setattr("sys.argv", ["dashboard_app.py", *args])
    app = AppTest.from_file(str(DASHBOARD_APP), default_timeout=120).run()
    assert not app.exception
    assert app.title[0].value == f"Registered model {NAME}"
    assert app.multiselect[0].value == [1]
    assert [m.value for m in app.markdown] == ["### Version 1"]
    versions = app.dataframe[0].value
    assert versions["aliases"].tolist() == ["champion"]
