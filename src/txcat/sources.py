"""The feature wiring: a source of per-account files -> cleaned records -> featured rows.

One function, `prepare`, turns a `Source` (a folder, a manifest, or files held in memory, as a
real-time request would bring them) into what every consumer needs: the daily job, training,
evaluation and the benchmark. The steps are always the same, in the same order:

    reference data -> list -> read -> clean -> records (quarantine side + scorable side)
                                     scorable rows -> [a consumer's selection] -> build_features

A folder or a manifest is listed first (`txcat.inputs.listing`): a file set aside there (a
folder link, a file or an account reached twice, an upload in progress) is not read and
becomes one file-level record among the others.

The aggregates method is the configuration's (`features.aggregates`), never a default; the label
memory is the model's (`features.memory_of`) when scoring, training's own when training. Nothing
here triggers a Spark job except what the source itself needs (listing, manifest checks).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from txcat import clean, read, read_arrow
from txcat import schema as S
from txcat.config import Config
from txcat.features import Memory, References, build_features
from txcat.features.aggregates import PARTITION
from txcat.features.enrich import load_references
from txcat.inputs import InputError, Manifest, ManifestError, listing
from txcat.inputs import objects as manifest_objects
from txcat.inputs.listing import Listing, Rejected
from txcat.serve import rows

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
    #: Every file the source considered: read, or set aside with a reason (None for files in
    #: memory).
    inputs: Listing | None
    #: The run's manifest, when the source is one.
    manifest: Manifest | None
    refs: References
    aggregates: str
    #: The label memory the features read, unless a caller of `featured` passes another.
    memory: Memory | None = None

    @property
    def listed(self) -> int | None:
        """How many files the source considered, set-aside ones included (None for files in
        memory)."""
        return self.inputs.files if self.inputs is not None else None

    @property
    def quarantine(self) -> DataFrame:
        """The rejected files and rows, each with its level, reason and detail."""
        return self.records.where(F.col(S.LEVEL).isNotNull())

    @property
    def scorable(self) -> DataFrame:
        """The records to score, with the parsed transaction columns only."""
        return scorable(self.records)

    @property
    def features(self) -> DataFrame:
        """Every scorable row with the model's feature columns."""
        return self.featured(self.scorable)

    def featured(
        self,
        rows: DataFrame,
        memory: Memory | None = None,
        memory_in_scorer: bool = False,
        aggregates_in_scorer: bool = False,
    ) -> DataFrame:
        """Feature columns for a selection of `scorable` rows (a training split, labelled rows).

        The per-file aggregates see only the selected rows. `memory` (default: the one given to
        `prepare`) is the label memory the `mem_*` features read; `memory_in_scorer`: its keys
        instead, for the scoring UDF to look up; `aggregates_in_scorer`: no aggregates, for the
        scoring UDF to compute (`build_features`).

        Raises:
            ValueError: no label memory was given, `memory_in_scorer` without a shipped one, or
                `aggregates_in_scorer` with the `window` aggregates.
        """
        memory = memory or self.memory
        if memory is None:
            raise ValueError("features need a label memory: the model's, or training's own")
        return build_features(
            rows, self.refs, self.aggregates, memory, memory_in_scorer, aggregates_in_scorer
        )

    @property
    def aggregates_in_scorer(self) -> bool:
        """Whether a scorer may compute the per-file aggregates itself (`partition` method)."""
        return self.aggregates == PARTITION


