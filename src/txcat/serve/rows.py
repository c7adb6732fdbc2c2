"""Read and clean ONE account file in plain Python: the batch job's `read` and `clean`, per file.

The batch job decides everything with Spark expressions over many files at once; a request
holds one file (or its transactions as JSON) and must be answered in milliseconds, so the same
decisions are taken here in Python, in the same order and with the same patterns, reason codes
and details (imported from `txcat.read` and `txcat.clean`). The pure-Python pieces of the batch
reader are used as they are: `read.gunzip_members` and the quoted-record splitter
`read.split_records`. A parity test (`tests/serve/test_parity.py`) holds both runtimes to the
same records, column by column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from txcat import clean, read, reasons
from txcat import schema as S
from txcat.config import Config
from txcat.serve import javaregex as J

_TRANSLATION: dict[int, str | None] = {}
for _i, _char in enumerate(clean.TRANSLATE_FROM):
    _TRANSLATION.setdefault(
        ord(_char), clean.TRANSLATE_TO[_i] if _i < len(clean.TRANSLATE_TO) else None
    )
_RUNS_OF_SPACES = re.compile(" {2,}")
_LINE_SPLIT = re.compile(read.LINE_BREAK)
_ACCOUNT_SUFFIX = re.compile(r"(\.csv)?(\.gz)?$", re.IGNORECASE)


@dataclass
class Record:
    """One data line of a file (or one JSON transaction), parsed, with its verdict."""

    line_number: int
    raw_line: str
    row_id: str | None
    #: null for a row to score, else `row`.
    level: str | None = None
    reason: str | None = None
    detail: str | None = None
    #: The parsed transaction columns (`schema.TRANSACTION_SCHEMA`'s), by name.
    values: dict[str, Any] = field(default_factory=dict)
    #: An exact repeat of an earlier line of the file (`schema.IS_REPEATED_LINE`).
    is_repeated_line: bool = False


@dataclass
class FileRecords:
    """A file's cleaned records, or the reason the whole file is rejected."""

    source_file: str
    account_id: str
    records: list[Record]
    file_reason: str | None = None
    file_detail: str | None = None

    @property
    def scorable(self) -> list[Record]:
        return [r for r in self.records if r.level is None]

    @property
    def rejected(self) -> list[Record]:
        return [r for r in self.records if r.level is not None]


@dataclass(frozen=True)
class CleaningRules:
    """The configuration the cleaning reads (`input.*`, `quality.*`) and the run date."""

    run_date: dt.date
    extensions: tuple[str, ...] = (".csv", ".csv.gz")
    max_inflated_bytes: int = read.MAX_INFLATED_BYTES
    earliest_date: dt.date = dt.date(2000, 1, 1)
    quarantine_duplicates: bool = False
    max_abs_amount: float = math.inf


def cleaning_rules(cfg: Config, run_date: dt.date) -> CleaningRules:
    """The configuration's `input.*` and `quality.*` settings the cleaning applies."""
    return CleaningRules(
        run_date=run_date,
        extensions=cfg.input.extensions,
        max_inflated_bytes=cfg.input.max_inflated_bytes,
        earliest_date=cfg.quality.earliest_transaction_date,
        quarantine_duplicates=cfg.quality.quarantine_duplicate_rows,
        max_abs_amount=cfg.quality.max_abs_amount,
    )


def account_of(source_file: str) -> str:
    """The account of a file: its name without `.csv` / `.gz` (never the `id` column)."""
    name = source_file.rsplit("/", 1)[-1]
    return _ACCOUNT_SUFFIX.sub("", name, count=1)


def row_id(source_file: str, line_number: int) -> str:
    """The batch job's row id: sha256 of `source_file#line_number`, 32 hex characters."""
    return hashlib.sha256(f"{source_file}#{line_number}".encode()).hexdigest()[:32]


# --- read: bytes -> text -> records -----------------------------------------------------------


