"""Training and model selection on the scoring job's reader and features.

1. Spark reads the labelled per-account files through the same reader, cleaning and feature code
   as the daily job (`txcat.sources`). Before features are built, rows are split (see
   `lifecycle.splits`): rows dated before the cutoff train, rows on/after it are the hold-out.
   The cutoff is `lifecycle.cutoff_date`, or, when that is null, derived from the data (the last
   `lifecycle.holdout_days_share` of the labelled days). `lifecycle.holdout` says whether every
   account is on both sides (`time`, the default: the daily job scores accounts the model has
   seen) or a share of the accounts is held out whole (`time_unseen_accounts`). Per-file
   aggregates are computed within each side. Label memory (`features.memory`): a training row
   reads the counts of the other time blocks of the training part (`features.memory_folds`
   contiguous blocks of its days), never its own label; a hold-out row reads the table of the
   whole training part, as the daily job reads the shipped one.
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
4. With `lifecycle.refit_all_rows` (default), the chosen configuration is then fitted once more
   on every labelled row (training part and hold-out, each file whole), with the number of
   rounds the selection chose: that is the model shipped (its rows' memory features out of fold
   over every labelled row). The artifact records what it was fitted on (rows, accounts, dates,
   a hash of the rows) and the hold-out evaluation it passed, and ships the label memory table
   of the rows it was fitted on (`memory.parquet`).
5. The XGBoost model is written as the artifact folder of `txcat.model`, plus
   `evaluation.json` (every candidate's metrics) and `manifest.json` (input files and hashes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from txcat import read, sources
from txcat import schema as S
from txcat.config import HOLDOUT_TIME, Config
from txcat.engine import XGBOOST as XGBOOST_ENGINE
from txcat.engine import check_engine
from txcat.engine import parity as engine_parity
from txcat.features import FEATURE_COLUMNS, LabelMemory
from txcat.features import memory as MEM
from txcat.lifecycle import candidates as C
from txcat.lifecycle import metrics as M
from txcat.lifecycle import mlflow_model as MLM
from txcat.lifecycle import splits
from txcat.model import ModelArtifact, save_artifact
from txcat.monitor.profile import (
    feature_profile,
    holdout_figures,
    prediction_profile,
    reference_profile,
)
from txcat.monitor.profile import to_bytes as profile_bytes
from txcat.serve import features as SF

log = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
MANIFEST_FILE = "manifest.json"


class TrainingDataError(RuntimeError):
    """There is nothing (or not enough) to train on."""


@dataclass(frozen=True)
class LabelledRows:
    """Scorable rows (labels in `label`) and the features of any selection of them.

    `featured(selection, memory)` adds the feature columns to a selection of `rows` (a split
    side, the labelled rows) with the given label memory: `Prepared.featured` for the files of
    one source, or a union over several sources (`txcat.lifecycle.retrain`).
    """

    rows: DataFrame
    featured: Callable[[DataFrame, LabelMemory], DataFrame]


@contextmanager
def folder_rows(
    spark: SparkSession, cfg: Config, input_path: str, as_of: dt.date
) -> Iterator[LabelledRows]:
    """The rows of the labelled files under `input_path`, through `txcat.sources.prepare`,
    their records cached while the block runs (`sources.cached`)."""
    source = sources.prepare(spark, cfg, sources.Source.folder(input_path), as_of)
    with sources.cached(source) as prepared:
        yield LabelledRows(prepared.scorable, prepared.featured)


@dataclass(frozen=True)
class TrainingSet:
    frame: pd.DataFrame  # account_id, source_file, date, label, splits.SIDE, FEATURE_COLUMNS
    sample_fraction: float
    unknown_labels: int
    rows_outside_split: int
    #: The first hold-out day, and whether it came from the data (not the configuration).
    cutoff: dt.date
    cutoff_derived: bool
    #: The label memory table of the rows the shipped model is fitted on (`memory.parquet`).
    memory_table: pd.DataFrame
    #: Every labelled row with features computed over whole files (the refit's input);
    #: None when `lifecycle.refit_all_rows` is off.
    full: pd.DataFrame | None = None
    #: Feature bins and categorical values of the rows the shipped model is fitted on
    #: (`txcat.monitor.profile`).
    feature_profile: dict[str, Any] | None = None


@dataclass
class Selection:
    """Everything the comparison produced; `evaluation` is JSON-ready."""

    chosen: C.Fitted
    evaluation: dict[str, Any]
    fitted: dict[str, C.Fitted] = field(default_factory=dict)


def collect_training_set(
    spark: SparkSession,
    cfg: Config,
    input_path: str,
    as_of: dt.date,
    labelled_rows: LabelledRows | None = None,
) -> TrainingSet:
    """Reads labelled files, splits them by date (and account), builds features, collects.

    Args:
        labelled_rows: The rows to train on; default: the files under `input_path`
            (`folder_rows`).
    """
    if labelled_rows is not None:
        return _training_set(cfg, input_path, labelled_rows)
    with folder_rows(spark, cfg, input_path, as_of) as source:
        return _training_set(cfg, input_path, source)


def _training_set(cfg: Config, input_path: str, source: LabelledRows) -> TrainingSet:
    lc, fc = cfg.lifecycle, cfg.features
    transactions = source.rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        known = F.col(S.LABEL).isin(*S.CATEGORIES)
        counts = transactions.groupBy(known.alias("known")).count().collect()
        by_kind = {r["known"]: r["count"] for r in counts}
        rows, unknown = by_kind.get(True, 0), by_kind.get(False, 0)
        if rows == 0:
            raise TrainingDataError(f"no labelled rows under {input_path}")
        labelled = transactions.where(known)
        cutoff, derived = lc.cutoff_date, lc.cutoff_date is None
        if cutoff is None:
            days = [r[0] for r in labelled.select(S.TRANSACTION_DATE).distinct().collect()]
            try:
                cutoff = splits.derive_cutoff(days, lc.holdout_days_share)
            except ValueError as exc:
                raise TrainingDataError(f"{exc} (under {input_path})") from exc
            log.info(
                "cutoff %s derived from the data: the last %.0f%% of %d labelled days",
                cutoff,
                100 * lc.holdout_days_share,
                len(days),
            )
        if lc.holdout == HOLDOUT_TIME:
            split = splits.with_time_side(labelled, cutoff)
        else:
            accounts = [r[0] for r in labelled.select(S.ACCOUNT_ID).distinct().collect()]
            try:
                held = splits.holdout_accounts(
                    accounts, lc.holdout_account_share, cfg.training.seed
                )
            except ValueError as exc:
                raise TrainingDataError(str(exc)) from exc
            split = splits.with_split_side(labelled, accounts, held, cutoff)
        # The merchant city and amount ride along for the label memory's keys (a champion's own
        # memory lookups, `champion_features`).
        columns = [
            S.ROW_ID,
            S.ACCOUNT_ID,
            S.SOURCE_FILE,
            S.TRANSACTION_DATE,
            S.LABEL,
            S.MERCHANT_CITY,
            S.AMOUNT,
        ]
        memory = MEM.collected(
            MEM.training_memory(
                split, F.col(splits.SIDE) == splits.TRAIN, fc.memory_smoothing, fc.memory_folds
            )
        )
        # The monitor's categorical columns ride along for the reference profile only.
        extra = [c for c in cfg.monitoring.categorical_columns if c not in columns]
        features = source.featured(split, memory).select(
            *columns, splits.SIDE, *FEATURE_COLUMNS, *extra
        )
        fraction = min(1.0, cfg.training.max_driver_rows / rows)
        if fraction < 1.0:
            log.warning("sampling %.3f of %d rows to fit the driver", fraction, rows)
            features = features.sample(fraction=fraction, seed=cfg.training.seed)
        if lc.refit_all_rows:
            frame = pd.DataFrame(features.drop(*extra).toPandas())
        else:
            frame, profile = _collect_profiled(
                features, features.where(F.col(splits.SIDE) == splits.TRAIN), extra, cfg
            )
        frame[S.SOURCE_FILE] = frame[S.SOURCE_FILE].map(splits.original_file)
        full = None
        if lc.refit_all_rows:
            memory = MEM.collected(
                MEM.training_memory(labelled, F.lit(True), fc.memory_smoothing, fc.memory_folds)
            )
            whole = source.featured(labelled, memory).select(*columns, *FEATURE_COLUMNS, *extra)
            if fraction < 1.0:
                whole = whole.sample(fraction=fraction, seed=cfg.training.seed)
            full, profile = _collect_profiled(whole, whole, extra, cfg)
            shipped = MEM.build_memory(labelled)
        else:
            shipped = MEM.build_memory(split.where(F.col(splits.SIDE) == splits.TRAIN))
        # One row per (level, key): a few thousand rows per few thousand labelled rows.
        memory_table = shipped.toPandas()
    finally:
        transactions.unpersist()
    outside = rows - len(frame) if fraction == 1.0 else 0
    return TrainingSet(
        frame, fraction, unknown, outside, cutoff, derived, memory_table, full, profile
    )


def _collect_profiled(
    features: DataFrame, reference: DataFrame, extra: list[str], cfg: Config
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The collected features (without the `extra` columns) and the reference profile of the
    `reference` rows among them (the rows the shipped model is fitted on), from one cache."""
    features = features.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        profile = feature_profile(reference, FEATURE_COLUMNS, cfg.monitoring)
        return pd.DataFrame(features.drop(*extra).toPandas()), profile
    finally:
        features.unpersist()


