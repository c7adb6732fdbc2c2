"""The daily scoring run: read -> clean -> features -> score -> write, plus the run summary.

`run` is what `jobs/score_daily.py` calls and what the tests call directly. Every data line
that is read ends either in the predictions or in the quarantine, and the summary proves it:
rows_read = rows_scored + rows_quarantined, counted by the writes of what they wrote.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from txcat import exits, reasons, storage, write
from txcat import schema as S
from txcat.config import Config
from txcat.engine import EngineError, check_engine
from txcat.features import FEATURE_COLUMNS, memory_of
from txcat.inputs import InputError, Manifest, listing
from txcat.inputs import objects as manifest_objects
from txcat.inputs.listing import Listing
from txcat.inputs.rundate import check_run_date
from txcat.model import ModelArtifact, ModelArtifactError, check_compatible
from txcat.model_uri import ModelSource, load_verified
from txcat.monitor import profile as monitor_profile
from txcat.runlock import run_lock
from txcat.score import with_predictions
from txcat.sources import Source, cached, check_fetched_objects, prepare

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
#: The scored rows' own columns the predictions keep; the rest of the predictions' columns are
#: the scorer's, the model's lineage and the run's stamp.
ROW_COLUMNS = tuple(
    f.name
    for f in S.PREDICTION_SCHEMA.fields
    if f.name in {*S.TRANSACTION_SCHEMA.fieldNames(), S.IS_REPEATED_LINE}
)


@dataclass(frozen=True)
class RunParams:
    run_date: dt.date
    input: str
    output: str
    model: str
    run_id: str = ""
    #: URI of the run's manifest; when set, exactly its files are read (not `input`).
    manifest: str = ""
    #: Where predictions go: ("parquet",), ("redshift",) or ("parquet", "redshift").
    sinks: tuple[str, ...] = ("parquet",)
    #: The predictions dataset when not `<output>/predictions` (retro-scoring writes each model
    #: version's predictions apart from the champion's); parquet sink only.
    predictions_root: str = ""

    def with_run_id(self) -> RunParams:
        if self.run_id:
            return self
        generated = f"{self.run_date:%Y%m%d}-{uuid.uuid4().hex[:12]}"
        return replace(self, run_id=generated)


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    summary: dict[str, Any]
    summary_path: str


def check_output(spark: SparkSession, output: str) -> None:
    """Refuses an output root that is a file, or a folder that cannot be created or written.

    Raises:
        InputError: Naming the output and what is wrong with it.
    """
    try:
        storage.make_folder(spark, output)
    except OSError as exc:
        raise InputError(f"output {output} is not usable: {exc}") from exc


def _preflight(spark: SparkSession, cfg: Config, params: RunParams) -> None:
    """What can be refused before reading anything: the run date and the output location."""
    check_run_date(params.run_date, cfg)
    check_output(spark, params.output)


def load_model(
    spark: SparkSession, uri: str, cfg: Config | None = None
) -> tuple[ModelArtifact, ModelSource]:
    """Loads the artifact on the driver, verifies metadata, checksum, booster, features and
    categories (`model.parse_artifact`), before any input is read; returns it with its source.

    `uri` is resolved and verified by `txcat.model_uri.load_verified`: a registry URI
    (`models:/<name>@<alias>`, `models:/<name>/<version>`) is downloaded on the driver from the
    MLflow registry of `cfg.lifecycle`; a published alias folder (`<root>/champion/`) is
    followed to its version folder without MLflow; executors never need MLflow. A checksum the
    source promises (registry tag, publication pointer) must be the artifact's.
    """
    artifact, source = load_verified(
        uri,
        cfg,
        read=lambda u: storage.read_bytes(spark, u),
        exists=lambda u: storage.exists(spark, u),
    )
    check_compatible(artifact, FEATURE_COLUMNS, S.CATEGORIES)
    try:
        check_engine(artifact.engine)
    except EngineError as exc:  # refused before any input is read, as a bad artifact is
        raise ModelArtifactError(f"model {artifact.version}: {exc}") from exc
    return artifact, source


def run(spark: SparkSession, cfg: Config, params: RunParams) -> RunResult:
    """Scores one day of files and writes predictions, quarantine and the run summary.

    Holds the day's lock throughout (`txcat.runlock`): while another run of the day holds it,
    this one raises `RunLockedError` having touched nothing. An exception after the `running`
    summary was written marks it `failed` before it propagates.
    """
    params = params.with_run_id()
    _preflight(spark, cfg, params)
    with run_lock(spark, params.output, params.run_date, params.run_id, cfg.run.lock_stale_after):
        try:
            return _run(spark, cfg, params)
        except Exception as exc:
            _mark_failed(spark, params, exc)
            raise


def _mark_failed(spark: SparkSession, params: RunParams, error: Exception) -> None:
    """Marks this run's `running` summary failed; never raises over the run's own error."""
    try:
        if write.mark_failed(spark, params.output, params.run_date, params.run_id, error):
            log.error("run %s failed after writing started: summary marked failed", params.run_id)
    except Exception:
        log.exception("could not mark the summary of run %s failed", params.run_id)


#: The validation stage's module: importing Great Expectations costs the driver about 2.3 s
#: of CPU (docs/performance.md), paid while the executors read and score rather than after.
VALIDATION_MODULE = "txcat.validate.stage"


def _import_in_background(module: str) -> None:
    """Starts importing `module` in a daemon thread; a later `import` waits for it to finish."""
    threading.Thread(
        target=importlib.import_module, args=(module,), name=f"import {module}", daemon=True
    ).start()


class _Stages:
    """Wall seconds of each stage of the run (the summary's `stage_seconds`).

    Spark is lazy: a stage's figure holds the work of every plan its action first ran.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def done(self, stage: str) -> None:
        now = time.monotonic()
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + now - self._last, 3)
        self._last = now


