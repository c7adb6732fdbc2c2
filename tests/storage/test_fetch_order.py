"""The boto3 reader's GETs: in the manifest's order, a bounded look-ahead, tasks per core."""

from __future__ import annotations

import random
import threading
import time

import pytest

from txcat.inputs import objects
from txcat.inputs.s3get import Answer


class ScriptedGetter:
    """Answers GETs from a dict of objects after a random short wait, and records how many
    GETs were sent before the caller took answers."""

    def __init__(self, bodies: dict[str, bytes], seed: int = 3) -> None:
        self.bodies = bodies
        self.sent = 0
        self.lock = threading.Lock()
        self.rng = random.Random(seed)

    def get(self, bucket: str, key: str, if_match: str | None = None) -> Answer:
        with self.lock:
            self.sent += 1
            wait = self.rng.random() / 500
        time.sleep(wait)
        body = self.bodies.get(f"s3://{bucket}/{key}")
        if body is None:
            return Answer(404, b"", "NoSuchKey")
        if key.endswith("denied.csv"):
            return Answer(403, b"", "AccessDenied")
        return Answer(200, body)


def _entries(n: int) -> list[tuple[str, str | None, int]]:
    return [(f"s3://b/day/{i:05d}.csv", None, len(f"body {i}")) for i in range(n)]


def test_answers_come_in_the_entries_order_with_their_problems():
    entries = _entries(500)
    bodies = {uri: f"body {i}".encode() for i, (uri, _, _) in enumerate(entries)}
    del bodies[entries[7][0]]
    got = list(objects.fetch_in_order(ScriptedGetter(bodies), iter(entries), threads=8))
    assert [uri for uri, _, _ in got] == [uri for uri, _, _ in entries]
    assert got[7][1] is None
    assert got[7][2] == f"{entries[7][0]}: listed in the manifest but does not exist"
    assert [c for i, (_, c, _) in enumerate(got) if i != 7] == [
        f"body {i}".encode() for i in range(500) if i != 7
    ]
    assert all(p is None for i, (_, _, p) in enumerate(got) if i != 7)


def test_no_more_than_the_look_ahead_is_sent_before_answers_are_taken():
    entries = _entries(300)
    getter = ScriptedGetter({uri: f"body {i}".encode() for i, (uri, _, _) in enumerate(entries)})
    answers = objects.fetch_in_order(getter, iter(entries), threads=4, ahead=20)
    first = next(answers)
    time.sleep(0.05)
    assert first[0] == entries[0][0]
    # The first answer is taken once 20 GETs are queued; one more is queued per answer taken.
    assert getter.sent <= 20
    assert len(list(answers)) == 299
    assert getter.sent == 300


def test_a_refused_get_fails_when_its_answer_is_taken():
    entries = [*_entries(30), ("s3://b/day/denied.csv", None, 1)]
    bodies = {uri: f"body {i}".encode() for i, (uri, _, _) in enumerate(entries)}
    bodies["s3://b/day/denied.csv"] = b"x"
    answers = objects.fetch_in_order(ScriptedGetter(bodies), iter(entries), threads=4)
    with pytest.raises(objects.ObjectReadError, match=r"denied\.csv: GET answered 403"):
        list(answers)


@pytest.mark.parametrize(
    ("files", "per_task", "cores", "tasks"),
    [
        (5000, 2000, 2, 4),
        (4000, 2000, 2, 2),
        (10, 2000, 2, 2),
        (1, 2000, 4, 1),
        (0, 2000, 2, 1),
        (3_000_000, 2000, 16, 1504),
        (7, 2, 4, 4),
    ],
)
def test_tasks_are_a_multiple_of_the_cores(files, per_task, cores, tasks):
    assert objects.task_count(files, per_task, cores) == tasks
