"""Read and clean in the Python workers, with Arrow: file records -> cleaned records.

The same records as `read.to_lines` + `clean.clean` (the JVM's expressions), column by column,
for a fraction of the work per row: each task's files arrive as Arrow batches (`mapInArrow`),
and a batch's plain files are cut into lines and fields by a few Arrow kernels over all their
lines at once, their values parsed once per distinct value.

Every decision is `txcat.serve.rows`' (the real-time reader, held to the JVM's by
`tests/serve/test_parity.py`), taken two ways:

- a *plain* file — accepted name, not gzip or gzip that inflates whole, no encoding problem,
  no NUL byte, no double quote, a header holding every required column, at least one data
  line, every line holding the header's number of fields, and no row the cleaning would
  quarantine — is read here in bulk: its values are those twin parsers' values, computed once
  per distinct raw value (plain amounts by Arrow's cast, which gives the same doubles);
- any other file — the rare ones a reason applies to, and those the bulk path cannot take
  whole — is read by `serve.rows.read_file` itself, one file at a time.

So the bulk path decides nothing of its own: it only recognises the files where every check
passes, and hands all others to the one-file reader; should the bulk path itself fail on some
input, its files go to the one-file reader too (logged), never failing the run. A manifest
object that changed (`read.OBJECT_PROBLEM`) is one file-level record, as in `read.with_header`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from txcat import clean, read, reasons
from txcat import schema as S
from txcat.serve import rows

#: The cleaned records, as this reader writes them: the transaction columns, then the record's
#: raw line, repeat flag and verdict (`schema.QUARANTINE_SCHEMA`'s level, reason, detail).
RECORDS_SCHEMA = T.StructType(
    [
        T.StructField(f.name, f.dataType, True)
        for f in [
            *S.TRANSACTION_SCHEMA.fields,
            T.StructField(S.RAW_LINE, T.StringType()),
            T.StructField(S.IS_REPEATED_LINE, T.BooleanType()),
            T.StructField(S.LEVEL, T.StringType()),
            T.StructField(S.REASON, T.StringType()),
            T.StructField(S.DETAIL, T.StringType()),
        ]
    ]
)
#: What the Python workers return: every column but the row id, which the JVM computes from
#: the file and line number (`read.row_id`), as the other reader does.
_PARSED_SCHEMA = T.StructType([f for f in RECORDS_SCHEMA.fields if f.name != S.ROW_ID])
_ARROW_SCHEMA = to_arrow_schema(_PARSED_SCHEMA)
log = logging.getLogger(__name__)
_EPOCH = dt.date(1970, 1, 1).toordinal()
_AMOUNTS = (S.AMOUNT, S.CREDIT_LIMIT_TOTAL, S.CREDIT_LIMIT_AVAILABLE)
_LINE_BREAK = re.compile(read.LINE_BREAK)
#: An amount Arrow's cast converts as the twin parser does: no thousands dot, at most 15
#: digits (`rows.parsed_amount` takes the rest).
PLAIN_AMOUNT = r"^-?[0-9]{1,12}(,[0-9]{1,3})?$"
#: Files parsed together: bounds the Python lists of one step, not the result.
FILES_PER_STEP = 2000


def cleaned(files: DataFrame, rules: rows.CleaningRules) -> DataFrame:
    """File records (source_file, file_size, content[, object_problem]) -> cleaned records.

    One record per data line of an accepted file and one per rejected file, shaped like
    `RECORDS_SCHEMA`, as `read.to_lines` + `clean.clean` give them.
    """
    if read.OBJECT_PROBLEM not in files.columns:
        files = files.withColumn(read.OBJECT_PROBLEM, F.lit(None).cast(T.StringType()))
    parsed = files.select(S.SOURCE_FILE, read.CONTENT, read.OBJECT_PROBLEM).mapInArrow(
        partial(_cleaned_batches, rules), _PARSED_SCHEMA
    )
    row_id = read.row_id(F.col(S.SOURCE_FILE), F.col(S.LINE_NUMBER)).alias(S.ROW_ID)
    return parsed.select(*[row_id if n == S.ROW_ID else n for n in RECORDS_SCHEMA.names])


def _cleaned_batches(
    rules: rows.CleaningRules, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        for start in range(0, batch.num_rows, FILES_PER_STEP):
            part = batch.slice(start, FILES_PER_STEP)
            yield from clean_files(
                part.column(S.SOURCE_FILE).to_pylist(),
                part.column(read.CONTENT).to_pylist(),
                part.column(read.OBJECT_PROBLEM).to_pylist(),
                rules,
            ).to_batches()


# --- one step: many files -> one table ---------------------------------------------------------


@dataclass
class _Plain:
    """The lines of the plain files sharing one header, in file order."""

    header: tuple[str, ...]
    files: list[int]
    lines: list[str]
    #: Per line: the index (in `files`) of its file, its line number, its repeat flag.
    owner: list[int]
    numbers: list[int]
    repeated: list[bool]


def clean_files(
    names: Sequence[str],
    contents: Sequence[bytes | None],
    problems: Sequence[str | None],
    rules: rows.CleaningRules,
) -> pa.Table:
    """The cleaned records of files, in file order, each file's records in line order."""
    groups: dict[tuple[str, ...], _Plain] = {}
    slow: list[int] = []
    for i, (name, content, problem) in enumerate(zip(names, contents, problems, strict=True)):
        if problem is not None:
            continue
        try:
            split = _plain_lines(name, content or b"", rules)
        except Exception:  # the one-file reader decides any file this cannot take
            log.warning("bulk reading refused %s", name, exc_info=True)
            split = None
        if split is None:
            slow.append(i)
            continue
        header, lines = split
        group = groups.get(header)
        if group is None:
            group = groups[header] = _Plain(header, [], [], [], [], [])
        position = len(group.files)
        group.files.append(i)
        group.lines.extend(lines)
        group.owner.extend([position] * len(lines))
        group.numbers.extend(range(2, len(lines) + 2))
        group.repeated.extend(_repeats(lines))
    parts: dict[int, pa.Table] = {}
    for group in groups.values():
        try:
            bulk, refused = _bulk(group, names, rules)
        except Exception:  # never a lost run: the one-file reader takes them
            log.warning("bulk reading failed on %d files", len(group.files), exc_info=True)
            bulk, refused = {}, group.files
        slow.extend(refused)
        parts.update(bulk)
    for i, (name, problem) in enumerate(zip(names, problems, strict=True)):
        if problem is not None:
            parts[i] = _file_record(name, reasons.OBJECT_CHANGED, problem)
    for i in slow:
        parts[i] = _from_python(rows.read_file(names[i], contents[i] or b"", rules))
    ordered = [parts[i] for i in range(len(names)) if i in parts]
    if not ordered:
        return _ARROW_SCHEMA.empty_table()
    return pa.concat_tables(ordered)


