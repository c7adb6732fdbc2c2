from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from pathlib import Path

from chispa import assert_column_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from tests.helpers import bank_row, local_config
from txcat import clean, read, reasons, sources
from txcat import schema as S
from txcat.config import load_config
from txcat.generate import reference


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
            ("1" + "0" * 400, None),  # beyond a double: never +inf
            ("-1" + "0" * 400 + ",5", None),
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


MALFORMED = [
    "ab.cd.efgh",
    "1.2.3.4",
    "4.12.2019.",
    "..2019",
    "2019-05",
    "20190a",
    "abcdef",
    "1.784,13,5",
    "x,y.z",
    " -   ",
    "",
    None,
]


def test_parsers_give_the_same_values_with_ansi_mode_on_or_off(spark):
    """Malformed text becomes null in both modes: no parser casts a part of a text its
    pattern refused (ANSI mode would raise on it)."""
    parsers = (clean.parsed_date, clean.parsed_month, clean.parsed_amount, clean.parsed_int)
    values = [*MALFORMED, "4.12.2019", "31.02.2020", "201405", "1.784,13", "-54,4", "37"]
    results = {}
    for ansi in ("false", "true"):
        spark.conf.set("spark.sql.ansi.enabled", ansi)
        try:
            results[ansi] = [_apply(spark, values, parser) for parser in parsers]
        finally:
            spark.conf.unset("spark.sql.ansi.enabled")
    assert results["true"] == results["false"]
    date, month, amount, integer = results["false"]
    assert date[: len(MALFORMED)] == [None] * len(MALFORMED)
    assert month[: len(MALFORMED)] == [None] * len(MALFORMED)
    assert amount[: len(MALFORMED)] == [None] * len(MALFORMED)
    assert date[len(MALFORMED) :][:2] == [dt.date(2019, 12, 4), None]
    assert month[len(MALFORMED) :][2] == dt.date(2014, 5, 1)
    assert amount[len(MALFORMED) :][3:5] == [1784.13, -54.4]
    assert integer[-1] == 37


def test_the_clean_stage_gives_the_same_records_with_ansi_mode_on_or_off(spark):
    """Every field malformed at once, through the whole clean stage (the amounts' shared
    parts included): the same reasons and values, whatever `spark.sql.ansi.enabled` says."""
    fields = bank_row().split(";")
    rows = [
        bank_row(),
        bank_row(amount="x,y.z"),
        bank_row(amount=" -   "),
        bank_row(amount=""),
        bank_row(amount="9" * 400 + ",5"),
    ]
    for i, text in enumerate(MALFORMED[:-1]):
        broken = list(fields)
        for position in (1, 4, 6, 7, 8, 9):  # opening month, age, limits, date, amount
            broken[position] = text
        rows.append(";".join(broken) + f"{i}")
    results = {}
    for ansi in ("false", "true"):
        spark.conf.set("spark.sql.ansi.enabled", ansi)
        try:
            results[ansi] = _cleaned(spark, rows)
        finally:
            spark.conf.unset("spark.sql.ansi.enabled")
    assert results["true"] == results["false"]
    assert [r[S.REASON] for r in results["false"][:5]] == [
        None,
        reasons.BAD_AMOUNT,
        None,
        None,
        reasons.BAD_AMOUNT,
    ]
    assert {r[S.REASON] for r in results["false"][5:]} == {reasons.BAD_DATE}


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


def _cleaned(spark, rows: list[str], max_abs_amount: float = 1e7) -> list:
    """Bank lines through `clean.clean` as the reader hands them over (no reader problems)."""
    records = spark.createDataFrame(
        [(*row.split(";"), i) for i, row in enumerate(rows)],
        ", ".join([*(f"{c} string" for c in S.RAW_COLUMNS), f"{S.LINE_NUMBER} int"]),
    ).select(
        "*",
        F.lit(False).alias(S.IS_REPEATED_LINE),
        *[
            F.lit(None).cast("string").alias(c)
            for c in (read.FILE_REASON, read.FILE_DETAIL, read.ROW_REASON, read.ROW_DETAIL)
        ],
    )
    cleaned = clean.clean(records, dt.date(2020, 3, 1), dt.date(2000, 1, 1), True, max_abs_amount)
    return cleaned.orderBy(S.LINE_NUMBER).select(S.REASON, S.DETAIL, S.AMOUNT).collect()


def _with_limits(total: str, available: str) -> str:
    fields = bank_row().split(";")
    fields[6:8] = [total, available]
    return ";".join(fields)


