"""The package as installed: its version, its data files (conf/, benchmark figures), the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import txcat
from txcat import cli, config, plan, resources

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_is_printed(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"txcat {txcat.__version__}"


def test_pyproject_reads_the_version_from_the_package():
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "txcat.__version__"}


def test_every_package_of_the_tree_is_in_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    tree = {
        ".".join(p.parent.relative_to(REPO / "src").parts)
        for p in (REPO / "src" / "txcat").rglob("__init__.py")
    }
    assert listed == tree | {"txcat.conf", "txcat.figures"}


def test_a_source_checkout_reads_the_repository_folders():
    assert resources.conf_dir() == REPO / "conf"
    assert config.DEFAULT_CONF_DIR == REPO / "conf"
    assert plan.DEFAULT_BENCHMARKS == REPO / "docs" / "benchmarks.json"
    assert resources.source_checkout() == REPO


def _installed_layout(site: Path) -> Path:
    """A package folder laid out as the wheel installs it (see pyproject's package-dir)."""
    package = site / "txcat"
    shutil.copytree(REPO / "src" / "txcat", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "conf", package / "conf")
    (package / "figures").mkdir()
    for name in ("benchmarks.json", "benchmarks-s3.json"):
        shutil.copy2(REPO / "docs" / name, package / "figures" / name)
    return package


def _run_txcat(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "txcat.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_an_installed_package_reads_its_own_data_from_any_folder(tmp_path):
    package = _installed_layout(tmp_path / "site")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = subprocess.run(
        [sys.executable, "-c", "from txcat import config, plan, resources; "
         "print(config.DEFAULT_CONF_DIR); print(plan.DEFAULT_BENCHMARKS); "
         "print(resources.source_checkout())"],
        cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert probe == [str(package / "conf"), str(package / "figures" / "benchmarks.json"), "None"]
    result = _run_txcat(tmp_path / "site", elsewhere, "plan", "--files", "1000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("day: 1,000 files x 100 rows = 100,000 rows, window 30 min")


@pytest.mark.e2e
def test_the_built_wheel_ships_conf_and_figures_and_runs_from_another_folder(tmp_path):
    source, dist = tmp_path / "source", tmp_path / "dist"
    # Built from a copy: setuptools leaves build/ and *.egg-info beside the sources.
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("src", "conf", "docs"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    (wheel,) = dist.glob("txcat-*.whl")
    assert wheel.name == f"txcat-{txcat.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    conf = {f"txcat/conf/{p.name}" for p in (REPO / "conf").iterdir() if p.is_file()}
    assert conf <= names
    assert {"txcat/figures/benchmarks.json", "txcat/figures/benchmarks-s3.json"} <= names
    assert not any(n.startswith("txcat/figures/") and n.endswith(".md") for n in names)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _run_txcat(tmp_path / "site", elsewhere, "--version").stdout.strip() == (
        f"txcat {txcat.__version__}"
    )
    result = _run_txcat(
        tmp_path / "site", elsewhere, "plan", "--files", "1000", "--rows-per-file", "100",
        "--window-min", "30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "needed: 1 vCPUs = 1 x m5.4xlarge" in result.stdout
