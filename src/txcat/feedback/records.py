"""Parse and check one feedback file: every line becomes a correction or a rejection.

A feedback file is CSV with a header (`,`, `;` or tab) or JSON lines, one correction per line:
`row_id`, `category`, `corrected_at` and optionally `account_id`, `source`. Nothing here does
I/O: the caller passes the bytes, the time after which a correction is in the future, and a
lookup of the row ids that have predictions.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from txcat import reasons
from txcat.schema import CATEGORIES
from txcat.serve.rows import normalized_text

ROW_ID = "row_id"
CATEGORY = "category"
CORRECTED_AT = "corrected_at"
ACCOUNT_ID = "account_id"
SOURCE = "source"
REQUIRED_COLUMNS: tuple[str, ...] = (ROW_ID, CATEGORY, CORRECTED_AT)
OPTIONAL_COLUMNS: tuple[str, ...] = (ACCOUNT_ID, SOURCE)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

CSV = "csv"
JSONL = "jsonl"
FORMATS = (CSV, JSONL)
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_DELIMITERS = (",", ";", "\t")

LEVEL_FILE = "file"
LEVEL_ROW = "row"
#: Clocks of the app and of this machine disagree by a little: no "future" inside this margin.
CLOCK_SKEW = dt.timedelta(minutes=5)
#: A quarantined line is kept up to this many characters.
MAX_RAW_CHARS = 1000

#: Returns which of the given row ids have a prediction.
RowIdLookup = Callable[[set[str]], set[str]]


@dataclass(frozen=True)
class Correction:
    """One accepted correction (`corrected_at` in UTC)."""

    line_number: int
    row_id: str
    category: str
    corrected_at: dt.datetime
    account_id: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Rejection:
    """One feedback quarantine record: a refused line (level row) or the whole file (level file)."""

    level: str
    reason: str
    detail: str
    line_number: int | None = None
    row_id: str | None = None
    raw_line: str | None = None


@dataclass
class Checked:
    """What one file gave: `records_read` == len(corrections) + rejected records.

    A refused file (`refused` set) has no corrections and one file-level rejection; all its
    data lines count as rejected for that reason.
    """

    format: str
    records_read: int = 0
    corrections: list[Correction] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    refused: Rejection | None = None

    def rejected_by_reason(self) -> dict[str, int]:
        if self.refused is not None:
            return {self.refused.reason: self.records_read} if self.records_read else {}
        counts: dict[str, int] = {}
        for rejection in self.rejections:
            counts[rejection.reason] = counts.get(rejection.reason, 0) + 1
        return dict(sorted(counts.items()))


def detect_format(name: str, lines: Iterable[bytes]) -> str:
    """JSON lines for `.jsonl` / `.ndjson` / `.json`, CSV for `.csv`; else by the first line."""
    lower = name.lower()
    if lower.endswith(_JSONL_SUFFIXES):
        return JSONL
    if lower.endswith(".csv"):
        return CSV
    first = next((line.strip() for line in lines if line.strip()), b"")
    return JSONL if first.startswith(b"{") else CSV


def parse_timestamp(text: str) -> dt.datetime | None:
    """ISO 8601 date and time (`2026-11-30T10:15:00Z`, an offset, or none = UTC), in UTC."""
    value = text.strip()
    if len(value) <= len("yyyy-mm-dd"):
        return None  # a date alone says nothing about the order of two corrections of a day
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        return None


def check(
    data: bytes,
    name: str,
    not_after: dt.datetime,
    known_row_ids: RowIdLookup | None = None,
    fmt: str | None = None,
    categories: Collection[str] = CATEGORIES,
) -> Checked:
    """Every line of a feedback file, checked.

    Args:
        data: The file's bytes (UTF-8, a byte-order mark allowed).
        name: The file's name or URI (its extension decides the format unless `fmt` does).
        not_after: A later `corrected_at` (beyond `CLOCK_SKEW`) is `future_timestamp`.
        known_row_ids: Lookup of the row ids that have a prediction; None skips that check.
        fmt: `csv` or `jsonl`; None detects it.
        categories: The categories a correction may name (after `normalized_text`).
    """
    lines = _split_lines(data.removeprefix(b"\xef\xbb\xbf"))
    fmt = fmt or detect_format(name, lines)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _refused(fmt, data, reasons.UNSUPPORTED_ENCODING, "UTF-16 byte-order mark")
    if b"\x00" in data:
        return _refused(fmt, data, reasons.BINARY_CONTENT, "NUL bytes: not a text file")
    if fmt == CSV:
        checked, candidates = _check_csv(lines)
    else:
        checked, candidates = _check_jsonl(lines)
    if checked.refused is not None:
        return checked
    accepted: list[Correction] = []
    for number, raw, values in candidates:
        outcome = _correction(number, raw, values, not_after + CLOCK_SKEW, set(categories))
        if isinstance(outcome, Rejection):
            checked.rejections.append(outcome)
        else:
            accepted.append(outcome)
    raw_lines = dict(_raw_by_line(candidates))
    accepted = _without_duplicates(accepted, checked.rejections, raw_lines)
    if known_row_ids is not None and accepted:
        known = known_row_ids({c.row_id for c in accepted})
        for correction in accepted:
            if correction.row_id not in known:
                checked.rejections.append(
                    _row(
                        reasons.UNKNOWN_ROW_ID,
                        "no prediction has this row_id",
                        correction.line_number,
                        raw_lines[correction.line_number],
                        correction.row_id,
                    )
                )
        accepted = [c for c in accepted if c.row_id in known]
    checked.corrections = accepted
    checked.rejections.sort(key=lambda r: r.line_number or 0)
    return checked


# --- lines and formats ---------------------------------------------------------------------

_Candidate = tuple[int, str, dict[str, Any]]


def _split_lines(data: bytes) -> list[bytes]:
    if not data:
        return []
    lines = [line.removesuffix(b"\r") for line in data.split(b"\n")]
    return lines[:-1] if lines[-1] == b"" else lines


def _raw(line: bytes) -> str:
    return line.decode("utf-8", errors="backslashreplace")[:MAX_RAW_CHARS]


def _raw_by_line(candidates: list[_Candidate]) -> Iterable[tuple[int, str]]:
    return ((number, raw) for number, raw, _ in candidates)


def _row(
    reason: str, detail: str, number: int, raw: str | None, row_id: str | None = None
) -> Rejection:
    return Rejection(LEVEL_ROW, reason, detail, number, row_id, raw)


def _refused(fmt: str, data: bytes, reason: str, detail: str) -> Checked:
    """The whole file refused: every line but a CSV header counts as a refused record."""
    lines = _split_lines(data.removeprefix(b"\xef\xbb\xbf"))
    read = max(len(lines) - (1 if fmt == CSV else 0), 0)
    rejection = Rejection(LEVEL_FILE, reason, f"{detail} ({read} records not read)")
    return Checked(fmt, records_read=read, refused=rejection)


def _decoded(number: int, line: bytes, checked: Checked) -> str | None:
    """The line as text, or None after recording why it is not usable."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        checked.rejections.append(
            _row(reasons.UNSUPPORTED_ENCODING, f"not UTF-8: {exc.reason}", number, _raw(line))
        )
        return None
    if not text.strip():
        checked.rejections.append(_row(reasons.BLANK_LINE, "nothing but whitespace", number, text))
        return None
    return text


