"""GETs of many small S3 objects, at a fraction of a boto3 call's CPU.

A boto3 `get_object` spends about 2.5 ms of CPU per call on a 2-core machine (event hooks,
parameter validation, request building, response parsing down to the `Last-Modified` date),
and 16 concurrent calls share one interpreter lock: for a file of 100 transactions that is
about a quarter of what the rest of the job spends on it. Here botocore presigns one GET per
bucket and region (its endpoint and region resolution, addressing style and credentials
chain); every object's URL is that URL with its own key, signed here with the same SigV4 query
signature (a few `hmac` calls; equal to botocore's to the character,
`tests/storage/test_s3get.py`), and urllib3 sends it over pooled keep-alive connections with
the manifest's ETag as `If-Match`. About a third of boto3's CPU per object, measured in
docs/performance.md.

What boto3 does for the reader and is kept: credentials from the standard chain (refreshed as
they expire), the CA bundle (`AWS_CA_BUNDLE`, else botocore's), proxies from the environment,
retries of connection errors, throttling and 5xx answers with backoff, and a request sent to
the wrong region re-signed for the bucket's region (S3 names it in the refusal).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

#: Seconds a presigned GET stays valid: it is sent at once, and retried within this time.
PRESIGN_EXPIRES_S = 900
#: Attempts per GET after the first (connection errors, read errors, 429 / 5xx answers).
RETRIES = 4
TIMEOUT_S = 60.0
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_WRONG_REGION_STATUS = frozenset({301, 307, 400})
_REGION_IN_BODY = re.compile(rb"<Region>([a-z0-9-]+)</Region>")
_CODE_IN_BODY = re.compile(rb"<Code>([A-Za-z0-9.]+)</Code>")
#: The key botocore presigns to learn a bucket's URL layout (any key: only its place is used).
_PROBE_KEY = "txcat-probe"
_ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class _Layout:
    """Where a bucket's objects are, as botocore's presigned URL says: scheme, host (the
    `Host` header: port included when not the default), the path before the key, the
    credential scope's region. Parsed once per bucket, not again from every object's URL: the
    host's name (as `urlsplit` gives it, for the proxy bypass) and the host and port urllib3
    connects to (as its `parse_url` gives them)."""

    scheme: str
    host: str
    prefix: str
    region: str
    hostname: str | None
    connect_host: str | None
    connect_port: int | None

    def url(self, target: str) -> str:
        """The absolute URL of a request target (path and query) on this host."""
        return f"{self.scheme}://{self.host}{target}"


def _now() -> dt.datetime:
    """The signing time (UTC)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Answer:
    """S3's answer to one GET: the status, the body (the object when 200), the error code and
    the bucket's region when S3 names it (`x-amz-bucket-region`)."""

    status: int
    body: bytes
    code: str | None = None
    bucket_region: str | None = None


