"""Read stage: per-account files -> one row per data line, raw fields mapped by header name.

Each file is read whole, as one binary record (Spark's `binaryFile` source, packed many files
per task), so every file-level decision — encoding, compression, header, columns — is made on
that one record with native expressions, and every line keeps its exact position in its file.
Nothing here shuffles.

A file that cannot be read yields exactly one row carrying a file-level reason; a line that
cannot be split into the header's fields carries a row-level reason. Nothing is dropped.

Two steps run in Python, each only on the files that need it (the others pass a null):
inflating gzip content, and splitting the records of a file that holds a double quote (a
quoted field may hold `;` and line breaks, RFC 4180). Neither is a regular expression with
nested repetition, so no line, however long or odd, can exhaust the JVM's stack.

This is the reader of `input.parser: spark`; `txcat.read_arrow` (the default) gives the same
records from the Python workers.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.functions import pandas_udf

from txcat import reasons, storage
from txcat import schema as S

CONTENT = "content"
FILE_SIZE = "file_size"
TEXT = "text"
#: Why a manifest's object could not be read as listed (the boto3 reader's files only; null
#: when it was): the file is then rejected with reason `object_changed`.
OBJECT_PROBLEM = "object_problem"
HEADER_FIELDS = "header_fields"
#: Per file, the 1-based position of each of `S.RAW_COLUMNS` in its header (0: absent), and
#: how many fields the header has: looked up once per file, not on every line.
FIELD_POSITIONS = "field_positions"
EXPECTED_FIELDS = "expected_fields"
FIELDS = "fields"
FILE_REASON = "file_reason"
FILE_DETAIL = "file_detail"
ROW_REASON = "row_reason"
ROW_DETAIL = "row_detail"

SPLIT_ERROR = "split_error"

#: Default of `input.max_inflated_bytes`: a gzip file inflating beyond it is quarantined.
MAX_INFLATED_BYTES = 256 * 1024 * 1024

#: A line break: CRLF, CR or LF.
LINE_BREAK = r"\r\n|\r|\n"
#: Holds the line numbers of a file's repeated lines until its lines are exploded.
REPEATED_LINES = "repeated_lines"
# A line holding nothing but whitespace (or nothing at all).
BLANK_LINE_PATTERN = r"^\s*$"
# Printable ASCII interleaved with NUL bytes: UTF-16 text (little / big endian) without a BOM.
UTF16_LE_START = "^([2-7][0-9A-F]00){2}"
UTF16_BE_START = "^(00[2-7][0-9A-F]){2}"

# Details of the reasons decided here (shared with the real-time reader, `txcat.serve.rows`).
UTF16_WITHOUT_BOM = "UTF-16 without a byte-order mark"
NUL_BYTES = "NUL bytes"
NOT_SEMICOLON = "header is not ';'-separated"
NO_EXPECTED_COLUMN = "no expected column in the first line"
BLANK_LINE_DETAIL = "nothing but whitespace"
FIELD_COUNT_DETAIL = "expected %d fields, got %d"


def unsupported_name_detail(extensions: Sequence[str]) -> str:
    """The detail of an `unsupported_file`: which endings are accepted."""
    return "file name does not end with " + " or ".join(extensions)


def read_files(spark: SparkSession, paths: str | Sequence[str]) -> DataFrame:
    """Lists every file under `paths` (recursively) as (source_file, file_size, content).

    `paths` is one folder or URI (the fast way to plan many files), or an explicit list of
    local files (`txcat.inputs.listing`). Each is read literally: a folder named `day[1]` is
    that folder, not a glob. Spark's listing skips names starting with `_` or `.` (`_SUCCESS`,
    `.DS_Store`) and `*._COPYING_` files.
    """
    if isinstance(paths, str):
        return binary_files(spark, paths)
    # Above 32 paths Spark lists them in a job of one task per path, which costs far more than
    # the listing of local files itself: 20,000 files took 74-83 s that way, 10 s on the driver.
    key = "spark.sql.sources.parallelPartitionDiscovery.threshold"
    previous = str(spark.conf.get(key))
    spark.conf.set(key, str(max(len(paths), 32)))
    try:
        return binary_files(spark, paths)
    finally:
        spark.conf.set(key, previous)


def binary_files(spark: SparkSession, paths: str | Sequence[str]) -> DataFrame:
    """Spark's binaryFile source as file records (source_file, file_size, content).

    The one projection of that source: the folder reader (`read_files`) and the manifest's
    Spark reader (`inputs.objects.read_with_spark`) both use it. Each path is read literally
    (`[` is not a glob); folders are read recursively, without partition inference.
    """
    literal = (
        storage.literal_path(paths)
        if isinstance(paths, str)
        else [storage.literal_path(p) for p in paths]
    )
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(literal)
        .select(
            F.col("path").alias(S.SOURCE_FILE),
            F.col("length").alias(FILE_SIZE),
            F.col("content").alias(CONTENT),
        )
    )


def listed_paths(files: DataFrame) -> list[str]:
    """The files Spark plans to read for `files`, as URL-encoded URIs (`inputFiles()`).

    Fetched from the JVM as one string (a URI never holds a raw line break): PySpark's
    `DataFrame.inputFiles()` crosses the Py4J bridge once per file (20,000 files: 1.6 s here,
    against 0.25 s joined).
    """
    jvm = files.sparkSession.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the SparkSession has no JVM gateway (stopped?)")
    joined = jvm.org.apache.hadoop.util.StringUtils.join("\n", files._jdf.inputFiles())
    return str(joined).split("\n") if joined else []


def to_lines(
    files: DataFrame,
    extensions: tuple[str, ...],
    max_inflated_bytes: int = MAX_INFLATED_BYTES,
) -> DataFrame:
    """Turns file records into one row per data record, or one row per rejected file.

    A record is one line, or several when a quoted field holds a line break; its line_number
    is that of its first line. Output columns: source_file, account_id, line_number, row_id,
    raw_line, one string column per raw header token (`S.RAW_COLUMNS`), file_reason/file_detail
    (set on the single row of a rejected file), row_reason/row_detail (set on a blank line or
    a line that cannot be split into the header's fields), and is_repeated_line (an exact
    repeat of an earlier line of the same file).

    `files` holds source_file, file_size and content, and may hold `OBJECT_PROBLEM`.
    """
    if OBJECT_PROBLEM not in files.columns:
        files = files.withColumn(OBJECT_PROBLEM, F.lit(None).cast(T.StringType()))
    return (
        files.transform(with_decoded_text, max_inflated_bytes)
        .transform(with_header, extensions)
        .transform(explode_lines)
        .transform(with_raw_fields)
    )


_INFLATED = T.StructType(
    [T.StructField("data", T.BinaryType()), T.StructField("error", T.StringType())]
)


def _gunzip_udf(max_bytes: int) -> Any:
    @pandas_udf(_INFLATED)  # type: ignore[call-overload]
    def gunzip(blobs: pd.Series) -> pd.DataFrame:
        inflated = [gunzip_members(b, max_bytes) if b is not None else (None, None) for b in blobs]
        return pd.DataFrame(inflated, columns=["data", "error"], index=blobs.index)

    return gunzip


def gunzip_members(
    blob: bytes, max_bytes: int = MAX_INFLATED_BYTES
) -> tuple[bytes | None, str | None]:
    """Inflates every member of a gzip file: (content, None), or (None, what is wrong).

    A file may hold several members one after the other (`cat a.gz b.gz`, what `gzip.compress`
    of parts gives): their contents are concatenated, as `zcat` does. Anything else — a
    truncated or damaged member, bytes after the last member that are not a member, content
    beyond `max_bytes` — rejects the whole file: a partial read would lose lines silently.
    """
    data = memoryview(bytes(blob))
    parts: list[bytes] = []
    total, offset, member = 0, 0, 0
    while True:
        member += 1
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(data[offset:], max_bytes - total + 1)
        except zlib.error as exc:
            return None, f"{_zlib_problem(exc)} in member {member}"
        total += len(part)
        if total > max_bytes:
            return None, f"inflates beyond {_size(max_bytes)} (limit input.max_inflated_bytes)"
        if not inflater.eof:
            return None, f"truncated in member {member}"
        parts.append(part)
        rest = inflater.unused_data
        if not rest:
            return b"".join(parts), None
        if rest[:2] != b"\x1f\x8b":
            return None, f"{len(rest)} trailing bytes after member {member}"
        offset = len(data) - len(rest)


def _zlib_problem(exc: zlib.error) -> str:
    message = str(exc)
    if "incorrect data check" in message:
        return "bad CRC"
    if "incorrect length check" in message:
        return "bad length"
    if "incorrect header check" in message or "unknown compression method" in message:
        return "bad header"
    return "damaged data (" + message.split(": ", 1)[-1] + ")"


def _size(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n:,} bytes"


def with_decoded_text(files: DataFrame, max_inflated_bytes: int = MAX_INFLATED_BYTES) -> DataFrame:
    """Adds `text`: the file decoded so that no byte can fail, and `encoding_problem`.

    UTF-16 with a byte-order mark (little or big endian) is read as UTF-16; valid UTF-8 (with
    or without BOM) as UTF-8; anything else as the bank's single-byte encoding (Latin-1, with
    byte 0x82 standing for "Ç"). Gzip content is inflated first; `gzip_problem` says why it
    could not be. UTF-16 without a byte-order mark is recognised (printable ASCII interleaved
    with NUL bytes) and not guessed at: `encoding_problem` says so.
    """
    content = F.col(CONTENT)
    is_gzip = F.hex(F.substring(content, 1, 2)) == F.lit("1F8B")
    inflated = F.col("inflated")
    raw = F.when(is_gzip, inflated["data"]).otherwise(content)
    start = F.hex(F.substring(raw, 1, 4))
    utf16_bom = start.startswith("FFFE") | start.startswith("FEFF")
    as_utf16 = F.decode(raw, "UTF-16")
    as_utf8 = F.decode(raw, "UTF-8")
    as_latin1 = F.translate(F.decode(raw, "ISO-8859-1"), chr(S.CEDILLA_BYTE), "Ç")
    text = (
        F.when(utf16_bom, as_utf16).when(~as_utf8.contains("\ufffd"), as_utf8).otherwise(as_latin1)
    )
    encoding_problem = F.when(
        ~utf16_bom & (start.rlike(UTF16_LE_START) | start.rlike(UTF16_BE_START)),
        F.lit(UTF16_WITHOUT_BOM),
    )
    return (
        files.withColumn("inflated", _gunzip_udf(max_inflated_bytes)(F.when(is_gzip, content)))
        .withColumn("is_gzip", is_gzip)
        .withColumn("gzip_problem", inflated["error"])
        .withColumn("encoding_problem", encoding_problem)
        .withColumn(TEXT, F.regexp_replace(text, "^\ufeff", ""))
        .drop(CONTENT, "inflated")
    )


def with_header(files: DataFrame, extensions: tuple[str, ...]) -> DataFrame:
    """Splits the text into records, maps the header and decides each file's fate."""
    name = F.regexp_extract(S.SOURCE_FILE, r"([^/]+)$", 1)
    lines = F.col("lines")
    header = F.element_at(lines, 1)
    header_fields = F.transform(F.split(header, ";"), lambda t: F.lower(F.trim(t)))
    missing = F.filter(
        F.array(*[F.lit(c) for c in S.REQUIRED_RAW_COLUMNS]),
        lambda c: ~F.array_contains(F.col(HEADER_FIELDS), c),
    )
    accepted_name = F.lit(False)
    for ext in extensions:
        accepted_name = accepted_name | F.lower(name).endswith(ext.lower())

    reason, detail = first_match(
        [
            (
                F.col(OBJECT_PROBLEM).isNotNull(),
                reasons.OBJECT_CHANGED,
                F.col(OBJECT_PROBLEM),
            ),
            (
                ~accepted_name,
                reasons.UNSUPPORTED_FILE,
                F.lit(unsupported_name_detail(extensions)),
            ),
            (F.col(FILE_SIZE) == 0, reasons.EMPTY_FILE, F.lit(None)),
            (F.col("is_gzip") & F.col(TEXT).isNull(), reasons.CORRUPT_GZIP, F.col("gzip_problem")),
            (
                F.col("encoding_problem").isNotNull(),
                reasons.UNSUPPORTED_ENCODING,
                F.col("encoding_problem"),
            ),
            (F.col(TEXT).contains("\u0000"), reasons.BINARY_CONTENT, F.lit(NUL_BYTES)),
            (
                ~F.col("header").contains(";")
                & (F.col("header").contains(",") | F.col("header").contains("\t")),
                reasons.WRONG_SEPARATOR,
                F.lit(NOT_SEMICOLON),
            ),
            (
                F.size("missing") == len(S.REQUIRED_RAW_COLUMNS),
                reasons.BAD_HEADER,
                F.lit(NO_EXPECTED_COLUMN),
            ),
            (F.size("missing") > 0, reasons.MISSING_COLUMNS, F.array_join("missing", ",")),
            (F.size("data_lines") == 0, reasons.HEADER_ONLY, F.lit(None)),
        ]
    )
    return (
        files.withColumn("lines", split_lines(F.col(TEXT)))
        .withColumn("quoted", _quoted_records_udf()(F.when(F.col(TEXT).contains('"'), F.col(TEXT))))
        .withColumn("data_lines", F.coalesce(F.col("quoted"), _line_records(lines)))
        .withColumn(REPEATED_LINES, repeated_line_numbers(F.col("data_lines")))
        .withColumn("header", header)
        .withColumn(HEADER_FIELDS, header_fields)
        .withColumn("missing", missing)
        .withColumn(FILE_REASON, reason)
        .withColumn(FILE_DETAIL, detail)
        .withColumn(S.ACCOUNT_ID, F.regexp_replace(name, r"(?i)(\.csv)?(\.gz)?$", ""))
        .drop(
            TEXT,
            "lines",
            "quoted",
            "header",
            "missing",
            "is_gzip",
            "gzip_problem",
            "encoding_problem",
            OBJECT_PROBLEM,
        )
    )