def _plain_lines(
    name: str, content: bytes, rules: rows.CleaningRules
) -> tuple[tuple[str, ...], list[str]] | None:
    """A file's header fields and data lines when every file-level check passes and no quote
    asks for the record splitter; else None (`rows.read_file` decides)."""
    lowered = name.rsplit("/", 1)[-1].lower()
    if not content or not any(lowered.endswith(e.lower()) for e in rules.extensions):
        return None
    if content[:2] == b"\x1f\x8b":
        inflated, _ = read.gunzip_members(content, rules.max_inflated_bytes)
        if inflated is None:
            return None
        content = inflated
    if b'"' in content or b"\x00" in content:
        return None
    text, problem = rows.decoded_text(content)
    if problem is not None:
        return None
    if "\r" not in text:
        lines = text.split("\n")
    elif text.count("\r") == text.count("\n") == text.count("\r\n"):
        lines = text.split("\r\n")
    else:
        lines = _LINE_BREAK.split(text)
    header = tuple(t.strip(" ").lower() for t in lines[0].split(";"))
    if any(c not in header for c in S.REQUIRED_RAW_COLUMNS):
        return None
    count = max(len(lines) - 1 - (1 if lines[-1] == "" else 0), 0)
    if count == 0:
        return None
    return header, lines[1 : 1 + count]


def _repeats(lines: list[str]) -> list[bool]:
    """Per line: an exact repeat of an earlier line of the same file."""
    if len(set(lines)) == len(lines):
        return [False] * len(lines)
    seen: set[str] = set()
    flags = []
    for line in lines:
        flags.append(line in seen)
        seen.add(line)
    return flags


