"""URI helpers shared by the job, the DAG's tasks and the deployment script.

Standard library only: the DAG imports this module at parse time.
"""

from __future__ import annotations

import os
import re

#: The schemes of S3 URIs: EMRFS's `s3://`, Hadoop's `s3a://` and its older `s3n://`.
S3_SCHEMES = ("s3", "s3a", "s3n")

_S3_OBJECT = re.compile(r"^(s3|s3a|s3n)://([^/]+)/(.+)$")
_S3_PREFIX = re.compile(r"^(s3|s3a|s3n)://([^/]+)(/.*)?$")


def split_s3_uri(uri: str) -> tuple[str, str] | None:
    """(bucket, key) of an object URI `s3://bucket/key` (or s3a://, s3n://).

    Returns:
        None for any other scheme, and for a URI without a key (a bucket is not an object).
    """
    match = _S3_OBJECT.match(uri)
    return (match.group(2), match.group(3)) if match else None


def split_s3_prefix(uri: str) -> tuple[str, str] | None:
    """(bucket, key prefix) of a folder URI `s3://bucket/some/folder` (or s3a://, s3n://).

    The key prefix ends with one `/` (`some/folder/`), so that listing it matches only that
    folder's objects, or is empty for the bucket itself.

    Returns:
        None for any other scheme.
    """
    match = _S3_PREFIX.match(uri)
    if not match:
        return None
    key = (match.group(3) or "").strip("/")
    return match.group(2), f"{key}/" if key else ""


def as_uri(location: str) -> str:
    """`location` itself when it is a URI; a local path as an absolute `file://` URI."""
    return location if "://" in location else "file://" + os.path.abspath(location)
