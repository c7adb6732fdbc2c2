"""GETs of many small S3 objects, at a fraction of a boto3 call's CPU.

A boto3 `get_object` spends about 2.5 ms of CPU per call on a 2-core machine (event hooks,
parameter validation, request building, response parsing down to the `Last-Modified` date),
and 16 concurrent calls share one interpreter lock: for a day of millions of 10 kB objects that
is more executor CPU than parsing them. Here botocore only presigns each GET (its endpoint and
region resolution, key encoding, credentials chain and SigV4 signing) and urllib3 sends it over
pooled keep-alive connections with the manifest's ETag as `If-Match`: about half the CPU per
object, measured in docs/performance.md.

What boto3 does for the reader and is kept: credentials from the standard chain (refreshed as
they expire), the CA bundle (`AWS_CA_BUNDLE`, else botocore's), proxies from the environment,
retries of connection errors, throttling and 5xx answers with backoff, and a request sent to
the wrong region re-signed for the bucket's region (S3 names it in the refusal).
"""

from __future__ import annotations

import os
import re
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: Seconds a presigned GET stays valid: it is sent at once, and retried within this time.
PRESIGN_EXPIRES_S = 900
#: Attempts per GET after the first (connection errors, read errors, 429 / 5xx answers).
RETRIES = 4
TIMEOUT_S = 60.0
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_WRONG_REGION_STATUS = frozenset({301, 307, 400})
_REGION_IN_BODY = re.compile(rb"<Region>([a-z0-9-]+)</Region>")
_CODE_IN_BODY = re.compile(rb"<Code>([A-Za-z0-9.]+)</Code>")


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
        import urllib3

        self._endpoint = endpoint
        self._lock = threading.Lock()
        self._clients: dict[str | None, Any] = {}
        self._regions: dict[str, str] = {}
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
        answer = self._send(self._presign(bucket, key, region), headers)
        if answer.status in _WRONG_REGION_STATUS:
            moved = _bucket_region(answer)
            if moved is not None and moved != region:
                with self._lock:
                    self._regions[bucket] = moved
                answer = self._send(self._presign(bucket, key, moved), headers)
        return answer

    def _presign(self, bucket: str, key: str, region: str | None) -> str:
        url: str = self._client(region).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_EXPIRES_S
        )
        return url

    def _client(self, region: str | None) -> Any:  # a boto3 S3 client (untyped)
        client = self._clients.get(region)
        if client is None:
            import boto3
            from botocore.config import Config

            with self._lock:
                client = self._clients.get(region)
                if client is None:
                    client = boto3.session.Session().client(
                        "s3",
                        endpoint_url=self._endpoint,
                        region_name=region,
                        config=Config(signature_version="s3v4"),
                    )
                    self._clients[region] = client
        return client

    def _send(self, url: str, headers: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        manager = self._direct
        proxy = self._proxies.get(parts.scheme)
        if proxy is not None and not urllib.request.proxy_bypass(parts.hostname or ""):
            manager = proxy
        if manager is not self._direct and parts.scheme == "http":
            # A plain-HTTP proxy takes the absolute URL, sent as it is.
            response = manager.urlopen(
                "GET", url, headers=headers, preload_content=True, redirect=False
            )
        else:
            # The request target exactly as signed: `PoolManager.request` would normalise the
            # path (`/./`, `/../`), and S3 keys may hold such segments.
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            response = manager.connection_from_url(url).urlopen(
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