def _bulk(
    group: _Plain, names: Sequence[str], rules: rows.CleaningRules
) -> tuple[dict[int, pa.Table], list[int]]:
    """The plain files' records by file index, and the files the checks refuse (to read one
    by one): a line without the header's number of fields, or a row the cleaning would
    quarantine."""
    width = len(group.header)
    lines = pa.array(group.lines, pa.string())
    owner = np.asarray(group.owner, dtype=np.int64)
    split = pc.split_pattern(lines, ";")
    bad_line = pc.not_equal(pc.list_value_length(split), width).to_numpy(zero_copy_only=False)
    if bad_line.any():
        return _bulk_kept(group, names, rules, owner, bad_line)
    flat = pc.list_flatten(split)
    raw: dict[str, pa.Array | None] = {}
    for token in S.RAW_COLUMNS:
        if token in group.header:
            position = group.header.index(token)
            raw[token] = flat.take(pa.array(np.arange(position, len(flat), width)))
        else:
            raw[token] = None
    columns, plain = _parsed_columns(raw, len(lines), rules)
    if rules.quarantine_duplicates:
        plain &= ~np.asarray(group.repeated, dtype=bool)
    if not plain.all():
        return _bulk_kept(group, names, rules, owner, ~plain)
    sources = pa.array([names[i] for i in group.files], pa.string()).take(pa.array(owner))
    accounts = pa.array([rows.account_of(names[i]) for i in group.files], pa.string())
    null = pa.nulls(len(lines), pa.string())
    table = pa.Table.from_arrays(
        [
            sources,
            accounts.take(pa.array(owner)),
            pa.array(group.numbers, pa.int32()),
            *[columns[f.name] for f in S.TRANSACTION_SCHEMA.fields[4:]],
            lines,
            pa.array(group.repeated, pa.bool_()),
            null,
            null,
            null,
        ],
        schema=_ARROW_SCHEMA,
    )
    bounds = np.searchsorted(owner, np.arange(len(group.files) + 1))
    return {
        i: table.slice(bounds[j], bounds[j + 1] - bounds[j]) for j, i in enumerate(group.files)
    }, []


def _bulk_kept(
    group: _Plain,
    names: Sequence[str],
    rules: rows.CleaningRules,
    owner: np.ndarray,
    refused_lines: np.ndarray,
) -> tuple[dict[int, pa.Table], list[int]]:
    """`_bulk` again on the files left once those holding a refused line are set aside for
    the one-file reader."""
    refused_files = np.unique(owner[refused_lines])
    refused = [group.files[j] for j in refused_files]
    keep = ~np.isin(owner, refused_files)
    if not keep.any():
        return {}, refused
    positions = np.flatnonzero(keep)
    kept_files = sorted({group.files[o] for o in np.asarray(group.owner)[positions]})
    renumber = {i: j for j, i in enumerate(kept_files)}
    rest = _Plain(
        group.header,
        kept_files,
        [group.lines[p] for p in positions],
        [renumber[group.files[group.owner[p]]] for p in positions],
        [group.numbers[p] for p in positions],
        [group.repeated[p] for p in positions],
    )
    parts, more = _bulk(rest, names, rules)
    return parts, refused + more


def _per_value(
    values: pa.Array | None, count: int, parse: Callable[[str | None], Any]
) -> tuple[list[Any], np.ndarray]:
    """`parse` of each distinct value once, and the index of every row's distinct value."""
    if values is None:
        return [parse(None)], np.zeros(count, dtype=np.int64)
    encoded = values.dictionary_encode()
    distinct = [parse(v) for v in encoded.dictionary.to_pylist()]
    return distinct, encoded.indices.to_numpy(zero_copy_only=False)


