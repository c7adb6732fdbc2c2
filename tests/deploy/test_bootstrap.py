"""The EMR bootstrap action that installs Python 3.11 on stock Amazon Linux 2023 nodes.

Run with stand-ins for `sudo` and `dnf` on the PATH: what it installs, and that it stops when
the interpreter is not a 3.11.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from txcat.deploy.submit import BOOTSTRAP_SOURCE

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / BOOTSTRAP_SOURCE


def _bin(tmp_path: Path, python: str) -> Path:
    """sudo runs its command; dnf records its arguments and 'installs' `python` at the target."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (bin_dir / "dnf").write_text(
        f'#!/bin/sh\necho "$@" >> {tmp_path}/dnf.log\nln -s {python} "$TXCAT_BOOTSTRAP_PYTHON"\n'
    )
    for tool in ("sudo", "dnf"):
        (bin_dir / tool).chmod(0o755)
    return bin_dir


def _run(tmp_path: Path, python: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{_bin(tmp_path, python)}:{os.environ['PATH']}",
        "TXCAT_BOOTSTRAP_PYTHON": str(tmp_path / "python3.11"),
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="needs a Python 3.11 to 'install'")
def test_installs_python311_from_the_distribution_repositories(tmp_path):
    result = _run(tmp_path, sys.executable)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dnf.log").read_text() == "install -y python3.11\n"
    assert result.stdout.startswith("txcat bootstrap: Python 3.11.")
    # Present already: nothing installed the second time.
    (tmp_path / "bin").rename(tmp_path / "bin-first")
    assert _run(tmp_path, sys.executable).returncode == 0
    assert (tmp_path / "dnf.log").read_text() == "install -y python3.11\n"


def test_another_python_fails_the_bootstrap(tmp_path):
    fake = tmp_path / "python-other"
    fake.write_text('#!/bin/sh\necho "AssertionError: 3.9.16" >&2\nexit 1\n')
    fake.chmod(0o755)
    result = _run(tmp_path, str(fake))
    assert result.returncode != 0
    assert "3.9.16" in result.stderr


def test_the_script_is_executable_and_strict():
    assert os.access(SCRIPT, os.X_OK)
    assert "set -euo pipefail" in SCRIPT.read_text()
