"""Build shim: the metadata, dependencies and package data are declared in pyproject.toml."""

from setuptools import setup

setup()
