"""Small-object I/O on any Hadoop filesystem (local, HDFS, s3:// via EMRFS, s3a://).

The driver uses these for the files that are not DataFrames: the model artifact and the run
summary. Going through Spark's own filesystem layer means one set of credentials and schemes
for everything the job touches.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


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


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])
