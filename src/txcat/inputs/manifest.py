"""Run manifests: the exact list of objects (URI, size, ETag) one run reads.

A "retrieve new files" step writes one manifest per run date, as JSON or CSV:

    {"files": [{"uri": "s3://bank-landing/2026-11-25/123.csv", "size": 5234, "etag": "9b2..."}]}

    uri,size,etag
    s3://bank-landing/2026-11-25/123.csv,5234,9b2...

A top-level JSON list of the same objects is accepted too, and so is the record a run stores
beside its summary (`Manifest.to_record`: `{"entries": [...]}`), so a day can be read again
exactly as it was (`txcat.retro`). `etag` may be empty (local files have
none; `mtime_ns`, their modification time, shows a rewrite instead). The manifest is stored with
the run's output, so every prediction can be traced to the exact object versions it came from.

The daily DAG writes the JSON form with `manifest_document`: the files and the day they are for,
where they were listed, when, and their count and total size.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_CSV_COLUMNS = ("uri", "size", "etag")


class ManifestError(ValueError):
    """The manifest is unreadable, malformed, or does not match the objects it lists."""


@dataclass(frozen=True)
class ManifestEntry:
    uri: str
    size: int
    etag: str | None = None
    mtime_ns: int | None = None

    @property
    def version(self) -> tuple[int, str | None, int | None]:
        """What changes when the object is rewritten: size, ETag, modification time."""
        return self.size, self.etag, self.mtime_ns

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"uri": self.uri, "size": self.size, "etag": self.etag}
        if self.mtime_ns is not None:
            record["mtime_ns"] = self.mtime_ns
        return record


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest; `sha256` identifies the exact document the run used.

    `run_date` is the day a JSON manifest says it lists (None when it does not say).
    """

    source: str
    sha256: str
    entries: tuple[ManifestEntry, ...]
    run_date: str | None = None

    @property
    def uris(self) -> list[str]:
        return [e.uri for e in self.entries]

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def to_record(self) -> dict[str, Any]:
        """The JSON document stored with the run's output."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "files": len(self.entries),
            "bytes": self.total_bytes,
            "entries": [e.to_json() for e in self.entries],
        }


def normalise_etag(etag: str | None) -> str | None:
    """S3 returns ETags in double quotes; manifests may or may not keep them."""
    if etag is None:
        return None
    value = etag.strip().strip('"')
    return value or None


def parse_manifest(source: str, data: bytes) -> Manifest:
    """Parses a JSON or CSV manifest.

    Args:
        source: Where the manifest was read from (kept in the stored record).
        data: The manifest's bytes (UTF-8).

    Raises:
        ManifestError: Not JSON/CSV of the documented shape, an entry without a URI or with a
            bad size, a duplicate URI, or no entries at all.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest {source} is not UTF-8: {exc}") from exc
    stripped = text.lstrip()
    run_date = None
    if stripped.startswith(("{", "[")):
        rows, run_date = _json_rows(source, stripped)
    else:
        rows = _csv_rows(source, text)
    entries = tuple(_entry(source, i, row) for i, row in enumerate(rows, start=1))
    if not entries:
        raise ManifestError(f"manifest {source} lists no files")
    seen: set[str] = set()
    for entry in entries:
        if entry.uri in seen:
            raise ManifestError(f"manifest {source} lists {entry.uri} twice")
        seen.add(entry.uri)
    return Manifest(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        entries=entries,
        run_date=run_date,
    )


def manifest_document(
    run_date: str, source: str, entries: Sequence[ManifestEntry], created_at: dt.datetime
) -> dict[str, Any]:
    """The JSON manifest of one run date, as the daily DAG writes it (`parse_manifest` reads it).

    Args:
        run_date: The day the files are for (`YYYY-MM-DD`).
        source: The folder the files were listed in.
        entries: The files, in the order the run should list them.
        created_at: When the folder was listed.
    """
    return {
        "run_date": run_date,
        "source": source,
        "created_at": created_at.isoformat(timespec="seconds"),
        "file_count": len(entries),
        "total_bytes": sum(e.size for e in entries),
        "files": [e.to_json() for e in entries],
    }