def test_amounts_and_limits_out_of_range_are_bad_amounts(spark):
    huge = "1" + "0" * 400
    rows = [
        bank_row(amount=huge),
        bank_row(amount="-9" + "9" * 399 + ",5"),
        bank_row(amount="12.345.678,9"),
        bank_row(amount="-10.000.000,01"),
        bank_row(amount="10.000.000"),
        bank_row(amount="-10.000.000"),
        _with_limits(huge, "5343"),
        _with_limits("4700", "-20000000"),
        bank_row(amount="abc"),
    ]
    assert [(r[S.REASON], r[S.DETAIL]) for r in _cleaned(spark, rows)] == [
        (reasons.BAD_AMOUNT, "amount 1.0E400 outside ±10000000"),
        (reasons.BAD_AMOUNT, "amount -9.9E399 outside ±10000000"),
        (reasons.BAD_AMOUNT, "amount 1.23456789E7 outside ±10000000"),
        (reasons.BAD_AMOUNT, "amount -1.000000001E7 outside ±10000000"),
        (None, None),
        (None, None),
        (reasons.BAD_AMOUNT, "credit_limit_total 1.0E400 outside ±10000000"),
        (reasons.BAD_AMOUNT, "credit_limit_available -2.0E7 outside ±10000000"),
        (reasons.BAD_AMOUNT, "expected decimal comma, e.g. 1.784,13"),
    ]


def test_amount_bound_is_the_configured_one(spark):
    rows = [bank_row(amount="10.000,01"), bank_row(amount="9.999,99"), bank_row(amount=" -   ")]
    assert [(r[S.REASON], r[S.DETAIL], r[S.AMOUNT]) for r in _cleaned(spark, rows, 1e4)] == [
        (reasons.BAD_AMOUNT, "amount 10000.01 outside ±10000", 10000.01),
        (None, None, 9999.99),
        (None, None, None),
    ]


_AMOUNT_TEXT = st.one_of(
    st.text(alphabet="0123456789.,- ", max_size=30),
    st.integers(min_value=-(10**450), max_value=10**450).map(
        lambda n: _bank_amount(Decimal(n) / 100)
    ),
)


@settings(max_examples=15, deadline=None)
@given(st.lists(_AMOUNT_TEXT, min_size=1, max_size=40))
def test_amount_is_finite_and_within_bound_or_refused_with_a_reason(spark, texts):
    bound = 1e7
    df = spark.createDataFrame([(t,) for t in texts], "raw string").select(
        clean.parsed_amount(F.col("raw")).alias("value"),
        clean.amount_range_detail(F.col("raw"), "amount", bound).alias("detail"),
    )
    for text, (value, detail) in zip(texts, df.collect(), strict=True):
        well_formed = re.fullmatch(r"-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?", text.strip())
        if not well_formed:
            assert value is None and detail is None, text
            continue
        exact = Decimal(text.strip().replace(".", "").replace(",", "."))
        if abs(exact) > bound:
            assert detail is not None and detail.endswith(" outside ±10000000"), text
        else:
            assert detail is None and value is not None and abs(value) <= bound, text
        assert value is None or math.isfinite(value), text


def _method_sizes(spark, frame):
    """The largest generated method of each whole-stage code block of `frame`'s plan (-1: it
    did not compile)."""
    debug = spark.sparkContext._jvm.org.apache.spark.sql.execution.debug.package
    compiled = debug.codegenStringSeq(frame._jdf.queryExecution().executedPlan())
    return [compiled.apply(i)._3().maxMethodCodeSize() for i in range(compiled.size())]


def test_the_read_and_clean_stage_compiles_to_whole_stage_code(spark, tmp_path):
    """Each parsed amount, range detail and row verdict is computed once (its own projection),
    which keeps the stage's generated method under the JVM's 64 KB: a larger one fails to
    compile and Spark runs the stage operator by operator, about 15 % slower here."""
    slice_ = Path(__file__).parent / "data" / "mibolsillo-slice.csv"
    (tmp_path / "4530000000001.csv").write_bytes(slice_.read_bytes())
    cfg = load_config("local")
    records = sources.cleaned(cfg, read.read_files(spark, str(tmp_path)), dt.date(2020, 3, 1))
    sizes = _method_sizes(spark, records)
    assert sizes and all(0 <= size < 65536 for size in sizes), sizes


def test_the_scorable_rows_of_cached_records_compile_to_whole_stage_code(spark, tmp_path):
    """Training and evaluation read `scorable` (the rows without a quarantine reason) of cached
    records (`sources.cached`): the filter then stays above the cache instead of joining the
    cleaning projection, and every stage compiles."""
    slice_ = Path(__file__).parent / "data" / "mibolsillo-slice.csv"
    landing, ref = tmp_path / "landing", tmp_path / "ref"
    landing.mkdir()
    (landing / "4530000000001.csv").write_bytes(slice_.read_bytes())
    ref.mkdir()
    reference.write_holidays(
        ref / reference.HOLIDAYS_FILE, dt.date(2019, 1, 1), dt.date(2020, 3, 1)
    )
    reference.write_countries(ref / reference.COUNTRIES_FILE)
    reference.write_bureau(ref / reference.BUREAU_FILE, [])
    source = sources.Source.folder(str(landing))
    prepared = sources.prepare(spark, local_config(ref), source, dt.date(2020, 3, 1))
    with sources.cached(prepared) as held:
        scorable = held.scorable
        assert scorable.collect()  # the adaptive plan is final once run
        assert "isnull(level" in scorable._jdf.queryExecution().optimizedPlan().toString()
        sizes = _method_sizes(spark, scorable)
        assert sizes and all(0 <= size < 65536 for size in sizes), sizes