def split_lines(text: Column) -> Column:
    """The text cut at every line break (`LINE_BREAK`), as the regular expression would.

    Each CRLF, then each CR left, becomes an LF, and the text is cut at the LFs: literal
    replacements and a one-character split, which the JVM does without a regular
    expression, in less than half the time.
    """
    one_break = F.replace(F.replace(text, F.lit("\r\n"), F.lit("\n")), F.lit("\r"), F.lit("\n"))
    return F.split(one_break, "\n")


def _line_records(lines: Column) -> Column:
    """The data records of a file without quotes: one per physical line after the header.

    The empty string after the file's last line break is the end of the file, not a line.
    """
    ends_with_break = (F.element_at(lines, -1) == "").cast("int")
    data_count = F.greatest(F.size(lines) - 1 - ends_with_break, F.lit(0))
    records = F.transform(
        lines,
        lambda line, i: F.struct(
            (i + 1).alias(S.LINE_NUMBER),
            line.alias(S.RAW_LINE),
            F.lit(None).cast("array<string>").alias(FIELDS),
            F.lit(None).cast("string").alias(SPLIT_ERROR),
        ),
    )
    return F.slice(records, 2, data_count)


_RECORD = T.StructType(
    [
        T.StructField(S.LINE_NUMBER, T.IntegerType()),
        T.StructField(S.RAW_LINE, T.StringType()),
        T.StructField(FIELDS, T.ArrayType(T.StringType())),
        T.StructField(SPLIT_ERROR, T.StringType()),
    ]
)


