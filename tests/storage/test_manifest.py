"""Manifest parsing and the comparison with the objects as they are."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from txcat.inputs.manifest import (
    ManifestEntry,
    ManifestError,
    check_objects,
    manifest_document,
    parse_manifest,
)


def _json(rows) -> bytes:
    return json.dumps(rows).encode()


def test_json_object_with_files():
    m = parse_manifest(
        "m.json",
        _json(
            {
                "run_date": "2026-11-25",
                "files": [
                    {"uri": "s3://b/d/1.csv", "size": 10, "etag": '"abc"'},
                    {"uri": "s3://b/d/2.csv", "size": "0"},
                ],
            }
        ),
    )
    assert m.entries == (
        ManifestEntry("s3://b/d/1.csv", 10, "abc"),
        ManifestEntry("s3://b/d/2.csv", 0, None),
    )
    assert m.total_bytes == 10
    assert len(m.sha256) == 64
    assert m.run_date == "2026-11-25"


def test_the_daily_manifest_document_reads_back_as_written():
    entries = [
        ManifestEntry("s3://b/d/1.csv", 10, "abc"),
        ManifestEntry("file:///l/d/2.csv", 0, None, mtime_ns=1764000000123456789),
    ]
    created = dt.datetime(2026, 11, 25, 6, 0, 3, 999, tzinfo=dt.UTC)
    document = manifest_document("2026-11-25", "s3://b/d", entries, created)
    assert document == {
        "run_date": "2026-11-25",
        "source": "s3://b/d",
        "created_at": "2026-11-25T06:00:03+00:00",
        "file_count": 2,
        "total_bytes": 10,
        "files": [
            {"uri": "s3://b/d/1.csv", "size": 10, "etag": "abc"},
            {"uri": "file:///l/d/2.csv", "size": 0, "etag": None, "mtime_ns": 1764000000123456789},
        ],
    }
    parsed = parse_manifest("m.json", json.dumps(document, indent=1).encode())
    assert parsed.entries == tuple(entries)
    assert parsed.run_date == "2026-11-25"
    assert parse_manifest("m.csv", b"uri,size,etag,mtime_ns\n/l/a.csv,1,,42\n").entries == (
        ManifestEntry("/l/a.csv", 1, None, mtime_ns=42),
    )


def test_json_list_and_csv_give_the_same_entries():
    as_json = parse_manifest("m.json", _json([{"uri": "s3://b/k.csv", "size": 5, "etag": "e1"}]))
    as_csv = parse_manifest("m.csv", b'URI,Size,ETag\r\ns3://b/k.csv,5,"""e1"""\r\n\r\n')
    assert as_json.entries == as_csv.entries


def test_record_keeps_every_entry():
    m = parse_manifest("s3://b/m.json", _json([{"uri": "s3://b/k.csv", "size": 5, "etag": "e"}]))
    record = m.to_record()
    assert record["source"] == "s3://b/m.json"
    assert record["entries"] == [{"uri": "s3://b/k.csv", "size": 5, "etag": "e"}]
    assert record["files"] == 1 and record["bytes"] == 5


def test_the_record_stored_with_a_run_reads_back_as_its_manifest():
    entries = (
        ManifestEntry("s3://b/d/1.csv", 10, "abc"),
        ManifestEntry("/l/d/2.csv", 3, None, mtime_ns=1764000000123456789),
    )
    record = parse_manifest("m.json", _json({"files": [e.to_json() for e in entries]})).to_record()
    stored = parse_manifest("runs/run_date=2026-11-25/manifest.json", _json(record))
    assert stored.entries == entries


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (_json({"files": "x"}), "expected a list"),
        (_json([]), "lists no files"),
        (_json([{"size": 1}]), "no uri"),
        (_json([{"uri": "d/1.csv", "size": 1}]), "not an absolute URI"),
        (_json([{"uri": "s3://b/k", "size": "ten"}]), "not a whole number"),
        (_json([{"uri": "s3://b/k", "size": -1}]), "negative size"),
        (_json([{"uri": "s3://b/k", "size": 1}, {"uri": "s3://b/k", "size": 1}]), "twice"),
        (b"path,bytes\ns3://b/k,1\n", "CSV header"),
        (b"\xff\xfe", "not UTF-8"),
        (_json([{"uri": "s3://b/k", "size": 1, "mtime_ns": "soon"}]), "mtime_ns"),
        (_json([{"uri": "s3://b/k", "size": 1, "mtime_ns": True}]), "mtime_ns"),
        (_json({"run_date": 20261125, "files": [{"uri": "s3://b/k", "size": 1}]}), "run_date"),
    ],
)
def test_malformed_manifests_are_refused(data, message):
    with pytest.raises(ManifestError, match=message):
        parse_manifest("m", data)


def test_check_objects_reports_missing_and_changed():
    m = parse_manifest(
        "m",
        _json(
            [
                {"uri": "s3://b/same", "size": 3, "etag": "e"},
                {"uri": "s3://b/gone", "size": 3, "etag": "e"},
                {"uri": "s3://b/resized", "size": 3, "etag": "e"},
                {"uri": "s3://b/rewritten", "size": 3, "etag": "e"},
                {"uri": "/local/file", "size": 3},
            ]
        ),
    )
    problems = check_objects(
        m,
        [
            ("s3://b/same", (3, '"e"')),
            ("s3://b/gone", None),
            ("s3://b/resized", (4, "e")),
            ("s3://b/rewritten", (3, "f")),
            ("/local/file", (3, None)),
        ],
    )
    assert problems == [
        "s3://b/gone: listed in the manifest but does not exist",
        "s3://b/resized: size 4 != manifest size 3",
        "s3://b/rewritten: ETag f != manifest ETag e",
    ]
