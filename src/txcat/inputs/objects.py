"""Reading a manifest's objects as (source_file, file_size, content) rows.

Two readers produce exactly the rows `txcat.read.read_files` produces, so everything after the
read stage is unchanged:

* `spark`: Spark's `binaryFile` source over the listed URIs (through EMRFS or s3a).
* `boto3`: the manifest itself is the DataFrame; each task fetches its objects with a pool of
  concurrent GETs (`mapInArrow`), signed and sent without a boto3 call per object
  (`txcat.inputs.s3get`: a third of the CPU), conditioned on the manifest's ETag and
  checked against its size. A missing or replaced object becomes a file rejected with reason
  `object_changed` (`read.OBJECT_PROBLEM`), on which the daily run fails
  (`raise_on_changed_objects`) instead of reading it silently. Measured faster on many small
  objects (docs/storage.md), so it is the default for manifests.

Objects the boto3 reader does not fetch (other URIs, or the `spark` reader) are checked before
the read (`verify_objects`). The boto3 reader's own check costs no request of its own: a
separate HEAD of every object from the driver would cost a few ms of driver CPU per object,
hours for a day of millions of files, whatever the cluster's size (docs/performance.md).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import read, reasons, storage
from txcat import schema as S
from txcat.inputs.manifest import (
    Manifest,
    ManifestError,
    check_objects,
    normalise_etag,
    parse_manifest,
)
from txcat.inputs.s3get import S3Getter
from txcat.uris import split_s3_uri

log = logging.getLogger(__name__)

FILES_SCHEMA = T.StructType(
    [
        T.StructField(S.SOURCE_FILE, T.StringType(), False),
        T.StructField(read.FILE_SIZE, T.LongType(), False),
        T.StructField(read.CONTENT, T.BinaryType(), True),
    ]
)
#: The boto3 reader's rows: the files and, for an object that did not match its entry, why.
FETCHED_SCHEMA = T.StructType(
    [*FILES_SCHEMA.fields, T.StructField(read.OBJECT_PROBLEM, T.StringType(), True)]
)
_MANIFEST_SCHEMA = T.StructType(
    [
        T.StructField("uri", T.StringType(), False),
        T.StructField("size", T.LongType(), False),
        T.StructField("etag", T.StringType(), True),
    ]
)
_MAX_REPORTED = 10


class ObjectChangedError(RuntimeError):
    """An object no longer matches the manifest while the run reads it."""


class ObjectReadError(RuntimeError):
    """S3 refused a listed object's GET for another reason than a change (access denied, ...):
    the task fails, and the run with it."""


def load_manifest(spark: SparkSession, uri: str) -> Manifest:
    """Reads and parses the manifest at `uri` (any Hadoop filesystem, s3:// included)."""
    try:
        data = storage.read_bytes(spark, uri)
    except FileNotFoundError:
        raise ManifestError(f"manifest {uri} does not exist") from None
    return parse_manifest(uri, data)


def reader_checks_objects(manifest: Manifest, reader: str) -> bool:
    """Whether `read_manifest_files` with `reader` checks every object against its entry as it
    fetches it (the boto3 reader on a manifest of S3 URIs only)."""
    return reader == "boto3" and all(split_s3_uri(u) for u in manifest.uris)


def verify_objects(spark: SparkSession, manifest: Manifest, threads: int) -> None:
    """Checks that every listed object exists with the listed size (and ETag, for S3).

    S3 objects are checked with concurrent HEAD requests from the driver; other URIs through
    the Hadoop filesystem. For a reader that checks the objects itself
    (`reader_checks_objects`), skip this: its check costs no request of its own.

    Raises:
        ManifestError: naming the first differences.
    """
    s3_uris = [u for u in manifest.uris if split_s3_uri(u)]
    other = [u for u in manifest.uris if not split_s3_uri(u)]
    stats: list[tuple[str, tuple[int, str | None] | None]] = []
    if s3_uris:
        client = s3_client(threads, s3_endpoint(spark))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            stats.extend(zip(s3_uris, pool.map(lambda u: _head(client, u), s3_uris), strict=True))
    stats.extend((uri, _hadoop_stat(spark, uri)) for uri in other)
    problems = check_objects(manifest, stats)
    if problems:
        raise ManifestError(
            mismatch_message(manifest.source, problems[:_MAX_REPORTED], len(problems))
        )
    log.info(
        "manifest %s: %d objects, %d bytes verified",
        manifest.source,
        len(manifest.entries),
        manifest.total_bytes,
    )


def mismatch_message(source: str, shown: list[str], total: int) -> str:
    """The error of a run whose manifest's objects differ from storage: the first problems."""
    more = f" (and {total - len(shown)} more)" if total > len(shown) else ""
    return f"manifest {source} does not match storage: {'; '.join(shown)}{more}"


def raise_on_changed_objects(records: DataFrame, source: str, changed: int) -> None:
    """Fails a run whose boto3 reader found `changed` objects that no longer match the manifest
    (records rejected with reason `object_changed`), naming the first of them.

    Raises:
        ManifestError: when `changed` > 0.
    """
    if changed <= 0:
        return
    rows = (
        records.where(F.col(S.REASON) == F.lit(reasons.OBJECT_CHANGED))
        .select(S.DETAIL)
        .orderBy(S.DETAIL)
        .limit(_MAX_REPORTED)
        .collect()
    )
    raise ManifestError(mismatch_message(source, [r[S.DETAIL] for r in rows], changed))


def read_manifest_files(
    spark: SparkSession, manifest: Manifest, reader: str, threads: int, files_per_task: int
) -> DataFrame:
    """The manifest's objects as (source_file, file_size, content), one row per object; the
    boto3 reader adds `read.OBJECT_PROBLEM` (`FETCHED_SCHEMA`).

    Args:
        reader: "boto3" or "spark". boto3 needs every URI to be an S3 URI; a manifest of other
            URIs (local files in tests and demos) is read with Spark.
        threads: Concurrent GETs per task (boto3 reader).
        files_per_task: Manifest entries per task (boto3 reader).
    """
    if reader_checks_objects(manifest, reader):
        return read_with_boto3(spark, manifest, threads, files_per_task)
    if reader == "boto3":
        log.info("manifest lists non-S3 URIs: reading them with Spark")
    return read_with_spark(spark, manifest)


def read_with_spark(spark: SparkSession, manifest: Manifest) -> DataFrame:
    """Spark's binaryFile source over exactly the listed URIs.

    Like every Spark file source it returns no row for a file whose name starts with `_` or
    `.`, nor for a 0-byte file: the run then quarantines such an entry as an empty file. The
    boto3 reader returns every entry. A URI is read literally (`[` is not a glob).
    """
    return read.binary_files(spark, manifest.uris)


def read_with_boto3(
    spark: SparkSession, manifest: Manifest, threads: int, files_per_task: int
) -> DataFrame:
    """The manifest as a DataFrame; each task GETs its objects concurrently.

    An object that is missing, or differs from its entry in ETag or size, gives a row with no
    content and `read.OBJECT_PROBLEM` saying why; the other rows have a null problem. A task
    hands its objects on in the manifest's order, `HANDOFF_OBJECTS` at a time, while later GETs
    are in flight (`fetch_in_order`): parsing the first objects overlaps waiting for the next.
    The tasks are a multiple of the cluster's cores, so the last round of tasks is a full one.
    """
    rows = [(e.uri, e.size, e.etag) for e in manifest.entries]
    slices = task_count(len(rows), files_per_task, spark.sparkContext.defaultParallelism)
    listing = spark.createDataFrame(spark.sparkContext.parallelize(rows, slices), _MANIFEST_SCHEMA)
    fetch_threads = int(threads)
    endpoint = s3_endpoint(spark)

    def entries(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[str, str | None, int]]:
        for batch in batches:
            yield from zip(
                batch.column("uri").to_pylist(),
                batch.column("etag").to_pylist(),
                batch.column("size").to_pylist(),
                strict=True,
            )

    def fetch(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        getter = shared_getter(fetch_threads, endpoint)
        fetched = fetch_in_order(getter, entries(batches), fetch_threads)
        while chunk := list(itertools.islice(fetched, HANDOFF_OBJECTS)):
            uris, contents, problems = zip(*chunk, strict=True)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(uris, pa.string()),
                    pa.array([len(c) if c is not None else 0 for c in contents], pa.int64()),
                    pa.array(contents, pa.binary()),
                    pa.array(problems, pa.string()),
                ],
                names=[S.SOURCE_FILE, read.FILE_SIZE, read.CONTENT, read.OBJECT_PROBLEM],
            )

    return listing.mapInArrow(fetch, FETCHED_SCHEMA)


