from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from chispa import assert_column_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from txcat import clean
from txcat import schema as S


def _apply(spark, values, fn, out_type="string"):
    df = spark.createDataFrame([(v,) for v in values], "raw string")
    return [r[0] for r in df.select(fn(F.col("raw"))).collect()]


def test_parsed_amount_reads_the_bank_formats(spark):
    df = spark.createDataFrame(
        [
            ("31", 31.0),
            ("54,4", 54.4),
            ("150,01", 150.01),
            ("1.784,13", 1784.13),
            ("1.234.567,8", 1234567.8),
            ("-54,4", -54.4),
            (" 12,5 ", 12.5),
            (" -   ", None),
            ("abc", None),
            ("54.4", None),
            ("1,2,3", None),
            ("12.34,5", None),
            ("", None),
            (None, None),
        ],
        "raw string, expected double",
    ).withColumn("parsed", clean.parsed_amount(F.col("raw")))
    assert_column_equality(df, "parsed", "expected")


def test_missing_amount_is_the_bank_placeholder_or_empty(spark):
    values = [" -   ", "-", "", None, "0", "abc"]
    assert _apply(spark, values, clean.is_missing_amount) == [True, True, True, True, False, False]


def _bank_amount(value: Decimal) -> str:
    """Formats a number the way the bank does: thousands dot, decimal comma, no trailing zeros."""
    sign = "-" if value < 0 else ""
    whole, _, frac = f"{abs(value):.2f}".partition(".")
    groups = f"{int(whole):,}".replace(",", ".")
    frac = frac.rstrip("0")
    return f"{sign}{groups},{frac}" if frac else f"{sign}{groups}"


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.decimals(min_value=-(10**7), max_value=10**7, places=2, allow_nan=False),
        min_size=1,
        max_size=40,
    )
)
def test_parsed_amount_round_trips_any_bank_formatted_number(spark, values):
    texts = [_bank_amount(v) for v in values]
    parsed = _apply(spark, texts, clean.parsed_amount)
    assert parsed == [float(v) for v in values]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)), min_size=1, max_size=40))
def test_parsed_date_round_trips_any_bank_formatted_date(spark, dates):
    texts = [f"{d.day}.{d.month:02d}.{d.year}" for d in dates]
    assert _apply(spark, texts, clean.parsed_date) == dates


@settings(max_examples=10, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.-/ a", max_size=12), min_size=1, max_size=30))
def test_parsed_date_accepts_only_d_mm_yyyy(spark, texts):
    parsed = _apply(spark, texts, clean.parsed_date)
    for text, value in zip(texts, parsed, strict=True):
        match = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", text.strip())
        if value is None:
            continue
        assert match is not None
        assert (value.day, value.month, value.year) == tuple(int(g) for g in match.groups())


def test_parsed_date_rejects_impossible_and_other_formats(spark):
    values = [
        "4.12.2019",
        "19.02.2020",
        "31.02.2020",
        "29.02.2021",
        "29.02.2020",
        "2020-02-19",
        "12/05/2019",
        "0.01.2020",
        "1.13.2020",
        "",
        None,
    ]
    assert _apply(spark, values, clean.parsed_date) == [
        dt.date(2019, 12, 4),
        dt.date(2020, 2, 19),
        None,
        None,
        dt.date(2020, 2, 29),
        None,
        None,
        None,
        None,
        None,
        None,
    ]


def test_parsed_month(spark):
    assert _apply(spark, ["201405", "201413", "2014", "abc"], clean.parsed_month) == [
        dt.date(2014, 5, 1),
        None,
        None,
        None,
    ]


def test_normalized_text_folds_case_accents_controls_and_spaces(spark):
    values = [
        "  são   josé ",
        "SERVIÇO",
        "AUTO PEÇAS",
        "Goiânia\x07",
        "   ",
        "a\ufffdb",
        None,
        "SAO\r\nPAULO",
    ]
    assert _apply(spark, values, clean.normalized_text) == [
        "SAO JOSE",
        "SERVICO",
        "AUTO PECAS",
        "GOIANIA",
        None,
        "AB",
        None,
        "SAO PAULO",
    ]


@settings(max_examples=10, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=30))
def test_normalized_text_is_idempotent_and_canonical(spark, texts):
    once = _apply(spark, texts, clean.normalized_text)
    twice = _apply(spark, once, clean.normalized_text)
    assert once == twice
    for value in once:
        assert value is None or (
            value == value.strip() and "  " not in value and value == value.upper()
        )


def test_every_raw_field_of_the_schema_mapping_is_parsed(spark):
    raw = list(S.RAW_TO_PARSED)
    lines = spark.createDataFrame([tuple("" for _ in raw)], ", ".join(f"{c} string" for c in raw))
    parsed = clean.with_parsed_fields(lines)
    assert parsed.columns == raw + list(S.RAW_TO_PARSED.values())
    types = {f.name: f.dataType for f in S.TRANSACTION_SCHEMA.fields}
    assert {f.name: f.dataType for f in parsed.schema.fields[len(raw) :]} == {
        c: types[c] for c in S.RAW_TO_PARSED.values()
    }
