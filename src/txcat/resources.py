"""Files that ship with the package: the configuration folder and the benchmark figures.

An installed wheel carries them inside the package (`txcat/conf/`, `txcat/figures/`, mapped
from the repository's top-level `conf/` and `docs/` by pyproject.toml). A source checkout (an
editable install, or `PYTHONPATH=src`) has no such folders in the package: there they are read
from the repository itself, so an edit of `conf/` takes effect without a reinstall.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The repository root when this module runs from a source checkout (`src/txcat/resources.py`).
_CHECKOUT = Path(__file__).resolve().parents[2]


def _shipped(package_folder: str, checkout_folder: str, marker: str) -> Path:
    """`txcat/<package_folder>` of an installed package, else `<checkout>/<checkout_folder>`.

    `marker` is a file the folder must hold; the checkout's folder is returned (and fails
    later with a clear message) when neither has it.
    """
    packaged = Path(str(resources.files("txcat"))) / package_folder
    if (packaged / marker).is_file():
        return packaged
    return _CHECKOUT / checkout_folder


def conf_dir() -> Path:
    """The folder of `base.yaml` and the environment overlays (`--conf-dir` overrides it)."""
    return _shipped("conf", "conf", "base.yaml")


def benchmark_figures() -> Path:
    """`benchmarks.json`: the job's measured throughput that `txcat plan` starts from."""
    return _shipped("figures", "docs", "benchmarks.json") / "benchmarks.json"


def s3_benchmark_figures() -> Path:
    """`benchmarks-s3.json`: the S3 readers measured at injected per-request latencies."""
    return benchmark_figures().with_name("benchmarks-s3.json")


def source_checkout() -> Path | None:
    """The repository root when running from a source checkout, else None (an installed wheel).

    Tools that need the repository's scripts (the benchmark) require one.
    """
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "scripts").is_dir():
        return _CHECKOUT
    return None