def _run(spark: SparkSession, cfg: Config, params: RunParams) -> RunResult:
    started = time.monotonic()
    stages = _Stages()
    started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    log.info("run %s for %s: input %s", params.run_id, params.run_date, params.input)
    if cfg.validation.enabled:
        _import_in_background(VALIDATION_MODULE)

    artifact, source = load_model(spark, params.model, cfg)
    stages.done("load_model")
    log.info(
        "model %s: %s, registry %s version %s alias %s, sha256 %s",
        params.model,
        artifact.version,
        source.name,
        source.version,
        source.alias,
        artifact.sha256,
    )
    files = Source.manifest(params.manifest) if params.manifest else Source.folder(params.input)
    memory = memory_of(artifact)
    prepared = prepare(
        spark,
        cfg,
        files,
        params.run_date,
        stamp={S.RUN_ID: F.lit(params.run_id), S.RUN_DATE: F.lit(params.run_date)},
        memory=memory,
    )
    manifest, inputs = prepared.manifest, prepared.inputs
    if inputs is None:  # a folder or a manifest always lists its files
        raise ValueError(f"not a listed source: {files!r}")
    predictions_root = _predictions_root(cfg, params)
    input_check = None
    # Counting, the quarantine and the features all read the records: cache them once. The
    # input suite checks a sample of them in a background thread, beside the writes.
    with cached(prepared) as prepared, ThreadPoolExecutor(1, "validate-input") as background:
        stamped = prepared.records
        counts = _count_records(stamped)
        if manifest is not None:
            check_fetched_objects(stamped, manifest, counts["files"][reasons.OBJECT_CHANGED])
        skipped, counts["files_empty"] = _skipped_files(
            spark, stamped, inputs, counts["files_seen"], params
        )
        stages.done("read_clean_count")
        input_suite = (
            background.submit(_validate_input, spark, cfg, params, stamped, _records_read(counts))
            if cfg.validation.enabled
            else None
        )
        quarantine = prepared.quarantine
        if skipped is not None:
            quarantine = quarantine.unionByName(skipped, allowMissingColumns=True)
        write.write_summary(
            spark,
            params.output,
            params.run_date,
            _running(cfg, params, artifact, source, started_at),
        )
        quarantined = write.write_partitioned(
            quarantine,
            write.quarantine_path(params.output),
            S.QUARANTINE_SCHEMA,
            counts=_quarantine_counts(),
        )
        stages.done("write_quarantine")
        # The day's feature histogram is counted by the scoring UDF as it scores.
        histogram = monitor_profile.batch_histogram(spark, cfg, artifact)
        # The scoring UDF looks the model's label memory up and, with the `partition` method,
        # computes the per-file aggregates itself: one Python round trip of the rows.
        in_scorer = prepared.aggregates_in_scorer
        predictions = (
            prepared.featured(
                prepared.scorable, memory_in_scorer=True, aggregates_in_scorer=in_scorer
            )
            .transform(
                with_predictions,
                spark,
                artifact,
                cfg.scoring.predict_threads,
                cfg.scoring.explain,
                histogram,
                memory,
                in_scorer,
                ROW_COLUMNS,
            )
            .transform(with_model_lineage, artifact, source)
            .withColumn(S.RUN_ID, F.lit(params.run_id))
            .withColumn(S.SCORED_AT, F.lit(started_at.replace(tzinfo=None)).cast("timestamp"))
            .withColumn(S.RUN_DATE, F.lit(params.run_date))
        )
        scored = write.write_partitioned(
            predictions,
            predictions_root,
            S.prediction_schema(cfg.scoring.explain),
            counts=_prediction_counts(),
        )
        stages.done("features_score_write")
        monitor_profile.write_day_histogram(
            spark,
            cfg,
            artifact,
            prepared.scorable,
            prepared.featured,
            params.output,
            params.run_date,
            counts["to_score"],
            counted=histogram,
            rows_scored=scored["rows_scored"],
        )
        stages.done("feature_histogram")
        if input_suite is not None:
            input_check = input_suite.result()
            stages.done("validate_input")  # what is left of it once the writes are done
    written = _count_written(spark, params, predictions_root, scored, quarantined)
    stages.done("count_written")

    summary = _summary(cfg, params, artifact, source, inputs, counts, written)
    summary["warnings"] = list(prepared.refs.warnings)
    summary["started_at"] = started_at.isoformat()
    summary["duration_s"] = round(time.monotonic() - started, 3)
    if manifest is not None:
        _store_manifest(spark, cfg, params, summary, manifest)
    if cfg.validation.enabled:
        _validate_output(
            spark,
            cfg,
            params,
            summary,
            input_check,
            predictions_root,
            counts["to_score"],
            written,
        )
        stages.done("validate_output")
    summary["stage_seconds"] = stages.seconds
    summary["sinks"] = {"parquet": {"path": predictions_root}} if "parquet" in params.sinks else {}
    exit_code = verdict(summary)
    if "redshift" in params.sinks:
        # Only a run that passed every check loads the warehouse: a failed run must not
        # replace yesterday's good rows in the table that reports read.
        summary["sinks"]["redshift"] = _load_redshift(
            spark, cfg, params, predictions_root, exit_code
        )
        stages.done("load_redshift")  # the same dict as the summary's stage_seconds
        exit_code = verdict(summary)
    path = write.write_summary(spark, params.output, params.run_date, summary)
    log.info(
        "run %s %s: %d rows read, %d scored, %d quarantined; summary %s",
        params.run_id,
        summary["status"],
        summary["rows_read"],
        summary["rows_scored"],
        summary["rows_quarantined"],
        path,
    )
    return RunResult(exit_code=exit_code, summary=summary, summary_path=path)


