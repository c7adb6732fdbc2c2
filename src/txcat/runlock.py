"""One run of a day at a time: a lock file beside the day's run summary.

`OUTPUT/runs/run_date=D/_lock` holds the run that owns the day (run id, host, pid, started_at)
as JSON; Spark's readers skip names starting with `_`. A run takes it before it reads or
writes anything and removes it when it ends, however it ends. A second run of the same day
finds it, touches nothing and fails with `RunLockedError` (exit code `exits.RUN_LOCKED`).

The lock is created atomically: with `O_EXCL` on a local disk, by HDFS's
`create(overwrite=false)`, and on S3 (`s3://`, `s3a://`) by a conditional put
(`If-None-Match: *`, which S3 honours since 2024), because Hadoop's S3 filesystems only check
for the file and then write it.

A lock left by a killed run is stale, and the next run replaces it, when its holder's process is
gone (same host only: a pid means nothing elsewhere) or when it is older than
`run.lock_stale_after_minutes`. Replacing is read, compare, delete, create: two runs replacing
the same stale lock in the same instant could both get in, a window of one storage call, only
ever after a run was killed. By hand: check that the holder named in the lock is not running,
then delete the `_lock` file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from pyspark.sql import SparkSession

from txcat import storage, write
from txcat.inputs.objects import s3_client, s3_endpoint
from txcat.uris import split_s3_uri

log = logging.getLogger(__name__)

LOCK_FILE = "_lock"
#: Create, or find a live holder, or replace a stale lock: a few rounds settle any race.
_ATTEMPTS = 3


@dataclass(frozen=True)
class Holder:
    """The run that holds a day's lock."""

    run_id: str
    host: str
    pid: int
    started_at: str  # ISO 8601, UTC

    def describe(self) -> str:
        return f"run {self.run_id} on {self.host} (pid {self.pid}) since {self.started_at}"

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True) + "\n").encode("utf-8")


class RunLockedError(RuntimeError):
    """Another run of the same day holds the lock; this run touched nothing."""

    def __init__(self, path: str, holder: Holder) -> None:
        super().__init__(
            f"another run of this day holds the lock {path}: {holder.describe()}. "
            "Retry when it has finished; if it is gone, the lock is replaced once stale "
            "(run.lock_stale_after_minutes), or delete the file by hand"
        )
        self.path = path
        self.holder = holder


def lock_path(output: str, run_date: dt.date) -> str:
    return storage.join(write.partition_path(storage.join(output, write.RUNS), run_date), LOCK_FILE)


@contextmanager
def run_lock(
    spark: SparkSession,
    output: str,
    run_date: dt.date,
    run_id: str,
    stale_after: dt.timedelta,
) -> Iterator[Holder]:
    """Holds the day's lock for the `with` block.

    Raises:
        RunLockedError: A live run of the same day holds it.
    """
    path = lock_path(output, run_date)
    holder = acquire(spark, path, run_id, stale_after)
    try:
        yield holder
    finally:
        release(spark, path, holder)


def acquire(
    spark: SparkSession,
    path: str,
    run_id: str,
    stale_after: dt.timedelta,
    now: dt.datetime | None = None,
) -> Holder:
    """Creates the lock at `path` for this process, replacing a stale one; returns its holder."""
    now = now or dt.datetime.now(dt.UTC)
    mine = Holder(run_id, socket.gethostname(), os.getpid(), now.replace(microsecond=0).isoformat())
    current: Holder | None = None
    for _ in range(_ATTEMPTS):
        if _create(spark, path, mine.to_bytes()):
            log.info("lock %s taken by %s", path, mine.describe())
            return mine
        current = _read_holder(spark, path)
        if current is None:  # released in between
            continue
        why = stale_reason(current, stale_after, now, mine.host)
        if why is None:
            break
        log.warning("replacing the stale lock %s of %s: %s", path, current.describe(), why)
        if _read_holder(spark, path) == current:
            storage.delete(spark, path)
    raise RunLockedError(path, current or mine)


def release(spark: SparkSession, path: str, holder: Holder) -> None:
    """Removes the lock if it is still `holder`'s; never raises (the run's outcome stands)."""
    try:
        current = _read_holder(spark, path)
        if current != holder:
            log.warning(
                "lock %s is no longer %s's (now %s): left alone",
                path,
                holder.run_id,
                current.describe() if current else "absent",
            )
            return
        storage.delete(spark, path)
        log.info("lock %s released", path)
    except Exception:
        log.exception("could not release the lock %s: delete it by hand", path)


def stale_reason(
    holder: Holder, stale_after: dt.timedelta, now: dt.datetime, host: str
) -> str | None:
    """Why `holder`'s lock may be replaced, or None while it must be respected."""
    if holder.host == host and holder.pid > 0 and not _alive(holder.pid):
        return f"process {holder.pid} is no longer running on {host}"
    try:
        started = dt.datetime.fromisoformat(holder.started_at)
    except ValueError:
        return f"unreadable start time {holder.started_at!r}"
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.UTC)
    age = now - started
    if age > stale_after:
        return f"held for {age} (stale after {stale_after})"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _read_holder(spark: SparkSession, path: str) -> Holder | None:
    """The lock's holder; None when there is no lock. A lock that cannot be parsed (a run
    killed while writing it) is dated by the file itself."""
    try:
        data = storage.read_bytes(spark, path)
    except FileNotFoundError:
        return None
    try:
        fields = json.loads(data.decode("utf-8"))
        return Holder(
            str(fields["run_id"]),
            str(fields["host"]),
            int(fields["pid"]),
            str(fields["started_at"]),
        )
    except (ValueError, KeyError, TypeError):
        stamp = dt.datetime.fromtimestamp(storage.modified_at(spark, path), dt.UTC)
        return Holder("(unreadable lock)", "", 0, stamp.replace(microsecond=0).isoformat())


def _create(spark: SparkSession, path: str, body: bytes) -> bool:
    if split_s3_uri(path) is None:
        return storage.create_exclusive(spark, path, body)
    return _put_if_absent(spark, path, body)


def _put_if_absent(spark: SparkSession, uri: str, body: bytes) -> bool:
    """S3's conditional put: refused with 412 when the key exists (409 on a concurrent put)."""
    from botocore.exceptions import ClientError

    bucket, key = split_s3_uri(uri)  # type: ignore[misc]
    client = s3_client(endpoint=s3_endpoint(spark))
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code")
        if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return True
