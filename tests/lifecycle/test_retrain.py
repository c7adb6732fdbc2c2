"""`txcat retrain` on generated data with a planted label error: the history labels one
category's rows as another, the daily job scores a later day with the model trained on it,
users correct most of that day (mostly what the model got wrong), and the retrained model
finds the category again on the accounts' later days.

One module fixture runs the whole loop once (two small trainings, one scoring run); the tests
assert on what it produced.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from txcat import cli, exits, pipeline
from txcat import schema as S
from txcat.config import load_config
from txcat.features import memory_of
from txcat.generate import bankformat as bf
from txcat.generate import feedback as fb
from txcat.generate import generate
from txcat.generate.reference import reference_overrides
from txcat.lifecycle import registry, retrain, workflow
from txcat.model import load_artifact
from txcat.model_uri import ModelRef, client, get_version
from txcat.score import predict_proba

#: Two trainings, a scoring run and the retraining: left out of `make test-fast`.
pytestmark = pytest.mark.slow

NAME = "txcat-retrain-test"
#: The planted error: the history labels every row of this category as the other one.
PLANTED, AS = "POSTO DE GAS", "SUPERMERCADOS"
#: One generation of ACCOUNTS accounts cut by day: the history (the error planted in it), the
#: scored day (landing) and the later days the recall is measured on: the same accounts, as
#: the daily job scores accounts the model has seen.
ACCOUNTS, ROWS_PER_ACCOUNT = 40, 90
HISTORY_FROM = dt.date(2026, 9, 1)
HISTORY_AS_OF = dt.date(2026, 9, 30)
RUN_DATE = dt.date(2026, 10, 31)
LATER_AS_OF = dt.date(2026, 11, 20)
UNKNOWN_ROW = "0" * 32
FEEDBACK_SHARE = 0.8


def _overrides(root: Path) -> list[str]:
    return [
        *reference_overrides(root / "reference"),
        f"lifecycle.tracking_uri=sqlite:///{root / 'mlflow' / 'mlflow.db'}",
        f"lifecycle.artifact_root={root / 'mlflow' / 'artifacts'}",
        f"lifecycle.registered_model={NAME}",
        "lifecycle.cutoff_date=2026-09-15",
        "lifecycle.cv_folds=2",
        "lifecycle.search_budget=1",
        "lifecycle.latency_repeats=1",
        "training.num_boost_round=30",
        "training.early_stopping_rounds=5",
        "quality.max_row_quarantine_share=1",
        "quality.max_file_quarantine_share=1",
        "validation.enabled=false",
        # Any model trained on a few hundred rows passes.
        "quality_gate.min_macro_f1_margin=-1",
        "quality_gate.min_accuracy_margin=-1",
        "quality_gate.min_support_for_recall=1000000",
        "quality_gate.max_calibration_error=1",
        "quality_gate.max_latency_ms_per_10k=1000000000.0",
        "quality_gate.max_macro_f1_drop_vs_champion=1",
    ]


def _plant_label_error(folder: Path) -> int:
    """Relabels every PLANTED row of the folder's files as AS; returns how many."""
    wrong, right = bf.file_label(PLANTED).encode("latin-1"), bf.file_label(AS).encode("latin-1")
    changed = 0
    for path in sorted(folder.glob("*.csv")):
        lines = path.read_bytes().split(b"\r\n")
        column = lines[0].split(b";").index(b"grupo_estabelecimento")
        for i, line in enumerate(lines[1:], start=1):
            fields = line.split(b";")
            if len(fields) > column and fields[column] == wrong:
                fields[column] = right
                lines[i] = b";".join(fields)
                changed += 1
        path.write_bytes(b"\r\n".join(lines))
    return changed


def _recall(spark, cfg, model_dir: Path, folder: Path, category: str) -> float:
    artifact = load_artifact(str(model_dir))
    frame = workflow.collect_labelled(spark, cfg, str(folder), LATER_AS_OF, memory_of(artifact))
    predicted = np.asarray(artifact.categories)[
        predict_proba(artifact.booster(), frame[list(artifact.feature_names)]).argmax(axis=1)
    ]
    truth = frame[S.LABEL].to_numpy()
    return float((predicted[truth == category] == category).mean())