def decoded_text(raw: bytes) -> tuple[str, str | None]:
    """The text of (inflated) bytes, and the encoding problem if any (`read.with_decoded_text`)."""
    start = raw[:4].hex().upper()
    utf16_bom = start.startswith(("FFFE", "FEFF"))
    problem = None
    if not utf16_bom and (
        J.rlike(read.UTF16_LE_START, start) or J.rlike(read.UTF16_BE_START, start)
    ):
        problem = read.UTF16_WITHOUT_BOM
    if utf16_bom:
        text = raw.decode("utf-16", errors="replace")
    else:
        try:
            text = raw.decode("utf-8")
            if "\ufffd" in text:
                raise ValueError("replacement character")
        except ValueError:
            text = raw.decode("latin-1").replace(chr(S.CEDILLA_BYTE), "Ç")
    text = text.removeprefix("\ufeff")
    return text, problem


def _data_records(text: str) -> list[dict[str, Any]]:
    """The data records after the header (`read._line_records` / `read.split_records`)."""
    if '"' in text:
        return read.split_records(text)
    lines = _LINE_SPLIT.split(text)
    ends_with_break = 1 if lines[-1] == "" else 0
    count = max(len(lines) - 1 - ends_with_break, 0)
    return [
        {S.LINE_NUMBER: i + 1, S.RAW_LINE: lines[i], read.FIELDS: None, read.SPLIT_ERROR: None}
        for i in range(1, 1 + count)
    ]


def read_file(source_file: str, content: bytes, rules: CleaningRules) -> FileRecords:
    """One account file's bytes -> its cleaned records, or its file-level rejection."""
    account = account_of(source_file)
    name = source_file.rsplit("/", 1)[-1]
    is_gzip = content[:2] == b"\x1f\x8b"
    text: str | None = None
    gzip_problem = encoding_problem = None
    raw: bytes | None = content
    if is_gzip:
        raw, gzip_problem = read.gunzip_members(content, rules.max_inflated_bytes)
    if raw is not None:
        text, encoding_problem = decoded_text(raw)
    records: list[dict[str, Any]] = []
    header_fields: list[str] = []
    header = ""
    if text is not None:
        header = _LINE_SPLIT.split(text, maxsplit=1)[0]
        header_fields = [t.strip(" ").lower() for t in header.split(";")]
        records = _data_records(text)
    missing = [c for c in S.REQUIRED_RAW_COLUMNS if c not in header_fields]
    cases: list[tuple[bool, str, str | None]] = [
        (
            not any(name.lower().endswith(e.lower()) for e in rules.extensions),
            reasons.UNSUPPORTED_FILE,
            read.unsupported_name_detail(rules.extensions),
        ),
        (len(content) == 0, reasons.EMPTY_FILE, None),
        (is_gzip and text is None, reasons.CORRUPT_GZIP, gzip_problem),
        (encoding_problem is not None, reasons.UNSUPPORTED_ENCODING, encoding_problem),
        (text is not None and "\x00" in text, reasons.BINARY_CONTENT, read.NUL_BYTES),
        (
            ";" not in header and ("," in header or "\t" in header),
            reasons.WRONG_SEPARATOR,
            read.NOT_SEMICOLON,
        ),
        (
            len(missing) == len(S.REQUIRED_RAW_COLUMNS),
            reasons.BAD_HEADER,
            read.NO_EXPECTED_COLUMN,
        ),
        (len(missing) > 0, reasons.MISSING_COLUMNS, ",".join(missing)),
        (len(records) == 0, reasons.HEADER_ONLY, None),
    ]
    for condition, reason, detail in cases:
        if condition:
            return FileRecords(source_file, account, [], reason, detail)
    out: list[Record] = []
    seen: set[str] = set()
    for record in records:
        line = record[S.RAW_LINE]
        fields = record[read.FIELDS]
        if fields is None:
            fields = line.split(";")
        row_reason: tuple[str, str] | None = None
        if J.rlike(read.BLANK_LINE_PATTERN, line):
            row_reason = (reasons.BLANK_LINE, read.BLANK_LINE_DETAIL)
        elif record[read.SPLIT_ERROR] is not None:
            row_reason = (reasons.FIELD_COUNT, record[read.SPLIT_ERROR])
        elif len(fields) != len(header_fields):
            row_reason = (
                reasons.FIELD_COUNT,
                read.FIELD_COUNT_DETAIL % (len(header_fields), len(fields)),
            )
        raw_values = {
            token: fields[header_fields.index(token)]
            if token in header_fields and header_fields.index(token) < len(fields)
            else None
            for token in S.RAW_COLUMNS
        }
        duplicate = line in seen
        seen.add(line)
        number = record[S.LINE_NUMBER]
        out.append(
            clean_record(
                number,
                line,
                row_id(source_file, number),
                raw_values,
                rules,
                row_reason,
                duplicate,
            )
        )
    return FileRecords(source_file, account, out)


