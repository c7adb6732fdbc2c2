"""URI helpers: S3 objects and folders (every S3 scheme, anything else refused), local paths."""

from __future__ import annotations

import pytest

from txcat.uris import as_uri, split_s3_prefix, split_s3_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/a/b.csv", ("bucket", "a/b.csv")),
        ("s3a://bucket/k", ("bucket", "k")),
        ("s3n://bucket/dir/", ("bucket", "dir/")),
        ("s3://bucket", None),
        ("s3://bucket/", None),
        ("s3:///key", None),
        ("file:/tmp/x", None),
        ("/tmp/s3://b/k", None),
        ("gs://bucket/k", None),
    ],
)
def test_split_s3_uri(uri, expected):
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://landing/daily/2026-11-25", ("landing", "daily/2026-11-25/")),
        ("s3://landing/daily/2026-11-25/", ("landing", "daily/2026-11-25/")),
        ("s3a://deploy/txcat//", ("deploy", "txcat/")),
        ("s3://deploy", ("deploy", "")),
        ("s3://deploy/", ("deploy", "")),
        ("s3://", None),
        ("/local/prefix", None),
        ("https://deploy/txcat", None),
    ],
)
def test_split_s3_prefix(uri, expected):
    assert split_s3_prefix(uri) == expected


def test_as_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert as_uri("out/predictions") == f"file://{tmp_path}/out/predictions"
    assert as_uri("/data/out") == "file:///data/out"
    assert as_uri("s3://bucket/out") == "s3://bucket/out"
    assert as_uri("file:///data/out") == "file:///data/out"
