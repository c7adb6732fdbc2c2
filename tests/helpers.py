"""Builders for tiny bank files used across tests."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from txcat import schema as S
from txcat.config import Config, load_config
from txcat.features import LabelMemory
from txcat.features import memory as MEM
from txcat.generate.reference import reference_overrides

HEADER = S.RAW_HEADER


def bank_row(
    date: str = "9.11.2019",
    amount: str = "150,01",
    label: str = "FARMACIAS",
    merchant_city: str = "SANTOS",
    country: str = "BR",
    city: str = "CAMPO LIMPO PAULISTA  ",
    state: str = "SP ",
) -> str:
    fields = (
        "4,53E+11",
        "201405",
        city,
        state,
        "37",
        "F",
        "4700",
        "5343",
        date,
        amount,
        label,
        merchant_city,
        country,
    )
    return ";".join(fields)


def bank_file(rows: list[str], header: str = HEADER, newline: str = "\r\n") -> bytes:
    text = newline.join([header, *rows]) + newline
    return text.encode("latin-1")


def write_file(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def local_config(ref: Path, *overrides: str) -> Config:
    """The local configuration with generated reference data and the given overrides."""
    return load_config("local", overrides=[*reference_overrides(ref), *overrides])


def empty_memory(spark: SparkSession) -> LabelMemory:
    """A label memory with no labelled row: every `mem_*` feature backs off to the flat prior."""
    return LabelMemory(spark.createDataFrame([], MEM.TABLE_SCHEMA), (20.0, 5.0, 3.0, 1.0))
