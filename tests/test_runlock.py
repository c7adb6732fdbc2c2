"""The day's lock: one run of a day at a time, stale locks of killed runs replaced."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from txcat import runlock

RUN_DATE = dt.date(2026, 11, 25)
STALE_AFTER = dt.timedelta(minutes=240)
NOW = dt.datetime(2026, 11, 25, 7, 0, tzinfo=dt.UTC)


def _lock_file(out: Path) -> Path:
    return out / "runs" / f"run_date={RUN_DATE}" / "_lock"


def _hold(out: Path, run_id: str, host: str, pid: int, started_at: dt.datetime) -> Path:
    path = _lock_file(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = runlock.Holder(run_id, host, pid, started_at.isoformat())
    path.write_bytes(holder.to_bytes())
    return path


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def _acquire(spark, out: Path, run_id: str, now: dt.datetime = NOW) -> runlock.Holder:
    return runlock.acquire(spark, runlock.lock_path(str(out), RUN_DATE), run_id, STALE_AFTER, now)


def test_lock_is_held_for_the_block_and_released_after(spark, tmp_path):
    with runlock.run_lock(spark, str(tmp_path), RUN_DATE, "run-a", STALE_AFTER) as holder:
        on_disk = json.loads(_lock_file(tmp_path).read_text())
        assert on_disk == {
            "run_id": "run-a",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": holder.started_at,
        }
        with (
            pytest.raises(runlock.RunLockedError) as locked,
            runlock.run_lock(spark, str(tmp_path), RUN_DATE, "run-b", STALE_AFTER),
        ):
            pytest.fail("a second run of the day entered the block")
        assert locked.value.holder == holder
        assert json.loads(_lock_file(tmp_path).read_text())["run_id"] == "run-a"
    assert not _lock_file(tmp_path).exists()


def test_lock_is_released_when_the_run_raises(spark, tmp_path):
    with (
        pytest.raises(ZeroDivisionError),
        runlock.run_lock(spark, str(tmp_path), RUN_DATE, "run-a", STALE_AFTER),
    ):
        _ = 1 / 0
    assert not _lock_file(tmp_path).exists()


def test_a_live_holder_is_named_and_its_lock_left_alone(spark, tmp_path):
    path = _hold(tmp_path, "morning", "other-host", 4242, NOW - dt.timedelta(minutes=30))
    before = path.read_bytes()
    with pytest.raises(runlock.RunLockedError) as locked:
        _acquire(spark, tmp_path, "retry")
    message = str(locked.value)
    for part in ("run morning", "on other-host", "pid 4242", "since 2026-11-25T06:30:00+00:00"):
        assert part in message
    assert path.read_bytes() == before


def test_a_lock_older_than_the_limit_is_replaced(spark, tmp_path):
    _hold(tmp_path, "killed", "other-host", 4242, NOW - STALE_AFTER - dt.timedelta(minutes=1))
    holder = _acquire(spark, tmp_path, "retry")
    assert holder.run_id == "retry"
    assert json.loads(_lock_file(tmp_path).read_text())["run_id"] == "retry"


def test_a_lock_of_a_dead_process_on_this_host_is_replaced_at_once(spark, tmp_path):
    _hold(tmp_path, "killed", socket.gethostname(), _dead_pid(), NOW - dt.timedelta(minutes=1))
    assert _acquire(spark, tmp_path, "retry").run_id == "retry"
    # A live process on this host keeps its lock, however young.
    _lock_file(tmp_path).unlink()
    _hold(tmp_path, "live", socket.gethostname(), os.getpid(), NOW - dt.timedelta(minutes=1))
    with pytest.raises(runlock.RunLockedError, match="run live"):
        _acquire(spark, tmp_path, "retry")


def test_an_unreadable_lock_is_dated_by_the_file(spark, tmp_path):
    path = _lock_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"run_id": "half-wri')
    with pytest.raises(runlock.RunLockedError, match="unreadable lock"):
        _acquire(spark, tmp_path, "retry", now=dt.datetime.now(dt.UTC))
    later = dt.datetime.now(dt.UTC) + STALE_AFTER + dt.timedelta(minutes=1)
    assert _acquire(spark, tmp_path, "retry", now=later).run_id == "retry"


def test_release_leaves_a_lock_that_another_run_took_over(spark, tmp_path):
    path = runlock.lock_path(str(tmp_path), RUN_DATE)
    mine = _acquire(spark, tmp_path, "slow")
    _lock_file(tmp_path).unlink()  # judged stale and replaced by another run
    _hold(tmp_path, "next", "other-host", 4242, NOW)
    runlock.release(spark, path, mine)
    assert json.loads(_lock_file(tmp_path).read_text())["run_id"] == "next"
