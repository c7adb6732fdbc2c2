"""Prometheus metrics of the API, in the text exposition format (no client library needed).

Each uvicorn worker process keeps its own counters: scrape each worker, or run one worker per
container (the usual layout), to see them all.
"""

from __future__ import annotations

import threading
from collections import defaultdict

#: Upper bounds (seconds) of the latency histogram's buckets.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


def _labels(**labels: str) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + inner + "}" if inner else ""


class Metrics:
    """Requests by path and status, latency histogram by path, rows, reloads, model version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_counts: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.rows: dict[str, int] = defaultdict(int)
        self.reloads: dict[str, int] = defaultdict(int)
        self.model_version = ""
        self.ready = False

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, path, status)] += 1
            counts = self.latency_counts.setdefault(path, [0] * (len(LATENCY_BUCKETS) + 1))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self.latency_sum[path] += seconds

    def count_rows(self, scored: int, rejected: int) -> None:
        with self._lock:
            self.rows["scored"] += scored
            self.rows["rejected"] += rejected

    def count_reload(self, outcome: str) -> None:
        with self._lock:
            self.reloads[outcome] += 1

    def render(self) -> str:
        """The metrics in Prometheus' text format."""
        out: list[str] = []
        with self._lock:
            out += [
                "# HELP txcat_serve_requests_total HTTP requests by method, path and status.",
                "# TYPE txcat_serve_requests_total counter",
            ]
            for (method, path, status), n in sorted(self.requests.items()):
                labels = _labels(method=method, path=path, status=str(status))
                out.append(f"txcat_serve_requests_total{labels} {n}")
            out += [
                "# HELP txcat_serve_request_duration_seconds Time to answer a request.",
                "# TYPE txcat_serve_request_duration_seconds histogram",
            ]
            for path, counts in sorted(self.latency_counts.items()):
                for bound, n in zip((*LATENCY_BUCKETS, "+Inf"), counts, strict=True):
                    labels = _labels(path=path, le=str(bound))
                    out.append(f"txcat_serve_request_duration_seconds_bucket{labels} {n}")
                out.append(
                    f"txcat_serve_request_duration_seconds_sum{_labels(path=path)} "
                    f"{self.latency_sum[path]:.6f}"
                )
                out.append(
                    f"txcat_serve_request_duration_seconds_count{_labels(path=path)} {counts[-1]}"
                )
            out += [
                "# HELP txcat_serve_rows_total Transactions answered, scored or rejected.",
                "# TYPE txcat_serve_rows_total counter",
            ]
            for outcome in ("scored", "rejected"):
                out.append(f"txcat_serve_rows_total{_labels(outcome=outcome)} {self.rows[outcome]}")
            out += [
                "# HELP txcat_serve_model_reloads_total Model loads after the first, by outcome.",
                "# TYPE txcat_serve_model_reloads_total counter",
            ]
            for outcome in ("loaded", "failed"):
                out.append(
                    f"txcat_serve_model_reloads_total{_labels(outcome=outcome)} "
                    f"{self.reloads[outcome]}"
                )
            out += [
                "# HELP txcat_serve_model_info The model version being served.",
                "# TYPE txcat_serve_model_info gauge",
            ]
            if self.model_version:
                out.append(f"txcat_serve_model_info{_labels(version=self.model_version)} 1")
            out += [
                "# HELP txcat_serve_ready 1 once a model is loaded and warmed up.",
                "# TYPE txcat_serve_ready gauge",
                f"txcat_serve_ready {int(self.ready)}",
            ]
        return "\n".join(out) + "\n"
