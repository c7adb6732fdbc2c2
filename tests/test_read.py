"""The reader and cleaner on every kind of bad input, in one folder read once."""

from __future__ import annotations

import datetime as dt
import gzip

import pytest

from tests.helpers import HEADER, bank_file, bank_row, write_file
from txcat import clean, read, reasons
from txcat import schema as S

RUN_DATE = dt.date(2020, 3, 1)
GOOD = bank_row()


def _reordered() -> bytes:
    tokens = HEADER.split(";")
    values = GOOD.split(";")
    order = list(reversed(range(len(tokens))))
    return bank_file(
        [";".join(values[i] for i in order)], header=";".join(tokens[i] for i in order)
    )


CASES: dict[str, tuple[bytes, dict]] = {
    # name -> (content, expectation: file reason, or {line_number: row reason/None})
    "header_only.csv": (bank_file([]), {"file": reasons.HEADER_ONLY}),
    "missing_column.csv": (
        bank_file(
            [";".join(GOOD.split(";")[:9] + GOOD.split(";")[10:])],
            header=HEADER.replace(" valor ;", ""),
        ),
        {"file": reasons.MISSING_COLUMNS, "detail": "valor"},
    ),
    "extra_column.csv": (bank_file([GOOD + ";x"], header=HEADER + ";extra"), {2: None}),
    "reordered.csv": (_reordered(), {2: None}),
    "wrong_separator.csv": (
        bank_file([GOOD.replace(";", ",")], header=HEADER.replace(";", ",")),
        {"file": reasons.WRONG_SEPARATOR},
    ),
    "bom.csv": (
        b"\xef\xbb\xbf" + bank_file([bank_row(label="SERVIÇO")]).decode("latin-1").encode("utf-8"),
        {2: None, "label": "SERVICO"},
    ),
    "utf8.csv": (
        bank_file([bank_row(label="AUTO PEÇAS", city="SÃO JOSÉ")])
        .decode("latin-1")
        .encode("utf-8"),
        {2: None, "label": "AUTO PECAS", "city": "SAO JOSE"},
    ),
    "bank_cedilla.csv": (bank_file([bank_row(label="SERVI\x82O")]), {2: None, "label": "SERVICO"}),
    "latin1.csv": (bank_file([bank_row(city="GOIÂNIA")]), {2: None, "city": "GOIANIA"}),
    "lf.csv": (bank_file([GOOD, bank_row(amount="1")], newline="\n"), {2: None, 3: None}),
    "no_final_newline.csv": (bank_file([GOOD, bank_row(amount="2")])[:-2], {2: None, 3: None}),
    "amounts.csv": (
        bank_file(
            [
                bank_row(amount=" -   ", label="TRANS FINANC", merchant_city="", country=""),
                bank_row(amount="abc"),
                bank_row(amount="54.4"),
                bank_row(amount="-54,4"),
                bank_row(amount="1.784,13"),
            ]
        ),
        {2: None, 3: reasons.BAD_AMOUNT, 4: reasons.BAD_AMOUNT, 5: None, 6: None},
    ),
    "dates.csv": (
        bank_file(
            [
                bank_row(date="31.02.2020"),
                bank_row(date="2020-02-19"),
                bank_row(date="2.03.2020"),
                bank_row(date="1.01.1999"),
                bank_row(date="29.02.2020"),
            ]
        ),
        {
            2: reasons.BAD_DATE,
            3: reasons.BAD_DATE,
            4: reasons.FUTURE_DATE,
            5: reasons.DATE_TOO_OLD,
            6: None,
        },
    ),
    "fields.csv": (
        bank_file(
            [GOOD.rsplit(";", 1)[0], GOOD + ";extra", GOOD.replace(";SANTOS;", ';"SAN;TOS";')]
        ),
        {2: reasons.FIELD_COUNT, 3: reasons.FIELD_COUNT, 4: None, "merchant_city_4": "SAN;TOS"},
    ),
    "duplicates.csv": (
        bank_file([GOOD, GOOD, bank_row(amount="3")]),
        {2: None, 3: reasons.DUPLICATE_ROW, 4: None},
    ),
    "garbage.csv": (bytes(range(256)) * 4, {"file": reasons.BINARY_CONTENT}),
    "no_header.csv": (
        (f"{GOOD}\r\n{GOOD}" + "\r\n").encode("latin-1"),
        {"file": reasons.BAD_HEADER},
    ),
    "zipped.csv.gz": (gzip.compress(bank_file([GOOD])), {2: None}),
    "broken.csv.gz": (b"\x1f\x8b" + b"not really gzip", {"file": reasons.CORRUPT_GZIP}),
    "notes.txt": (b"some notes\n", {"file": reasons.UNSUPPORTED_FILE}),
}


