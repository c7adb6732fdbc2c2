"""The monitor job: one day's predictions, quarantine, summaries and feedback against the
model's reference profile; writes `OUTPUT/monitoring/run_date=D/` (metrics, report, charts).

What is read, and how much of it:
- the day's predictions partition: one Spark aggregation (category x confidence bin -> rows,
  sum of top probabilities); no row reaches the driver;
- the scoring job's feature histogram of the day (`runs/run_date=D/feature_histogram.json`,
  binned on the profile's edges while the job had the features in hand): the monitor never
  recomputes features, which would cost as much as the job's own read and feature stages;
- the run summaries of the trailing days (volume, quarantine by reason: the job's own counts,
  reconciled with what it wrote) and the Great Expectations results they point at;
- feedback labels (`row_id`, `category`), joined to the predictions of the trailing window in
  Spark and counted per (true, predicted) category;
- the earlier days' `metrics.json`, for the trends.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from txcat import exits, storage, write
from txcat import schema as S
from txcat.config import Config, MonitoringConfig
from txcat.model import ModelArtifact, ModelArtifactError
from txcat.model_uri import load_verified
from txcat.monitor import checks
from txcat.monitor import profile as P

log = logging.getLogger(__name__)

MONITORING = "monitoring"
METRICS_FILE = "metrics.json"
#: Feedback files: one row per labelled transaction.
FEEDBACK_ROW_ID = S.ROW_ID
FEEDBACK_CATEGORY = "category"
FEEDBACK_CORRECTED_AT = "corrected_at"
#: The accepted corrections' folder in the store of `txcat feedback import`.
FEEDBACK_CORRECTIONS = "corrections"


class MonitorInputError(RuntimeError):
    """Nothing to monitor: no finished run or no predictions for the day (exit 2)."""


@dataclass(frozen=True)
class MonitorParams:
    run_date: dt.date
    output: str
    #: Model artifact or registry URI holding the reference profile; default: the day's model.
    model: str = ""
    #: Folder or URI of feedback files (Parquet or CSV with a header): row_id, category.
    feedback: str = ""


@dataclass(frozen=True)
class MonitorResult:
    exit_code: int
    metrics: dict[str, Any]
    folder: str


def day_folder(output: str, run_date: dt.date) -> str:
    return write.partition_path(storage.join(output, MONITORING), run_date)


def run(spark: SparkSession, cfg: Config, params: MonitorParams) -> MonitorResult:
    """Monitors one scored day; returns exit 0, or 8 when an alert threshold was crossed.

    Raises:
        MonitorInputError: the day has no finished run or no prediction.
        txcat.model.ModelArtifactError: the model (profile) cannot be loaded.
    """
    mc = cfg.monitoring
    summary = write.read_summary(spark, params.output, params.run_date)
    if summary is None:
        raise MonitorInputError(
            f"no scoring run for {params.run_date} under {params.output} "
            f"(no {write.summary_path(params.output, params.run_date)}): run the scoring job first"
        )
    if summary.get("status") == write.RUNNING:
        raise MonitorInputError(f"the scoring run of {params.run_date} has not finished")
    root = _predictions_root(summary, params.output)
    day = _prediction_counts(spark, root, params.run_date, mc.low_confidence)
    if day["rows"] == 0:
        raise MonitorInputError(
            f"no predictions for {params.run_date} under {root}: nothing to monitor"
        )
    model_uri = params.model or str(summary.get("model_uri") or "")
    artifact = load_model(spark, model_uri, cfg)
    reference = P.from_bytes(artifact.profile) if artifact.profile is not None else None
    history = _history(spark, params.output, params.run_date, mc.trend_days)
    metrics: dict[str, Any] = {
        "run_date": params.run_date.isoformat(),
        "output": params.output,
        "model_uri": model_uri,
        "model_version": artifact.version,
        "scored_by_model_version": summary.get(S.MODEL_VERSION),
        "model_registry_version": summary.get(S.MODEL_REGISTRY_VERSION),
        "run_id": summary.get("run_id"),
        "run_status": summary.get("status"),
        "notes": [],
    }
    if summary.get("model_sha256") not in (None, artifact.sha256):
        metrics["notes"].append(
            f"the day was scored by model {summary.get('model_version')} (sha256 "
            f"{str(summary.get('model_sha256'))[:12]}), compared with the reference of "
            f"{artifact.version} ({artifact.sha256[:12]}): {model_uri} now serves another model"
        )
    alerts: list[dict[str, Any]] = []
    if reference is None:
        metrics["notes"].append(
            f"model {artifact.version} has no reference profile (trained before monitoring): "
            "no feature or prediction drift, no degradation baseline"
        )
    else:
        alerts += _drift(spark, params, mc, reference, day, metrics)
    volume, found = checks.volume(summary, [h["summary"] for h in history if h["summary"]], mc)
    metrics["volume"] = volume
    alerts += found
    quarantine, found = checks.quarantine(
        summary, [h["summary"] for h in history if h["summary"]], mc
    )
    metrics["quarantine"] = quarantine
    alerts += found
    earlier = [h["metrics"]["expectations"]["results"] for h in history if _has(h, "expectations")]
    found_expectations, found = checks.expectations(_expectations(spark, summary), earlier)
    metrics["expectations"] = found_expectations
    alerts += found
    alerts += _feedback(spark, cfg, params, root, reference, metrics)
    metrics["alerts"] = alerts
    metrics["status"] = "alert" if alerts else "ok"
    metrics["trend"] = _trend(history, metrics, summary)
    folder = day_folder(params.output, params.run_date)
    from txcat.monitor import report

    metrics["report"] = report.write_report(spark, folder, metrics)
    if mc.log_to_mlflow:
        from txcat.monitor import tracking

        metrics["mlflow"] = tracking.log_day(cfg, metrics)
    body = json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n"
    storage.write_bytes(spark, storage.join(folder, METRICS_FILE), body.encode("utf-8"))
    code = exits.MONITOR_ALERT if alerts else exits.OK
    log.info("monitoring %s: %d alerts; %s", params.run_date, len(alerts), folder)
    return MonitorResult(code, metrics, folder)


def load_model(spark: SparkSession, uri: str, cfg: Config) -> ModelArtifact:
    """The model artifact, resolved as the scoring job resolves `--model` (registry URI,
    published alias folder, or a folder) and checked against the checksum its source promises.

    Raises:
        txcat.model.ModelArtifactError: no URI, or the artifact is refused.
    """
    if not uri:
        raise ModelArtifactError("no model: the run summary names none; pass --model")
    artifact, _ = load_verified(
        uri,
        cfg,
        read=lambda u: storage.read_bytes(spark, u),
        exists=lambda u: storage.exists(spark, u),
        error=ModelArtifactError,
    )
    return artifact


def _has(day: dict[str, Any], key: str) -> bool:
    return bool(day["metrics"]) and key in day["metrics"]


def _predictions_root(summary: dict[str, Any], output: str) -> str:
    sinks = summary.get("sinks") or {}
    return str((sinks.get("parquet") or {}).get("path") or write.predictions_path(output))


def _day_predictions(spark: SparkSession, root: str, first: dt.date, last: dt.date) -> DataFrame:
    try:
        frame = spark.read.parquet(root)
    except AnalysisException as exc:
        raise MonitorInputError(f"no predictions under {root}: {str(exc).splitlines()[0]}") from exc
    return frame.where(F.col(S.RUN_DATE).between(F.lit(first), F.lit(last)))


def _prediction_counts(
    spark: SparkSession, root: str, run_date: dt.date, low_confidence: float
) -> dict[str, Any]:
    """Mix, confidence histogram, mean top probability and low-confidence share of the day."""
    probability = F.col(S.PREDICTED_PROBABILITY)
    rows = (
        _day_predictions(spark, root, run_date, run_date)
        .groupBy(S.PREDICTED_CATEGORY, P.bin_index(probability, P.CONFIDENCE_EDGES).alias("bin"))
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(probability).alias("probability"),
            F.count(F.when(probability < F.lit(low_confidence), 1)).alias("low"),
        )
        .collect()
    )
    mix: dict[str, int] = {}
    confidence = [0] * (len(P.CONFIDENCE_EDGES) + 1)
    total = low = 0
    probability_sum = 0.0
    for r in rows:
        mix[r[S.PREDICTED_CATEGORY]] = mix.get(r[S.PREDICTED_CATEGORY], 0) + r["rows"]
        confidence[max(r["bin"], 0)] += r["rows"]
        total += r["rows"]
        low += r["low"]
        probability_sum += r["probability"] or 0.0
    return {
        "rows": total,
        "mix": mix,
        "confidence_counts": confidence,
        "mean_top_probability": probability_sum / total if total else 0.0,
        "low_confidence_share": low / total if total else 0.0,
    }


def _read_json(spark: SparkSession, uri: str) -> dict[str, Any] | None:
    try:
        document = json.loads(storage.read_bytes(spark, uri).decode("utf-8"))
    except FileNotFoundError:
        return None
    return document if isinstance(document, dict) else None


def _history(
    spark: SparkSession, output: str, run_date: dt.date, days: int
) -> list[dict[str, Any]]:
    """The finished runs' summaries and monitoring metrics of the `days` before, newest first."""
    found = []
    for back in range(1, days + 1):
        day = run_date - dt.timedelta(days=back)
        summary = write.read_summary(spark, output, day)
        if summary is not None and summary.get("status") == write.RUNNING:
            summary = None
        metrics = _read_json(spark, storage.join(day_folder(output, day), METRICS_FILE))
        if summary is not None or metrics is not None:
            found.append({"date": day.isoformat(), "summary": summary, "metrics": metrics})
    return found


