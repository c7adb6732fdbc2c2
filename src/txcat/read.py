"""Read stage: per-account files -> one row per data line, raw fields mapped by header name.

Each file is read whole, as one binary record (Spark's `binaryFile` source, packed many files
per task), so every file-level decision — encoding, compression, header, columns — is made on
that one record with native expressions, and every line keeps its exact position in its file.
Nothing here shuffles.

A file that cannot be read yields exactly one row carrying a file-level reason; a line that
cannot be split into the header's fields carries a row-level reason. Nothing is dropped.
"""

from __future__ import annotations

import gzip
import zlib

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.functions import pandas_udf

from txcat import reasons
from txcat import schema as S

CONTENT = "content"
FILE_SIZE = "file_size"
TEXT = "text"
HEADER_FIELDS = "header_fields"
FIELDS = "fields"
FILE_REASON = "file_reason"
FILE_DETAIL = "file_detail"
ROW_REASON = "row_reason"
ROW_DETAIL = "row_detail"
IS_DUPLICATE = "is_duplicate_line"

_LINE_BREAK = r"\r\n|\r|\n"
# A ";" outside double quotes: only used on the rare lines that contain a quote.
_SEPARATOR_OUTSIDE_QUOTES = ';(?=(?:[^"]*"[^"]*")*[^"]*$)'
_MAX_GUNZIP_BYTES = 256 * 1024 * 1024


def read_files(spark: SparkSession, path: str) -> DataFrame:
    """Lists every file under `path` (recursively) as (source_file, file_size, content).

    Spark's listing skips names starting with `_` or `.` (`_SUCCESS`, `.DS_Store`).
    """
    return (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(path)
        .select(
            F.col("path").alias(S.SOURCE_FILE),
            F.col("length").alias(FILE_SIZE),
            F.col("content").alias(CONTENT),
        )
    )


def to_lines(files: DataFrame, extensions: tuple[str, ...]) -> DataFrame:
    """Turns file records into one row per data line, or one row per rejected file.

    Output columns: source_file, account_id, line_number, row_id, raw_line, one string column
    per raw header token (`S.RAW_COLUMNS`), file_reason/file_detail (set on the single row of a
    rejected file), row_reason/row_detail (set on a line that cannot be split), and
    is_duplicate_line (an exact repeat of an earlier line of the same file).
    """
    return (
        files.transform(with_decoded_text)
        .transform(with_header, extensions)
        .transform(explode_lines)
        .transform(with_raw_fields)
    )


@pandas_udf(T.BinaryType())  # type: ignore[call-overload]
def _gunzip(blobs: pd.Series) -> pd.Series:
    return blobs.map(gunzip_or_none)


def gunzip_or_none(blob: bytes | None) -> bytes | None:
    """Decompresses a gzip member; None when it is not valid gzip or is suspiciously large."""
    if blob is None:
        return None
    try:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        data = decompressor.decompress(bytes(blob), _MAX_GUNZIP_BYTES)
        if decompressor.unconsumed_tail or not decompressor.eof:
            return None
        return data
    except (zlib.error, gzip.BadGzipFile, EOFError):
        return None


def with_decoded_text(files: DataFrame) -> DataFrame:
    """Adds `text`: the file decoded so that no byte can fail.

    Valid UTF-8 (with or without BOM) is read as UTF-8; anything else as the bank's single-byte
    encoding (Latin-1, with byte 0x82 standing for "Ç"). Gzip content is inflated first.
    """
    content = F.col(CONTENT)
    is_gzip = F.hex(F.substring(content, 1, 2)) == F.lit("1F8B")
    inflated = _gunzip(F.when(is_gzip, content))
    raw = F.when(is_gzip, inflated).otherwise(content)
    as_utf8 = F.decode(raw, "UTF-8")
    as_latin1 = F.translate(F.decode(raw, "ISO-8859-1"), chr(S.CEDILLA_BYTE), "Ç")
    text = F.when(~as_utf8.contains("\ufffd"), as_utf8).otherwise(as_latin1)
    return (
        files.withColumn("is_gzip", is_gzip)
        .withColumn(TEXT, F.regexp_replace(text, "^\ufeff", ""))
        .drop(CONTENT)
    )


