"""A read-only S3-protocol server over a local folder, light enough to share a laptop's cores
with the job it serves.

`txcat.benchmark.slow_s3` runs moto, a full S3 emulator: 2.8 to 3.4 ms of its own CPU per
GET (this server: 0.22 to 0.31 ms; docs/performance.md), on the same cores as the job, so the
job's figures on S3 measured moto as much as the job. This server answers only what the job's
boto3 manifest reader sends (GET with `If-Match`, HEAD) from objects held in memory, with S3's
status codes and error bodies, and waits a set time before each answer like `slow_s3`:

    python -m txcat.benchmark.static_s3 --port 5057 --bucket bench --root data/day \\
        --prefix landing/ --latency-ms 20

Object `<prefix><path relative to root>` of the bucket is the file's bytes; its ETag is the
bytes' MD5 (`etag_of`, as S3 gives an object uploaded in one part). Signatures are not checked.
The wait can be changed while the server runs with a GET of `/__latency/<ms>`.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from txcat import exits

CONTROL_PREFIX = "/__latency/"


def etag_of(body: bytes) -> str:
    """The ETag S3 gives an object stored in one part: the MD5 of its bytes, in hex."""
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def load_objects(root: Path, prefix: str) -> dict[str, bytes]:
    """Every file under `root` as key `<prefix><relative path>` -> bytes."""
    return {
        f"{prefix}{path.relative_to(root).as_posix()}": path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


class StaticS3:
    """The objects of one bucket, their ETags, and the wait before each answer."""

    def __init__(self, bucket: str, objects: dict[str, bytes], latency_ms: float = 0.0) -> None:
        self.bucket = bucket
        self.objects = {key: (body, etag_of(body)) for key, body in objects.items()}
        self.latency_s = latency_ms / 1000.0
        self.lock = threading.Lock()

    def set_latency(self, latency_ms: float) -> None:
        with self.lock:
            self.latency_s = latency_ms / 1000.0


def _error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()


def handler_for(store: StaticS3) -> type[BaseHTTPRequestHandler]:
    """A request handler class answering from `store` (path-style addressing)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The headers and the body go out in two writes: with Nagle's algorithm on, the body
        # waited for the client's delayed ACK of the headers, 40 ms on every GET of a kept-alive
        # connection (47.5 ms against 2.1 ms per GET, one after another, here).
        disable_nagle_algorithm = True

        def log_message(self, *_: object) -> None:
            """No line per request: the benchmark times the server too."""

        def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _answer(self, head: bool) -> None:
            path = urlsplit(self.path).path
            if path.startswith(CONTROL_PREFIX):
                try:
                    value = float(path[len(CONTROL_PREFIX) :])
                except ValueError:
                    self._send(400, b"latency must be a number of milliseconds\n", {}, head)
                    return
                store.set_latency(value)
                self._send(200, f"latency {value:g} ms\n".encode(), {}, head)
                return
            if store.latency_s > 0:
                time.sleep(store.latency_s)
            bucket, _, key = unquote(path).lstrip("/").partition("/")
            xml = {"Content-Type": "application/xml"}
            if not bucket:
                self._send(200, b"", xml, head)
                return
            if bucket != store.bucket:
                self._send(404, _error("NoSuchBucket", "no such bucket"), xml, head)
                return
            found = store.objects.get(key)
            if found is None:
                self._send(404, _error("NoSuchKey", "no such key"), xml, head)
                return
            body, etag = found
            wanted = self.headers.get("If-Match")
            if wanted is not None and wanted.strip().strip('"') not in (etag, "*"):
                self._send(412, _error("PreconditionFailed", "If-Match"), xml, head)
                return
            self._send(
                200,
                body,
                {"ETag": f'"{etag}"', "Content-Type": "application/octet-stream"},
                head,
            )

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

    return Handler


def make_server(host: str, port: int, store: StaticS3) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), handler_for(store))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--root", type=Path, required=True, help="folder of the objects")
    parser.add_argument("--prefix", default="", help="key prefix of the folder's files")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    store = StaticS3(args.bucket, load_objects(args.root, args.prefix), args.latency_ms)
    make_server(args.host, args.port, store).serve_forever()
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