def read_transactions(
    account_id: str,
    transactions: Sequence[Mapping[str, str]],
    rules: CleaningRules,
    source_file: str | None = None,
) -> FileRecords:
    """Transactions given as header name -> field text (a JSON request), cleaned as file lines.

    Transaction i (from 1) plays the part of line i; names are matched as the reader matches a
    header (trimmed, lower case), other names are ignored. An exact repeat of an earlier
    transaction is a `duplicate_row`, as a repeated line is. With `source_file`, each row id is
    the one the daily job gives the transaction in that file when the transactions are its data
    lines in order (transaction i is the file's line i + 1). The caller checks that the required
    columns are there.
    """
    out: list[Record] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for position, transaction in enumerate(transactions, start=1):
        raw_values = {name.strip(" ").lower(): value for name, value in transaction.items()}
        values = {token: raw_values.get(token) for token in S.RAW_COLUMNS}
        key = tuple(sorted((k, v) for k, v in values.items() if v is not None))
        line = ";".join(v if v is not None else "" for v in values.values())
        duplicate = key in seen
        seen.add(key)
        # The daily job's id of this transaction as a data line of that file: the header is
        # line 1, so transaction i is line i + 1 there.
        identifier = row_id(source_file, position + 1) if source_file else None
        out.append(clean_record(position, line, identifier, values, rules, None, duplicate))
    return FileRecords(source_file or f"{account_id}.csv", account_id, out)


# --- clean: raw fields -> typed values and the row's verdict ---------------------------------


def normalized_text(text: str | None) -> str | None:
    """`clean.normalized_text`: upper case, accents and control characters out, spaces collapsed."""
    if text is None:
        return None
    value = text.upper().translate(_TRANSLATION)
    if "  " in value:
        value = _RUNS_OF_SPACES.sub(" ", value)
    value = value.strip(" ")
    return value or None


def is_missing_amount(text: str | None) -> bool:
    return bool(J.rlike(clean.MISSING_AMOUNT_PATTERN, J.spark_trim(text) or ""))


def _amount_number(text: str) -> float | None:
    return J.parse_double(text.replace(".", "").replace(",", "."))


def parsed_amount(text: str | None) -> float | None:
    """`clean.parsed_amount`: decimal comma text -> float; None when missing or malformed."""
    trimmed = J.spark_trim(text)
    if trimmed is None or not J.rlike(clean.AMOUNT_PATTERN, trimmed):
        return None
    number = _amount_number(trimmed)
    if number is None or not abs(number) <= clean.DOUBLE_MAX:
        return None
    return number


def amount_range_detail(text: str | None, name: str, max_abs: float) -> str | None:
    """`clean.amount_range_detail`: why a well-formed amount is refused, else None."""
    trimmed = J.spark_trim(text)
    if trimmed is None or not J.rlike(clean.AMOUNT_PATTERN, trimmed):
        return None
    number = _amount_number(trimmed)
    bound = min(max_abs, clean.DOUBLE_MAX)
    if number is None or abs(number) <= bound:
        return None
    shown = J.to_string(number) if abs(number) <= clean.DOUBLE_MAX else _magnitude(trimmed)
    return f"{name} {shown} outside ±{bound:.15g}"


def _magnitude(text: str) -> str:
    match = re.match(r"-?([\d.]+)", text, re.ASCII)
    integer = match.group(1) if match else ""
    digits = integer.replace(".", "").lstrip("0")
    second = digits[1:2] if len(digits) > 1 else "0"
    sign = "-" if text.startswith("-") else ""
    return f"{sign}{digits[:1]}.{second}E{len(digits) - 1}"


def _date_parts(text: str | None, pattern: str, groups: int) -> list[int] | None:
    trimmed = J.spark_trim(text)
    if trimmed is None:
        return None
    match = J.compiled(pattern).search(trimmed)
    if match is None:
        return None
    return [int(match.group(i)) for i in range(1, groups + 1)]