#: Objects a task hands on at a time (one Arrow batch): small enough that parsing starts
#: while later GETs are in flight, large enough that a batch's overhead does not count.
HANDOFF_OBJECTS = 100


def task_count(objects: int, per_task: int, cores: int) -> int:
    """Tasks for `objects` objects, about `per_task` each: at least one per core, and a
    multiple of the cores, so no core idles through a last round of fewer tasks (5,000
    objects at 2,000 per task on 2 cores: 4 tasks, not 3)."""
    if objects <= 0:
        return 1
    tasks = max(1, math.ceil(objects / per_task))
    tasks = math.ceil(tasks / cores) * cores
    return min(tasks, objects)


def fetch_in_order(
    getter: S3Getter,
    entries: Iterable[tuple[str, str | None, int]],
    threads: int,
    ahead: int | None = None,
) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(uri, content, problem) of every (uri, etag, size) entry, in the entries' order, from
    `threads` concurrent GETs (`fetch_object`).

    At most `ahead` GETs (default: 4 per thread, and at least `HANDOFF_OBJECTS`) are sent
    before their answers are taken, so the objects held in memory stay bounded whatever the
    number of entries, and the threads stay busy while the caller works on earlier answers.

    Raises what `fetch_object` raises, when the answer of that entry is taken.
    """
    limit = ahead if ahead is not None else max(4 * threads, HANDOFF_OBJECTS)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque[tuple[str, Future[tuple[bytes | None, str | None]]]] = deque()
        try:
            for uri, etag, size in entries:
                pending.append((uri, pool.submit(fetch_object, getter, uri, etag, size)))
                if len(pending) >= limit:
                    head, answer = pending.popleft()
                    yield head, *answer.result()
            while pending:
                head, answer = pending.popleft()
                yield head, *answer.result()
        finally:
            for _, answer in pending:
                answer.cancel()


def s3_endpoint(spark: SparkSession) -> str | None:
    """The S3 endpoint Spark's s3a filesystem is configured with (`fs.s3a.endpoint`), as a URL.

    None when unset (EMR's EMRFS, or AWS itself): boto3 then uses its own resolution. Keeping
    the endpoint in one Spark setting means boto3 and s3a can never read different stores.
    """
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    endpoint = conf.get("fs.s3a.endpoint")
    if not endpoint:
        return None
    if "://" not in endpoint:
        secure = (conf.get("fs.s3a.connection.ssl.enabled") or "true").lower() != "false"
        endpoint = f"{'https' if secure else 'http'}://{endpoint}"
    return str(endpoint)


def s3_client(threads: int = 10, endpoint: str | None = None) -> Any:  # boto3 is untyped
    """An S3 client with credentials from the standard AWS chain (environment, profile,
    instance role) and enough pooled connections for `threads` concurrent requests."""
    import boto3
    from botocore.config import Config

    config = Config(max_pool_connections=max(10, threads), retries={"mode": "standard"})
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def _head(client: Any, uri: str) -> tuple[int, str | None] | None:
    from botocore.exceptions import ClientError

    bucket, key = _bucket_and_key(uri)
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return int(head["ContentLength"]), normalise_etag(head.get("ETag"))


def _get(getter: S3Getter, uri: str, etag: str | None, size: int) -> bytes:
    bucket, key = _bucket_and_key(uri)
    answer = getter.get(bucket, key, if_match=etag)
    if answer.status == 412:
        raise ObjectChangedError(f"{uri}: ETag is not the manifest ETag {etag}")
    if answer.status == 404:
        raise ObjectChangedError(f"{uri}: listed in the manifest but does not exist")
    if answer.status != 200:
        raise ObjectReadError(f"{uri}: GET answered {answer.status} {answer.code or ''}".rstrip())
    if len(answer.body) != size:
        raise ObjectChangedError(f"{uri}: size {len(answer.body)} != manifest size {size}")
    return answer.body


def fetch_object(
    getter: S3Getter, uri: str, etag: str | None, size: int
) -> tuple[bytes | None, str | None]:
    """(content, None), or (None, why) when the object does not match its manifest entry.

    Raises:
        ObjectReadError: S3 refused the GET for another reason (access denied, ...).
        urllib3.exceptions.HTTPError: S3 could not be reached after the retries.
    """
    try:
        return _get(getter, uri, etag, size), None
    except ObjectChangedError as exc:
        return None, str(exc)


#: The getter of this Python process per (connections, endpoint): Spark reuses a worker for
#: many tasks, and its pooled connections and presigning client with them.
_GETTERS: dict[tuple[int, str | None], S3Getter] = {}


def shared_getter(connections: int, endpoint: str | None) -> S3Getter:
    """This process's `S3Getter` for `connections` GETs in flight to `endpoint`."""
    getter = _GETTERS.get((connections, endpoint))
    if getter is None:
        getter = _GETTERS.setdefault((connections, endpoint), S3Getter(connections, endpoint))
    return getter


def _bucket_and_key(uri: str) -> tuple[str, str]:
    parts = split_s3_uri(uri)
    if parts is None:
        raise ValueError(f"not an S3 URI: {uri}")
    return parts


def _hadoop_stat(spark: SparkSession, uri: str) -> tuple[int, str | None] | None:
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the SparkSession has no JVM gateway (stopped?)")
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return None
    return int(fs.getFileStatus(path).getLen()), None
