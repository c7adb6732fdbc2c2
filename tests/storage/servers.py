"""Real servers for the storage tests: moto's S3 server and a throw-away PostgreSQL cluster.

Both run as child processes on free loopback ports and are stopped by the fixtures that start
them. Their binaries come from the venv (moto's server) and `make storage-deps` (the Debian
postgresql package).
"""

from __future__ import annotations

import os
import pwd
import random
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
    """A free loopback port below the kernel's ephemeral range.

    The port is chosen well before its server starts (moto's is in Spark's settings from import
    time on). A port of the ephemeral range can meanwhile be handed to any socket bound to port
    0 (a Spark driver, a Py4J gateway), and the server then fails with "address already in
    use"; ports below the range are only taken by programs that ask for them by number.
    """
    low = _ephemeral_low()
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(low // 2, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {low // 2}..{low - 1}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


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
        # The port answering is not enough: another program may hold it while moto, unable to
        # bind, exits. Moto says where it runs once it has bound.
        deadline = time.monotonic() + 30.0
        while b"Running on" not in Path(log_path).read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"moto_server did not start on port {self.port}: "
                    + Path(log_path).read_text(errors="replace")[-500:]
                )
            time.sleep(0.1)

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