def _quoted_records_udf() -> Any:
    # Built per query, as every UDF of the package: a UDF object keeps the JVM function (and
    # the accumulator server of the SparkContext) it was first used with, so a module-level one
    # fails in the next session of the same process ("Failed to update accumulator").
    @pandas_udf(T.ArrayType(_RECORD))  # type: ignore[call-overload]
    def quoted_records(texts: pd.Series) -> pd.Series:
        return texts.map(lambda text: None if text is None else split_records(text))

    return quoted_records


_BREAK = re.compile(r"\r\n|\r|\n")
# A quoted field: optional padding, `"`, any text with `""` for a quote (line breaks and `;`
# included), `"`, optional padding, then the end of the field. Linear: each character has one
# role, so there is nothing to backtrack over.
_QUOTED_FIELD = re.compile(r' *"([^"]*(?:""[^"]*)*)" *(?=;|\r|\n|\Z)')
_PLAIN_FIELD = re.compile(r"[^;\r\n]*")


def split_records(text: str) -> list[dict[str, Any]]:
    """The data records of a file that holds a double quote, split into fields (RFC 4180).

    A field starting with `"` (after padding spaces) is quoted: it ends at the next `"` that is
    not doubled, may hold `;` and line breaks, and `""` in it stands for `"`. A quote anywhere
    else is an ordinary character, and a quoted field that is never closed is read as plain
    text. A record's line_number is that of its first line; lines without a quote are split
    exactly as the native path splits them. A record the splitter fails on keeps its line with
    `split_error` set instead of stopping the file.
    """
    records: list[dict[str, Any]] = []
    end_of_text = len(text)
    pos, line = 0, 1
    while True:
        line_break = _BREAK.search(text, pos)
        line_end = line_break.start() if line_break else end_of_text
        fields: list[str] | None
        error = None
        if text.find('"', pos, line_end) < 0:
            fields, record_end = text[pos:line_end].split(";"), line_end
        else:
            try:
                fields, record_end = _quoted_fields(text, pos)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the line, as a reason
                fields, record_end, error = None, line_end, f"cannot split: {exc}"[:200]
        raw = text[pos:record_end]
        if line > 1:
            records.append(
                {S.LINE_NUMBER: line, S.RAW_LINE: raw, FIELDS: fields, SPLIT_ERROR: error}
            )
        after = _BREAK.match(text, record_end)
        if after is None or after.end() == end_of_text:
            return records
        line += len(_BREAK.findall(raw)) + 1
        pos = after.end()


