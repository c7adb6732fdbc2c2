"""The DAG's object store on local folders and on S3 (moto's in-process S3)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from txcat.deploy.store import ObjectStore
from txcat.inputs.manifest import ManifestEntry


def _no_s3():
    raise AssertionError("a local path must not create an S3 client")


def test_local_listing_skips_markers_and_hidden_files(tmp_path):
    day = tmp_path / "2026-11-25"
    day.mkdir()
    (day / "2.csv").write_bytes(b"bb")
    (day / "1.csv").write_bytes(b"a")
    (day / "_SUCCESS").write_bytes(b"")
    (day / ".generator.json").write_bytes(b"{}")
    (day / "sub").mkdir()
    store = ObjectStore(s3_client=_no_s3)

    entries = store.list_files(str(day))

    assert [(e.uri, e.size, e.etag) for e in entries] == [
        (f"file://{day}/1.csv", 1, None),
        (f"file://{day}/2.csv", 2, None),
    ]
    assert entries[0].mtime_ns == (day / "1.csv").stat().st_mtime_ns
    assert store.list_files(str(tmp_path / "missing")) == []


def test_local_objects_round_trip(tmp_path):
    store = ObjectStore(s3_client=_no_s3)
    uri = str(tmp_path / "manifests" / "run_date=2026-11-25" / "manifest.json")
    assert not store.exists(uri)
    store.write_bytes(uri, b'{"a": 1}')
    store.write_bytes(uri, b'{"a": 2}')
    assert store.exists(uri)
    assert store.read_bytes(uri) == b'{"a": 2}'


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="landing")
        yield client


def test_s3_listing_is_the_folder_alone_with_etags(s3):
    for key, body in [
        ("daily/2026-11-25/100002.csv", b"bb"),
        ("daily/2026-11-25/100001.csv", b"a"),
        ("daily/2026-11-25/_SUCCESS", b""),
        ("daily/2026-11-25/nested/3.csv", b"c"),
        ("daily/2026-11-250/other-day.csv", b"d"),
    ]:
        s3.put_object(Bucket="landing", Key=key, Body=body)
    created = []
    store = ObjectStore(s3_client=lambda: created.append(1) or s3)

    entries = store.list_files("s3://landing/daily/2026-11-25")

    heads = [s3.head_object(Bucket="landing", Key=f"daily/2026-11-25/10000{i}.csv") for i in (1, 2)]
    assert entries == [
        ManifestEntry("s3://landing/daily/2026-11-25/100001.csv", 1, heads[0]["ETag"].strip('"')),
        ManifestEntry("s3://landing/daily/2026-11-25/100002.csv", 2, heads[1]["ETag"].strip('"')),
    ]
    assert store.list_files("s3://landing/daily/2026-11-24/") == []
    assert created == [1]  # one client for every call


def test_s3_objects_round_trip(s3):
    store = ObjectStore(s3_client=lambda: s3)
    uri = "s3://landing/out/manifests/run_date=2026-11-25/manifest.json"
    assert not store.exists(uri)
    store.write_bytes(uri, b"first")
    store.write_bytes(uri, b"second")
    assert store.exists(uri)
    assert store.read_bytes(uri) == b"second"
    with pytest.raises(s3.exceptions.NoSuchKey):
        store.read_bytes("s3://landing/out/missing.json")


class _Forbidden:
    """An S3 client whose HEAD is refused (403), as with missing permissions."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.exceptions = real.exceptions

    def head_object(self, **kwargs):  # type: ignore[no-untyped-def]
        answer = {"Error": {"Code": "403"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        raise self.exceptions.ClientError(answer, "HeadObject")


def test_s3_errors_other_than_not_found_are_raised(s3):
    assert not ObjectStore(s3_client=lambda: s3).exists("s3://no-such-bucket/key")
    store = ObjectStore(s3_client=lambda: _Forbidden(s3))
    with pytest.raises(s3.exceptions.ClientError, match="403"):
        store.exists("s3://landing/key")