def _parsed_columns(
    raw: dict[str, pa.Array | None], count: int, rules: rows.CleaningRules
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The typed transaction columns of the rows, and which rows no cleaning check refuses."""
    columns: dict[str, pa.Array] = {}
    plain = np.ones(count, dtype=bool)
    for token, parsed in S.RAW_TO_PARSED.items():
        arrow_type = _ARROW_SCHEMA.field(parsed).type
        if parsed in _AMOUNTS and raw[token] is not None:
            columns[parsed], accepted_rows = _amounts(raw[token], parsed, rules)
            plain &= accepted_rows
            continue
        if parsed == S.TRANSACTION_DATE:
            distinct, index = _per_value(raw[token], count, partial(_date_verdict, rules))
        elif parsed in _AMOUNTS:
            distinct, index = _per_value(raw[token], count, partial(_amount_verdict, parsed, rules))
        else:
            distinct, index = _per_value(raw[token], count, partial(_value_verdict, parsed))
        values = pa.array([v for v, _ in distinct], arrow_type)
        columns[parsed] = values.take(pa.array(index))
        accepted = np.fromiter((ok for _, ok in distinct), dtype=bool, count=len(distinct))
        plain &= accepted[index]
    return columns, plain


def _amounts(
    texts: pa.Array, parsed: str, rules: rows.CleaningRules
) -> tuple[pa.Array, np.ndarray]:
    """An amount column's values and which rows no amount check refuses.

    A plain decimal (`PLAIN_AMOUNT`: digits, an optional comma and decimals, no thousands
    dot) is converted by Arrow's cast, as exact as the twin's (both round correctly; no
    thousands dot to drop); every other text, by the twin parser once per distinct value.
    """
    trimmed = pc.utf8_trim(texts, characters=" ")
    simple = pc.fill_null(pc.match_substring_regex(trimmed, PLAIN_AMOUNT), False)
    simple_rows = simple.to_numpy(zero_copy_only=False, writable=True)
    numbers = pc.cast(
        pc.replace_substring(pc.if_else(simple, trimmed, "0"), ",", "."), pa.float64()
    ).to_numpy(zero_copy_only=False, writable=True)
    valid = simple_rows.copy()
    accepted = ~simple_rows | (np.abs(numbers) <= min(rules.max_abs_amount, clean.DOUBLE_MAX))
    others = np.flatnonzero(~simple_rows)
    if len(others):
        distinct, index = _per_value(
            texts.take(pa.array(others)), len(others), partial(_amount_verdict, parsed, rules)
        )
        known = np.array([v is not None for v, _ in distinct], dtype=bool)
        values = np.array([0.0 if v is None else v for v, _ in distinct], dtype=np.float64)
        oks = np.array([ok for _, ok in distinct], dtype=bool)
        numbers[others], valid[others], accepted[others] = (
            values[index],
            known[index],
            oks[index],
        )
    return pa.array(numbers, pa.float64(), mask=~valid), accepted


def _value_verdict(parsed: str, text: str | None) -> tuple[Any, bool]:
    value = rows.PARSERS[parsed](text)
    # A month of year 0 (Spark holds it, Python cannot): left to the one-file reader.
    return (None, False) if isinstance(value, tuple) else (value, True)


def _date_verdict(rules: rows.CleaningRules, text: str | None) -> tuple[Any, bool]:
    value = rows.parsed_date(text)
    if not isinstance(value, dt.date):
        return None, False
    return value, rules.earliest_date <= value <= rules.run_date


def _amount_verdict(parsed: str, rules: rows.CleaningRules, text: str | None) -> tuple[Any, bool]:
    value = rows.parsed_amount(text)
    if rows.amount_range_detail(text, parsed, rules.max_abs_amount) is not None:
        return value, False
    if parsed == S.AMOUNT and value is None and not rows.is_missing_amount(text):
        return None, False
    return value, True


# --- the other files: one record per Python record ---------------------------------------------


def _file_record(name: str, reason: str, detail: str | None) -> pa.Table:
    row = dict.fromkeys(_ARROW_SCHEMA.names)
    row.update(
        {
            S.SOURCE_FILE: name,
            S.ACCOUNT_ID: rows.account_of(name),
            S.IS_REPEATED_LINE: False,
            S.LEVEL: S.LEVEL_FILE,
            S.REASON: reason,
            S.DETAIL: detail,
        }
    )
    return pa.Table.from_pylist([row], schema=_ARROW_SCHEMA)


def _from_python(records: rows.FileRecords) -> pa.Table:
    """`rows.read_file`'s records of one file as `RECORDS_SCHEMA` rows."""
    if records.file_reason is not None:
        return _file_record(records.source_file, records.file_reason, records.file_detail)
    out = []
    for record in records.records:
        values = {k: _storable(v) for k, v in record.values.items()}
        out.append(
            {
                S.SOURCE_FILE: records.source_file,
                S.ACCOUNT_ID: records.account_id,
                S.LINE_NUMBER: record.line_number,
                **values,
                S.RAW_LINE: record.raw_line,
                S.IS_REPEATED_LINE: record.is_repeated_line,
                S.LEVEL: record.level,
                S.REASON: record.reason,
                S.DETAIL: record.detail,
            }
        )
    return pa.Table.from_pylist(out, schema=_ARROW_SCHEMA)


def _storable(value: Any) -> Any:
    """A parsed value Arrow can hold: a month or day of year 0 (`rows.parsed_month`'s
    (0, month), `rows.parsed_date`'s (0, month, day)) as the proleptic Gregorian date Spark
    holds."""
    if isinstance(value, tuple):
        month, day = value[1], value[2] if len(value) == 3 else 1
        # Year 0 is a leap year: 366 days before the same day of year 1 up to February, 365 after.
        days = dt.date(1, month, min(day, 28)).toordinal() + day - min(day, 28)
        days -= 366 if month <= 2 else 365
        return pa.scalar(days - _EPOCH, pa.int32()).cast(pa.date32())
    return value