def _quoted_fields(text: str, pos: int) -> tuple[list[str], int]:
    """The fields of the record starting at `pos`, and where the record ends."""
    fields = []
    while True:
        quoted = _QUOTED_FIELD.match(text, pos)
        if quoted:
            fields.append(quoted.group(1).replace('""', '"'))
            pos = quoted.end()
        else:
            plain = _PLAIN_FIELD.match(text, pos)
            assert plain is not None  # it matches the empty string
            fields.append(plain.group())
            pos = plain.end()
        if pos < len(text) and text[pos] == ";":
            pos += 1
        else:
            return fields, pos


def repeated_line_numbers(records: Column) -> Column:
    """The line numbers of the records that repeat an earlier record's raw line of the file.

    Files without a repeat (nearly all) are recognised by a hash set (`array_distinct`) and
    give an empty array. The others are sorted by (line, line number), so each repeat follows
    its first occurrence and is found by comparing it with its neighbour: O(n log n), where
    looking each line up in the lines before it was O(n^2). Each exploded line then looks its
    number up in this (nearly always empty) array: no flag is built into every record.
    """
    raw = F.transform(records, lambda r: r[S.RAW_LINE])
    no_repeat = F.size(F.array_distinct(raw)) == F.size(records)
    by_line = F.sort_array(
        F.transform(
            records, lambda r: F.struct(r[S.RAW_LINE].alias("k"), r[S.LINE_NUMBER].alias("n"))
        )
    )
    previous = F.concat(
        F.array(F.lit(None).cast("struct<k:string,n:int>")),
        F.slice(by_line, 1, F.greatest(F.size(by_line) - 1, F.lit(0))),
    )
    repeats = F.zip_with(
        by_line,
        previous,
        lambda x, p: F.when(F.coalesce(p["k"] == x["k"], F.lit(False)), x["n"]),
    )
    return F.when(no_repeat, F.array().cast("array<int>")).otherwise(
        F.sort_array(F.filter(repeats, lambda n: n.isNotNull()))
    )


