"""A local S3-protocol server (moto) that waits a set time before answering each request.

On EMR every small input file is one S3 GET with tens of milliseconds of latency; a local moto
server answers in about a millisecond. This server adds the missing wait, so readers can be
compared at realistic latencies on a laptop:

    python -m txcat.benchmark.slow_s3 --port 5056 --latency-ms 20

The wait can be changed while the server runs (upload fast, then read slow) with a request to
`/__latency/<ms>`; it applies to every other request.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from txcat import exits

CONTROL_PREFIX = "/__latency/"


class LatencyMiddleware:
    """WSGI middleware: sleeps `latency_ms` before passing a request to the wrapped app."""

    def __init__(self, app: Callable[..., Iterable[bytes]], latency_ms: float) -> None:
        self.app = app
        self.latency_s = latency_ms / 1000.0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            try:
                value = float(path[len(CONTROL_PREFIX) :])
            except ValueError:
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"latency must be a number of milliseconds\n"]
            with self._lock:
                self.latency_s = value / 1000.0
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [f"latency {value:g} ms\n".encode()]
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        return self.app(environ, start_response)


def main(argv: list[str] | None = None) -> int:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    app = LatencyMiddleware(DomainDispatcherApplication(create_backend_app), args.latency_ms)
    server = make_server(args.host, args.port, app, threaded=True)
    server.serve_forever()
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