def with_header(files: DataFrame, extensions: tuple[str, ...]) -> DataFrame:
    """Splits the text into lines, maps the header and decides each file's fate."""
    name = F.regexp_extract(S.SOURCE_FILE, r"([^/]+)$", 1)
    lines = F.col("lines")
    header = F.element_at(lines, 1)
    header_fields = F.transform(F.split(header, ";"), lambda t: F.lower(F.trim(t)))
    data_lines = F.filter(
        F.transform(
            lines,
            lambda line, i: F.struct(
                (i + 1).alias(S.LINE_NUMBER),
                line.alias(S.RAW_LINE),
                (F.call_function("array_position", lines, line) < i + 1).alias(IS_DUPLICATE),
            ),
        ),
        lambda item: (item[S.LINE_NUMBER] > 1) & (F.trim(item[S.RAW_LINE]) != ""),
    )
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
                ~accepted_name,
                reasons.UNSUPPORTED_FILE,
                F.lit("file name does not end with " + " or ".join(extensions)),
            ),
            (F.col(FILE_SIZE) == 0, reasons.EMPTY_FILE, F.lit(None)),
            (F.col("is_gzip") & F.col(TEXT).isNull(), reasons.CORRUPT_GZIP, F.lit(None)),
            (F.col(TEXT).contains("\u0000"), reasons.BINARY_CONTENT, F.lit("NUL bytes")),
            (
                ~F.col("header").contains(";")
                & (F.col("header").contains(",") | F.col("header").contains("\t")),
                reasons.WRONG_SEPARATOR,
                F.lit("header is not ';'-separated"),
            ),
            (
                F.size("missing") == len(S.REQUIRED_RAW_COLUMNS),
                reasons.BAD_HEADER,
                F.lit("no expected column in the first line"),
            ),
            (F.size("missing") > 0, reasons.MISSING_COLUMNS, F.array_join("missing", ",")),
            (F.size("data_lines") == 0, reasons.HEADER_ONLY, F.lit(None)),
        ]
    )
    return (
        files.withColumn("lines", F.split(F.col(TEXT), _LINE_BREAK))
        .withColumn("header", header)
        .withColumn(HEADER_FIELDS, header_fields)
        .withColumn("missing", missing)
        .withColumn("data_lines", data_lines)
        .withColumn(FILE_REASON, reason)
        .withColumn(FILE_DETAIL, detail)
        .withColumn(S.ACCOUNT_ID, F.regexp_replace(name, r"(?i)(\.csv)?(\.gz)?$", ""))
        .drop(TEXT, "lines", "header", "missing", "is_gzip")
    )


def explode_lines(files: DataFrame) -> DataFrame:
    """One row per data line of an accepted file; one row per rejected file."""
    rejected_marker = F.array(
        F.struct(
            F.lit(None).cast("int").alias(S.LINE_NUMBER),
            F.lit(None).cast("string").alias(S.RAW_LINE),
            F.lit(False).alias(IS_DUPLICATE),
        )
    )
    items = F.when(F.col(FILE_REASON).isNull(), F.col("data_lines")).otherwise(rejected_marker)
    return (
        files.select(
            S.SOURCE_FILE,
            S.ACCOUNT_ID,
            FILE_REASON,
            FILE_DETAIL,
            HEADER_FIELDS,
            F.explode(items).alias("item"),
        )
        .select("*", "item.*")
        .drop("item")
        .withColumn(
            S.ROW_ID,
            F.when(
                F.col(S.LINE_NUMBER).isNotNull(),
                F.substring(
                    F.sha2(
                        F.concat_ws("#", S.SOURCE_FILE, F.col(S.LINE_NUMBER).cast("string")), 256
                    ),
                    1,
                    32,
                ),
            ),
        )
    )


def with_raw_fields(lines: DataFrame) -> DataFrame:
    """Splits each line on `;` (quote-aware) and names its fields after the file's header."""
    line = F.col(S.RAW_LINE)
    fields = F.when(
        line.contains('"'),
        F.transform(F.split(line, _SEPARATOR_OUTSIDE_QUOTES), _unquote),
    ).otherwise(F.split(line, ";"))
    expected = F.size(HEADER_FIELDS)
    reason, detail = first_match(
        [
            (
                line.isNotNull() & (F.size(FIELDS) != expected),
                reasons.FIELD_COUNT,
                F.format_string("expected %d fields, got %d", expected, F.size(FIELDS)),
            ),
        ]
    )
    raw_values = [
        F.when(
            F.array_position(HEADER_FIELDS, token) > 0,
            F.element_at(FIELDS, F.array_position(HEADER_FIELDS, token).cast("int")),
        ).alias(token)
        for token in S.RAW_COLUMNS
    ]
    return (
        lines.withColumn(FIELDS, fields)
        .withColumn(ROW_REASON, reason)
        .withColumn(ROW_DETAIL, detail)
        .select(
            S.SOURCE_FILE,
            S.ACCOUNT_ID,
            S.LINE_NUMBER,
            S.ROW_ID,
            S.RAW_LINE,
            IS_DUPLICATE,
            FILE_REASON,
            FILE_DETAIL,
            ROW_REASON,
            ROW_DETAIL,
            *raw_values,
        )
    )


def _unquote(field: Column) -> Column:
    trimmed = F.trim(field)
    quoted = trimmed.startswith('"') & trimmed.endswith('"') & (F.length(trimmed) >= 2)
    inner = F.regexp_replace(trimmed.substr(F.lit(2), F.length(trimmed) - 2), '""', '"')
    return F.when(quoted, inner).otherwise(field)


def first_match(cases: list[tuple[Column, str, Column]]) -> tuple[Column, Column]:
    """Reason and detail of the first matching case, or nulls when none matches."""
    reason: Column = F.lit(None).cast("string")
    detail: Column = F.lit(None).cast("string")
    for condition, code, text in reversed(cases):
        reason = F.when(condition, F.lit(code)).otherwise(reason)
        detail = F.when(condition, text.cast("string")).otherwise(detail)
    return reason, detail
