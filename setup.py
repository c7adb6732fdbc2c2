"""txcat: daily transaction categorisation on Spark."""

from pathlib import Path

from setuptools import find_packages, setup


def _requirements(name: str) -> list[str]:
    """Pins from a requirements file, following its `-r other.txt` includes."""
    pins: list[str] = []
    for line in Path(__file__).with_name(name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins += _requirements(line[3:].strip())
        elif line:
            pins.append(line)
    return pins


def _dev_only() -> list[str]:
    runtime = set(_requirements("requirements.txt"))
    return [p for p in _requirements("requirements-dev.txt") if p not in runtime]


setup(
    name="txcat",
    version="0.1.0",
    description="Daily batch categorisation of card transactions with PySpark and XGBoost",
    package_dir={"": "src"},
    packages=find_packages("src"),
    python_requires=">=3.11,<3.12",
    install_requires=_requirements("requirements.txt"),
    extras_require={"dev": _dev_only()},
    entry_points={"console_scripts": ["txcat=txcat.cli:main"]},
)
