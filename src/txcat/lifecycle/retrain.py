"""The training set of a retraining: the labelled history plus the rows users corrected.

A correction names a row by its `row_id` (sha256 of source file and line number). The job's
predictions (`OUT/predictions/`) say which file and line that is and on which run date it was
scored; the run's record (`OUT/runs/run_date=D/summary.json`, and the manifest stored beside it
when the run read one) says where that file was read from. The corrected rows are read again
from those original files, through the job's own feature wiring (`txcat.sources.prepare`) as of
their run date, so with that day's reference data and per-file aggregates over the whole file,
as the job computed them when it scored the row. A row's label is its latest correction; a
corrected row of the history itself just gets the corrected label.

A correction that cannot be used is counted by reason, never dropped silently:

- `unknown_row_id`: no prediction has the row id;
- `run_missing`: the run that scored it left no summary;
- `source_missing`: its source file is gone;
- `source_changed`: the file no longer holds a scorable row at that line (rewritten since).

`manifest` records what the training set is made of: every file with its size, sha256 and the
rows it gave, the corrections' counts and a hash of the (row id, label) pairs used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from functools import reduce
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from txcat import read, sources, storage, write
from txcat import schema as S
from txcat.config import Config
from txcat.features import LabelMemory
from txcat.feedback import records as FR
from txcat.feedback import store as FS
from txcat.inputs import listing
from txcat.lifecycle import train as training

log = logging.getLogger(__name__)

UNKNOWN_ROW_ID = "unknown_row_id"
RUN_MISSING = "run_missing"
SOURCE_MISSING = "source_missing"
SOURCE_CHANGED = "source_changed"
#: Why a correction was not used, in the order reports list them.
NOT_USED_REASONS = (UNKNOWN_ROW_ID, RUN_MISSING, SOURCE_MISSING, SOURCE_CHANGED)
#: Row ids kept per reason in the manifest (the counts are complete).
EXAMPLES_KEPT = 20

#: Which prepared source a training row comes from: 0 the history, i > 0 the i-th run date.
ORIGIN = "_retrain_origin"
_CORRECTED = "_corrected_category"
LOCATION = "location"
SUMMARY_FILE = "summary.json"
#: The alias a retrained version gets when it passes the gate (the serving alias never).
CHALLENGER = "challenger"
#: The manifest as an artifact of the MLflow run (also `model/manifest.json` there).
TRAINING_SET_FILE = "training_set.json"


@dataclass(frozen=True)
class RetrainingSet:
    """The rows to train on, and what they are made of."""

    rows: training.LabelledRows
    manifest: dict[str, Any]

    @property
    def not_used(self) -> dict[str, int]:
        """Corrections not used, by reason."""
        return dict(self.manifest["feedback"]["not_used"])

    @property
    def corrections_used(self) -> int:
        return int(self.manifest["feedback"]["used"])


def corrections_since(store: str, since: dt.date | None) -> pd.DataFrame:
    """Each corrected row's latest correction (`latest_corrections`), received on or after
    `since` when given: a row corrected again since then counts, with its latest label."""
    latest = FS.latest_corrections(store)
    if since is not None and not latest.empty:
        latest = latest[latest[FS.RECEIVED_ON] >= since.isoformat()]
    return latest.reset_index(drop=True)


def scored_rows(predictions_output: str, row_ids: list[str]) -> pd.DataFrame:
    """Where the job read each of `row_ids`: row_id, source_file, line_number, run_date (the
    latest run that scored it, as `YYYY-MM-DD`), run_id.

    Raises:
        FileNotFoundError: There is no `OUT/predictions` folder.
    """
    columns = [S.ROW_ID, S.SOURCE_FILE, S.LINE_NUMBER, S.RUN_DATE, S.RUN_ID]
    location = storage.join(predictions_output, "predictions")
    fs, path = FS.filesystem(location)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        raise FileNotFoundError(f"no predictions folder {location}")
    partitioning = ds.partitioning(pa.schema([(S.RUN_DATE, pa.string())]), flavor="hive")
    dataset = ds.dataset(path, format="parquet", filesystem=fs, partitioning=partitioning)
    wanted = pa.array(sorted(set(row_ids)), pa.string())
    frame = dataset.to_table(columns=columns, filter=pc.field(S.ROW_ID).isin(wanted)).to_pandas()
    frame = frame.sort_values([S.ROW_ID, S.RUN_DATE], kind="stable")
    return frame.drop_duplicates(S.ROW_ID, keep="last").reset_index(drop=True)


def _read_json(location: str) -> dict[str, Any] | None:
    fs, path = FS.filesystem(location)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as stream:
        document = json.loads(stream.read().decode("utf-8"))
    return document if isinstance(document, dict) else None


def run_record(predictions_output: str, run_date: str) -> dict[str, Any] | None:
    """The run's summary, with `stored_manifest` (the manifest it read, if any); None when the
    run left no summary."""
    folder = write.partition_path(
        storage.join(predictions_output, write.RUNS), dt.date.fromisoformat(run_date)
    )
    summary = _read_json(storage.join(folder, SUMMARY_FILE))
    if summary is None:
        return None
    stored = (summary.get("manifest") or {}).get("stored")
    if stored:
        summary["stored_manifest"] = _read_json(stored)
    return summary


def source_location(source_file: str, record: dict[str, Any]) -> str:
    """Where the run read `source_file`: the URI its manifest lists for it (the bucket's own
    scheme), else the path the job recorded (a folder input)."""
    manifest = record.get("stored_manifest") or {}
    for entry in manifest.get("entries", []):
        if listing.normalise(str(entry.get("uri", ""))) == listing.normalise(source_file):
            return str(entry["uri"])
    return source_file


def locate(
    spark: SparkSession, corrections: pd.DataFrame, predictions_output: str
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The source file and run date of each corrected row, and the row ids that have none.

    Returns:
        (located rows: row_id, category, source_file, line_number, run_date, run_id, location;
        row ids by reason not used: `unknown_row_id`, `run_missing`, `source_missing`).
    """
    scored = scored_rows(predictions_output, corrections[FR.ROW_ID].tolist())
    frame = corrections[[FR.ROW_ID, FR.CATEGORY]].merge(scored, on=S.ROW_ID, how="left")
    not_used: dict[str, list[str]] = {r: [] for r in NOT_USED_REASONS}
    unknown = frame[S.SOURCE_FILE].isna()
    not_used[UNKNOWN_ROW_ID] = frame.loc[unknown, S.ROW_ID].tolist()
    frame = frame[~unknown].copy()
    locations: list[str | None] = []
    records = {d: run_record(predictions_output, d) for d in sorted(set(frame[S.RUN_DATE]))}
    exists: dict[str, bool] = {}
    for row in frame.itertuples(index=False):
        record = records[getattr(row, S.RUN_DATE)]
        row_id, source_file = getattr(row, S.ROW_ID), getattr(row, S.SOURCE_FILE)
        if record is None:
            not_used[RUN_MISSING].append(row_id)
            locations.append(None)
            continue
        where = source_location(source_file, record)
        if where not in exists:
            exists[where] = storage.exists(spark, where)
        if not exists[where]:
            not_used[SOURCE_MISSING].append(row_id)
            locations.append(None)
            continue
        locations.append(where)
    frame[LOCATION] = locations
    return frame[frame[LOCATION].notna()].reset_index(drop=True), not_used