def _count_records(records: DataFrame) -> dict[str, Any]:
    by_reason = (
        records.groupBy(S.LEVEL, S.REASON)
        .agg(
            F.count(F.lit(1)).alias("count"),
            F.count(F.when(F.col(S.IS_REPEATED_LINE), 1)).alias("repeated"),
        )
        .collect()
    )
    per_file = records.groupBy(S.SOURCE_FILE).agg(
        F.max(F.col(S.LEVEL).isNull()).alias("has_scorable_row")
    )
    by_file = per_file.agg(
        F.count(F.lit(1)).alias("seen"),
        F.count(F.when(F.col("has_scorable_row"), 1)).alias("scored"),
    ).collect()[0]
    rows: Counter[str] = Counter()
    files: Counter[str] = Counter()
    to_score, repeated = 0, 0
    for row in by_reason:
        if row[S.LEVEL] is None:
            to_score += row["count"]
            repeated += row["repeated"]
        elif row[S.LEVEL] == S.LEVEL_ROW:
            rows[row[S.REASON]] += row["count"]
        else:
            files[row[S.REASON]] += row["count"]
    return {
        "to_score": to_score,
        "repeated": repeated,
        "rows": rows,
        "files": files,
        "files_seen": by_file["seen"],
        "files_scored": by_file["scored"],
    }