def _json_rows(source: str, text: str) -> tuple[list[Mapping[str, Any]], str | None]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest {source} is not valid JSON: {exc}") from exc
    rows = doc.get("files") if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and not isinstance(rows, list) and "entries" in doc:
        rows = doc["entries"]  # the record a run stores with its summary (`Manifest.to_record`)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ManifestError(f'manifest {source}: expected a list of objects, or {{"files": [...]}}')
    run_date = doc.get("run_date") if isinstance(doc, dict) else None
    if run_date is not None and not isinstance(run_date, str):
        raise ManifestError(f"manifest {source}: run_date must be a string")
    return rows, run_date


def _csv_rows(source: str, text: str) -> list[Mapping[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(h.strip().lower() for h in (reader.fieldnames or ()))
    if "uri" not in header or "size" not in header:
        raise ManifestError(
            f"manifest {source}: CSV header must have {', '.join(_CSV_COLUMNS)} (got {header})"
        )
    reader.fieldnames = list(header)
    return [row for row in reader if any((v or "").strip() for v in row.values())]


def _entry(source: str, number: int, row: Mapping[str, Any]) -> ManifestEntry:
    uri = row.get("uri")
    if not isinstance(uri, str) or not uri.strip():
        raise ManifestError(f"manifest {source}, entry {number}: no uri")
    uri = uri.strip()
    if "://" not in uri and not uri.startswith("/"):
        raise ManifestError(f"manifest {source}, entry {number}: {uri!r} is not an absolute URI")
    size = row.get("size")
    try:
        size_int = int(str(size).strip())
    except (TypeError, ValueError):
        raise ManifestError(
            f"manifest {source}, entry {number}: size {size!r} is not a whole number"
        ) from None
    if size_int < 0:
        raise ManifestError(f"manifest {source}, entry {number}: negative size {size_int}")
    etag = row.get("etag")
    if etag is not None and not isinstance(etag, str):
        raise ManifestError(f"manifest {source}, entry {number}: etag must be a string")
    mtime_ns = row.get("mtime_ns")
    if isinstance(mtime_ns, str):  # a CSV cell
        mtime_ns = int(mtime_ns) if mtime_ns.strip().isdigit() else (mtime_ns.strip() or None)
    if mtime_ns is not None and (isinstance(mtime_ns, bool) or not isinstance(mtime_ns, int)):
        raise ManifestError(f"manifest {source}, entry {number}: mtime_ns must be a whole number")
    return ManifestEntry(uri=uri, size=size_int, etag=normalise_etag(etag), mtime_ns=mtime_ns)


#: What a stat function returns for one URI: (size, etag or None), or None when it is missing.
Stat = Callable[[str], "tuple[int, str | None] | None"]


def check_objects(
    manifest: Manifest, stats: Iterable[tuple[str, tuple[int, str | None] | None]]
) -> list[str]:
    """Differences between the manifest and the objects as they are now.

    Args:
        manifest: The run's manifest.
        stats: (uri, (size, etag) or None when missing) for every entry.

    Returns:
        One message per missing or changed object; empty when everything matches. An ETag is
        compared only when both sides have one.
    """
    by_uri = {e.uri: e for e in manifest.entries}
    problems = []
    for uri, stat in stats:
        entry = by_uri[uri]
        if stat is None:
            problems.append(f"{uri}: listed in the manifest but does not exist")
            continue
        size, etag = stat
        if size != entry.size:
            problems.append(f"{uri}: size {size} != manifest size {entry.size}")
        elif entry.etag and etag and normalise_etag(etag) != entry.etag:
            problems.append(f"{uri}: ETag {normalise_etag(etag)} != manifest ETag {entry.etag}")
    return problems
