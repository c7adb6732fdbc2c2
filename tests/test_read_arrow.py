"""The Arrow reader gives the JVM reader's records, column by column, on every kind of file."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tests.helpers import local_config
from tests.serve.test_parity import EDGE_FILES, EXPORT, SLICE, _real_accounts
from txcat import read, read_arrow, sources
from txcat import schema as S
from txcat.generate import generate
from txcat.generate.bad import BAD_KINDS
from txcat.serve import rows

RUN_DATE = dt.date(2026, 11, 25)
COLUMNS = [f.name for f in read_arrow.RECORDS_SCHEMA.fields]
KEY = [S.SOURCE_FILE, S.LINE_NUMBER]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """Generated files with every bad kind, the hand-made odd files, the real export's
    accounts (the whole export when it is beside the repository, else the committed slice)."""
    root = tmp_path_factory.mktemp("arrow")
    generate(
        root / "generated",
        len(BAD_KINDS) + 20,
        "2026-09-01",
        RUN_DATE,
        seed=5,
        bad_share=len(BAD_KINDS) / (len(BAD_KINDS) + 20),
        reference_out=root / "ref",
        rows_per_account=40,
    )
    files = root / "landing"
    shutil.copytree(root / "generated", files / "generated")
    (files / "odd").mkdir()
    for name, body in EDGE_FILES.items():
        (files / "odd" / name).write_bytes(body)
    _real_accounts(EXPORT if EXPORT.is_file() else SLICE, files / "real")
    return root


def _records(frame) -> pd.DataFrame:
    # Dates as text: a month of year 0 (which Spark holds) has no pandas date.
    dates = {f.name for f in read_arrow.RECORDS_SCHEMA.fields if f.dataType == T.DateType()}
    return (
        frame.select(*[F.col(c).cast("string") if c in dates else F.col(c) for c in COLUMNS])
        .toPandas()
        .sort_values(KEY, na_position="first")
        .reset_index(drop=True)
    )


@pytest.mark.slow  # two Spark reads of some 1,500 files
@pytest.mark.parametrize(
    "overrides",
    [(), ("quality.quarantine_duplicate_rows=true", "quality.max_abs_amount=5000")],
    ids=["defaults", "strict"],
)
def test_the_same_records_as_the_jvm_reader(spark, landing, overrides):
    cfg = local_config(landing / "ref", *overrides)
    files = read.read_files(spark, str(landing / "landing"))
    jvm = _records(sources.cleaned(cfg, files, RUN_DATE))
    arrow = _records(read_arrow.cleaned(files, rows.cleaning_rules(cfg, RUN_DATE)))

    pd.testing.assert_frame_equal(arrow, jvm, check_dtype=True)
    # What was compared: plain files, every file reason, every row reason.
    assert jvm[S.LEVEL].isna().sum() > 1000
    assert {"header_only", "corrupt_gzip", "unsupported_encoding", "field_count"} <= set(
        jvm[S.REASON].dropna()
    )
    assert {"bad_amount", "bad_date", "future_date", "blank_line"} <= set(jvm[S.REASON].dropna())
    assert jvm[S.IS_REPEATED_LINE].any()
    if overrides:
        assert "duplicate_row" in set(jvm[S.REASON].dropna())


def test_plain_files_are_read_in_bulk_and_the_others_one_by_one(monkeypatch):
    rules = rows.CleaningRules(run_date=RUN_DATE)
    plain = EDGE_FILES["no_final_break.csv"]
    odd = EDGE_FILES["odd_values.csv"]
    calls: list[str] = []
    read_file = rows.read_file

    def counted(name, content, rules):
        calls.append(name)
        return read_file(name, content, rules)

    monkeypatch.setattr(rows, "read_file", counted)
    table = read_arrow.clean_files(
        ["a/1.csv", "a/2.csv", "a/3.csv", "a/4.csv"],
        [plain, odd, plain, plain],
        [None, None, None, "size 3, listed 4"],
        rules,
    )
    assert calls == ["a/2.csv"]
    # The row ids are the JVM's to compute (`read.row_id`), as for the other reader.
    assert S.ROW_ID not in table.column_names
    frame = table.select([S.SOURCE_FILE, S.LINE_NUMBER, S.LEVEL, S.REASON, S.DETAIL])
    frame = frame.to_pandas()  # without the dates: odd_values.csv holds a month of year 0
    assert list(frame[S.SOURCE_FILE].unique()) == ["a/1.csv", "a/2.csv", "a/3.csv", "a/4.csv"]
    changed = frame[frame[S.SOURCE_FILE] == "a/4.csv"]
    assert list(changed[S.REASON]) == ["object_changed"]
    assert list(changed[S.DETAIL]) == ["size 3, listed 4"]
    first = frame[frame[S.SOURCE_FILE] == "a/1.csv"]
    assert list(first[S.LINE_NUMBER]) == [2, 3, 4, 5]
    assert first[S.LEVEL].isna().all()


def test_a_file_with_one_refused_row_is_read_one_by_one(monkeypatch):
    """The bulk path takes a file whole or not at all: one future date sends it to the
    one-file reader, and the other plain files stay in bulk."""
    rules = rows.CleaningRules(run_date=RUN_DATE)
    good = EDGE_FILES["no_final_break.csv"]
    future = good.replace(b"9.11.2026", b"9.12.2026", 1)
    calls: list[str] = []
    read_file = rows.read_file
    monkeypatch.setattr(rows, "read_file", lambda n, c, r: calls.append(n) or read_file(n, c, r))
    frame = read_arrow.clean_files(
        ["1.csv", "2.csv", "3.csv"], [good, future, good], [None] * 3, rules
    ).to_pandas()
    assert calls == ["2.csv"]
    assert list(frame[S.REASON].dropna()) == ["future_date"]
    assert len(frame) == 12


@pytest.mark.parametrize(
    "text",
    ["0", "-0", "-0,00", " 150,01 ", "0,005", "2,675", "000123,4", "999999999999,999", "7,1"],
)
def test_a_plain_amount_is_the_twin_parser_s(text):
    """Arrow's cast of a plain amount (no thousands dot) gives the twin parser's double."""
    rules = rows.CleaningRules(run_date=RUN_DATE, max_abs_amount=1e6)
    values, accepted = read_arrow._amounts(
        pa.array([text, "1.784,13", " - ", "x"]), S.AMOUNT, rules
    )
    twins = [rows.parsed_amount(t) for t in (text, "1.784,13", " - ", "x")]
    assert [str(v) for v in values.to_pylist()] == [str(v) for v in twins]
    refused = rows.amount_range_detail(text, S.AMOUNT, 1e6) is not None
    assert list(accepted) == [not refused, True, True, False]


def test_gzip_that_inflates_whole_is_read_in_bulk(monkeypatch):
    rules = rows.CleaningRules(run_date=RUN_DATE)
    plain = EDGE_FILES["no_final_break.csv"]
    calls: list[str] = []
    read_file = rows.read_file
    monkeypatch.setattr(rows, "read_file", lambda n, c, r: calls.append(n) or read_file(n, c, r))
    names = ["1.csv", "1.csv.gz", "2.csv.gz"]
    contents = [plain, gzip.compress(plain), gzip.compress(plain)[:-9]]
    table = read_arrow.clean_files(names, contents, [None] * 3, rules)
    assert calls == ["2.csv.gz"]  # truncated: its reason is the one-file reader's
    frame = table.drop_columns([S.ACCOUNT_OPENING_MONTH, S.TRANSACTION_DATE]).to_pandas()
    first, second = (
        frame[frame[S.SOURCE_FILE] == n].drop(columns=S.SOURCE_FILE) for n in names[:2]
    )
    pd.testing.assert_frame_equal(first.reset_index(drop=True), second.reset_index(drop=True))
    assert list(frame[frame[S.SOURCE_FILE] == "2.csv.gz"][S.REASON]) == ["corrupt_gzip"]


def test_a_failure_of_the_bulk_path_hands_the_files_to_the_one_file_reader(monkeypatch, caplog):
    rules = rows.CleaningRules(run_date=RUN_DATE)
    plain = EDGE_FILES["no_final_break.csv"]
    expected = read_arrow.clean_files(["1.csv", "2.csv"], [plain, plain], [None] * 2, rules)

    def broken(*args):
        raise ValueError("unforeseen")

    monkeypatch.setattr(read_arrow, "_bulk", broken)
    table = read_arrow.clean_files(["1.csv", "2.csv"], [plain, plain], [None] * 2, rules)
    assert table.equals(expected)
    assert "bulk reading failed on 2 files" in caplog.text
    monkeypatch.setattr(read_arrow, "_plain_lines", broken)
    assert read_arrow.clean_files(["1.csv", "2.csv"], [plain, plain], [None] * 2, rules).equals(
        expected
    )