def _drift(
    spark: SparkSession,
    params: MonitorParams,
    mc: MonitoringConfig,
    reference: dict[str, Any],
    day: dict[str, Any],
    metrics: dict[str, Any],
) -> list[dict[str, Any]]:
    predictions, alerts = checks.prediction_drift(reference["predictions"], day, mc)
    metrics["predictions"] = predictions
    histogram = _read_json(spark, P.day_histogram_path(params.output, params.run_date))
    if histogram is None:
        metrics["features"] = {
            "note": "the day's run wrote no feature histogram (scored by a model without a "
            "reference profile): feature drift not computed"
        }
        return alerts
    table, found = checks.feature_drift(reference["features"], histogram, mc)
    metrics["features"] = {
        "rows": histogram["rows"],
        "file_share": histogram["file_share"],
        "binned_with_model_version": histogram.get("model_version"),
        "drift": table,
    }
    return alerts + found


def _expectations(spark: SparkSession, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every expectation of the day's Great Expectations suites (the results the job saved)."""
    suites = ((summary.get("validation") or {}).get("suites")) or {}
    results = []
    for suite, record in sorted(suites.items()):
        uri = (record.get("results") or {}).get("json")
        document = _read_json(spark, uri) if uri else None
        for outcome in (document or {}).get("results", []):
            config = outcome.get("expectation_config") or {}
            kwargs = config.get("kwargs") or {}
            column = kwargs.get("column") or kwargs.get("column_A") or ""
            result = outcome.get("result") or {}
            observed = result.get("observed_value")
            results.append(
                {
                    "id": f"{suite}:{config.get('type')}" + (f"[{column}]" if column else ""),
                    "suite": suite,
                    "expectation": config.get("type"),
                    "column": column or None,
                    "success": bool(outcome.get("success")),
                    "unexpected_percent": result.get("unexpected_percent"),
                    "observed": observed if isinstance(observed, int | float | str) else None,
                }
            )
    return results


def read_feedback(spark: SparkSession, uri: str) -> DataFrame:
    """Feedback labels, one per `row_id`: Parquet, or CSV with a header (`row_id`, `category`).

    `uri` may be the store of `txcat feedback import` (its `corrections/` folder is read) or any
    folder of such files. With a `corrected_at` column the latest correction of a row wins, as
    in `txcat.feedback.store.latest_corrections`; without one, a row's repeats count once.

    Raises:
        MonitorInputError: the folder cannot be read or lacks the columns.
    """
    corrections = storage.join(uri, FEEDBACK_CORRECTIONS)
    if storage.exists(spark, corrections):
        uri = corrections
    try:
        frame = spark.read.parquet(uri)
        frame.schema  # noqa: B018 - resolves the files now: a CSV folder fails here
    except Exception:  # noqa: BLE001 - not Parquet: Spark raises a JVM error, not AnalysisException
        try:
            frame = spark.read.option("header", True).csv(uri)
        except AnalysisException as exc:
            raise MonitorInputError(
                f"cannot read feedback {uri}: {str(exc).splitlines()[0]}"
            ) from exc
    missing = {FEEDBACK_ROW_ID, FEEDBACK_CATEGORY} - set(frame.columns)
    if missing:
        raise MonitorInputError(f"feedback {uri} lacks the columns {sorted(missing)}")
    category = F.upper(F.trim(F.col(FEEDBACK_CATEGORY).cast("string")))
    rows = frame.where(F.col(FEEDBACK_ROW_ID).isNotNull())
    if FEEDBACK_CORRECTED_AT in frame.columns:
        return rows.groupBy(F.col(FEEDBACK_ROW_ID).cast("string").alias(FEEDBACK_ROW_ID)).agg(
            F.max_by(category, F.col(FEEDBACK_CORRECTED_AT)).alias(FEEDBACK_CATEGORY)
        )
    return rows.select(
        F.col(FEEDBACK_ROW_ID).cast("string").alias(FEEDBACK_ROW_ID),
        category.alias(FEEDBACK_CATEGORY),
    ).dropDuplicates([FEEDBACK_ROW_ID])


def _feedback(
    spark: SparkSession,
    cfg: Config,
    params: MonitorParams,
    root: str,
    reference: dict[str, Any] | None,
    metrics: dict[str, Any],
) -> list[dict[str, Any]]:
    mc = cfg.monitoring
    if not params.feedback:
        metrics["feedback"] = {"judged": False, "note": "no feedback given (--feedback)"}
        return []
    first = params.run_date - dt.timedelta(days=mc.feedback_window_days - 1)
    window = f"the run dates {first.isoformat()}..{params.run_date.isoformat()}"
    labels = read_feedback(spark, params.feedback)
    scored = _day_predictions(spark, root, first, params.run_date).select(
        S.ROW_ID, S.PREDICTED_CATEGORY
    )
    counted = (
        scored.join(labels, on=S.ROW_ID, how="inner")
        .groupBy(FEEDBACK_CATEGORY, S.PREDICTED_CATEGORY)
        .count()
        .collect()
    )
    known = set(S.CATEGORIES)
    confusion = {
        (r[FEEDBACK_CATEGORY], r[S.PREDICTED_CATEGORY]): int(r["count"])
        for r in counted
        if r[FEEDBACK_CATEGORY] in known
    }
    unknown = sum(int(r["count"]) for r in counted if r[FEEDBACK_CATEGORY] not in known)
    if reference is None:
        figures = checks.confusion_figures(confusion, S.CATEGORIES)
        metrics["feedback"] = figures | {
            "judged": False,
            "window": window,
            "note": "the model has no hold-out figures to compare with: degradation not judged",
        }
        return []
    found, alerts = checks.degradation(confusion, reference["holdout"], S.CATEGORIES, mc, window)
    metrics["feedback"] = found | {"unknown_category_rows": unknown}
    return alerts


def _trend(
    history: list[dict[str, Any]], metrics: dict[str, Any], summary: dict[str, Any]
) -> list[dict[str, Any]]:
    """One point per day, oldest first: volume, quarantine share, mean confidence, accuracy."""

    def point(date: str, s: dict[str, Any] | None, m: dict[str, Any] | None) -> dict[str, Any]:
        m = m or {}
        feedback = m.get("feedback") or {}
        return {
            "date": date,
            "rows_read": (s or {}).get("rows_read"),
            "files_read": (s or {}).get("files_read"),
            "quarantine_share": (m.get("quarantine") or {}).get("row_share")
            if m
            else checks.quarantine_share_of(s),
            "mean_top_probability": (m.get("predictions") or {}).get("mean_top_probability"),
            "feedback_accuracy": feedback.get("accuracy") if feedback.get("rows") else None,
            "alerts": len(m.get("alerts") or []) if m else None,
        }

    points = [point(h["date"], h["summary"], h["metrics"]) for h in reversed(history)]
    points.append(point(metrics["run_date"], summary, metrics))
    return points