def _skipped_files(
    spark: SparkSession, records: DataFrame, inputs: Listing, files_seen: int, params: RunParams
) -> tuple[DataFrame | None, int]:
    """Quarantine rows for listed files the scan never returned (Spark skips 0-byte files).

    Paths are compared in one form (`listing.normalise`): `inputs.read` is already decoded from
    Spark's URL-encoded listing, so `a b#1.csv` and `a%20b.csv` match their `path` column.
    Returns the rows (None when every file was seen) and their number.
    """
    if inputs.files <= files_seen:
        return None, 0
    listed = {listing.normalise(p) for p in inputs.read}
    seen = {
        listing.normalise(r[0]) for r in records.select(S.SOURCE_FILE).distinct().toLocalIterator()
    }
    missing = sorted(listed - seen)
    log.warning("%d listed files returned no content (empty files)", len(missing))
    rows = [
        (
            S.LEVEL_FILE,
            reasons.EMPTY_FILE,
            "0 bytes",
            uri,
            listing.account_of(uri),
            params.run_id,
            params.run_date,
        )
        for uri in missing
    ]
    frame = spark.createDataFrame(
        rows,
        f"{S.LEVEL} string, {S.REASON} string, {S.DETAIL} string, {S.SOURCE_FILE} string, "
        f"{S.ACCOUNT_ID} string, {S.RUN_ID} string, {S.RUN_DATE} date",
    )
    return frame, len(missing)


def _prediction_counts() -> dict[str, Column]:
    """What the predictions write counts of the rows it writes (`write.write_partitioned`)."""
    return {
        "rows_scored": F.count(F.lit(1)),
        "repeated_lines": F.count(F.when(F.col(S.IS_REPEATED_LINE), 1)),
    }


def _quarantine_counts() -> dict[str, Column]:
    """What the quarantine write counts of the rows it writes."""
    level = F.col(S.LEVEL)
    return {
        "rows_quarantined": F.count(F.when(level == S.LEVEL_ROW, 1)),
        "files_quarantined": F.count(F.when(level == S.LEVEL_FILE, 1)),
    }