class S3Getter:
    """Sends GETs of S3 objects from many threads at once (thread-safe).

    Args:
        connections: Pooled connections per host (the number of GETs in flight).
        endpoint: An S3-compatible endpoint URL (`fs.s3a.endpoint`), or None for AWS.
    """

    def __init__(self, connections: int, endpoint: str | None = None) -> None:
        import boto3
        import urllib3

        self._endpoint = endpoint
        self._lock = threading.Lock()
        self._clients: dict[str | None, Any] = {}
        self._regions: dict[str, str] = {}
        self._layouts: dict[tuple[str, str | None], _Layout] = {}
        # One session: its clients (one per region) share its credentials, refreshed as they
        # expire, which also sign here.
        self._boto3 = boto3.session.Session()
        self._keys: dict[tuple[str, str, str], bytes] = {}
        retry = urllib3.Retry(
            total=RETRIES,
            backoff_factor=0.1,
            backoff_jitter=0.1,
            status_forcelist=_RETRY_STATUS,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
            redirect=False,
        )
        options: dict[str, Any] = {
            "maxsize": max(1, connections),
            "block": False,
            "retries": retry,
            "timeout": urllib3.Timeout(connect=TIMEOUT_S, read=TIMEOUT_S),
            "ca_certs": _ca_bundle(),
        }
        self._direct = urllib3.PoolManager(**options)
        self._proxies = {
            scheme: urllib3.ProxyManager(url, **options)
            for scheme, url in urllib.request.getproxies().items()
            if scheme in ("http", "https")
        }

    def get(self, bucket: str, key: str, if_match: str | None = None) -> Answer:
        """GETs `key`, with `If-Match: "<if_match>"` when given.

        Raises:
            urllib3.exceptions.HTTPError: the endpoint could not be reached after the retries.
        """
        headers = {"If-Match": f'"{if_match}"'} if if_match else {}
        region = self._regions.get(bucket)
        answer = self._send(*self._signed(bucket, key, region), headers)
        if answer.status in _WRONG_REGION_STATUS:
            moved = _bucket_region(answer)
            if moved is not None and moved != region:
                with self._lock:
                    self._regions[bucket] = moved
                answer = self._send(*self._signed(bucket, key, moved), headers)
        return answer

    def _presign(self, bucket: str, key: str, region: str | None) -> str:
        """The presigned GET URL of `key`: botocore's, to the character."""
        layout, target = self._signed(bucket, key, region)
        return layout.url(target)

    def _signed(self, bucket: str, key: str, region: str | None) -> tuple[_Layout, str]:
        """The bucket's layout and the request target (path and signed query) of `key`."""
        layout = self._layouts.get((bucket, region))
        if layout is None:
            layout = self._layout(bucket, region)
        credentials = self._credentials().get_frozen_credentials()
        stamp = _now().strftime("%Y%m%dT%H%M%SZ")
        scope = f"{stamp[:8]}/{layout.region}/s3/aws4_request"
        params = {
            "X-Amz-Algorithm": _ALGORITHM,
            "X-Amz-Credential": f"{credentials.access_key}/{scope}",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(PRESIGN_EXPIRES_S),
            "X-Amz-SignedHeaders": "host",
        }
        if credentials.token:
            params["X-Amz-Security-Token"] = credentials.token
        encoded = [(quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params.items()]
        # The canonical query is sorted; the URL keeps botocore's order (the token last).
        canonical_query = "&".join(f"{k}={v}" for k, v in sorted(encoded))
        query = "&".join(f"{k}={v}" for k, v in encoded)
        path = layout.prefix + quote(key, safe="/~")
        canonical = f"GET\n{path}\n{canonical_query}\nhost:{layout.host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = "\n".join(
            [_ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key_of_day = self._signing_key(credentials.secret_key, stamp[:8], layout.region)
        signature = hmac.new(key_of_day, to_sign.encode(), hashlib.sha256).hexdigest()
        return layout, f"{path}?{query}&X-Amz-Signature={signature}"

    def _layout(self, bucket: str, region: str | None) -> _Layout:
        """The bucket's URL layout, from botocore's presigned URL of a probe key."""
        url: str = self._client(region).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": _PROBE_KEY}, ExpiresIn=60
        )
        parts = urlsplit(url)
        # Errors name the URL without its query: it holds a signature.
        where = f"{parts.scheme}://{parts.netloc}{parts.path}"
        if not parts.path.endswith("/" + _PROBE_KEY):
            raise ValueError(f"unexpected presigned URL layout for bucket {bucket!r}: {where}")
        credential = dict(parse_qsl(parts.query)).get("X-Amz-Credential", "")
        scope = credential.split("/")
        if len(scope) != 5 or scope[3:] != ["s3", "aws4_request"]:
            raise ValueError(f"not a SigV4 presigned URL for bucket {bucket!r}: {where}")
        from urllib3.util import parse_url

        address = parse_url(f"{parts.scheme}://{parts.netloc}")
        layout = _Layout(
            parts.scheme,
            parts.netloc,
            parts.path[: -len(_PROBE_KEY)],
            scope[2],
            parts.hostname,
            address.host,
            address.port,
        )
        with self._lock:
            self._layouts[(bucket, region)] = layout
        return layout

    def _credentials(self) -> Any:  # botocore credentials (untyped)
        """The credentials of the session every presigning client comes from (refreshed as
        they expire: `get_frozen_credentials` refreshes them when due)."""
        credentials = self._boto3.get_credentials()
        if credentials is None:
            from botocore.exceptions import NoCredentialsError

            raise NoCredentialsError()
        return credentials

    def _signing_key(self, secret: str, day: str, region: str) -> bytes:
        """SigV4's key of the day, derived once (one slot: a run signs with one day's key and
        region at a time)."""
        cached = self._keys.get((secret, day, region))
        if cached is None:
            cached = ("AWS4" + secret).encode()
            for part in (day, region, "s3", "aws4_request"):
                cached = hmac.new(cached, part.encode(), hashlib.sha256).digest()
            with self._lock:
                self._keys = {(secret, day, region): cached}
        return cached

    def _client(self, region: str | None) -> Any:  # a boto3 S3 client (untyped)
        client = self._clients.get(region)
        if client is None:
            from botocore.config import Config

            with self._lock:
                client = self._clients.get(region)
                if client is None:
                    client = self._boto3.client(
                        "s3",
                        endpoint_url=self._endpoint,
                        region_name=region,
                        config=Config(signature_version="s3v4"),
                    )
                    self._clients[region] = client
        return client

    def _send(self, layout: _Layout, target: str, headers: dict[str, str]) -> Answer:
        """Sends the GET of `target` (path and query, as signed) to the bucket's host."""
        manager = self._direct
        proxy = self._proxies.get(layout.scheme)
        if proxy is not None and not urllib.request.proxy_bypass(layout.hostname or ""):
            manager = proxy
        if manager is not self._direct and layout.scheme == "http":
            # A plain-HTTP proxy takes the absolute URL, sent as it is.
            response = manager.urlopen(
                "GET", layout.url(target), headers=headers, preload_content=True, redirect=False
            )
        else:
            # The request target exactly as signed: `PoolManager.request` would normalise the
            # path (`/./`, `/../`), and S3 keys may hold such segments. The pool comes from
            # the layout's host and port: parsing every object's long URL again cost about a
            # sixth of the client's CPU per GET (docs/performance.md, round seventeen).
            pool = manager.connection_from_host(
                layout.connect_host, layout.connect_port, layout.scheme
            )
            response = pool.urlopen(
                "GET", target, headers=headers, preload_content=True, redirect=False
            )
        body = bytes(response.data)
        if response.status == 200:
            return Answer(200, body)
        found = _CODE_IN_BODY.search(body)
        return Answer(
            response.status,
            body,
            found.group(1).decode() if found else None,
            response.headers.get("x-amz-bucket-region"),
        )


def _bucket_region(answer: Answer) -> str | None:
    """The bucket's region S3 names when a request went to the wrong one (header or body)."""
    if answer.bucket_region:
        return answer.bucket_region
    found = _REGION_IN_BODY.search(answer.body)
    return found.group(1).decode() if found else None


def _ca_bundle() -> str | None:
    """The CA bundle botocore would verify S3's certificates with."""
    if os.environ.get("AWS_CA_BUNDLE"):
        return os.environ["AWS_CA_BUNDLE"]
    from botocore.httpsession import get_cert_path

    path = get_cert_path(True)
    return path if isinstance(path, str) else None