def prepare(
    spark: SparkSession,
    cfg: Config,
    source: Source,
    run_date: dt.date,
    stamp: Mapping[str, Column] | None = None,
    memory: Memory | None = None,
) -> Prepared:
    """Reads, cleans and wires the features of a source, as of `run_date`.

    Args:
        source: What to read (`Source.folder`, `Source.manifest`, `Source.files`).
        run_date: The day scored (or the training as-of date): future-date check and the
            reference snapshot.
        stamp: Columns added to every record before anything is derived from them (the job's
            run id and date), so a cache of `records` serves the features too.
        memory: The label memory of the features (`features.memory_of(artifact)`).

    Raises:
        InputError: the source cannot be read, or holds no file.
        ReferenceDataError: a reference table cannot be read.
    """
    refs = load_references(spark, cfg.reference.for_run_date(run_date), run_date)
    manifest = None
    inputs: Listing | None = None
    if source.kind == FOLDER:
        records, inputs = read_records(spark, cfg, source.location, run_date)
    elif source.kind == MANIFEST:
        manifest = load_manifest(spark, cfg, source.location)
        records, inputs = read_manifest_records(spark, cfg, manifest, run_date)
    elif source.kind == FILES and source.files_frame is not None:
        records = cleaned(cfg, source.files_frame, run_date)
    else:
        raise ValueError(f"not a source: {source!r}")
    for name, column in (stamp or {}).items():
        records = records.withColumn(name, column)
    return Prepared(records, inputs, manifest, refs, cfg.features.aggregates, memory)


@contextmanager
def cached(prepared: Prepared) -> Iterator[Prepared]:
    """`prepared` with its records cached while the block runs, released after it.

    The records' readers (counts, features, collects) then share one read and cleaning of the
    files. The cache also bounds the optimizer: without it the quarantine filter of `scorable`
    is pushed into the cleaning projection, whose whole-stage code then outgrows the JVM's
    64 KB method limit and runs without whole-stage codegen, after a failed compilation.
    """
    records = prepared.records.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield replace(prepared, records=records)
    finally:
        records.unpersist()


def cleaned(cfg: Config, files: DataFrame, run_date: dt.date) -> DataFrame:
    """File records -> one cleaned record per data line or rejected file, by the configured
    parser (`input.parser`): `read_arrow`, or `read` + `clean`."""
    if cfg.input.parser == "arrow":
        return read_arrow.cleaned(files, rows.cleaning_rules(cfg, run_date))
    return read.to_lines(files, cfg.input.extensions, cfg.input.max_inflated_bytes).transform(
        clean.clean,
        run_date,
        cfg.quality.earliest_transaction_date,
        cfg.quality.quarantine_duplicate_rows,
        cfg.quality.max_abs_amount,
    )


def scorable(records: DataFrame) -> DataFrame:
    """The records to score: the parsed transaction columns and `is_repeated_line`."""
    return records.where(F.col(S.LEVEL).isNull()).select(
        *[f.name for f in S.TRANSACTION_SCHEMA.fields], S.IS_REPEATED_LINE
    )


def read_records(
    spark: SparkSession, cfg: Config, input_path: str, run_date: dt.date
) -> tuple[DataFrame, Listing]:
    """Cleaned records of every file under `input_path`, and every file the run considered.

    Files set aside by the listing (`txcat.inputs.listing`: folder links, broken links, uploads
    in progress, a file or an account reached twice) are not read: each is one file-level
    record among the returned ones.

    Raises:
        InputError: the input cannot be read, or leaves no file to read.
    """
    scan = listing.scan_local(input_path) if listing.is_local(input_path) else None
    set_aside = list(scan.rejected) if scan is not None else []
    try:
        if scan is not None and scan.spark_would_differ:
            if not scan.files:
                raise InputError(f"no input files under {input_path}{_set_aside(set_aside)}")
            files = read.read_files(spark, scan.files)
        else:
            files = read.read_files(spark, input_path)
        listed = listing.from_input_files(read.listed_paths(files))
    except AnalysisException as exc:
        raise InputError(f"cannot read input {input_path}: {str(exc).splitlines()[0]}") from exc
    rejected = set_aside + listing.duplicate_accounts(listed, cfg.input.extensions)
    excluded = {r.path for r in rejected}
    to_read = tuple(p for p in listed if p not in excluded)
    if not to_read:
        raise InputError(f"no input files under {input_path}{_set_aside(rejected)}")
    if len(to_read) < len(listed):
        files = files.where(~F.col(S.SOURCE_FILE).isin(*sorted(excluded)))
    inputs = Listing(to_read, tuple(rejected), scan.hidden if scan is not None else None)
    return _with_rejected(spark, cleaned(cfg, files, run_date), inputs), inputs


