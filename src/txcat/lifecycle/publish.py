"""Publication: the served version's artifact where production reads it, without MLflow.

On `txcat promote` / `txcat rollback`, with `lifecycle.publish_uri` set (a local folder or an
`s3://` prefix), the version the serving alias now points at is copied to

    <publish_uri>/versions/<N>/          every file of the registered folder, then
                                         registration.json last (name, version, sha256, files)
    <publish_uri>/<alias>/pointer.json   {"name", "version", "alias", "sha256", "path", ...}

in that order. A version folder is written once: when its `registration.json` is there it is
complete and is never rewritten (a second publication of the same version reuses it; another
model under the same number is refused). The pointer is one small object replaced in a single
write (an S3 PUT, a local rename), so a reader sees the previous pointer or the new one, and the
folder a pointer names is always complete. The scoring job is given `<publish_uri>/<alias>/`
(`txcat.model_uri.resolve` follows the pointer and checks the sha256 it states).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from txcat.config import Config
from txcat.deploy.store import ObjectStore
from txcat.model import ModelArtifact
from txcat.model_uri import (
    REGISTRATION_FILE,
    VERSIONS_FOLDER,
    RegistryError,
    parse_pointer,
    pointer_uri,
    version_uri,
)
from txcat.uris import split_s3_uri

log = logging.getLogger(__name__)

PUBLISH_SETTING = "lifecycle.publish_uri"


@dataclass(frozen=True)
class Publication:
    """Where a promotion published its version."""

    version_folder: str
    pointer: str
    #: False when the version folder was already complete (published before).
    copied: bool


def default_store() -> ObjectStore:
    """Local folders, or S3 through boto3's own configuration (role, `AWS_ENDPOINT_URL_S3`)."""

    def s3_client() -> Any:
        import boto3

        return boto3.client("s3")

    return ObjectStore(s3_client=s3_client)


def _files(folder: Path) -> list[str]:
    """Every file under `folder`, as sorted relative POSIX paths (no registration record)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).as_posix() != REGISTRATION_FILE
    )


def _write_atomic(store: ObjectStore, uri: str, data: bytes) -> None:
    """One write a reader sees whole or not at all: an S3 PUT, or a rename on a local disk."""
    if split_s3_uri(uri) is not None:
        store.write_bytes(uri, data)
        return
    target = Path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".pointer-", dir=target.parent)
    tmp = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish(
    cfg: Config,
    name: str,
    version: str,
    folder: Path,
    artifact: ModelArtifact,
    store: ObjectStore | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Publication:
    """Copies a verified version folder to `versions/<N>/`, then points the alias at it.

    Raises:
        RegistryError: `versions/<N>/` already holds another model, or the location fails.
    """
    root = cfg.lifecycle.publish_uri
    if root is None:
        raise RegistryError(f"nothing to publish to: {PUBLISH_SETTING} is not set")
    store = store or default_store()
    alias = cfg.lifecycle.serving_alias
    target = version_uri(root, version)
    record_uri = f"{target}/{REGISTRATION_FILE}"
    try:
        copied = _publish_version(store, name, version, folder, artifact, target, record_uri)
        pointer = {
            "name": name,
            "version": version,
            "alias": alias,
            "sha256": artifact.sha256,
            "path": f"{VERSIONS_FOLDER}/{version}",
            "artifact_version": artifact.version,
            "published_at": now().replace(microsecond=0).isoformat(),
            "tracking_uri": cfg.lifecycle.tracking_uri,
        }
        body = json.dumps(pointer, indent=2, sort_keys=True) + "\n"
        parse_pointer(body.encode("utf-8"), "new pointer")  # what readers will check
        _write_atomic(store, pointer_uri(root, alias), body.encode("utf-8"))
    except (OSError, BotoCoreError, ClientError) as exc:
        raise RegistryError(f"cannot publish to {root} ({PUBLISH_SETTING}): {exc}") from exc
    log.info("published %s version %s to %s; %s points at it", name, version, target, alias)
    return Publication(target, pointer_uri(root, alias), copied)


def _publish_version(
    store: ObjectStore,
    name: str,
    version: str,
    folder: Path,
    artifact: ModelArtifact,
    target: str,
    record_uri: str,
) -> bool:
    if store.exists(record_uri):
        record = json.loads(store.read_bytes(record_uri).decode("utf-8"))
        if record.get("sha256") != artifact.sha256:
            raise RegistryError(
                f"{target} already holds another model (sha256 {record.get('sha256')}, "
                f"this version is {artifact.sha256}): published versions are never rewritten"
            )
        log.info("%s is already published: kept as it is", target)
        return False
    files = _files(folder)
    for relative in files:
        store.write_bytes(f"{target}/{relative}", (folder / relative).read_bytes())
    record = {
        "name": name,
        "version": version,
        "sha256": artifact.sha256,
        "artifact_version": artifact.version,
        "files": files,
    }
    store.write_bytes(record_uri, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return True


def read_pointer(cfg: Config, store: ObjectStore | None = None) -> dict[str, str] | None:
    """The serving alias's published pointer; None when nothing is published yet."""
    root = cfg.lifecycle.publish_uri
    if root is None:
        return None
    store = store or default_store()
    uri = pointer_uri(root, cfg.lifecycle.serving_alias)
    if not store.exists(uri):
        return None
    return parse_pointer(store.read_bytes(uri), uri)
