"""`make package`: everything an EMR step needs, built into one folder (`dist/`).

    dist/
      txcat-<version>-py3-none-any.whl   the package (also installed in the packed venv)
      txcat-env.tar.gz                   executor/driver venv from the job's lock, no pyspark
      txcat-conf.tar.gz                  conf/*.yaml and log4j2.properties at the archive root
      jobs/score_daily.py, jobs/train.py, jobs/monitor.py entry scripts
      bootstrap-python311.sh             EMR bootstrap action: Python 3.11 on stock AL2023 nodes
      package.json                       version, EMR release, sha256 and size of every file

The packed venv is installed from the job's lock file (`requirements/job.txt`: the `job` extra
of pyproject.toml, every package pinned), so executors get what they import and nothing of the
lifecycle, test or lint tools. PySpark is excluded from it: the cluster's own Spark puts its
`pyspark` on the Python path, and a second copy would shadow it with a different build.
venv-pack does not ship the interpreter; `--python-prefix` points the venv's links and its
`pyvenv.cfg` at the nodes' Python (`/usr/bin/python3.11`, see `retarget_interpreter`).

Standard library only; runs with the Airflow environment's Python, which has `build` and
`venv-pack` installed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from txcat import exits
from txcat.deploy.submit import (
    BOOTSTRAP_SCRIPT,
    BOOTSTRAP_SOURCE,
    CONF_ARCHIVE,
    EMR_PYTHON,
    EMR_RELEASE,
    ENV_ARCHIVE,
    JOBS_DIR,
)

log = logging.getLogger(__name__)

MANIFEST = "package.json"
#: The lock of the executors' environment, relative to the repository.
JOB_LOCK = "requirements/job.txt"
#: Distributions the cluster provides; never packed.
EXCLUDED = ("pyspark", "py4j")
CONF_FILES = ("*.yaml", "log4j2.properties")
#: What the driver and the UDF import besides pyspark (which only the cluster provides).
IMPORT_CHECK = "import txcat.config, xgboost, pandas, pyarrow, boto3, great_expectations, psycopg"
#: Distributions a fresh venv may hold besides the pinned ones.
VENV_TOOLS = ("pip", "setuptools", "wheel")


class PackageError(RuntimeError):
    """The package cannot be built as specified."""


def runtime_requirements(lock: Path) -> list[str]:
    """The pins of a lock file minus pyspark/py4j (the cluster provides them), in file order."""
    return [r for r in read_requirements(lock) if _name(r) not in EXCLUDED]


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements / lock file (`-r` includes followed, repeats
    dropped, comments and blank lines skipped)."""
    pins: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins += read_requirements(path.parent / line[3:].strip())
        elif line.startswith("-"):
            raise PackageError(f"{path}: unsupported option line {line!r}")
        elif line:
            pins.append(line)
    return list(dict.fromkeys(pins))


def _name(requirement: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise PackageError(f"cannot read requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def build_conf_archive(conf_dir: Path, out: Path) -> Path:
    """Packs the conf files flat at the archive root (unpacked by `--archives ...#conf`)."""
    files = sorted({p for pattern in CONF_FILES for p in conf_dir.glob(pattern) if p.is_file()})
    if not any(p.name == "base.yaml" for p in files):
        raise PackageError(f"{conf_dir} has no base.yaml")
    target = out / CONF_ARCHIVE
    with tarfile.open(target, "w:gz") as archive:
        for path in files:
            archive.add(path, arcname=path.name)
    return target


def copy_jobs(repo: Path, out: Path) -> list[Path]:
    scripts = sorted((repo / JOBS_DIR).glob("*.py"))
    if not scripts:
        raise PackageError(f"no entry scripts under {repo / JOBS_DIR}")
    folder = out / JOBS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(s, folder / s.name)) for s in scripts]


def copy_bootstrap(repo: Path, out: Path) -> Path:
    """The bootstrap action installing the nodes' Python, at the package root."""
    target = out / BOOTSTRAP_SCRIPT
    shutil.copy2(repo / BOOTSTRAP_SOURCE, target)
    return target


def build_wheel(repo: Path, out: Path) -> Path:
    before = set(out.glob("txcat-*.whl"))
    for old in before:
        old.unlink()
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(repo)])
    wheels = sorted(out.glob("txcat-*.whl"))
    if len(wheels) != 1:
        raise PackageError(f"expected one txcat wheel in {out}, found {wheels}")
    return wheels[0]


