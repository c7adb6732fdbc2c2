"""Make variables and targets that the README documents (read with `make -n`, nothing runs)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str) -> str:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "-n", "VENV=/nonexistent/venv", *args],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip


def _files_argument(dry_run: str, script: str) -> str:
    (line,) = [line for line in dry_run.replace("\\\n", " ").splitlines() if script in line]
    match = re.search(r"--files (\S+)", line)
    assert match, line
    return match.group(1)


def test_each_benchmark_has_its_own_file_count():
    assert _files_argument(_make("bench"), "scripts/benchmark.py") == "20000"
    storage = _make("storage-bench")
    assert _files_argument(storage, "scripts/bench_manifest_read.py") == "2000"


def test_the_file_counts_are_set_separately():
    both = _make("bench", "storage-bench", "BENCH_FILES=7", "BENCH_S3_MANIFEST_FILES=5")
    assert _files_argument(both, "scripts/benchmark.py") == "7"
    assert _files_argument(both, "scripts/bench_manifest_read.py") == "5"


def test_the_venv_installs_from_the_lock():
    venv = _make("venv")
    assert "pip install --quiet -r requirements/dev.txt" in venv
    assert "pip install --quiet --no-deps -e ." in venv


def test_help_lists_the_inner_loop_targets():
    listed = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "help"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    targets = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert {"test-fast", "lint", "lock", "test", "demo", "package"} <= targets


def test_test_fast_leaves_out_servers_spark_submit_slow_runs_and_dags():
    command = _make("test-fast").splitlines()[-1]
    assert '-m "not integration and not e2e and not slow"' in command
    assert "--ignore=tests/dags" in command


def test_lint_covers_every_source_folder_and_type_checks():
    lines = _make("lint").splitlines()[-3:]
    assert lines[0].endswith("ruff check src jobs scripts tests dags")
    assert lines[1].endswith("ruff format --check src jobs scripts tests dags")
    assert lines[2].endswith("mypy")


def test_ci_lints_before_testing():
    steps = [
        line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("make ")
    ]
    assert steps == ["make lint", "make test"]