def _count_written(
    spark: SparkSession,
    params: RunParams,
    predictions_root: str,
    scored: dict[str, int],
    quarantined: dict[str, int],
) -> dict[str, int]:
    """The numbers the summary must reconcile, counted by the writes themselves.

    `scored` and `quarantined` are what the two writes counted of the rows they wrote
    (`_prediction_counts`, `_quarantine_counts`). Only the distinctness of the row ids is read
    back, from the `row_id` column alone: no aggregate of a single pass can prove it.
    """
    _drop_stale_partition(spark, predictions_root, params, scored["rows_scored"])
    _drop_stale_partition(
        spark,
        write.quarantine_path(params.output),
        params,
        quarantined["rows_quarantined"] + quarantined["files_quarantined"],
    )
    row_ids = 0
    if scored["rows_scored"] > 0:
        day = write.partition_path(predictions_root, params.run_date)
        row_ids = spark.read.parquet(day).select(S.ROW_ID).distinct().count()
    return {
        "rows_scored": scored["rows_scored"],
        "distinct_row_ids": row_ids,
        "repeated_lines": scored["repeated_lines"],
        "rows_quarantined": quarantined["rows_quarantined"],
        "files_quarantined": quarantined["files_quarantined"],
    }


def _drop_stale_partition(
    spark: SparkSession, root: str, params: RunParams, rows_written: int
) -> None:
    """Removes the run date's partition of `root` when this run wrote no row to it.

    Dynamic overwrite replaces only the partitions a write produces, so a rerun with no row
    for a dataset (a clean day: no quarantine) would leave the previous run's partition in
    place, to be counted and read as this run's.
    """
    day = write.partition_path(root, params.run_date)
    if rows_written == 0 and storage.exists(spark, day):
        log.info("removing %s: left by an earlier run, this run wrote no row there", day)
        storage.delete(spark, day)


def with_model_lineage(
    predictions: DataFrame, artifact: ModelArtifact, source: ModelSource
) -> DataFrame:
    """Adds the model's checksum and registry entry (name, version, alias) to every row."""
    return predictions.select(
        "*",
        *[
            F.lit(value).cast("string").alias(column)
            for column, value in _lineage(artifact, source).items()
            if column != S.MODEL_VERSION
        ],
    )


def _lineage(artifact: ModelArtifact, source: ModelSource) -> dict[str, str | None]:
    """The model's identity as rows and summaries state it."""
    return {
        S.MODEL_VERSION: artifact.version,
        S.MODEL_SHA256: artifact.sha256,
        S.MODEL_NAME: source.name,
        S.MODEL_REGISTRY_VERSION: source.version,
        S.MODEL_ALIAS: source.alias,
    }


def _running(
    cfg: Config,
    params: RunParams,
    artifact: ModelArtifact,
    source: ModelSource,
    started_at: dt.datetime,
) -> dict[str, Any]:
    """The summary of a run that is writing its partitions; the final one replaces it."""
    return {
        "status": write.RUNNING,
        "run_id": params.run_id,
        "run_date": params.run_date.isoformat(),
        "started_at": started_at.isoformat(),
        "input": params.input,
        "manifest_uri": params.manifest,
        "output": params.output,
        "model_uri": params.model,
        **_lineage(artifact, source),
        "env": cfg.env,
    }


def _summary(
    cfg: Config,
    params: RunParams,
    artifact: ModelArtifact,
    source: ModelSource,
    inputs: Listing,
    counts: dict[str, Any],
    written: dict[str, int],
) -> dict[str, Any]:
    file_reasons = Counter(counts["files"])
    if counts["files_empty"] > 0:
        file_reasons[reasons.EMPTY_FILE] += counts["files_empty"]
    # Files read and accepted whose every line was quarantined (row level).
    fully_quarantined = (
        counts["files_seen"] - counts["files_scored"] - sum(counts["files"].values())
    )
    rows_quarantined = sum(counts["rows"].values())
    rows_read = counts["to_score"] + rows_quarantined
    files_quarantined = sum(file_reasons.values())
    return {
        "run_id": params.run_id,
        "run_date": params.run_date.isoformat(),
        "input": params.input,
        "output": params.output,
        "model_uri": params.model,
        **_lineage(artifact, source),
        "env": cfg.env,
        "files_read": inputs.files,
        "files_scored": counts["files_scored"],
        "files_fully_quarantined": fully_quarantined,
        "files_quarantined": files_quarantined,
        "files_quarantined_by_reason": dict(sorted(file_reasons.items())),
        "files_ignored_hidden": inputs.hidden,
        "rows_read": rows_read,
        "rows_scored": written["rows_scored"],
        "rows_quarantined": rows_quarantined,
        "rows_repeated": counts["repeated"],
        "quarantined_by_reason": dict(sorted(counts["rows"].items())),
        "checks": {
            "quarantine_rows_written": written["rows_quarantined"],
            "quarantine_files_written": written["files_quarantined"],
            "distinct_row_ids_scored": written["distinct_row_ids"],
            "repeated_lines_written": written["repeated_lines"],
            "max_row_quarantine_share": cfg.quality.max_row_quarantine_share,
            "max_file_quarantine_share": cfg.quality.max_file_quarantine_share,
        },
    }