def fitted_on(frame: pd.DataFrame) -> dict[str, Any]:
    """What a model was fitted on: rows, accounts, date range and a hash of (row id, label)."""
    pairs = sorted(zip(frame[S.ROW_ID].astype(str), frame[S.LABEL].astype(str), strict=True))
    digest = hashlib.sha256("\n".join(f"{r}\t{label}" for r, label in pairs).encode()).hexdigest()
    dates = pd.to_datetime(frame[S.TRANSACTION_DATE])
    return {
        "rows": len(frame),
        "accounts": int(frame[S.ACCOUNT_ID].nunique()),
        "first_date": dates.min().date().isoformat() if len(frame) else None,
        "last_date": dates.max().date().isoformat() if len(frame) else None,
        "rows_sha256": digest,
    }


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


def select_model(frame: pd.DataFrame, cfg: Config, cutoff: dt.date | None = None) -> Selection:
    """Compares the candidates on grouped folds, refits, scores everyone on the hold-out.

    Args:
        frame: Collected features with the `splits.SIDE` column (see `collect_training_set`).
        cfg: Training (`training`) and selection (`lifecycle`) settings.
        cutoff: The first hold-out day (default `lifecycle.cutoff_date`), for the record.

    Raises:
        TrainingDataError: a side is empty or has fewer accounts than folds.
    """
    tc, lc = cfg.training, cfg.lifecycle
    n_classes = len(S.CATEGORIES)
    train = frame[frame[splits.SIDE] == splits.TRAIN].reset_index(drop=True)
    hold = frame[frame[splits.SIDE] == splits.HOLDOUT].reset_index(drop=True)
    cutoff = cutoff or lc.cutoff_date
    if train.empty or hold.empty:
        raise TrainingDataError(
            f"the split at {cutoff} ({lc.holdout} hold-out) left {len(train)} training and "
            f"{len(hold)} hold-out rows of {len(frame)}; check lifecycle.cutoff_date "
            f"({lc.cutoff_date}) against the data's dates "
            f"{frame[S.TRANSACTION_DATE].min()}..{frame[S.TRANSACTION_DATE].max()}"
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
        raise TrainingDataError(
            f"{exc}: the training part before {cutoff} has "
            f"{train.loc[searched, S.ACCOUNT_ID].nunique()} accounts; lower lifecycle.cv_folds"
        ) from exc
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
                memory_backoff_rows=tc.memory_backoff_rows,
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
        params = config | {"num_boost_round": rounds}
        trials.append({"trial": i, "params": params, "cost": C.model_cost(params, n_classes)} | s)
    top = max(
        trials,
        key=lambda t: (t["summary"]["macro_f1"]["mean"], -t["summary"]["log_loss"]["mean"]),
    )
    best = C.choose_trial(trials, lc.selection_macro_f1_tolerance)
    log.info(
        "XGBoost trial %d chosen: CV macro-F1 %.4f +- %.4f, %d trees x depth %d; best trial %d: "
        "%.4f, %d trees x depth %d (tolerance %.4f)",
        best["trial"],
        best["summary"]["macro_f1"]["mean"],
        best["summary"]["macro_f1"]["std"],
        best["cost"]["trees"],
        best["cost"]["max_depth"],
        top["trial"],
        top["summary"]["macro_f1"]["mean"],
        top["cost"]["trees"],
        top["cost"]["max_depth"],
        lc.selection_macro_f1_tolerance,
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
            memory_backoff_rows=tc.memory_backoff_rows,
        ),
    }
    holdout = {}
    predicted = {}
    for name, fitted in final.items():
        proba = fitted.predict_proba(xh)
        predicted[name] = proba.argmax(axis=1)
        holdout[name] = M.evaluate(yh, proba, S.CATEGORIES) | _costs(fitted, xh, lc.latency_repeats)
    # What the hold-out can resolve: the model's lead over each baseline with an interval
    # (the gate's `baseline_rule: interval` reads it).
    leads = {
        name: M.paired_bootstrap_lead(
            yh, predicted[C.XGBOOST], predicted[name], n_classes, seed=tc.seed
        )
        for name in C.BASELINES
    }
    evaluation = {
        "chosen": C.XGBOOST,
        "chosen_params": best["params"],
        "selection": {
            "rule": "cheapest (trees x depth) within the tolerance of the best CV macro-F1",
            "macro_f1_tolerance": lc.selection_macro_f1_tolerance,
            "chosen_trial": best["trial"],
            "best_macro_f1_trial": top["trial"],
            "trials": [
                {
                    "trial": t["trial"],
                    "macro_f1": t["summary"]["macro_f1"]["mean"],
                    "latency_ms_per_10k": t["summary"]["latency_ms_per_10k"]["mean"],
                    **t["cost"],
                }
                for t in trials
            ],
        },
        "split": {
            "holdout": lc.holdout,
            "cutoff_date": cutoff.isoformat() if cutoff else None,
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
        "holdout_leads": leads,
    }
    return Selection(chosen=final[C.XGBOOST], evaluation=evaluation, fitted=final)


def refit(selection: Selection, full: pd.DataFrame, cfg: Config) -> C.Fitted:
    """The chosen XGBoost configuration fitted on every labelled row (its rounds kept)."""
    tc = cfg.training
    x, y = _matrix(full)
    weights = C.class_weights(y, len(S.CATEGORIES), tc.class_weight_power)
    params = selection.evaluation["chosen_params"]
    return C.fit_xgboost(
        x,
        y,
        weights,
        params,
        len(S.CATEGORIES),
        FEATURE_COLUMNS,
        tc.seed,
        params["num_boost_round"],
        nthread=cfg.lifecycle.train_threads,
        memory_backoff_rows=tc.memory_backoff_rows,
    )


@dataclass(frozen=True)
class Champion:
    """The model serving today, to be scored on the candidate's hold-out rows."""

    label: str  # e.g. "txcat-categoriser version 3"
    version: str
    artifact: ModelArtifact


def champion_on_holdout(champion: Champion, hold: pd.DataFrame, cutoff: dt.date) -> dict[str, Any]:
    """The champion's hold-out metrics, or why it cannot be compared on these rows.

    A champion fitted on rows of the hold-out period (on/after `cutoff`) has seen them or their
    neighbours: its figures would flatter it, so it is not compared. One trained on other
    features cannot be scored on this code's feature columns. A champion with a label memory is
    scored as it serves: the hold-out rows' memory features are looked up in its own table
    (`champion_features`), not the candidate's.
    """
    record: dict[str, Any] = {"label": champion.label, "version": champion.version}
    artifact = champion.artifact
    last = (artifact.metadata.get("fitted_on") or {}).get("last_date")
    if tuple(artifact.feature_names) != tuple(FEATURE_COLUMNS):
        return record | {"comparable": False, "reason": "trained on other feature columns"}
    if tuple(artifact.categories) != tuple(S.CATEGORIES):
        return record | {"comparable": False, "reason": "predicts other categories"}
    if last is not None and dt.date.fromisoformat(last) >= cutoff:
        return record | {
            "comparable": False,
            "reason": f"fitted on rows up to {last}, inside the hold-out period (from {cutoff})",
        }
    if artifact.memory_table is not None and last is None:
        # Its table may count the hold-out rows' own labels.
        return record | {
            "comparable": False,
            "reason": "its label memory does not say which days it counts (no fitted_on)",
        }
    x, y = _matrix(champion_features(artifact, hold))
    fitted = C.booster_candidate(artifact.booster(), {}, backoff=artifact.memory_backoff)
    metrics = M.evaluate(y, fitted.predict_proba(x), S.CATEGORIES)
    return record | {"comparable": True, "metrics": _scalars(metrics)}


def champion_features(artifact: ModelArtifact, hold: pd.DataFrame) -> pd.DataFrame:
    """The hold-out rows as `artifact` sees them: its own label memory's features (the
    real-time API's lookup of the shipped table, held to the batch job's by its parity tests)
    in place of the candidate's; the rows unchanged for a model without a memory."""
    if artifact.memory_table is None:
        return hold
    index = MEM.MemoryIndex.from_parquet(artifact.memory_table, artifact.memory_smoothing)
    keys = [
        SF.memory_keys(
            str(account),
            None if pd.isna(city) else str(city),
            None if pd.isna(amount) else float(amount),
        )
        for account, city, amount in zip(
            hold[S.ACCOUNT_ID], hold[S.MERCHANT_CITY], hold[S.AMOUNT], strict=True
        )
    ]
    by_level = {level: [k[level] for k in keys] for level in MEM.LEVELS}
    own = pd.DataFrame(index.features(by_level, len(keys)), index=hold.index)
    return hold.assign(**{c: own[c] for c in own.columns})


def _reference_profile(data: TrainingSet, selection: Selection, cfg: Config) -> bytes | None:
    """The monitor's reference: the fitted rows' features, the candidate's hold-out predictions
    and figures (the shipped model has seen the hold-out when it was refitted on every row)."""
    if data.feature_profile is None:
        return None
    hold_x, _ = _matrix(data.frame[data.frame[splits.SIDE] == splits.HOLDOUT])
    proba = selection.fitted[C.XGBOOST].predict_proba(hold_x)
    document = reference_profile(
        data.feature_profile,
        prediction_profile(proba, S.CATEGORIES, cfg.monitoring.low_confidence),
        holdout_figures(selection.evaluation["holdout"][C.XGBOOST]),
        source="features: the rows the shipped model is fitted on; predictions and figures: "
        f"the candidate on the hold-out (from {data.cutoff.isoformat()}, {cfg.lifecycle.holdout})",
    )
    return profile_bytes(document)


def run(
    spark: SparkSession,
    cfg: Config,
    input_path: str,
    model_out: str,
    as_of: dt.date,
    champion: Champion | None = None,
    labelled_rows: LabelledRows | None = None,
    manifest: dict[str, Any] | None = None,
) -> ModelArtifact:
    """Selects a model on the labelled files under `input_path` and writes its artifact.

    With `champion`, the serving model is also scored on the hold-out rows (`evaluation.json`
    key `champion`), for the quality gate's comparison. `labelled_rows` replaces the files
    under `input_path` as the rows to train on, and `manifest` (JSON-ready) then says what
    they are (default: `input_path` and its files' sizes and hashes).
    """
    check_engine(cfg.training.engine)  # before the long part: oneDAL must be installed
    data = collect_training_set(spark, cfg, input_path, as_of, labelled_rows)
    log.info(
        "collected %d rows (%d with unknown labels skipped, %d outside both split sides)",
        len(data.frame),
        data.unknown_labels,
        data.rows_outside_split,
    )
    selection = select_model(data.frame, cfg, data.cutoff)
    if manifest is None:
        manifest = {"input": input_path, "files": dataset_manifest(spark, input_path)}
    chosen = selection.evaluation["holdout"][C.XGBOOST]
    split = selection.evaluation["split"] | {"cutoff_derived": data.cutoff_derived}
    selection.evaluation["split"] = split
    shipped, shipped_on = selection.chosen, data.frame[data.frame[splits.SIDE] == splits.TRAIN]
    hold_x, _ = _matrix(data.frame[data.frame[splits.SIDE] == splits.HOLDOUT])
    if data.full is not None:
        shipped, shipped_on = refit(selection, data.full, cfg), data.full
        log.info("refitted the chosen configuration on all %d labelled rows", len(data.full))
        # Quality is the candidate's (on rows it never saw); cost is the shipped model's.
        chosen |= _costs(shipped, hold_x, cfg.lifecycle.latency_repeats)
    assert shipped.booster is not None
    if cfg.training.engine != XGBOOST_ENGINE:
        selection.evaluation["engine_parity"] = engine_parity(
            shipped.booster, np.ascontiguousarray(hold_x, dtype=np.float32), cfg.training.engine
        )
        log.info("engine parity on the hold-out: %s", selection.evaluation["engine_parity"])
    metrics = {f"holdout_{k}": v for k, v in _scalars(chosen).items()} | {
        "sample_fraction": data.sample_fraction,
        "unknown_label_rows": data.unknown_labels,
        "rows_outside_split": data.rows_outside_split,
    }
    fit_record = fitted_on(shipped_on) | {"refit_all_rows": data.full is not None}
    evaluation_record = {
        "holdout": cfg.lifecycle.holdout,
        "cutoff_date": data.cutoff.isoformat(),
        "cutoff_derived": data.cutoff_derived,
        "holdout_rows": split["holdout_rows"],
        "candidate_fitted_on": fitted_on(data.frame[data.frame[splits.SIDE] == splits.TRAIN]),
        "metrics": dict(_scalars(chosen)),
        "file": EVALUATION_FILE,
    }
    if "engine_parity" in selection.evaluation:
        evaluation_record["engine_parity"] = selection.evaluation["engine_parity"]
    selection.evaluation["fitted_on"] = fit_record
    if champion is not None:
        hold = data.frame[data.frame[splits.SIDE] == splits.HOLDOUT]
        selection.evaluation["champion"] = champion_on_holdout(champion, hold, data.cutoff)
        log.info("champion on the hold-out: %s", selection.evaluation["champion"])
    artifact = save_artifact(
        model_out,
        shipped.booster,
        FEATURE_COLUMNS,
        S.CATEGORIES,
        data.frame[S.SOURCE_FILE].unique().tolist(),
        params=vars(cfg.training)
        | selection.evaluation["chosen_params"]
        | {
            "input": input_path,
            "as_of": as_of.isoformat(),
            "cutoff_date": data.cutoff.isoformat(),
            "holdout": cfg.lifecycle.holdout,
        },
        metrics=metrics,
        extra={"fitted_on": fit_record, "evaluation": evaluation_record},
        memory=(MEM.table_to_parquet(data.memory_table), cfg.features.memory_smoothing),
        profile=_reference_profile(data, selection, cfg),
        engine=cfg.training.engine,
        memory_backoff=[S.CATEGORIES[k] for k in shipped.memory_backoff],
    )
    out = Path(model_out)
    MLM.write(out, artifact, MLM.input_example(shipped_on, artifact.feature_names))
    (out / EVALUATION_FILE).write_text(
        json.dumps(M.json_ready(selection.evaluation), indent=2) + "\n", encoding="utf-8"
    )
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info(
        "model %s: hold-out macro-F1 %.4f, accuracy %.4f (majority %.4f, logistic %.4f); "
        "fitted on %d rows",
        artifact.version,
        chosen["macro_f1"],
        chosen["accuracy"],
        selection.evaluation["holdout"][C.MAJORITY]["macro_f1"],
        selection.evaluation["holdout"][C.LOGISTIC]["macro_f1"],
        fit_record["rows"],
    )
    return artifact
