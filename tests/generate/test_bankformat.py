"""The bank's value formats, checked as properties of the formatting helpers."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from txcat import schema
from txcat.generate import bankformat as bf

AMOUNT = re.compile(r"^-?(0|[1-9]\d{0,2}(\.\d{3})*)(,\d?[1-9])?$")
DATE = re.compile(r"^([1-9]|[12]\d|3[01])\.(0[1-9]|1[0-2])\.\d{4}$")


def parse_amount(text: str) -> int:
    """Cents from the bank's format: an independent reading, not the writer's inverse."""
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(",")
    cents = int(whole.replace(".", "")) * 100 + int((frac + "00")[:2])
    return -cents if negative else cents


@given(st.integers(min_value=-(10**9), max_value=10**9))
def test_amount_format_round_trips(cents: int) -> None:
    text = bf.format_amount_cents(cents)
    assert AMOUNT.match(text), text
    assert parse_amount(text) == cents


@given(st.lists(st.integers(min_value=-(10**8), max_value=10**8), max_size=50))
def test_vectorised_amounts_match_scalar(values: list[int]) -> None:
    assert bf.format_amounts(np.array(values, dtype=np.int64)) == [
        bf.format_amount_cents(v) for v in values
    ]


def test_amount_examples_from_the_bank() -> None:
    assert bf.format_amounts(np.array([3100, 5440, 15001, 178413, -5440, 100000000])) == [
        "31", "54,4", "150,01", "1.784,13", "-54,4", "1.000.000",
    ]  # fmt: skip


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_date_format(day: dt.date) -> None:
    text = bf.format_date(day)
    assert DATE.match(text)
    d, m, y = (int(p) for p in text.split("."))
    assert dt.date(y, m, d) == day


def test_date_examples() -> None:
    assert bf.format_date(dt.date(2019, 12, 4)) == "4.12.2019"
    assert bf.format_date(dt.date(2020, 2, 19)) == "19.02.2020"


@given(st.integers(min_value=10**10, max_value=10**12 - 1))
def test_excel_id_keeps_three_significant_digits(account: int) -> None:
    digits = str(account)
    text = bf.excel_id(digits)
    mantissa, exponent = text.split("E+")
    assert mantissa == f"{digits[0]},{digits[1:3]}"
    assert int(exponent) == len(digits) - 1


def test_excel_id_example() -> None:
    assert bf.excel_id("453123456789") == "4,53E+11"


def test_file_labels_use_the_0x82_byte() -> None:
    encoded = {c: bf.file_label(c).encode(bf.ENCODING) for c in schema.CATEGORIES}
    assert encoded["SERVICO"] == b"SERVI\x82O"
    assert encoded["AUTO PECAS"] == b"AUTO PE\x82AS"
    assert encoded["M.O.T.O."] == b"M.O.T.O."
