"""txcat: daily transaction categorisation on Spark."""

from pathlib import Path

from setuptools import find_packages, setup


def _requirements(name: str) -> list[str]:
    lines = Path(__file__).with_name(name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith(("#", "-r"))]


setup(
    name="txcat",
    version="0.1.0",
    description="Daily batch categorisation of card transactions with PySpark and XGBoost",
    package_dir={"": "src"},
    packages=find_packages("src"),
    python_requires=">=3.11,<3.12",
    install_requires=_requirements("requirements.txt"),
    extras_require={"dev": _requirements("requirements-dev.txt")},
    entry_points={"console_scripts": ["txcat=txcat.cli:main"]},
)