def verdict(summary: dict[str, Any]) -> int:
    """Decides the run's status, problems and exit code from every check the summary records.

    The one place a run's outcome is decided. The checks, in the order their exit codes take
    precedence: the row and file counts reconcile (`exits.RECONCILIATION`), the quarantine
    shares stay under their thresholds (`exits.QUARANTINE_THRESHOLD`), no critical data
    expectation failed (`exits.VALIDATION`, when `validation` is recorded) and the warehouse
    load did not fail (`exits.SINK`, when `sinks` records one). The run calls it before loading
    the warehouse, which only a run that passed every check may do, and again after.
    """
    checks = summary["checks"]
    failed: list[tuple[int, str]] = []
    reconciles = (
        summary["rows_read"] == summary["rows_scored"] + summary["rows_quarantined"]
        and checks["quarantine_rows_written"] == summary["rows_quarantined"]
        and checks["quarantine_files_written"] == summary["files_quarantined"]
        and checks["distinct_row_ids_scored"] == summary["rows_scored"]
    )
    if not reconciles:
        failed.append(
            (
                exits.RECONCILIATION,
                "counts do not reconcile: rows_read != rows_scored + rows_quarantined",
            )
        )
    if checks["repeated_lines_written"] != summary["rows_repeated"]:
        failed.append(
            (
                exits.RECONCILIATION,
                "counts do not reconcile: rows_repeated != repeated lines written",
            )
        )
    files_accounted = (
        summary["files_scored"] + summary["files_fully_quarantined"] + summary["files_quarantined"]
    )
    if summary["files_read"] != files_accounted:
        failed.append(
            (
                exits.RECONCILIATION,
                "counts do not reconcile: files_read != files_scored + files_fully_quarantined"
                " + files_quarantined",
            )
        )
    row_share = summary["rows_quarantined"] / summary["rows_read"] if summary["rows_read"] else 0.0
    file_share = (
        summary["files_quarantined"] / summary["files_read"] if summary["files_read"] else 0.0
    )
    checks["row_quarantine_share"] = round(row_share, 6)
    checks["file_quarantine_share"] = round(file_share, 6)
    if row_share > checks["max_row_quarantine_share"]:
        failed.append(
            (
                exits.QUARANTINE_THRESHOLD,
                f"row quarantine share {row_share:.4f} above {checks['max_row_quarantine_share']}",
            )
        )
    if file_share > checks["max_file_quarantine_share"]:
        failed.append(
            (
                exits.QUARANTINE_THRESHOLD,
                f"file quarantine share {file_share:.4f} "
                f"above {checks['max_file_quarantine_share']}",
            )
        )
    suites = summary.get("validation", {}).get("suites", {})
    failed.extend(
        (exits.VALIDATION, f"validation {suite}: {failure}")
        for suite, outcome in suites.items()
        for failure in outcome["critical_failures"]
    )
    redshift = summary.get("sinks", {}).get("redshift", {})
    if redshift.get("status") == "failed":
        failed.append((exits.SINK, f"redshift load failed: {redshift['error']}"))
    code = failed[0][0] if failed else exits.OK
    summary["status"] = "succeeded" if code == exits.OK else "failed"
    summary["problems"] = [problem for _, problem in failed]
    summary["exit_code"] = code
    return code


