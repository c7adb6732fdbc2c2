"""The manifest reader's GETs (`txcat.inputs.s3get`): against moto's S3 server for what S3 answers,
against a scripted HTTP server for what moto cannot show (wrong region, throttling, refusals)."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.auth
import pytest

from txcat.inputs import objects, s3get
from txcat.inputs.s3get import PRESIGN_EXPIRES_S, S3Getter

BUCKET = "getter-bucket"
# Keys S3 accepts that a hand-built URL or signature gets wrong: spaces, '+', '%', '~', '=',
# '&', '?', '#', non-ASCII, repeated and trailing slashes.
KEYS = (
    "landing/2026-11-25/100001.csv",
    "landing/a b/c+d%20e~f=g&h?i#j.csv",
    "landing/são joão/ção.csv",
    "landing//double//slash.csv",
    "landing/trailing/",
    "landing/./dot/../dots.csv",
)


@pytest.fixture(scope="module")
def stored(s3) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    client.create_bucket(Bucket=BUCKET)
    bodies = {key: f"id;valor\r\n{i};{key}\r\n".encode() for i, key in enumerate(KEYS)}
    for key, body in bodies.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    return bodies


def test_every_key_comes_back_byte_for_byte(s3, stored):
    getter = S3Getter(4, s3.endpoint)
    for key, body in stored.items():
        answer = getter.get(BUCKET, key, if_match=hashlib.md5(body).hexdigest())
        assert (answer.status, answer.body) == (200, body), key


def test_the_pool_comes_from_the_buckets_host_not_from_each_url(s3, stored, monkeypatch):
    """Every key's GET reaches its pool from the layout's host and port, parsed once per
    bucket: urllib3 never parses an object's long presigned URL again."""
    import urllib3

    def parse_again(self, url, pool_kwargs=None):
        raise AssertionError(f"parsed {url}")

    monkeypatch.setattr(urllib3.PoolManager, "connection_from_url", parse_again)
    hosts = []
    real = urllib3.PoolManager.connection_from_host

    def from_host(self, host, port=None, scheme="http", pool_kwargs=None):
        hosts.append((host, port, scheme))
        return real(self, host, port, scheme, pool_kwargs)

    monkeypatch.setattr(urllib3.PoolManager, "connection_from_host", from_host)
    getter = S3Getter(4, s3.endpoint)
    for key, body in stored.items():
        assert getter.get(BUCKET, key).body == body, key
    endpoint = urlsplit(s3.endpoint)
    assert set(hosts) == {(endpoint.hostname, endpoint.port, endpoint.scheme)}