def build_env_archive(
    wheel: Path, requirements: list[str], out: Path, python: str, python_prefix: str | None
) -> Path:
    """Creates a fresh venv with the wheel and its runtime pins, checks it, packs it."""
    venv = out / ".pack-venv"
    shutil.rmtree(venv, ignore_errors=True)
    _run([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    _run([*pip, "--upgrade", "pip"])
    _run([*pip, *requirements])
    _run([*pip, "--no-deps", str(wheel)])
    installed = _installed(venv)
    leaked = sorted(set(installed) & set(EXCLUDED))
    if leaked:
        raise PackageError(f"the executor venv must not contain {leaked} (the cluster has them)")
    if "txcat" not in installed:
        raise PackageError("txcat is not installed in the executor venv")
    unlisted = unlisted_distributions(installed, requirements)
    if unlisted:
        raise PackageError(f"the executor venv holds packages its lock does not list: {unlisted}")
    _run([str(venv / "bin" / "python"), "-c", IMPORT_CHECK])
    target = out / ENV_ARCHIVE
    target.unlink(missing_ok=True)
    venv_pack = Path(sys.executable).with_name("venv-pack")
    if not python_prefix:
        _run([str(venv_pack), "--prefix", str(venv), "--output", str(target)])
    else:
        # venv-pack's own --python-prefix turns the link `bin/python3.11 -> <prefix>/bin/python3.11`
        # into `/usr/bin/python3.113.11` (it replaces `<prefix>/bin/python` by the new
        # interpreter): pack as is, then point the links at the nodes' interpreter ourselves.
        raw = out / ".pack-venv.tar"
        _run([str(venv_pack), "--prefix", str(venv), "--output", str(raw), "--format", "tar"])
        retarget_interpreter(raw, target, python_prefix)
        raw.unlink()
    shutil.rmtree(venv)
    return target


def retarget_interpreter(raw: Path, target: Path, python_prefix: str) -> None:
    """Copies the packed venv `raw` (a tar) to `target` (tar.gz) for the nodes' interpreter.

    The venv's links to the interpreter it was built with (`bin/python3.11 -> /abs/path`) point
    at `<python_prefix>/bin/python3.11`, and `pyvenv.cfg` names that interpreter and its folder,
    which Python reads to find its standard library. Everything else is copied unchanged.
    """
    interpreter = f"{python_prefix.rstrip('/')}/bin/{EMR_PYTHON}"
    with tarfile.open(raw) as source, tarfile.open(target, "w:gz", compresslevel=4) as packed:
        for member in source:
            if member.issym() and member.name.startswith("bin/") and member.linkname[:1] == "/":
                member.linkname = interpreter
                packed.addfile(member)
            elif member.name == "pyvenv.cfg":
                handle = source.extractfile(member)
                assert handle is not None, "pyvenv.cfg is a regular file"
                data = _pyvenv_cfg(handle.read().decode("utf-8"), interpreter).encode("utf-8")
                member.size = len(data)
                packed.addfile(member, io.BytesIO(data))
            else:
                packed.addfile(member, source.extractfile(member) if member.isfile() else None)


def _pyvenv_cfg(text: str, interpreter: str) -> str:
    values = {"home": interpreter.rsplit("/", 1)[0], "executable": interpreter}
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        lines.append(f"{key} = {values[key]}" if key in values else line)
    return "\n".join(lines) + "\n"


def unlisted_distributions(installed: Mapping[str, str], requirements: list[str]) -> list[str]:
    """Installed distributions that are neither pinned in `requirements` nor part of every venv
    (pip, setuptools, wheel) nor txcat itself."""
    allowed = {_name(r) for r in requirements} | {"txcat", *VENV_TOOLS}
    return sorted(set(installed) - allowed)


def isolated_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the packed venv's commands: without PYTHONPATH/PYTHONHOME, which
    would let pip and the import check see packages of another tree (a source checkout's
    `src/` holds txcat's egg-info) and skip installing or checking the packed ones."""
    return {k: v for k, v in environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _installed(venv: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        check=True, capture_output=True, text=True, env=isolated_environ(os.environ),
    ).stdout  # fmt: skip
    return {_name(p["name"]): p["version"] for p in json.loads(out)}


def _run(command: list[str]) -> None:
    log.info("$ %s", " ".join(command))
    result = subprocess.run(
        command, capture_output=True, text=True, env=isolated_environ(os.environ), check=False
    )
    if result.returncode != 0:
        raise PackageError(
            f"command failed ({result.returncode}): {' '.join(command)}\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(out: Path, version: str) -> dict[str, Any]:
    """Records what was built: deploy uploads exactly these files and verifies them."""
    files = sorted(
        p
        for p in out.rglob("*")
        if p.is_file() and p.name != MANIFEST and ".pack-venv" not in p.parts
    )
    manifest: dict[str, Any] = {
        "version": version,
        "emr_release": EMR_RELEASE,
        "python": EMR_PYTHON,
        "files": {
            p.relative_to(out).as_posix(): {"size": p.stat().st_size, "sha256": sha256(p)}
            for p in files
        },
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def wheel_version(wheel: Path) -> str:
    parts = wheel.name.split("-")
    if len(parts) < 3:
        raise PackageError(f"unexpected wheel name {wheel.name}")
    return parts[1]


def build_package(
    repo: Path,
    out: Path,
    python: str,
    python_prefix: str | None,
    lock: str = JOB_LOCK,
) -> dict[str, Any]:
    """Builds the whole `dist/` folder; returns its manifest."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / JOBS_DIR, out / ".pack-venv"):
        shutil.rmtree(stale, ignore_errors=True)
    wheel = build_wheel(repo, out)
    pins = runtime_requirements(repo / lock)
    build_env_archive(wheel, pins, out, python, python_prefix)
    build_conf_archive(repo / "conf", out)
    copy_jobs(repo, out)
    copy_bootstrap(repo, out)
    return write_manifest(out, wheel_version(wheel))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the EMR package into a folder.")
    parser.add_argument("--repo", default=".", help="repository root")
    parser.add_argument("--out", default="dist", help="output folder")
    parser.add_argument("--python", default="python3.11", help="interpreter for the packed venv")
    parser.add_argument(
        "--python-prefix", default="/usr",
        help="Python prefix on the EMR nodes ('' keeps this machine's)",
    )  # fmt: skip
    parser.add_argument(
        "--lock", default=JOB_LOCK,
        help=f"lock file of the executors' environment, relative to --repo (default: {JOB_LOCK})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        manifest = build_package(
            Path(args.repo).resolve(), Path(args.out).resolve(), args.python,
            args.python_prefix or None, args.lock,
        )  # fmt: skip
    except PackageError as exc:
        log.error("%s", exc)
        return exits.FAILED
    for name, info in manifest["files"].items():
        print(f"{info['size']:>12,}  {name}")
    print(f"txcat {manifest['version']} for {EMR_RELEASE} ({EMR_PYTHON}) in {args.out}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