def _check_csv(lines: list[bytes]) -> tuple[Checked, list[_Candidate]]:
    checked = Checked(CSV)
    if not lines:
        return checked, []
    data = b"\n".join(lines)
    try:
        header_text = lines[0].decode("utf-8")
    except UnicodeDecodeError:
        return _refused(CSV, data, reasons.UNSUPPORTED_ENCODING, "header not UTF-8"), []
    delimiter = max(_DELIMITERS, key=lambda d: len(set(_tokens(header_text, d)) & set(COLUMNS)))
    header = _tokens(header_text, delimiter)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        detail = f"header lacks {', '.join(missing)}"
        return _refused(CSV, data, reasons.MISSING_COLUMNS, detail), []
    extra = [c for c in header if c not in COLUMNS]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if extra or repeated:
        detail = f"unexpected column(s) {', '.join(extra + repeated)}"
        return _refused(CSV, data, reasons.EXTRA_COLUMNS, detail), []
    candidates: list[_Candidate] = []
    for number, line in enumerate(lines[1:], start=2):
        checked.records_read += 1
        text = _decoded(number, line, checked)
        if text is None:
            continue
        try:
            fields = next(csv.reader([text], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            checked.rejections.append(
                _row(reasons.FIELD_COUNT, f"cannot split: {exc}", number, text[:MAX_RAW_CHARS])
            )
            continue
        if len(fields) != len(header):
            detail = f"{len(fields)} fields, the header has {len(header)}"
            checked.rejections.append(
                _row(reasons.FIELD_COUNT, detail, number, text[:MAX_RAW_CHARS])
            )
            continue
        candidates.append((number, text[:MAX_RAW_CHARS], dict(zip(header, fields, strict=True))))
    return checked, candidates


def _tokens(header: str, delimiter: str) -> list[str]:
    return [t.strip().lower() for t in next(csv.reader([header], delimiter=delimiter))]


def _check_jsonl(lines: list[bytes]) -> tuple[Checked, list[_Candidate]]:
    checked = Checked(JSONL)
    candidates: list[_Candidate] = []
    for number, line in enumerate(lines, start=1):
        checked.records_read += 1
        text = _decoded(number, line, checked)
        if text is None:
            continue
        raw = text[:MAX_RAW_CHARS]
        try:
            record = json.loads(text)
        except ValueError as exc:
            checked.rejections.append(
                _row(reasons.MALFORMED_RECORD, f"not JSON: {exc}", number, raw)
            )
            continue
        if not isinstance(record, dict):
            detail = f"a JSON {type(record).__name__}, not an object"
            checked.rejections.append(_row(reasons.MALFORMED_RECORD, detail, number, raw))
            continue
        missing = [c for c in REQUIRED_COLUMNS if c not in record]
        if missing:
            detail = f"no {', '.join(missing)}"
            checked.rejections.append(_row(reasons.MISSING_COLUMNS, detail, number, raw))
            continue
        extra = sorted(k for k in record if k not in COLUMNS)
        if extra:
            detail = f"unexpected field(s) {', '.join(extra)}"
            checked.rejections.append(_row(reasons.EXTRA_COLUMNS, detail, number, raw))
            continue
        not_text = [k for k, v in record.items() if v is not None and not isinstance(v, str)]
        if not_text:
            detail = f"not a string: {', '.join(sorted(not_text))}"
            checked.rejections.append(_row(reasons.MALFORMED_RECORD, detail, number, raw))
            continue
        candidates.append((number, raw, record))
    return checked, candidates


# --- one record ------------------------------------------------------------------------------


def _correction(
    number: int, raw: str, values: dict[str, Any], limit: dt.datetime, categories: set[str]
) -> Correction | Rejection:
    text = {k: (v or "").strip() for k, v in values.items()}
    row_id = text[ROW_ID] or None
    empty = [c for c in REQUIRED_COLUMNS if not text[c]]
    if empty:
        return _row(reasons.MISSING_COLUMNS, f"empty {', '.join(empty)}", number, raw, row_id)
    category = normalized_text(text[CATEGORY])
    if category not in categories:
        detail = f"category {text[CATEGORY][:100]!r} is none of the {len(categories)}"
        return _row(reasons.UNKNOWN_CATEGORY, detail, number, raw, row_id)
    corrected_at = parse_timestamp(text[CORRECTED_AT])
    if corrected_at is None:
        detail = f"corrected_at {text[CORRECTED_AT][:60]!r} is not an ISO 8601 date and time"
        return _row(reasons.BAD_TIMESTAMP, detail, number, raw, row_id)
    if corrected_at > limit:
        detail = f"corrected_at {corrected_at.isoformat()} is after {limit.isoformat()}"
        return _row(reasons.FUTURE_TIMESTAMP, detail, number, raw, row_id)
    return Correction(
        number,
        text[ROW_ID],
        str(category),
        corrected_at,
        text.get(ACCOUNT_ID) or None,
        text.get(SOURCE) or None,
    )


def _without_duplicates(
    corrections: list[Correction], rejections: list[Rejection], raw: dict[int, str]
) -> list[Correction]:
    """The first correction of each (row_id, corrected_at); later ones become rejections."""
    first: dict[tuple[str, dt.datetime], Correction] = {}
    kept = []
    for correction in corrections:
        key = (correction.row_id, correction.corrected_at)
        earlier = first.get(key)
        if earlier is None:
            first[key] = correction
            kept.append(correction)
            continue
        detail = f"same row_id and corrected_at as line {earlier.line_number}"
        if earlier.category != correction.category:
            detail += f" with another category ({earlier.category}; first kept)"
        rejections.append(
            _row(
                reasons.DUPLICATE_FEEDBACK,
                detail,
                correction.line_number,
                raw[correction.line_number],
                correction.row_id,
            )
        )
    return kept