def test_a_changed_or_missing_object_is_named_as_such(s3, stored):
    getter = S3Getter(4, s3.endpoint)
    key, body = next(iter(stored.items()))
    assert getter.get(BUCKET, key, if_match="0" * 32).status == 412
    assert getter.get(BUCKET, "landing/never-written.csv").status == 404
    uri = f"s3://{BUCKET}/{key}"
    assert objects.fetch_object(getter, uri, "0" * 32, len(body)) == (
        None,
        f"{uri}: ETag is not the manifest ETag {'0' * 32}",
    )
    assert objects.fetch_object(getter, uri, None, len(body) + 1) == (
        None,
        f"{uri}: size {len(body)} != manifest size {len(body) + 1}",
    )
    assert objects.fetch_object(getter, uri, hashlib.md5(body).hexdigest(), len(body)) == (
        body,
        None,
    )


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers GETs as S3 would in the cases moto does not produce. The object's body is
    `OBJECT`; the path's first segment says which case (`/<case>/<bucket>/<key>`)."""

    protocol_version = "HTTP/1.1"
    OBJECT = b"id;valor\r\n1;2,50\r\n"
    seen: list[tuple[str, str]] = []  # noqa: RUF012 - one server per test module
    targets: list[str] = []  # noqa: RUF012
    failures_left: dict[str, int] = {}  # noqa: RUF012

    def do_GET(self) -> None:
        type(self).targets.append(self.path)
        parts = urlsplit(self.path)
        case = parts.path.split("/")[1]
        credential = parse_qs(parts.query).get("X-Amz-Credential", [""])[0]
        region = credential.split("/")[2] if credential.count("/") >= 2 else ""
        type(self).seen.append((case, region))
        if case == "moved" and region != "eu-west-1":
            self._answer(
                400,
                b"<Error><Code>AuthorizationQueryParametersError</Code><Message>region is "
                b"wrong</Message><Region>eu-west-1</Region></Error>",
            )
        elif case == "moved-header" and region != "sa-east-1":
            self._answer(301, b"<Error><Code>PermanentRedirect</Code></Error>", "sa-east-1")
        elif case == "throttled" and self.failures_left.get(case, 0) > 0:
            self.failures_left[case] -= 1
            self._answer(503, b"<Error><Code>SlowDown</Code></Error>")
        elif case == "denied":
            self._answer(403, b"<Error><Code>AccessDenied</Code></Error>")
        else:
            self._answer(200, self.OBJECT)

    def _answer(self, status: int, body: bytes, bucket_region: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if bucket_region:
            self.send_header("x-amz-bucket-region", bucket_region)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def scripted() -> Iterator[str]:
    """The scripted server's endpoint (the credentials are the storage tests' own)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_bucket_in_another_region_is_signed_again_for_it(scripted):
    getter = S3Getter(2, scripted)
    _Scripted.seen.clear()
    assert getter.get("moved", "a.csv").body == _Scripted.OBJECT
    assert _Scripted.seen == [("moved", "us-east-1"), ("moved", "eu-west-1")]
    # The bucket's region is remembered: the next object goes there first.
    assert getter.get("moved", "b.csv").status == 200
    assert _Scripted.seen[-1] == ("moved", "eu-west-1")
    assert len(_Scripted.seen) == 3
    assert getter.get("moved-header", "c.csv").status == 200
    assert _Scripted.seen[-2:] == [("moved-header", "us-east-1"), ("moved-header", "sa-east-1")]


def test_a_plain_http_proxy_gets_the_whole_signed_url(scripted, monkeypatch):
    """With `HTTP_PROXY` set, the GET goes to the proxy with the object's absolute URL, as
    signed (the proxy here is the scripted server, which answers it)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", scripted)
    signed_at = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(s3get, "_now", lambda: signed_at)
    getter = S3Getter(2, "http://s3.proxied.invalid:9000")
    _Scripted.targets.clear()
    assert getter.get("proxied", "a b.csv").body == _Scripted.OBJECT
    assert _Scripted.targets == [getter._presign("proxied", "a b.csv", None)]
    assert _Scripted.targets[0].startswith("http://s3.proxied.invalid:9000/proxied/a%20b.csv?")


def test_throttling_is_retried(scripted):
    getter = S3Getter(2, scripted)
    _Scripted.failures_left["throttled"] = 2
    _Scripted.seen.clear()
    answer = getter.get("throttled", "a.csv")
    assert (answer.status, answer.body) == (200, _Scripted.OBJECT)
    assert len(_Scripted.seen) == 3


def test_a_refusal_fails_the_read_with_its_code(scripted):
    getter = S3Getter(2, scripted)
    answer = getter.get("denied", "a.csv")
    assert (answer.status, answer.code) == (403, "AccessDenied")
    with pytest.raises(objects.ObjectReadError, match=r"s3://denied/a.csv: GET answered 403"):
        objects.fetch_object(getter, "s3://denied/a.csv", None, 1)


SIGNING_TIME = dt.datetime(2026, 11, 25, 6, 7, 8)


@pytest.mark.parametrize(
    ("endpoint", "bucket", "region", "token"),
    [
        ("http://127.0.0.1:9000", BUCKET, None, None),  # a local server: path style, port
        (None, BUCKET, None, None),  # AWS: virtual-hosted style, the global endpoint
        (None, BUCKET, "eu-west-1", "session-token/with+odd=chars"),  # a role's credentials
        (None, "bucket.with.dots", "sa-east-1", None),  # path style on AWS (TLS and dots)
        ("https://s3.eu-central-1.amazonaws.com", BUCKET, "eu-central-1", None),
    ],
)
def test_each_url_is_the_one_botocore_presigns(monkeypatch, endpoint, bucket, region, token):
    """Every object's URL is signed here from the bucket's layout; botocore's presigner, given
    the same time and credentials, writes the same URL to the character."""
    if token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    monkeypatch.setattr(s3get, "_now", lambda: SIGNING_TIME.replace(tzinfo=dt.UTC))
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda **_: SIGNING_TIME)
    getter = S3Getter(2, endpoint)
    botocore_client = getter._client(region)
    for key in (*KEYS, "a", "%2F/%%/é€/\u00a0/ /*'()!$,;:@"):
        expected = botocore_client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_EXPIRES_S
        )
        assert getter._presign(bucket, key, region) == expected, key
    if token:
        assert "X-Amz-Security-Token=" in expected