def explode_lines(files: DataFrame) -> DataFrame:
    """One row per data line of an accepted file; one row per rejected file."""
    rejected_marker = F.array(
        F.struct(
            F.lit(None).cast("int").alias(S.LINE_NUMBER),
            F.lit(None).cast("string").alias(S.RAW_LINE),
            F.lit(None).cast("array<string>").alias(FIELDS),
            F.lit(None).cast("string").alias(SPLIT_ERROR),
        )
    )
    items = F.when(F.col(FILE_REASON).isNull(), F.col("data_lines")).otherwise(rejected_marker)
    repeated = F.array_contains(F.col(REPEATED_LINES), F.col(S.LINE_NUMBER))
    return (
        files.select(
            S.SOURCE_FILE,
            S.ACCOUNT_ID,
            FILE_REASON,
            FILE_DETAIL,
            REPEATED_LINES,
            *header_layout(F.col(HEADER_FIELDS)),
            F.explode(items).alias("item"),
        )
        .select("*", "item.*")
        .withColumn(S.IS_REPEATED_LINE, F.coalesce(repeated, F.lit(False)))
        .drop("item", REPEATED_LINES)
        .withColumn(S.ROW_ID, row_id(F.col(S.SOURCE_FILE), F.col(S.LINE_NUMBER)))
    )