def _labels(spark: SparkSession, frame: pd.DataFrame) -> DataFrame:
    """(row_id, corrected category) as a small DataFrame to broadcast."""
    pairs = list(zip(frame[FR.ROW_ID].astype(str), frame[FR.CATEGORY].astype(str), strict=True))
    return spark.createDataFrame(pairs, f"{S.ROW_ID} string, {_CORRECTED} string")


def _file_records(spark: SparkSession, paths: str | list[str]) -> dict[str, dict[str, Any]]:
    """file -> {file, bytes, sha256}, computed by the executors."""
    files = read.read_files(spark, paths).select(
        S.SOURCE_FILE, read.FILE_SIZE, F.sha2(F.col(read.CONTENT), 256).alias("sha256")
    )
    return {
        r[0]: {"file": r[0], "bytes": int(r[1]), "sha256": r[2]}
        for r in files.orderBy(S.SOURCE_FILE).collect()
    }


def _prepared(
    spark: SparkSession, cfg: Config, paths: list[str], run_date: dt.date
) -> sources.Prepared:
    """The job's wiring over exactly these files, as of the run date that scored them."""
    return sources.prepare(
        spark, cfg, sources.Source.files(read.read_files(spark, paths)), run_date
    )


def _featured_in_whole_files(
    spark: SparkSession,
    cfg: Config,
    paths: list[str],
    run_date: dt.date,
    picked: DataFrame,
    memory: LabelMemory,
    held: ExitStack,
) -> DataFrame:
    """The features of `picked` (corrected rows of `paths`, as training selected them) computed
    among every row of their files: the per-file aggregates the job computed when it scored
    them. The files get a read of their own, so the join is not a self-join of one plan; the
    picked rows' own columns (split side, label, the split's file name) are kept, and the label
    memory reads them as it reads any training row. That read's records stay cached until
    `held` closes.
    """
    prepared = held.enter_context(sources.cached(_prepared(spark, cfg, paths, run_date)))
    every = prepared.scorable
    added = [c for c in picked.columns if c not in every.columns]
    kept = {c: f"_picked_{c}" for c in (S.SOURCE_FILE, S.LABEL)}
    keys = picked.select(S.ROW_ID, *added, *[F.col(c).alias(a) for c, a in kept.items()])
    # Broadcast: the file's rows stay together in their partition (`features.aggregates`).
    rows = every.join(F.broadcast(keys), S.ROW_ID, "left").withColumn(
        S.LABEL, F.coalesce(F.col(kept[S.LABEL]), F.col(S.LABEL))
    )
    featured = prepared.featured(rows, memory).where(F.col(kept[S.SOURCE_FILE]).isNotNull())
    for column, alias in kept.items():
        featured = featured.withColumn(column, F.col(alias)).drop(alias)
    return featured