def _cut_by_day(generated: Path, root: Path, periods: dict[str, tuple[dt.date, dt.date]]) -> None:
    """Writes each generated account file's rows of each period to `root/<period>/` (same file
    name, same header): the same accounts seen on earlier and later days."""
    for path in sorted(generated.glob("*.csv")):
        header, *lines = path.read_bytes().split(b"\r\n")
        column = header.split(b";").index(b"data")
        for name, (first, last) in periods.items():
            kept = []
            for line in lines:
                if line:
                    day, month, year = (int(v) for v in line.split(b";")[column].split(b"."))
                    if first <= dt.date(year, month, day) <= last:
                        kept.append(line)
            if kept:
                (root / name).mkdir(exist_ok=True)
                (root / name / path.name).write_bytes(b"\r\n".join([header, *kept, b""]))


@pytest.fixture(scope="module")
def loop(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    generate(
        root / "generated",
        ACCOUNTS,
        HISTORY_FROM,
        LATER_AS_OF,
        seed=31,
        reference_out=root / "reference",
        rows_per_account=ROWS_PER_ACCOUNT,
    )
    _cut_by_day(
        root / "generated",
        root,
        {
            "history": (HISTORY_FROM, HISTORY_AS_OF),
            "landing": (HISTORY_AS_OF + dt.timedelta(days=1), RUN_DATE),
            "later": (RUN_DATE + dt.timedelta(days=1), LATER_AS_OF),
        },
    )
    planted = _plant_label_error(root / "history")
    cfg = load_config("local", overrides=_overrides(root))

    first = workflow.train(
        spark, cfg, str(root / "history"), str(root / "v1"), HISTORY_AS_OF, register=True
    )
    assert workflow.promote(cfg, first.version).promoted
    out = root / "out"
    result = pipeline.run(
        spark,
        cfg,
        pipeline.RunParams(RUN_DATE, str(root / "landing"), str(out), f"models:/{NAME}@champion"),
    )
    assert result.exit_code == exits.OK

    corrections = fb.draw_feedback(
        root / "landing",
        fb.day_predictions(out, RUN_DATE),
        FEEDBACK_SHARE,
        seed=5,
        corrected_at=dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC),
        truth=fb.written_categories(root / "landing"),
    )
    # One correction names a row no run scored; one file is deleted after it was scored, one
    # rewritten without its last line.
    extra = pd.DataFrame(
        [[UNKNOWN_ROW, "SERVICO", "2026-11-01T09:00:00+00:00", "1", "generated"]],
        columns=list(fb.COLUMNS),
    )
    fb.write_feedback(pd.concat([corrections, extra]), root / "feedback.csv")
    predictions = fb.day_predictions(out, RUN_DATE)
    corrected = predictions[predictions["row_id"].isin(corrections["row_id"])]
    by_file = corrected.groupby("source_file")["line_number"].agg(["count", "max"])
    gone, changed = by_file.index[0], by_file.index[1]
    Path(gone.removeprefix("file:")).unlink()
    changed_path = Path(changed.removeprefix("file:"))
    lines = changed_path.read_bytes().split(b"\r\n")
    last = int(by_file.loc[changed, "max"])
    changed_path.write_bytes(b"\r\n".join(lines[: last - 1]) + b"\r\n")
    expected = {
        retrain.SOURCE_MISSING: int(by_file.loc[gone, "count"]),
        retrain.SOURCE_CHANGED: int(
            ((corrected["source_file"] == changed) & (corrected["line_number"] >= last)).sum()
        ),
        retrain.UNKNOWN_ROW_ID: 1,
        retrain.RUN_MISSING: 0,
    }

    store = root / "store"
    code = cli.main(
        ["feedback", "import", "--input", str(root / "feedback.csv"), "--store", str(store),
         "--received-on", "2026-11-01"]
    )  # fmt: skip
    assert code == exits.OK
    sets = [a for item in _overrides(root) for a in ("--set", item)]
    code = cli.main(
        ["retrain", "--feedback", str(store), "--predictions", str(out), "--input",
         str(root / "history"), "--model-out", str(root / "v2"), "--as-of",
         HISTORY_AS_OF.isoformat(), "--register", *sets]
    )  # fmt: skip
    return {
        "root": root,
        "cfg": cfg,
        "code": code,
        "planted": planted,
        "corrections": corrections,
        "expected_not_used": expected,
        "gone": gone,
    }


