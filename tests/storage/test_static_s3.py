"""The benchmark's read-only S3 server answers the job's reader as S3 does."""

from __future__ import annotations

import os
import sys
import threading
import time
import urllib.request

import pytest

from txcat.benchmark import runner, static_s3
from txcat.inputs import objects
from txcat.inputs.s3get import S3Getter


@pytest.fixture
def served(tmp_path, monkeypatch):
    root = tmp_path / "day"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one file.csv").write_bytes(b"first;line\r\n")
    (root / "two.csv").write_bytes(b"second\r\n")
    store = static_s3.StaticS3("bench", static_s3.load_objects(root, "landing/"))
    server = static_s3.make_server("127.0.0.1", 0, store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield store, endpoint
    finally:
        server.shutdown()
        server.server_close()


def test_get_checks_the_etag_and_says_what_is_missing(served):
    _, endpoint = served
    getter = S3Getter(4, endpoint)
    etag = static_s3.etag_of(b"first;line\r\n")
    entries = [
        ("s3://bench/landing/a/one file.csv", etag, 12),
        ("s3://bench/landing/two.csv", "0" * 32, 8),
        ("s3://bench/landing/gone.csv", None, 3),
        ("s3://bench/landing/two.csv", None, 8),
    ]
    got = list(objects.fetch_in_order(getter, iter(entries), threads=2))
    assert got[0] == ("s3://bench/landing/a/one file.csv", b"first;line\r\n", None)
    assert got[1][1] is None and "ETag is not the manifest ETag" in got[1][2]
    assert got[2] == (
        "s3://bench/landing/gone.csv",
        None,
        "s3://bench/landing/gone.csv: listed in the manifest but does not exist",
    )
    assert got[3] == ("s3://bench/landing/two.csv", b"second\r\n", None)


def test_head_gives_size_and_etag(served):
    _, endpoint = served
    client = objects.s3_client(2, endpoint)
    head = client.head_object(Bucket="bench", Key="landing/two.csv")
    assert head["ContentLength"] == 8
    assert head["ETag"] == f'"{static_s3.etag_of(b"second" + bytes([13, 10]))}"'


def test_the_wait_per_request_can_be_changed_while_it_runs(served):
    store, endpoint = served
    answer = urllib.request.urlopen(f"{endpoint}/__latency/50", timeout=5).read()
    assert answer == b"latency 50 ms\n"
    assert store.latency_s == pytest.approx(0.05)
    getter = S3Getter(1, endpoint)
    started = time.perf_counter()
    assert getter.get("bench", "landing/two.csv").status == 200
    assert time.perf_counter() - started >= 0.05
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{endpoint}/__latency/soon", timeout=5)
    assert refused.value.code == 400


def test_answers_are_not_held_back_for_the_clients_ack(served):
    """Nagle's algorithm would hold each body until the client ACKs the headers (delayed up to
    40 ms): every GET at 0 ms would wait that long, and the benchmark's 0 ms would not be 0."""
    store, _ = served
    assert static_s3.handler_for(store).disable_nagle_algorithm is True


class _RecordingBench:
    """What `runner.job_on_s3` needs of a `Bench`, with a job that only records its calls."""

    def __init__(self, work, repeats):
        self.work = work
        self.landing = work / "landing"
        self.files = 2
        self.repeats = repeats
        self.cores = 2
        self.python = sys.executable
        self.env = dict(os.environ)
        self.calls = []

    def job(self, name, conf=None, repeats=None, manifest=None):
        self.calls.append((name, repeats, manifest.name))
        return runner.Measurement(name, "job", wall_s=[float(len(self.calls))])


def test_the_whole_job_on_s3_takes_turns_between_the_waits(tmp_path):
    bench = _RecordingBench(tmp_path, repeats=2)
    bench.landing.mkdir()
    (bench.landing / "1.csv").write_bytes(b"a\r\n")
    (bench.landing / "2.csv").write_bytes(b"bb\r\n")
    figures = runner.job_on_s3(bench, files=5, latencies=(0, 20))
    assert [(name, repeats) for name, repeats, _ in bench.calls] == [
        ("job_s3_0ms", 1),
        ("job_s3_20ms", 1),
        ("job_s3_20ms", 1),
        ("job_s3_0ms", 1),
    ]
    assert figures["files"] == 2
    zero, twenty = figures["latency_ms"]["0"], figures["latency_ms"]["20"]
    assert (zero["wall_s"], zero["turns"]) == ([1.0, 4.0], [0, 3])
    assert (twenty["wall_s"], twenty["turns"]) == ([2.0, 3.0], [1, 2])
    assert twenty["files_per_s_per_core"] == round(2 / 2.5 / 2, 2)
    # Every run took 1 s longer than the one before and nothing else: no step for the wait.
    assert zero["drift_free_step_s"] is None
    assert twenty["drift_free_step_s"] == pytest.approx(0.0, abs=1e-9)