def _digest(frame: pd.DataFrame) -> str:
    pairs = sorted(zip(frame[FR.ROW_ID].astype(str), frame[FR.CATEGORY].astype(str), strict=True))
    return hashlib.sha256("\n".join(f"{r}\t{c}" for r, c in pairs).encode()).hexdigest()


def build(
    spark: SparkSession,
    cfg: Config,
    history: str,
    as_of: dt.date,
    store: str,
    predictions_output: str,
    held: ExitStack,
    since: dt.date | None = None,
) -> RetrainingSet:
    """The labelled files under `history` plus every usable correction of the store; their
    cleaned records stay cached (`sources.cached`) until `held` closes.

    Raises:
        TrainingDataError: no correction can be used (nothing would change).
        FileNotFoundError: there is no predictions folder under `predictions_output`.
        InputError, ReferenceDataError: the history or a source cannot be read.
    """
    corrections = corrections_since(store, since)
    known = F.col(S.LABEL).isin(*S.CATEGORIES)
    base = held.enter_context(
        sources.cached(sources.prepare(spark, cfg, sources.Source.folder(history), as_of))
    )
    relabelled = base.scorable.join(F.broadcast(_labels(spark, corrections)), S.ROW_ID, "left")
    in_history = {
        r[0] for r in relabelled.where(F.col(_CORRECTED).isNotNull()).select(S.ROW_ID).collect()
    }
    history_rows = relabelled.withColumn(
        S.LABEL, F.coalesce(F.col(_CORRECTED), F.col(S.LABEL))
    ).drop(_CORRECTED)
    outside = corrections[~corrections[FR.ROW_ID].isin(in_history)]
    located, not_used = locate(spark, outside, predictions_output)

    parts = [history_rows.withColumn(ORIGIN, F.lit(0))]
    sources_by_origin: dict[int, tuple[list[str], dt.date]] = {}
    corrected_files: list[dict[str, Any]] = []
    used = [corrections[corrections[FR.ROW_ID].isin(in_history)]]
    for origin, (run_date, group) in enumerate(located.groupby(S.RUN_DATE, sort=True), start=1):
        paths = sorted(group[LOCATION].unique())
        prepared = held.enter_context(
            sources.cached(_prepared(spark, cfg, paths, dt.date.fromisoformat(str(run_date))))
        )
        rows = (
            prepared.scorable.join(F.broadcast(_labels(spark, group)), S.ROW_ID, "inner")
            .withColumn(S.LABEL, F.col(_CORRECTED))
            .drop(_CORRECTED)
        )
        found = {r[0] for r in rows.select(S.ROW_ID).collect()}
        changed = group[~group[S.ROW_ID].isin(found)]
        not_used[SOURCE_CHANGED] += changed[S.ROW_ID].tolist()
        kept = group[group[S.ROW_ID].isin(found)]
        used.append(kept)
        sources_by_origin[origin] = (paths, dt.date.fromisoformat(str(run_date)))
        parts.append(rows.withColumn(ORIGIN, F.lit(origin)))
        per_file = Counter(kept[S.SOURCE_FILE])
        for name, record in _file_records(spark, paths).items():
            run_ids = sorted(set(group.loc[group[S.SOURCE_FILE] == name, S.RUN_ID].astype(str)))
            corrected_files.append(
                record | {"run_date": str(run_date), "run_ids": run_ids, "rows": per_file[name]}
            )
    used_frame = pd.concat(used, ignore_index=True)
    counts = {r: len(ids) for r, ids in not_used.items()}
    for reason, count in counts.items():
        if count:
            log.warning("%d corrections not used: %s", count, reason)
    if used_frame.empty:
        raise training.TrainingDataError(
            f"no usable correction in {store}"
            + (f" received since {since}" if since else "")
            + f" ({len(corrections)} latest corrections; not used: {counts})"
        )

    def featured(selection: DataFrame, memory: LabelMemory) -> DataFrame:
        featured_parts = [base.featured(selection.where(F.col(ORIGIN) == 0), memory)]
        for origin, (paths, run_date) in sources_by_origin.items():
            picked = selection.where(F.col(ORIGIN) == origin)
            featured_parts.append(
                _featured_in_whole_files(spark, cfg, paths, run_date, picked, memory, held)
            )
        return reduce(lambda a, b: a.unionByName(b), featured_parts)

    history_counts = {
        r[0]: int(r[1]) for r in history_rows.where(known).groupBy(S.SOURCE_FILE).count().collect()
    }
    history_files = [
        record | {"rows": history_counts.get(name, 0)}
        for name, record in _file_records(spark, history).items()
    ]
    manifest = {
        "input": history,
        "as_of": as_of.isoformat(),
        "files": history_files,
        "corrected_files": corrected_files,
        "rows": sum(history_counts.values()) + sum(f["rows"] for f in corrected_files),
        "feedback": {
            "store": store,
            "predictions": predictions_output,
            "since": since.isoformat() if since else None,
            "latest_corrections": len(corrections),
            "used": len(used_frame),
            "in_history": len(in_history),
            "from_runs": len(used_frame) - len(in_history),
            "not_used": counts,
            "not_used_examples": {r: sorted(ids)[:EXAMPLES_KEPT] for r, ids in not_used.items()},
            "corrections_sha256": _digest(used_frame),
        },
    }
    rows = reduce(lambda a, b: a.unionByName(b), parts)
    return RetrainingSet(training.LabelledRows(rows, featured), manifest)