@pytest.fixture(scope="module")
def records(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("landing")
    for name, (content, _) in CASES.items():
        write_file(folder, name, content)
    write_file(folder, "_SUCCESS", b"")
    write_file(folder, ".DS_Store", b"\x00\x01binary")
    files = read.read_files(spark, str(folder))
    lines = read.to_lines(files, (".csv", ".csv.gz"))
    rows = clean.clean(lines, RUN_DATE, dt.date(2000, 1, 1)).collect()
    by_file: dict[str, list] = {}
    for row in rows:
        by_file.setdefault(row[S.SOURCE_FILE].rsplit("/", 1)[-1], []).append(row)
    return by_file


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_bad_input_kind_has_a_verdict(records, name):
    expected = CASES[name][1]
    rows = records[name]
    if "file" in expected:
        assert len(rows) == 1, "a rejected file yields exactly one record"
        assert rows[0][S.LEVEL] == S.LEVEL_FILE
        assert rows[0][S.REASON] == expected["file"]
        if "detail" in expected:
            assert rows[0][S.DETAIL] == expected["detail"]
        return
    by_line = {r[S.LINE_NUMBER]: r for r in rows}
    line_expectations = {k: v for k, v in expected.items() if isinstance(k, int)}
    assert set(by_line) == set(line_expectations)
    for line, reason in line_expectations.items():
        assert by_line[line][S.REASON] == reason, f"line {line}"
        assert (by_line[line][S.LEVEL] is None) == (reason is None)
    if "label" in expected:
        assert by_line[2][S.LABEL] == expected["label"]
    if "city" in expected:
        assert by_line[2][S.CUSTOMER_CITY] == expected["city"]
    if "merchant_city_4" in expected:
        assert by_line[4][S.MERCHANT_CITY] == expected["merchant_city_4"]


def test_hidden_files_are_not_read(records):
    assert "_SUCCESS" not in records and ".DS_Store" not in records


def test_values_are_parsed_and_mapped_by_header_name(records):
    (row,) = records["reordered.csv"]
    assert row[S.AMOUNT] == 150.01
    assert row[S.TRANSACTION_DATE] == dt.date(2019, 11, 9)
    assert row[S.LABEL] == "FARMACIAS"
    assert row[S.CUSTOMER_STATE] == "SP"
    assert row[S.CUSTOMER_CITY] == "CAMPO LIMPO PAULISTA"
    assert row[S.ACCOUNT_OPENING_MONTH] == dt.date(2014, 5, 1)
    assert row[S.CREDIT_LIMIT_TOTAL] == 4700.0
    assert row[S.ACCOUNT_ID] == "reordered"


def test_amounts_keep_sign_and_missing(records):
    by_line = {r[S.LINE_NUMBER]: r for r in records["amounts.csv"]}
    assert by_line[2][S.AMOUNT] is None and by_line[2][S.MERCHANT_CITY] is None
    assert by_line[5][S.AMOUNT] == -54.4
    assert by_line[6][S.AMOUNT] == 1784.13


def test_row_ids_are_unique_and_stable(spark, records):
    ids = [r[S.ROW_ID] for rows in records.values() for r in rows if r[S.ROW_ID]]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 32 for i in ids)