def _last_day(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parsed_date(text: str | None) -> dt.date | tuple[int, int, int] | None:
    """`clean.parsed_date`: `d.mm.yyyy` -> date; (0, month, day) for a valid day of year 0,
    which Spark holds as a date and Python cannot."""
    parts = _date_parts(text, clean.DATE_PATTERN, 3)
    if parts is None:
        return None
    day, month, year = parts
    if not 1 <= month <= 12 or not 1 <= day <= _last_day(year, month):
        return None
    return (0, month, day) if year == 0 else dt.date(year, month, day)


def parsed_month(text: str | None) -> dt.date | tuple[int, int] | None:
    """`clean.parsed_month`: `YYYYMM` -> the first of that month; (0, month) in year 0, which
    Spark holds as a date and Python cannot."""
    parts = _date_parts(text, clean.MONTH_PATTERN, 2)
    if parts is None:
        return None
    year, month = parts
    if not 1 <= month <= 12:
        return None
    return (0, month) if year == 0 else dt.date(year, month, 1)


def parsed_int(text: str | None) -> int | None:
    trimmed = J.spark_trim(text)
    if trimmed is None or not J.rlike(clean.INTEGER_PATTERN, trimmed):
        return None
    return int(trimmed.strip())


def parsed_sex(text: str | None) -> str | None:
    sex = normalized_text(text)
    return sex if sex in ("F", "M") else None


#: Each batch parser (a Spark expression, `clean.PARSERS`' values) and its Python twin. Which
#: column each parser reads stays `clean.PARSERS`' alone: a parser added there without a twin
#: here fails at import.
_TWINS: dict[Callable[..., Any], Callable[[str | None], Any]] = {
    clean.parsed_month: parsed_month,
    clean.normalized_text: normalized_text,
    clean.parsed_int: parsed_int,
    clean.parsed_sex: parsed_sex,
    clean.parsed_amount: parsed_amount,
    clean.parsed_date: parsed_date,
}
PARSERS = {column: _TWINS[parser] for column, parser in clean.PARSERS.items()}
_RAW_OF = {parsed: raw for raw, parsed in S.RAW_TO_PARSED.items()}


def clean_record(
    line_number: int,
    raw_line: str,
    identifier: str | None,
    raw_values: Mapping[str, str | None],
    rules: CleaningRules,
    row_reason: tuple[str, str] | None,
    duplicate: bool,
) -> Record:
    """Parses one line's fields and decides its verdict in `clean.with_reasons`' order."""
    values = {
        parsed: PARSERS[parsed](raw_values.get(raw)) for raw, parsed in S.RAW_TO_PARSED.items()
    }
    verdict = row_reason or _row_reason(values, raw_values, rules, duplicate)
    record = Record(line_number, raw_line, identifier, is_repeated_line=duplicate)
    if verdict is not None:
        record.level, (record.reason, record.detail) = S.LEVEL_ROW, verdict
    record.values = values
    return record


def _row_reason(
    values: Mapping[str, Any],
    raw_values: Mapping[str, str | None],
    rules: CleaningRules,
    duplicate: bool,
) -> tuple[str, str] | None:
    date = values[S.TRANSACTION_DATE]
    if date is None:
        return reasons.BAD_DATE, clean.BAD_DATE_DETAIL
    if isinstance(date, tuple):  # year 0
        return reasons.DATE_TOO_OLD, f"before {rules.earliest_date.isoformat()}"
    if date > rules.run_date:
        return reasons.FUTURE_DATE, f"after run date {rules.run_date.isoformat()}"
    if date < rules.earliest_date:
        return reasons.DATE_TOO_OLD, f"before {rules.earliest_date.isoformat()}"
    for parsed in (S.AMOUNT, S.CREDIT_LIMIT_TOTAL, S.CREDIT_LIMIT_AVAILABLE):
        detail = amount_range_detail(raw_values.get(_RAW_OF[parsed]), parsed, rules.max_abs_amount)
        if detail is not None:
            return reasons.BAD_AMOUNT, detail
    amount_text = raw_values.get(_RAW_OF[S.AMOUNT])
    if values[S.AMOUNT] is None and not is_missing_amount(amount_text):
        return reasons.BAD_AMOUNT, clean.BAD_AMOUNT_DETAIL
    if rules.quarantine_duplicates and duplicate:
        return reasons.DUPLICATE_ROW, clean.DUPLICATE_ROW_DETAIL
    return None