def row_id(source_file: Column, line_number: Column) -> Column:
    """A record's id: sha256 of `source_file#line_number`, 32 hex characters; null for a file
    record (no line number)."""
    return F.when(
        line_number.isNotNull(),
        F.substring(F.sha2(F.concat_ws("#", source_file, line_number.cast("string")), 256), 1, 32),
    )


def header_layout(header_fields: Column) -> tuple[Column, Column]:
    """`FIELD_POSITIONS` and `EXPECTED_FIELDS` of a file's lower-cased header tokens.

    Computed per file before its lines are exploded, not looked up again on every line: the
    files read up to named fields in 0.80 of the time (docs/performance.md, round fourteen).
    """
    positions = F.array(
        *[F.array_position(header_fields, token).cast("int") for token in S.RAW_COLUMNS]
    )
    return positions.alias(FIELD_POSITIONS), F.size(header_fields).alias(EXPECTED_FIELDS)


def is_blank_line(line: Column) -> Column:
    """The line holds nothing but whitespace (`BLANK_LINE_PATTERN`).

    A line with a `;` is not blank: only the others (nearly none) run the expression.
    """
    return F.when(line.contains(";"), F.lit(False)).otherwise(line.rlike(BLANK_LINE_PATTERN))


def with_raw_fields(lines: DataFrame) -> DataFrame:
    """Splits each line on `;` (unless the record splitter did) and names its fields.

    Each line carries its file's `header_layout`.

    A blank line (nothing but whitespace) is kept with its own row reason, so that it is
    counted like every other line.
    """
    line = F.col(S.RAW_LINE)
    expected = F.col(EXPECTED_FIELDS)
    reason, detail = first_match(
        [
            (is_blank_line(line), reasons.BLANK_LINE, F.lit(BLANK_LINE_DETAIL)),
            (F.col(SPLIT_ERROR).isNotNull(), reasons.FIELD_COUNT, F.col(SPLIT_ERROR)),
            (
                line.isNotNull() & (F.size(FIELDS) != expected),
                reasons.FIELD_COUNT,
                F.format_string(FIELD_COUNT_DETAIL, expected, F.size(FIELDS)),
            ),
        ]
    )
    positions = F.col(FIELD_POSITIONS)
    raw_values = [
        F.when(positions[i] > 0, F.element_at(FIELDS, positions[i])).alias(token)
        for i, token in enumerate(S.RAW_COLUMNS)
    ]
    return (
        lines.withColumn(FIELDS, F.coalesce(F.col(FIELDS), F.split(line, ";")))
        .withColumn(ROW_REASON, reason)
        .withColumn(ROW_DETAIL, detail)
        .select(
            S.SOURCE_FILE,
            S.ACCOUNT_ID,
            S.LINE_NUMBER,
            S.ROW_ID,
            S.RAW_LINE,
            S.IS_REPEATED_LINE,
            FILE_REASON,
            FILE_DETAIL,
            ROW_REASON,
            ROW_DETAIL,
            *raw_values,
        )
    )


def first_match(cases: list[tuple[Column, str | Column, Column]]) -> tuple[Column, Column]:
    """Reason and detail of the first matching case, or nulls when none matches.

    A case's reason is a code, or a column holding one.
    """
    reason: Column = F.lit(None).cast("string")
    detail: Column = F.lit(None).cast("string")
    for condition, code, text in reversed(cases):
        reason = F.when(condition, F.lit(code)).otherwise(reason)
        detail = F.when(condition, text.cast("string")).otherwise(detail)
    return reason, detail
