"""Training and model selection on the scoring job's reader and features.

1. Spark reads the labelled per-account files through the same reader, cleaning and feature code
   as the daily job. Before features are built, rows are split (see `lifecycle.splits`): the
   training part is rows dated before `lifecycle.cutoff_date` of most accounts, the hold-out is
   rows on/after the cutoff of the other accounts. Per-file aggregates are therefore computed
   within each side and no account is on both.
2. The feature matrix is collected to the driver (Arrow). It holds at most
   `training.max_driver_rows` rows (default 5M rows x ~30 float features, about 1 GB as float32
   plus pandas overhead: fits a 4-8 GB driver). Above the cap a uniform row sample is collected
   and the fraction is recorded; we sample rather than switch to `xgboost.spark` because the
   search trains tens of small models, where a distributed fit's start-up dominates, and the
   per-class metrics stay stable on millions of rows.
3. Candidates (majority class, logistic regression, XGBoost configurations) are compared on the
   same k folds of the training part, grouped by account. The best XGBoost configuration (mean
   macro-F1 over folds) is refitted on the whole training part and every candidate is scored on
   the hold-out; the baselines' hold-out numbers are what the quality gate compares against.
4. The XGBoost model is written as the artifact folder of `txcat.model`, plus
   `evaluation.json` (every candidate's metrics) and `manifest.json` (input files and hashes).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from txcat import read, sources
from txcat import schema as S
from txcat.config import Config
from txcat.features import FEATURE_COLUMNS
from txcat.lifecycle import candidates as C
from txcat.lifecycle import metrics as M
from txcat.lifecycle import splits
from txcat.model import ModelArtifact, save_artifact

log = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
MANIFEST_FILE = "manifest.json"


class TrainingDataError(RuntimeError):
    """There is nothing (or not enough) to train on."""


@dataclass(frozen=True)
class TrainingSet:
    frame: pd.DataFrame  # account_id, source_file, date, label, splits.SIDE, FEATURE_COLUMNS
    sample_fraction: float
    unknown_labels: int
    rows_outside_split: int


@dataclass
class Selection:
    """Everything the comparison produced; `evaluation` is JSON-ready."""

    chosen: C.Fitted
    evaluation: dict[str, Any]
    fitted: dict[str, C.Fitted] = field(default_factory=dict)


def collect_training_set(
    spark: SparkSession, cfg: Config, input_path: str, as_of: dt.date
) -> TrainingSet:
    """Reads labelled files, splits them by account and date, builds features, collects."""
    prepared = sources.prepare(spark, cfg, sources.Source.folder(input_path), as_of)
    transactions = prepared.scorable.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        known = F.col(S.LABEL).isin(*S.CATEGORIES)
        counts = transactions.groupBy(known.alias("known")).count().collect()
        by_kind = {r["known"]: r["count"] for r in counts}
        rows, unknown = by_kind.get(True, 0), by_kind.get(False, 0)
        if rows == 0:
            raise TrainingDataError(f"no labelled rows under {input_path}")
        labelled = transactions.where(known)
        accounts = [r[0] for r in labelled.select(S.ACCOUNT_ID).distinct().collect()]
        try:
            held = splits.holdout_accounts(
                accounts, cfg.lifecycle.holdout_account_share, cfg.training.seed
            )
        except ValueError as exc:
            raise TrainingDataError(str(exc)) from exc
        split = splits.with_split_side(labelled, accounts, held, cfg.lifecycle.cutoff_date)
        features = prepared.featured(split).select(
            S.ACCOUNT_ID, S.SOURCE_FILE, S.TRANSACTION_DATE, S.LABEL, splits.SIDE, *FEATURE_COLUMNS
        )
        fraction = min(1.0, cfg.training.max_driver_rows / rows)
        if fraction < 1.0:
            log.warning("sampling %.3f of %d rows to fit the driver", fraction, rows)
            features = features.sample(fraction=fraction, seed=cfg.training.seed)
        frame = features.toPandas()
    finally:
        transactions.unpersist()
    outside = rows - len(frame) if fraction == 1.0 else 0
    return TrainingSet(frame, fraction, unknown, outside)


def dataset_manifest(spark: SparkSession, input_path: str) -> list[dict[str, Any]]:
    """Every input file with its size and sha256, computed by the executors."""
    rows = (
        read.read_files(spark, input_path)
        .select(S.SOURCE_FILE, read.FILE_SIZE, F.sha2(F.col(read.CONTENT), 256).alias("sha256"))
        .orderBy(S.SOURCE_FILE)
        .collect()
    )
    return [{"file": r[0], "bytes": int(r[1]), "sha256": r[2]} for r in rows]


def _matrix(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    index = {c: i for i, c in enumerate(S.CATEGORIES)}
    y = frame[S.LABEL].map(index).to_numpy(dtype=np.int64)
    x = frame[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float32, na_value=np.nan)
    return x, y


def _costs(fitted: C.Fitted, x: np.ndarray, repeats: int) -> dict[str, float]:
    return {
        "latency_ms_per_10k": C.latency_ms_per_10k(fitted.predict_proba, x, repeats),
        "size_bytes": int(fitted.size_bytes),
    }


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def select_model(frame: pd.DataFrame, cfg: Config) -> Selection:
    """Compares the candidates on grouped folds, refits, scores everyone on the hold-out.

    Args:
        frame: Collected features with the `splits.SIDE` column (see `collect_training_set`).
        cfg: Training (`training`) and selection (`lifecycle`) settings.

    Raises:
        TrainingDataError: a side is empty or has fewer accounts than folds.
    """
    tc, lc = cfg.training, cfg.lifecycle
    n_classes = len(S.CATEGORIES)
    train = frame[frame[splits.SIDE] == splits.TRAIN].reset_index(drop=True)
    hold = frame[frame[splits.SIDE] == splits.HOLDOUT].reset_index(drop=True)
    if train.empty or hold.empty:
        raise TrainingDataError(
            f"the split left {len(train)} training and {len(hold)} hold-out rows; "
            f"check lifecycle.cutoff_date ({lc.cutoff_date}) against the data's dates"
        )
    x_all, y_all = _matrix(train)
    xh, yh = _matrix(hold)
    weights_all = C.class_weights(y_all, n_classes, tc.class_weight_power)
    # The search sees whole accounts up to search_max_rows; the refit sees every training row.
    searched = splits.sample_groups(train[S.ACCOUNT_ID], lc.search_max_rows, tc.seed)
    x, y, weights = x_all[searched], y_all[searched], weights_all[searched]
    try:
        folds = splits.group_folds(train.loc[searched, S.ACCOUNT_ID], lc.cv_folds, tc.seed)
    except ValueError as exc:
        raise TrainingDataError(str(exc)) from exc
    log.info(
        "search on %d of %d training rows, %d folds, %d XGBoost configurations",
        len(y),
        len(y_all),
        lc.cv_folds,
        lc.search_budget,
    )
    configs = C.search_space(tc, lc.search_budget, tc.seed)
    per_fold: dict[str, list[dict[str, Any]]] = {C.MAJORITY: [], C.LOGISTIC: []}
    per_fold |= {f"{C.XGBOOST}#{i}": [] for i in range(len(configs))}
    best_rounds: dict[int, list[int]] = {i: [] for i in range(len(configs))}
    for fold, tr, va in splits.iter_folds(folds):
        log.info("fold %d: %d training rows, %d validation rows", fold, len(tr), len(va))
        fits = {
            C.MAJORITY: C.fit_majority(x[tr], y[tr], n_classes),
            C.LOGISTIC: C.fit_logistic(x[tr], y[tr], weights[tr], n_classes, tc.seed),
        }
        for i, config in enumerate(configs):
            fitted = C.fit_xgboost(
                x[tr],
                y[tr],
                weights[tr],
                config,
                n_classes,
                FEATURE_COLUMNS,
                tc.seed,
                tc.num_boost_round,
                tc.early_stopping_rounds,
                valid=(x[va], y[va]),
                nthread=lc.train_threads,
            )
            best_rounds[i].append(int(fitted.best_iteration or 0) + 1)
            fits[f"{C.XGBOOST}#{i}"] = fitted
        for name, fitted in fits.items():
            scored = M.evaluate(y[va], fitted.predict_proba(x[va]), S.CATEGORIES)
            per_fold[name].append(
                _scalars(scored)
                | _costs(fitted, x[va], 1)
                | {"per_class_f1": {c: v["f1"] for c, v in scored["per_class"].items()}}
            )

    def summary(name: str) -> dict[str, Any]:
        folds_ = per_fold[name]
        return {
            "folds": folds_,
            "summary": M.summarise_folds(folds_),
            "per_class_f1_mean": {
                c: float(np.mean([f["per_class_f1"][c] for f in folds_])) for c in S.CATEGORIES
            },
        }

    trials: list[dict[str, Any]] = []
    for i, config in enumerate(configs):
        s = summary(f"{C.XGBOOST}#{i}")
        rounds = round(float(np.mean(best_rounds[i])))
        trials.append({"trial": i, "params": config | {"num_boost_round": rounds}} | s)
    best = max(
        trials,
        key=lambda t: (t["summary"]["macro_f1"]["mean"], -t["summary"]["log_loss"]["mean"]),
    )
    log.info(
        "best XGBoost trial %d: CV macro-F1 %.4f +- %.4f",
        best["trial"],
        best["summary"]["macro_f1"]["mean"],
        best["summary"]["macro_f1"]["std"],
    )

    final = {
        C.MAJORITY: C.fit_majority(x_all, y_all, n_classes),
        C.LOGISTIC: C.fit_logistic(x_all, y_all, weights_all, n_classes, tc.seed),
        C.XGBOOST: C.fit_xgboost(
            x_all,
            y_all,
            weights_all,
            best["params"],
            n_classes,
            FEATURE_COLUMNS,
            tc.seed,
            best["params"]["num_boost_round"],
            nthread=lc.train_threads,
        ),
    }
    holdout = {}
    for name, fitted in final.items():
        holdout[name] = M.evaluate(yh, fitted.predict_proba(xh), S.CATEGORIES) | _costs(
            fitted, xh, lc.latency_repeats
        )
    evaluation = {
        "chosen": C.XGBOOST,
        "chosen_params": best["params"],
        "split": {
            "cutoff_date": lc.cutoff_date.isoformat(),
            "training_rows": len(train),
            "search_rows": len(y),
            "training_accounts": int(train[S.ACCOUNT_ID].nunique()),
            "holdout_rows": len(hold),
            "holdout_accounts": int(hold[S.ACCOUNT_ID].nunique()),
            "cv_folds": lc.cv_folds,
        },
        "class_weighting": {
            "scheme": "(count / max_count) ** -power",
            "power": tc.class_weight_power,
        },
        "cross_validation": {
            C.MAJORITY: summary(C.MAJORITY),
            C.LOGISTIC: summary(C.LOGISTIC),
            C.XGBOOST: trials,
        },
        "holdout": holdout,
    }
    return Selection(chosen=final[C.XGBOOST], evaluation=evaluation, fitted=final)


def run(
    spark: SparkSession, cfg: Config, input_path: str, model_out: str, as_of: dt.date
) -> ModelArtifact:
    """Selects a model on the labelled files under `input_path` and writes its artifact."""
    data = collect_training_set(spark, cfg, input_path, as_of)
    log.info(
        "collected %d rows (%d with unknown labels skipped, %d outside both split sides)",
        len(data.frame),
        data.unknown_labels,
        data.rows_outside_split,
    )
    selection = select_model(data.frame, cfg)
    manifest = dataset_manifest(spark, input_path)
    chosen = selection.evaluation["holdout"][C.XGBOOST]
    metrics = {f"holdout_{k}": v for k, v in _scalars(chosen).items()} | {
        "sample_fraction": data.sample_fraction,
        "unknown_label_rows": data.unknown_labels,
        "rows_outside_split": data.rows_outside_split,
    }
    assert selection.chosen.booster is not None
    artifact = save_artifact(
        model_out,
        selection.chosen.booster,
        FEATURE_COLUMNS,
        S.CATEGORIES,
        data.frame[S.SOURCE_FILE].unique().tolist(),
        params=vars(cfg.training)
        | selection.evaluation["chosen_params"]
        | {
            "input": input_path,
            "as_of": as_of.isoformat(),
            "cutoff_date": cfg.lifecycle.cutoff_date.isoformat(),
        },
        metrics=metrics,
    )
    out = Path(model_out)
    (out / EVALUATION_FILE).write_text(
        json.dumps(M.json_ready(selection.evaluation), indent=2) + "\n", encoding="utf-8"
    )
    (out / MANIFEST_FILE).write_text(
        json.dumps({"input": input_path, "files": manifest}, indent=2) + "\n", encoding="utf-8"
    )
    log.info(
        "model %s: hold-out macro-F1 %.4f, accuracy %.4f (majority %.4f, logistic %.4f)",
        artifact.version,
        chosen["macro_f1"],
        chosen["accuracy"],
        selection.evaluation["holdout"][C.MAJORITY]["macro_f1"],
        selection.evaluation["holdout"][C.LOGISTIC]["macro_f1"],
    )
    return artifact
