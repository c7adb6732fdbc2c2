"""The feature wiring: a source of per-account files -> cleaned records -> featured rows.

One function, `prepare`, turns a `Source` (a folder, a manifest, or files held in memory, as a
real-time request would bring them) into what every consumer needs: the daily job, training,
evaluation and the benchmark. The steps are always the same, in the same order:

    reference data -> read -> clean -> records (quarantine side + scorable side)
                                       scorable rows -> [a consumer's selection] -> build_features

The aggregates method is the configuration's (`features.aggregates`), never a default; the label
memory is the model's (`features.memory_of`) when scoring, training's own when training. Nothing
here triggers a Spark job except what the source itself needs (listing, manifest checks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from txcat import pipeline, read
from txcat import schema as S
from txcat.config import Config
from txcat.features import LabelMemory, References, build_features
from txcat.features.enrich import load_references
from txcat.inputs import Manifest

FOLDER = "folder"
MANIFEST = "manifest"
FILES = "files"


@dataclass(frozen=True)
class Source:
    """Where a run's files come from; build it with `folder`, `manifest` or `files`."""

    kind: str
    location: str = ""
    files_frame: DataFrame | None = None

    @classmethod
    def folder(cls, path: str) -> Source:
        """Every file under a folder or URI, read recursively (`_*` and `.*` names skipped)."""
        return cls(FOLDER, path)

    @classmethod
    def manifest(cls, uri: str) -> Source:
        """Exactly the files a manifest lists, each checked against its size and ETag."""
        return cls(MANIFEST, uri)

    @classmethod
    def files(cls, frame: DataFrame) -> Source:
        """Files already in memory: a DataFrame shaped like `read.read_files`'s output
        (source_file, file_size, content), e.g. built by `files_in_memory`."""
        return cls(FILES, files_frame=frame)


def files_in_memory(spark: SparkSession, contents: Mapping[str, bytes]) -> DataFrame:
    """File records (`read.read_files`'s shape) for file contents by name, e.g. request bodies.

    The name plays the part of the path: its last segment, without extension, is the account.
    """
    return spark.createDataFrame(
        [(name, len(body), bytearray(body)) for name, body in contents.items()],
        f"{S.SOURCE_FILE} string, {read.FILE_SIZE} long, {read.CONTENT} binary",
    )


@dataclass(frozen=True)
class Prepared:
    """A source's cleaned records and featured rows; every DataFrame is lazy."""

    #: Every cleaned record: `level` is null on a row to score, else it is quarantined.
    records: DataFrame
    #: How many files the source considered, set-aside ones included (None for files in memory).
    listed: int | None
    #: The run's manifest, when the source is one.
    manifest: Manifest | None
    refs: References
    aggregates: str
    #: The label memory the features read, unless a caller of `featured` passes another.
    memory: LabelMemory | None = None

    @property
    def quarantine(self) -> DataFrame:
        """The rejected files and rows, each with its level, reason and detail."""
        return self.records.where(F.col(S.LEVEL).isNotNull())

    @property
    def scorable(self) -> DataFrame:
        """The records to score, with the parsed transaction columns only."""
        return pipeline.scorable(self.records)

    @property
    def features(self) -> DataFrame:
        """Every scorable row with the model's feature columns."""
        return self.featured(self.scorable)

    def featured(self, rows: DataFrame, memory: LabelMemory | None = None) -> DataFrame:
        """Feature columns for a selection of `scorable` rows (a training split, labelled rows).

        The per-file aggregates see only the selected rows. `memory` (default: the one given to
        `prepare`) is the label memory the `mem_*` features read.

        Raises:
            ValueError: no label memory was given.
        """
        memory = memory or self.memory
        if memory is None:
            raise ValueError("features need a label memory: the model's, or training's own")
        return build_features(rows, self.refs, self.aggregates, memory)


def prepare(
    spark: SparkSession,
    cfg: Config,
    source: Source,
    run_date: dt.date,
    stamp: Mapping[str, Column] | None = None,
    memory: LabelMemory | None = None,
) -> Prepared:
    """Reads, cleans and wires the features of a source, as of `run_date`.

    Args:
        source: What to read (`Source.folder`, `Source.manifest`, `Source.files`).
        run_date: The day scored (or the training as-of date): future-date check and the
            reference snapshot.
        stamp: Columns added to every record before anything is derived from them (the job's
            run id and date), so a cache of `records` serves the features too.
        memory: The label memory of the features (`features.memory_of(spark, artifact)`).

    Raises:
        pipeline.InputError: the source cannot be read, or holds no file.
        ReferenceDataError: a reference table cannot be read.
    """
    refs = load_references(spark, cfg.reference.for_run_date(run_date), run_date)
    manifest = None
    listed: int | None = None
    if source.kind == FOLDER:
        records, inputs = pipeline.read_records(spark, cfg, source.location, run_date)
        listed = inputs.files
    elif source.kind == MANIFEST:
        manifest = pipeline.load_manifest(spark, cfg, source.location)
        records, inputs = pipeline.read_manifest_records(spark, cfg, manifest, run_date)
        listed = inputs.files
    elif source.kind == FILES and source.files_frame is not None:
        records = cleaned(cfg, source.files_frame, run_date)
    else:
        raise ValueError(f"not a source: {source!r}")
    for name, column in (stamp or {}).items():
        records = records.withColumn(name, column)
    return Prepared(records, listed, manifest, refs, cfg.features.aggregates, memory)


def cleaned(cfg: Config, files: DataFrame, run_date: dt.date) -> DataFrame:
    """File records -> one cleaned record per data line or rejected file (`read`, `clean`)."""
    return pipeline.cleaned_records(cfg, files, run_date)
