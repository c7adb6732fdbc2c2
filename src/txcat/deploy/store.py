"""Where the DAG's tasks look for files and keep small documents: local folders or S3.

The landing area and the job's output are `s3://` (or `s3a://`) URIs in production and local
folders in development and tests; `ObjectStore` hides the difference. For S3 it takes a factory
of a boto3 S3 client, so the DAG can pass the client of its Airflow connection
(`S3Hook(aws_conn_id=...).get_conn()`) and the tests a client of a local S3 server.

Standard library only: the DAG imports this module at parse time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from txcat.inputs.manifest import ManifestEntry, normalise_etag
from txcat.uris import as_uri, split_s3_prefix, split_s3_uri

#: Names Spark's file sources skip: markers (`_SUCCESS`) and hidden files.
SKIPPED_PREFIXES = ("_", ".")


class ObjectStore:
    """Lists folders and reads/writes small objects on local paths or S3.

    Args:
        s3_client: Returns the boto3 S3 client to use; called once, at the first S3 access.
    """

    def __init__(self, s3_client: Callable[[], Any]) -> None:
        self._s3_client_factory = s3_client
        self._client: Any = None

    @property
    def _s3(self) -> Any:
        if self._client is None:
            self._client = self._s3_client_factory()
        return self._client

    def list_files(self, folder: str) -> list[ManifestEntry]:
        """The data files directly under `folder`, sorted by URI.

        Names starting with `_` or `.` are left out (Spark would skip them). S3 entries carry
        their ETag; local ones, which have none, their modification time.
        """
        location = split_s3_prefix(folder)
        if location is None:
            return _list_local(folder)
        bucket, key = location
        base = folder.rstrip("/") + "/"
        entries = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key, Delimiter="/"):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(key) :]
                if name and not name.startswith(SKIPPED_PREFIXES):
                    entries.append(
                        ManifestEntry(base + name, int(obj["Size"]), normalise_etag(obj["ETag"]))
                    )
        return sorted(entries, key=lambda e: e.uri)

    def exists(self, uri: str) -> bool:
        location = split_s3_uri(uri)
        if location is None:
            return os.path.isfile(uri)
        bucket, key = location
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise
        return True

    def read_bytes(self, uri: str) -> bytes:
        location = split_s3_uri(uri)
        if location is None:
            with open(uri, "rb") as handle:
                return handle.read()
        bucket, key = location
        return bytes(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def read_if_exists(self, uri: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        return self.read_bytes(uri) if self.exists(uri) else None

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Writes `data` to `uri`, replacing what was there (local folders are created)."""
        location = split_s3_uri(uri)
        if location is None:
            os.makedirs(os.path.dirname(uri), exist_ok=True)
            with open(uri, "wb") as handle:
                handle.write(data)
            return
        bucket, key = location
        self._s3.put_object(Bucket=bucket, Key=key, Body=data)


def _list_local(folder: str) -> list[ManifestEntry]:
    if not os.path.isdir(folder):
        return []
    entries = []
    for entry in os.scandir(folder):
        if entry.is_file() and not entry.name.startswith(SKIPPED_PREFIXES):
            stat = entry.stat()
            entries.append(
                ManifestEntry(as_uri(entry.path), stat.st_size, mtime_ns=stat.st_mtime_ns)
            )
    return sorted(entries, key=lambda e: e.uri)
