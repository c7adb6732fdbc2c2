"""Real servers for the storage tests: moto's S3 server and a throw-away PostgreSQL cluster.

Both run as child processes on free loopback ports and are stopped by the fixtures that start
them. Their binaries come from the venv (moto's server) and `make storage-deps` (the Debian
postgresql package).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JAR_DIR = Path(os.environ.get("TXCAT_JAR_DIR", REPO / ".venv" / "jars"))
JARS = (JAR_DIR / "hadoop-aws-3.3.1.jar", JAR_DIR / "aws-java-sdk-bundle-1.11.901.jar")
S3_KEY = "testing"
S3_SECRET = "testing"
S3_REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f} s")


def moto_server_command() -> list[str] | None:
    exe = Path(sys.executable).with_name("moto_server")
    return [str(exe)] if exe.exists() else None


@dataclass
class MotoServer:
    port: int
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_path: Path) -> None:
        command = moto_server_command()
        if command is None:
            raise FileNotFoundError("moto_server")
        self._log = Path(log_path).open("wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.port, self.proc, "moto_server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def postgres_bindir() -> Path | None:
    """Folder of the Debian cluster binaries (initdb, pg_ctl), newest version first."""
    found = sorted(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        key=lambda p: int(Path(p).parts[-3]),
        reverse=True,
    )
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresCluster:
    """A cluster in a temporary folder, run as an unprivileged user when started as root."""

    root: Path
    port: int
    bindir: Path

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=txcat"

    def _run(self, args: list[str]) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self._user(), "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip() or result.stdout}")

    @staticmethod
    def _user() -> str:
        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        raise RuntimeError("no unprivileged user to run PostgreSQL as")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam(self._user())
            os.chown(self.root, user.pw_uid, user.pw_gid)
        data = self.root / "data"
        self._run(
            ["initdb", "-D", str(data), "-U", "txcat", "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        self._run(
            [
                "pg_ctl",
                "-D",
                str(data),
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {self.port} -h 127.0.0.1 -k {self.root} -F",
                "start",
            ]
        )

    def stop(self) -> None:
        self._run(["pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"])
