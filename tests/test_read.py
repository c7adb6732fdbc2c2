"""The reader and cleaner on every kind of bad input, in one folder read once."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from tests.helpers import HEADER, bank_file, bank_row, write_file
from txcat import clean, read, reasons
from txcat import schema as S
from txcat.inputs import objects, parse_manifest

RUN_DATE = dt.date(2020, 3, 1)
GOOD = bank_row()


def _reordered() -> bytes:
    tokens = HEADER.split(";")
    values = GOOD.split(";")
    order = list(reversed(range(len(tokens))))
    return bank_file(
        [";".join(values[i] for i in order)], header=";".join(tokens[i] for i in order)
    )


def _gzip_members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(p, mtime=0) for p in parts)


def _bad_crc(blob: bytes) -> bytes:
    # The CRC-32 sits in the 8-byte trailer, before the length.
    return blob[:-8] + bytes(b ^ 0xFF for b in blob[-8:-4]) + blob[-4:]


ESCAPED_QUOTES = '"' + '""' * 5000 + '"'
# One data line split in two gzip members (`gzip.compress(part1) + gzip.compress(part2)`).
TWO_MEMBERS = bank_file([GOOD, bank_row(amount="1")])
TWO_MEMBERS_REST = ("\r\n".join([bank_row(amount="2"), bank_row(amount="3")]) + "\r\n").encode()


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
    # --- gzip: every member is read; a damaged one rejects the file with what is wrong.
    "two_members.csv.gz": (
        _gzip_members(TWO_MEMBERS, TWO_MEMBERS_REST),
        {2: None, 3: None, 4: None, 5: None},
    ),
    "truncated_member.csv.gz": (
        _gzip_members(TWO_MEMBERS, TWO_MEMBERS_REST)[:-12],
        {"file": reasons.CORRUPT_GZIP, "detail": "truncated in member 2"},
    ),
    "trailing_bytes.csv.gz": (
        _gzip_members(TWO_MEMBERS) + b"garbage",
        {"file": reasons.CORRUPT_GZIP, "detail": "7 trailing bytes after member 1"},
    ),
    "bad_crc.csv.gz": (
        _gzip_members(TWO_MEMBERS) + _bad_crc(_gzip_members(TWO_MEMBERS_REST)),
        {"file": reasons.CORRUPT_GZIP, "detail": "bad CRC in member 2"},
    ),
    # --- quotes: RFC 4180 fields, split without a regex that could exhaust the stack.
    "escaped_quotes.csv": (
        bank_file([bank_row(merchant_city=ESCAPED_QUOTES), bank_row(amount="1")]),
        {2: None, 3: None, "merchant_city_2": '"' * 5000},
    ),
    "quoted_newline.csv": (
        bank_file([bank_row(merchant_city='"SAO\r\nPAULO"'), bank_row(amount="1")]),
        {2: None, 4: None, "merchant_city_2": "SAO PAULO"},
    ),
    "stray_quote.csv": (
        bank_file([bank_row(merchant_city='D"OESTE'), bank_row(amount="1")]),
        {2: None, 3: None, "merchant_city_2": 'D"OESTE'},
    ),
    "unclosed_quote.csv": (
        bank_file([bank_row(merchant_city='"SAN;TOS'), bank_row(amount="1")]),
        {2: reasons.FIELD_COUNT, 3: None},
    ),
    "quoted_duplicates.csv": (
        bank_file([GOOD.replace(";SANTOS;", ';"SAN;TOS";')] * 2 + [GOOD]),
        {2: None, 3: reasons.DUPLICATE_ROW, 4: None},
    ),
    # --- repeats: every repeat after the first identical line, however many.
    "many_duplicates.csv": (
        bank_file(
            [GOOD, bank_row(amount="1"), GOOD, bank_row(amount="2"), bank_row(amount="1"), GOOD]
        ),
        {
            2: None,
            3: None,
            4: reasons.DUPLICATE_ROW,
            5: None,
            6: reasons.DUPLICATE_ROW,
            7: reasons.DUPLICATE_ROW,
        },
    ),
    # --- blank lines: counted as blank_line, spaces and tabs alike.
    "blank_lines.csv": (
        bank_file([GOOD, "", "   ", "\t", " \t ", bank_row(amount="1")]),
        {
            2: None,
            3: reasons.BLANK_LINE,
            4: reasons.BLANK_LINE,
            5: reasons.BLANK_LINE,
            6: reasons.BLANK_LINE,
            7: None,
        },
    ),
    # --- UTF-16: read when it says so (byte-order mark), refused when it does not.
    "utf16le.csv": (
        b"\xff\xfe" + bank_file([bank_row(city="GOIÂNIA")]).decode("latin-1").encode("utf-16-le"),
        {2: None, "city": "GOIANIA"},
    ),
    "utf16be.csv": (
        b"\xfe\xff" + bank_file([bank_row(city="GOIÂNIA")]).decode("latin-1").encode("utf-16-be"),
        {2: None, "city": "GOIANIA"},
    ),
    "utf16_no_bom.csv": (
        bank_file([GOOD]).decode("latin-1").encode("utf-16-le"),
        {"file": reasons.UNSUPPORTED_ENCODING, "detail": "UTF-16 without a byte-order mark"},
    ),
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
    rows = clean.clean(lines, RUN_DATE, dt.date(2000, 1, 1), quarantine_duplicates=True).collect()
    by_file: dict[str, list] = {}
    for row in rows:
        by_file.setdefault(row[S.SOURCE_FILE].rsplit("/", 1)[-1], []).append(row)
    return by_file


def test_repeated_lines_are_scored_and_flagged_by_default(spark, tmp_path):
    write_file(tmp_path, "a.csv", bank_file([GOOD, bank_row(amount="1"), GOOD, GOOD]))
    lines = read.to_lines(read.read_files(spark, str(tmp_path)), (".csv",))
    rows = clean.clean(lines, RUN_DATE, dt.date(2000, 1, 1)).collect()
    assert sorted((r[S.LINE_NUMBER], r[S.LEVEL], r[S.IS_REPEATED_LINE]) for r in rows) == [
        (2, None, False),
        (3, None, False),
        (4, None, True),
        (5, None, True),
    ]


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
    if "merchant_city_2" in expected:
        assert by_line[2][S.MERCHANT_CITY] == expected["merchant_city_2"]


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


def test_a_quoted_record_keeps_its_lines_and_its_first_line_number(records):
    by_line = {r[S.LINE_NUMBER]: r for r in records["quoted_newline.csv"]}
    assert by_line[2][S.RAW_LINE] == bank_row(merchant_city='"SAO\r\nPAULO"')
    assert by_line[4][S.RAW_LINE] == bank_row(amount="1")


def test_blank_lines_are_quarantined_with_their_line(records):
    by_line = {r[S.LINE_NUMBER]: r for r in records["blank_lines.csv"]}
    assert by_line[5][S.RAW_LINE] == "\t"
    assert by_line[5][S.LEVEL] == S.LEVEL_ROW
    assert by_line[5][S.DETAIL] == "nothing but whitespace"


# --- gzip members, without Spark -------------------------------------------------------------


def test_gunzip_reads_every_member():
    blob = _gzip_members(b"a;b\r\n", b"1;2\r\n", b"3;4\r\n")
    assert read.gunzip_members(blob) == (b"a;b\r\n1;2\r\n3;4\r\n", None)


@pytest.mark.parametrize(
    ("blob", "problem"),
    [
        (_gzip_members(b"a" * 100, b"b" * 100)[:-3], "truncated in member 2"),
        (_gzip_members(b"a" * 100)[:10], "truncated in member 1"),
        (_gzip_members(b"a" * 100) + b"\x1f\x8b", "truncated in member 2"),
        (_gzip_members(b"a" * 100) + b"\x00\x00", "2 trailing bytes after member 1"),
        (_bad_crc(_gzip_members(b"a" * 100)), "bad CRC in member 1"),
        (b"\x1f\x8bnot really gzip", "bad header in member 1"),
    ],
)
def test_gunzip_says_what_is_wrong(blob, problem):
    assert read.gunzip_members(blob) == (None, problem)


def test_gunzip_stops_at_the_inflated_size_limit():
    blob = _gzip_members(b"a" * 600, b"b" * 600)
    assert read.gunzip_members(blob, max_bytes=1200)[1] is None
    assert read.gunzip_members(blob, max_bytes=1199) == (
        None,
        "inflates beyond 1,199 bytes (limit input.max_inflated_bytes)",
    )
    assert read.gunzip_members(gzip.compress(b"\0" * 2**21), max_bytes=2**20)[1] == (
        "inflates beyond 1 MiB (limit input.max_inflated_bytes)"
    )


def test_an_oversized_gzip_file_is_quarantined_with_the_limit(spark, tmp_path):
    write_file(tmp_path, "big.csv.gz", gzip.compress(bank_file([GOOD] * 50)))
    write_file(tmp_path, "small.csv.gz", gzip.compress(bank_file([GOOD])))
    files = read.read_files(spark, str(tmp_path))
    rows = read.to_lines(files, (".csv.gz",), max_inflated_bytes=2000).collect()
    by_file = {r[S.SOURCE_FILE].rsplit("/", 1)[-1]: r for r in rows}
    assert by_file["big.csv.gz"][read.FILE_REASON] == reasons.CORRUPT_GZIP
    assert by_file["big.csv.gz"][read.FILE_DETAIL] == (
        "inflates beyond 2,000 bytes (limit input.max_inflated_bytes)"
    )
    assert by_file["small.csv.gz"][read.FILE_REASON] is None


def test_a_manifest_read_by_spark_gives_the_folder_reader_s_file_records(spark, tmp_path):
    bodies = {"a.csv": bank_file([GOOD]), "b[1].csv": bank_file([GOOD, GOOD]), "c.csv.gz": b"x"}
    entries = [
        {"uri": f"file://{write_file(tmp_path / 'day', name, body)}", "size": len(body)}
        for name, body in bodies.items()
    ]
    manifest = parse_manifest("m.json", json.dumps(entries).encode())
    by_manifest = objects.read_with_spark(spark, manifest)
    by_folder = read.read_files(spark, str(tmp_path / "day"))
    assert by_manifest.columns == by_folder.columns == [S.SOURCE_FILE, read.FILE_SIZE, read.CONTENT]
    assert sorted(tuple(r) for r in by_manifest.collect()) == sorted(
        tuple(r) for r in by_folder.collect()
    )
    names = sorted((r[0].rsplit("/", 1)[-1], bytes(r[2])) for r in by_manifest.collect())
    assert names == sorted(bodies.items())


def test_an_object_that_no_longer_matches_its_manifest_entry_is_one_rejected_file(spark):
    body = bank_file([GOOD, GOOD])
    problem = "s3://b/day/a.csv: ETag is not the manifest ETag 9b2c"
    files = spark.createDataFrame(
        [
            ("s3://b/day/a.csv", 0, None, problem),
            ("s3://b/day/b.csv", len(body), body, None),
        ],
        objects.FETCHED_SCHEMA,
    )
    rows = read.to_lines(files, (".csv",)).collect()
    changed = [r for r in rows if r[S.SOURCE_FILE].endswith("a.csv")]
    assert [(r[read.FILE_REASON], r[read.FILE_DETAIL]) for r in changed] == [
        (reasons.OBJECT_CHANGED, problem)
    ]
    kept = [r for r in rows if r[S.SOURCE_FILE].endswith("b.csv")]
    assert len(kept) == 2 and all(r[read.FILE_REASON] is None for r in kept)
    assert read.OBJECT_PROBLEM not in read.to_lines(files, (".csv",)).columns


def test_a_run_s_changed_objects_are_named_the_first_ten_in_order(spark):
    records = spark.createDataFrame(
        [(S.LEVEL_FILE, reasons.OBJECT_CHANGED, f"s3://b/{i:02d}.csv: gone") for i in range(12)]
        + [(S.LEVEL_FILE, reasons.EMPTY_FILE, None), (None, None, None)],
        f"{S.LEVEL} string, {S.REASON} string, {S.DETAIL} string",
    )
    objects.raise_on_changed_objects(records, "m.json", 0)  # nothing found: no error
    with pytest.raises(objects.ManifestError) as failure:
        objects.raise_on_changed_objects(records, "m.json", 12)
    shown = "; ".join(f"s3://b/{i:02d}.csv: gone" for i in range(10))
    assert str(failure.value) == f"manifest m.json does not match storage: {shown} (and 2 more)"


# --- the record splitter, without Spark -------------------------------------------------------


def _native_split(text: str) -> list[tuple[int, str, list[str]]]:
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":
        lines = lines[:-1]
    return [(i + 1, line, line.split(";")) for i, line in enumerate(lines)][1:]


def _split(text: str) -> list[tuple[int, str, list[str] | None]]:
    return [(r[S.LINE_NUMBER], r[S.RAW_LINE], r[read.FIELDS]) for r in read.split_records(text)]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=";ab \r\n\t", max_size=60))
def test_splitter_splits_unquoted_text_as_the_native_path_does(text):
    assert _split(text) == _native_split(text)


def test_splitter_honours_quoted_fields():
    text = 'h;h\r\n"a;b";"c\r\nd"\r\n" x ""y"" " ;z\r\n"open;e\r\nf"g;"h"\r\n'
    assert _split(text) == [
        (2, '"a;b";"c\r\nd"', ["a;b", "c\r\nd"]),
        (4, '" x ""y"" " ;z', [' x "y" ', "z"]),
        (5, '"open;e', ['"open', "e"]),
        (6, 'f"g;"h"', ['f"g', "h"]),
    ]


def test_splitter_handles_a_field_of_escaped_quotes():
    # The former lookahead regex overflowed the JVM's stack on 5,000; speed is benchmarked
    # (make bench-large-file), not asserted here.
    field = '"' + '""' * 200_000 + '"'
    ((line, _raw, fields),) = _split(f"h;h\n{field};x\n")
    assert (line, fields) == (2, ['"' * 200_000, "x"])


def test_a_record_the_splitter_fails_on_is_kept_with_the_error(monkeypatch):
    class Broken:
        def match(self, text, pos):
            raise ValueError("broken")

    monkeypatch.setattr(read, "_QUOTED_FIELD", Broken())
    records = read.split_records('h;h\r\n"a";b\r\nc;d\r\n')
    assert [
        (r[S.LINE_NUMBER], r[S.RAW_LINE], r[read.FIELDS], r[read.SPLIT_ERROR]) for r in records
    ] == [
        (2, '"a";b', None, "cannot split: broken"),
        (3, "c;d", ["c", "d"], None),
    ]


def test_a_line_the_splitter_cannot_split_is_a_row_quarantine(spark):
    header = HEADER.split(";")
    lines = spark.createDataFrame(
        [
            (2, '"a";b', None, "cannot split: broken"),
            (3, GOOD, None, None),
            (4, ";".join(['"x"'] * len(header)), ["x"] * len(header), None),
        ],
        f"{S.LINE_NUMBER} int, {S.RAW_LINE} string, {read.FIELDS} array<string>, "
        f"{read.SPLIT_ERROR} string",
    ).select(
        F.lit("f").alias(S.SOURCE_FILE),
        F.lit("a").alias(S.ACCOUNT_ID),
        S.LINE_NUMBER,
        F.lit("id").alias(S.ROW_ID),
        S.RAW_LINE,
        F.lit(False).alias(S.IS_REPEATED_LINE),
        F.lit(None).cast("string").alias(read.FILE_REASON),
        F.lit(None).cast("string").alias(read.FILE_DETAIL),
        read.FIELDS,
        read.SPLIT_ERROR,
        *read.header_layout(F.array(*[F.lit(h.strip()) for h in header])),
    )
    rows = {r[S.LINE_NUMBER]: r for r in read.with_raw_fields(lines).collect()}
    assert (rows[2][read.ROW_REASON], rows[2][read.ROW_DETAIL]) == (
        reasons.FIELD_COUNT,
        "cannot split: broken",
    )
    assert rows[3][read.ROW_REASON] is None and rows[3]["valor"] == "150,01"
    assert rows[4][read.ROW_REASON] is None and rows[4]["valor"] == "x"


# --- repeats ------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ab;\r\n", max_size=12), min_size=1, max_size=20))
def test_lines_are_cut_at_every_crlf_cr_and_lf_as_the_regular_expression_cuts_them(spark, texts):
    frame = spark.createDataFrame([(t,) for t in texts], "text string")
    got = [r[0] for r in frame.select(read.split_lines(F.col("text"))).collect()]
    assert got == [re.split(read.LINE_BREAK, t) for t in texts]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=" \t\x0b\x0c\r\n;a", max_size=6), min_size=1, max_size=20))
def test_a_blank_line_is_whitespace_alone_as_the_pattern_says(spark, texts):
    frame = spark.createDataFrame([(t,) for t in [*texts, None]], "line string")
    got = [r[0] for r in frame.select(read.is_blank_line(F.col("line"))).collect()]
    pattern = re.compile(read.BLANK_LINE_PATTERN.replace("\\s", "[ \\t\\n\\x0b\\f\\r]"))
    assert got == [pattern.search(t) is not None for t in texts] + [None]


def test_repeated_lines_match_a_first_occurrence_scan(spark):
    rng = random.Random(7)
    files = [
        [rng.choice("abcde") * rng.randint(1, 2) for _ in range(rng.randint(0, 40))]
        for _ in range(60)
    ]
    expected = []
    for lines in files:
        seen: set[str] = set()
        flags = []
        for line in lines:
            flags.append(line in seen)
            seen.add(line)
        expected.append(flags)
    frame = spark.createDataFrame(
        [
            (i, [(n + 2, line, None, None) for n, line in enumerate(lines)])
            for i, lines in enumerate(files)
        ],
        "file int, records array<struct<line_number: int, raw_line: string, "
        "fields: array<string>, split_error: string>>",
    )
    rows = frame.select(
        "file", read.repeated_line_numbers(F.col("records")).alias("repeated")
    ).collect()
    got = {r["file"]: r["repeated"] for r in rows}
    assert [got[i] for i in range(len(files))] == [
        [n + 2 for n, repeated in enumerate(flags) if repeated] for flags in expected
    ]


#: Reads a folder with a quoted record in two sessions, one after the other, in one process.
TWO_SESSIONS = """
import sys
from pyspark.sql import SparkSession
from txcat import read

for _ in range(2):
    builder = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
    spark = builder.getOrCreate()
    lines = read.to_lines(read.read_files(spark, sys.argv[1]), (".csv",))
    print(sorted(r["line_number"] for r in lines.collect()))
    spark.stop()
"""


@pytest.mark.slow
def test_the_reader_works_in_a_second_session_of_the_same_process(tmp_path):
    """A module-level UDF keeps the first session's accumulator server: the second session's
    tasks then fail to report to it ("Failed to update accumulator")."""
    import os
    import subprocess
    import sys

    write_file(tmp_path, "a.csv", bank_file([bank_row(merchant_city='"SAO\r\nPAULO"'), GOOD]))
    done = subprocess.run(
        [sys.executable, "-c", TWO_SESSIONS, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=os.environ | {"PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:2] == ["[2, 4]", "[2, 4]"]
    assert "Failed to update accumulator" not in done.stderr