def load_manifest(spark: SparkSession, cfg: Config, uri: str) -> Manifest:
    """Reads the run's manifest and checks every listed object exists unchanged, unless the
    configured reader checks each object as it fetches it (`check_fetched_objects` then fails
    the run after the read).

    Raises:
        InputError: the manifest cannot be read, or an object is missing or changed.
    """
    try:
        manifest = manifest_objects.load_manifest(spark, uri)
        if not manifest_objects.reader_checks_objects(manifest, cfg.storage.manifest_reader):
            manifest_objects.verify_objects(spark, manifest, cfg.storage.fetch_threads)
    except ManifestError as exc:
        raise InputError(str(exc)) from exc
    except AnalysisException as exc:
        raise InputError(f"cannot read manifest {uri}: {str(exc).splitlines()[0]}") from exc
    return manifest


def check_fetched_objects(records: DataFrame, manifest: Manifest, changed: int) -> None:
    """Fails the run when the reader found `changed` objects that no longer match the manifest
    (records of reason `object_changed`): nothing of the day is scored from a manifest that
    storage does not match, as when the objects are checked before the read.

    Raises:
        InputError: naming the first differences.
    """
    try:
        manifest_objects.raise_on_changed_objects(records, manifest.source, changed)
    except ManifestError as exc:
        raise InputError(str(exc)) from exc


def read_manifest_records(
    spark: SparkSession, cfg: Config, manifest: Manifest, run_date: dt.date
) -> tuple[DataFrame, Listing]:
    """Cleaned records of exactly the manifest's files, and every file the run considered.

    Uploads in progress and a second file of an account are not read (one record each), as
    for a folder.

    Raises:
        InputError: no listed file is left to read, or the files cannot be read.
    """
    uris = manifest.uris
    uploads = listing.incomplete_uploads(uris)
    uploading = {r.path for r in uploads}
    rejected = uploads + listing.duplicate_accounts(
        [u for u in uris if u not in uploading], cfg.input.extensions
    )
    excluded = {r.path for r in rejected}
    kept = tuple(e for e in manifest.entries if e.uri not in excluded)
    if not kept:
        raise InputError(f"manifest {manifest.source} lists no readable file{_set_aside(rejected)}")
    try:
        files = manifest_objects.read_manifest_files(
            spark,
            replace(manifest, entries=kept),
            cfg.storage.manifest_reader,
            cfg.storage.fetch_threads,
            cfg.storage.files_per_task,
        )
    except AnalysisException as exc:
        raise InputError(f"cannot read manifest files: {str(exc).splitlines()[0]}") from exc
    inputs = Listing(
        tuple(e.uri for e in kept),
        tuple(replace(r, path=listing.normalise(r.path)) for r in rejected),
    )
    return _with_rejected(spark, cleaned(cfg, files, run_date), inputs), inputs


def _with_rejected(spark: SparkSession, records: DataFrame, inputs: Listing) -> DataFrame:
    """The records plus one file-level record per file the listing set aside."""
    if not inputs.rejected:
        return records
    rows = [
        (S.LEVEL_FILE, r.reason, r.detail, r.path, listing.account_of(r.path))
        for r in inputs.rejected
    ]
    rejected = spark.createDataFrame(
        rows,
        f"{S.LEVEL} string, {S.REASON} string, {S.DETAIL} string, {S.SOURCE_FILE} string, "
        f"{S.ACCOUNT_ID} string",
    )
    return records.unionByName(rejected, allowMissingColumns=True)


def _set_aside(rejected: list[Rejected]) -> str:
    if not rejected:
        return ""
    by_reason = Counter(r.reason for r in rejected)
    return " (set aside: " + ", ".join(f"{n} {r}" for r, n in sorted(by_reason.items())) + ")"