# --- Storage stages: manifest record, validation, sinks ---------------------------------------


def _predictions_root(cfg: Config, params: RunParams) -> str:
    """The predictions dataset; with the Redshift sink alone it lives under the staging area."""
    if params.predictions_root:
        return params.predictions_root
    if "parquet" in params.sinks:
        return write.predictions_path(params.output)
    return storage.join(params.output, cfg.redshift.staging_subdir, write.PREDICTIONS)


def _records_read(counts: dict[str, Any]) -> int:
    """Every record the read stage returned: rows to score, quarantined rows and files."""
    return counts["to_score"] + sum(counts["rows"].values()) + sum(counts["files"].values())


def _validate_input(
    spark: SparkSession, cfg: Config, params: RunParams, stamped: DataFrame, records: int
) -> Any:
    from txcat.validate import stage as validation

    return validation.validate_input(spark, cfg, stamped, records, params.run_date, params.output)


def _store_manifest(
    spark: SparkSession, cfg: Config, params: RunParams, summary: dict[str, Any], manifest: Manifest
) -> None:
    """Keeps the run's manifest with its summary, and records where."""
    runs_folder = write.partition_path(storage.join(params.output, write.RUNS), params.run_date)
    manifest_path = storage.join(runs_folder, MANIFEST_FILE)
    body = json.dumps(manifest.to_record(), indent=2, sort_keys=True) + "\n"
    storage.write_bytes(spark, manifest_path, body.encode("utf-8"))
    summary["manifest"] = {
        "uri": params.manifest,
        "sha256": manifest.sha256,
        "files": len(manifest.entries),
        "bytes": manifest.total_bytes,
        "stored": manifest_path,
        "reader": cfg.storage.manifest_reader,
    }


def _validate_output(
    spark: SparkSession,
    cfg: Config,
    params: RunParams,
    summary: dict[str, Any],
    input_check: Any,
    predictions_root: str,
    rows_to_score: int,
    written: dict[str, int],
) -> None:
    """Runs the output suites; records every suite's outcome (with the input's) in the summary.

    The output suite reads a sample of the day's written rows (`validation.sample_rows`).
    """
    from txcat.validate import stage as validation

    day = write.partition_path(predictions_root, params.run_date)
    predictions = (
        spark.read.parquet(day)
        if written["rows_scored"] > 0
        else spark.createDataFrame([], S.prediction_schema(cfg.scoring.explain))
    )
    counts = {
        "rows_read": summary["rows_read"],
        "rows_to_score": rows_to_score,
        "rows_scored": written["rows_scored"],
        "rows_quarantined": written["rows_quarantined"],
    }
    outcomes = [input_check] if input_check is not None else []
    outcomes += validation.validate_output(
        spark, predictions, counts, params.run_date, params.output, cfg.validation.sample_rows
    )
    summary["validation"] = validation.summarise(outcomes)


def _load_redshift(
    spark: SparkSession, cfg: Config, params: RunParams, predictions_root: str, code: int
) -> dict[str, Any]:
    from txcat.sinks import stage as sinks
    from txcat.sinks.redshift import SinkError

    if code != exits.OK:
        log.error("redshift load skipped: the run failed its checks (exit code %d)", code)
        return {"status": "skipped", "reason": f"run failed its checks (exit code {code})"}
    day = spark.read.parquet(predictions_root).where(F.col(S.RUN_DATE) == F.lit(params.run_date))
    try:
        return sinks.load_redshift(
            cfg,
            day,
            params.output,
            params.run_date,
            params.run_id,
            s3_endpoint=manifest_objects.s3_endpoint(spark),
        )
    except SinkError as exc:
        log.error("redshift load failed, the table keeps its previous rows: %s", exc)
        return {"status": "failed", "error": str(exc)}
