"""Small-object I/O on any Hadoop filesystem (local, HDFS, s3:// via EMRFS, s3a://).

The driver uses these for the files that are not DataFrames: the model artifact and the run
summary. Going through Spark's own filesystem layer means one set of credentials and schemes
for everything the job touches.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]
from pyspark.sql import SparkSession

#: Object stores: a "folder" is a key prefix, created by the first write; permissions show then.
_OBJECT_STORE_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs"})
_GLOB_CHARACTERS = re.compile(r"([\\{}\[\]*?])")


def _jvm(spark: SparkSession) -> Any:
    """The py4j view of the driver's JVM (untyped)."""
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the SparkSession has no JVM gateway (stopped?)")
    return jvm


def _fs_and_path(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    """Hadoop's FileSystem and Path of a URI (py4j objects)."""
    path = _jvm(spark).org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs, path


def exists(spark: SparkSession, uri: str) -> bool:
    fs, path = _fs_and_path(spark, uri)
    return bool(fs.exists(path))


def delete(spark: SparkSession, uri: str) -> bool:
    """Removes a file or a folder and everything under it; False when there was nothing."""
    fs, path = _fs_and_path(spark, uri)
    return bool(fs.delete(path, True))


def read_bytes(spark: SparkSession, uri: str) -> bytes:
    """Whole content of one object. Raises FileNotFoundError when it does not exist."""
    fs, path = _fs_and_path(spark, uri)
    if not fs.exists(path):
        raise FileNotFoundError(uri)
    stream = fs.open(path)
    try:
        return bytes(_jvm(spark).org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def write_bytes(spark: SparkSession, uri: str, data: bytes) -> None:
    """Creates or replaces one object."""
    fs, path = _fs_and_path(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def make_folder(spark: SparkSession, uri: str) -> None:
    """Makes sure `uri` is a folder this process can write in, creating it when missing.

    On an object store only an object in the way can be seen before writing.

    Raises:
        NotADirectoryError: `uri` is a file.
        PermissionError: The folder cannot be created, or is not writable.
    """
    fs, path = _fs_and_path(spark, uri)
    try:
        if fs.exists(path):
            if not fs.getFileStatus(path).isDirectory():
                raise NotADirectoryError(f"{uri} is a file, not a folder")
        elif fs.getScheme() in _OBJECT_STORE_SCHEMES:
            return
        elif not fs.mkdirs(path):
            raise PermissionError(f"cannot create folder {uri}")
        if fs.getScheme() not in _OBJECT_STORE_SCHEMES:
            fs.access(path, _jvm(spark).org.apache.hadoop.fs.permission.FsAction.WRITE)
    except Py4JJavaError as exc:
        cause = exc.java_exception
        text = f"{cause.getClass().getSimpleName()}: {cause.getMessage()}"
        raise PermissionError(f"cannot use folder {uri}: {text}") from exc


def create_exclusive(spark: SparkSession, uri: str, data: bytes) -> bool:
    """Creates one object only if nothing is there yet: True if created, False if it existed.

    Atomic on a local disk (`O_CREAT | O_EXCL`; Hadoop's local filesystem only checks, then
    creates) and on HDFS (the NameNode refuses `create(path, overwrite=false)` on an existing
    path). Object stores through Hadoop (s3a, EMRFS) only check, then write: two callers in the
    same instant may both succeed there (`txcat.runlock` uses S3's conditional put instead).
    """
    fs, path = _fs_and_path(spark, uri)
    if fs.getScheme() == "file":
        local = Path(fs.makeQualified(path).toUri().getPath())
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        return True
    try:
        out = fs.create(path, False)
    except Exception as exc:  # py4j's error carries the Java exception's class in its text
        if "FileAlreadyExistsException" in str(exc):
            return False
        raise
    try:
        out.write(bytearray(data))
    finally:
        out.close()
    return True


def modified_at(spark: SparkSession, uri: str) -> float:
    """Last modification of one object, in seconds since the epoch (the store's clock)."""
    fs, path = _fs_and_path(spark, uri)
    return float(fs.getFileStatus(path).getModificationTime()) / 1000.0


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def literal_path(path: str) -> str:
    """`path` escaped for Spark's file sources, which read `day[1]` or `a*` as a glob pattern."""
    return _GLOB_CHARACTERS.sub(r"\\\1", path)