def test_feedback_that_fixes_a_planted_error_raises_that_category_s_recall(spark, loop):
    assert loop["code"] == exits.OK and loop["planted"] > 10
    root, cfg = loop["root"], loop["cfg"]
    before = _recall(spark, cfg, root / "v1", root / "later", PLANTED)
    after = _recall(spark, cfg, root / "v2", root / "later", PLANTED)
    logging.getLogger(__name__).warning(
        "recall of %s on later days: before %.3f, after %.3f", PLANTED, before, after
    )
    # Measured on these settings: 0.0 before; after, 0.22 to 0.35 over feedback seeds 1 to 8
    # (11 to 17 of the later days' 49 rows), 0.24 here (seed 5, less the deleted and cut files'
    # corrections): 73 corrections of that category against the 69 history rows still wrong.
    assert before < 0.1
    assert after >= 0.15


def test_corrections_that_cannot_be_used_are_counted_by_reason(loop):
    manifest = json.loads((loop["root"] / "v2" / "manifest.json").read_text())
    feedback = manifest["feedback"]
    assert feedback["not_used"] == loop["expected_not_used"]
    assert feedback["not_used_examples"][retrain.UNKNOWN_ROW_ID] == [UNKNOWN_ROW]
    assert feedback["latest_corrections"] == len(loop["corrections"]) + 1
    assert feedback["used"] == feedback["latest_corrections"] - sum(feedback["not_used"].values())


def test_the_manifest_lists_every_file_with_its_hash_and_rows(loop):
    root = loop["root"]
    manifest = json.loads((root / "v2" / "manifest.json").read_text())
    history = {Path(f["file"]).name: f for f in manifest["files"]}
    assert set(history) == {p.name for p in (root / "history").glob("*.csv")}

    for name, record in history.items():
        data = (root / "history" / name).read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert record["bytes"] == len(data) and record["rows"] > 0
    corrected = manifest["corrected_files"]
    assert corrected and all(f["run_date"] == RUN_DATE.isoformat() for f in corrected)
    assert loop["gone"] not in {f["file"] for f in corrected}
    assert sum(f["rows"] for f in corrected) == manifest["feedback"]["from_runs"]
    assert manifest["rows"] == sum(f["rows"] for f in manifest["files"]) + sum(
        f["rows"] for f in corrected
    )
    fitted = json.loads((root / "v2" / "model.json").read_text())["fitted_on"]
    assert fitted["rows"] == manifest["rows"]


def test_the_new_version_is_the_challenger_and_the_champion_stays(loop):
    cfg = loop["cfg"]
    challenger = get_version(cfg, ModelRef(NAME, alias=retrain.CHALLENGER))
    champion = get_version(cfg, ModelRef(NAME, alias="champion"))
    assert (str(challenger.version), str(champion.version)) == ("2", "1")
    assert challenger.tags[registry.TAG_GATE] == "passed"
    run = client(cfg).get_run(challenger.run_id)
    local = client(cfg).download_artifacts(
        run.info.run_id, retrain.TRAINING_SET_FILE, str(loop["root"])
    )
    logged = json.loads(Path(local).read_text())
    assert logged == json.loads((loop["root"] / "v2" / "manifest.json").read_text())


def test_the_retraining_set_reads_cached_records_released_after(spark, loop):
    def reads_a_cache(frame):
        plan = frame.select("*")._jdf.queryExecution().optimizedPlan().toString()
        return plan.count("InMemoryRelation")

    root, cfg = loop["root"], loop["cfg"]
    with ExitStack() as held:
        history, store, out = (str(root / name) for name in ("history", "store", "out"))
        data = retrain.build(spark, cfg, history, HISTORY_AS_OF, store, out, held)
        # The history's records, and those of the scored day the corrections were found in.
        assert reads_a_cache(data.rows.rows) == 2
    assert reads_a_cache(data.rows.rows) == 0
