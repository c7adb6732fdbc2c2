"""Clean stage: raw string fields -> typed, normalised columns, and row-level reasons.

Every parser is a `Column -> Column` helper built from native expressions; a value that does
not parse becomes null, and the fields a transaction cannot do without (its date and amount)
turn that null into a quarantine reason instead.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from txcat import read, reasons
from txcat import schema as S

REASON = S.REASON
DETAIL = S.DETAIL
LEVEL = S.LEVEL

ACCENTED = "ÁÀÂÃÄÅÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝ"
PLAIN = "AAAAAAEEEEIIIIOOOOOUUUUCNY"

# Decimal comma with optional thousands dots: 31 | 54,4 | 150,01 | 1.784,13 | -54,4
AMOUNT_PATTERN = r"^-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"
MISSING_AMOUNT_PATTERN = r"^-?$"
DATE_PATTERN = r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"
MONTH_PATTERN = r"^(\d{4})(\d{2})$"
INTEGER_PATTERN = r"^-?\d{1,9}$"
DOUBLE_MAX = sys.float_info.max

# Details of the row-level reasons decided here.
BAD_DATE_DETAIL = "expected d.mm.yyyy"
BAD_AMOUNT_DETAIL = "expected decimal comma, e.g. 1.784,13"
DUPLICATE_ROW_DETAIL = "repeats an earlier line"


# Unicode space separators (Zs, Zl, Zp) other than the plain space, and the line breaks a
# quoted field may hold: read as a space.
SPACES = (
    "\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\r\n"
)
# Other control characters (C0, DEL, C1) and the replacement character: dropped.
DROPPED = "".join(
    c for c in map(chr, [*range(0x20), *range(0x7F, 0xA0), 0xFFFD]) if c not in SPACES
)
# One translate does accents, spaces and deletions in a single pass (no regex per value).
TRANSLATE_FROM = ACCENTED + SPACES + DROPPED
TRANSLATE_TO = PLAIN + " " * len(SPACES)


def normalized_text(col: Column) -> Column:
    """Upper case, accents and control characters removed, whitespace collapsed; "" -> null."""
    # Trimmed first: the padding is a run of spaces at the end, so the regular expression
    # that collapses inner runs (rare) runs only where one is left.
    text = F.trim(F.translate(F.upper(col), TRANSLATE_FROM, TRANSLATE_TO))
    text = F.when(text.contains("  "), F.regexp_replace(text, " {2,}", " ")).otherwise(text)
    return F.when(text != "", text)


def is_missing_amount(col: Column) -> Column:
    """The bank's placeholder for "no amount" (` -   `), or an empty field."""
    return F.coalesce(F.trim(col), F.lit("")).rlike(MISSING_AMOUNT_PATTERN)


def _amount_number(text: Column) -> Column:
    """The decimal-comma text as a double, format unchecked: ±inf beyond a double's range.

    Literal replacements (`replace`), not regular expressions: the same text, for half the
    cost.
    """
    dots_dropped = F.replace(text, F.lit("."), F.lit(""))
    return F.replace(dots_dropped, F.lit(","), F.lit(".")).cast("double")


def _checked_number(text: Column) -> tuple[Column, Column]:
    """A trimmed amount text's format check, and its number (null when malformed: no cast
    sees a malformed text, which ANSI mode would raise on)."""
    well_formed = text.rlike(AMOUNT_PATTERN)
    return well_formed, _amount_number(F.when(well_formed, text))


def parsed_amount(col: Column) -> Column:
    """Decimal comma / thousands dot text -> double; null when missing, malformed or beyond a
    double (a 400-digit number would be ±inf, never a usable value)."""
    return _amount_value(*_checked_number(F.trim(col)))


def _amount_value(well_formed: Column, number: Column) -> Column:
    return F.when(well_formed & (F.abs(number) <= F.lit(DOUBLE_MAX)), number)


def amount_range_detail(col: Column, name: str, max_abs: float = math.inf) -> Column:
    """Why a well-formed amount is refused, e.g. "amount 1.0E400 outside ±10000000"; else null.

    Refused: a magnitude above `max_abs`, and always one beyond a double (shown from its digits,
    since the double itself is ±inf). Malformed or missing text is not this helper's case.
    """
    text = F.trim(col)
    return _range_detail(text, *_checked_number(text), name, max_abs)


def _range_detail(
    text: Column, well_formed: Column, number: Column, name: str, max_abs: float
) -> Column:
    shown = F.when(F.abs(number) <= F.lit(DOUBLE_MAX), number.cast("string")).otherwise(
        _magnitude(text)
    )
    bound = min(max_abs, DOUBLE_MAX)
    return F.when(
        well_formed & ~(F.abs(number) <= F.lit(bound)),
        F.concat(F.lit(f"{name} "), shown, F.lit(f" outside ±{bound:.15g}")),
    )


def _magnitude(text: Column) -> Column:
    """`-1.2E400` for a well-formed amount text: first two digits and the power of ten."""
    integer = F.regexp_extract(text, r"^-?([\d.]+)", 1)
    digits = F.regexp_replace(F.regexp_replace(integer, r"\.", ""), "^0+", "")
    return F.concat(
        F.when(text.startswith("-"), F.lit("-")).otherwise(F.lit("")),
        F.substring(digits, 1, 1),
        F.lit("."),
        F.coalesce(F.when(F.length(digits) > 1, F.substring(digits, 2, 1)), F.lit("0")),
        F.lit("E"),
        (F.length(digits) - 1).cast("string"),
    )


def parsed_date(col: Column) -> Column:
    """`d.mm.yyyy` -> date; null for another format or an impossible day (31.02.2020).

    Validity is checked explicitly so the result is the same with ANSI mode on or off.
    """
    # Null unless the pattern matched: digits and exactly two dots, so cutting at the dots
    # gives the pattern's groups (no regular expression run again for each), and no cast
    # ever sees a malformed part (ANSI mode would raise on it).
    shaped = _when_matches(col, DATE_PATTERN)
    day = F.substring_index(shaped, ".", 1).cast("int")
    month = F.substring_index(F.substring_index(shaped, ".", 2), ".", -1).cast("int")
    year = F.substring_index(shaped, ".", -1).cast("int")
    valid_month = month.between(1, 12)
    first_of_month = F.when(valid_month, F.make_date(year, month, F.lit(1)))
    valid = valid_month & (day >= 1) & (day <= F.dayofmonth(F.last_day(first_of_month)))
    return F.when(valid, F.make_date(year, month, day))


def parsed_month(col: Column) -> Column:
    """`YYYYMM` -> the first day of that month; null when malformed."""
    shaped = _when_matches(col, MONTH_PATTERN)  # six digits: the year, then the month
    year = F.substring(shaped, 1, 4).cast("int")
    month = F.substring(shaped, 5, 2).cast("int")
    return F.when(month.between(1, 12), F.make_date(year, month, F.lit(1)))


def _when_matches(col: Column, pattern: str) -> Column:
    """The trimmed text when it matches `pattern`, else null."""
    text = F.trim(col)
    return F.when(text.rlike(pattern), text)


def parsed_int(col: Column) -> Column:
    text = F.trim(col)
    return F.when(text.rlike(INTEGER_PATTERN), text.cast("int"))


def parsed_sex(col: Column) -> Column:
    """`F` or `M`; anything else is null."""
    sex = normalized_text(col)
    return F.when(sex.isin("F", "M"), sex)


#: The parser of each parsed column; the raw field it reads is `schema.RAW_TO_PARSED`'s.
PARSERS: dict[str, Callable[[Column], Column]] = {
    S.ACCOUNT_OPENING_MONTH: parsed_month,
    S.CUSTOMER_CITY: normalized_text,
    S.CUSTOMER_STATE: normalized_text,
    S.CUSTOMER_AGE: parsed_int,
    S.CUSTOMER_SEX: parsed_sex,
    S.CREDIT_LIMIT_TOTAL: parsed_amount,
    S.CREDIT_LIMIT_AVAILABLE: parsed_amount,
    S.TRANSACTION_DATE: parsed_date,
    S.AMOUNT: parsed_amount,
    S.LABEL: normalized_text,
    S.MERCHANT_CITY: normalized_text,
    S.MERCHANT_COUNTRY: normalized_text,
}
_RAW_OF = {parsed: raw for raw, parsed in S.RAW_TO_PARSED.items()}


#: The amount fields: the parser and up to three reasons read each one's trimmed text, format
#: check and number, so `with_amount_parts` computes those once per row.
AMOUNT_FIELDS: tuple[str, ...] = tuple(
    raw for raw, parsed in S.RAW_TO_PARSED.items() if PARSERS[parsed] is parsed_amount
)
_PARTS = ("text", "well_formed", "number")


def _part(raw: str, part: str) -> str:
    return f"_{raw}_{part}"


def with_amount_parts(lines: DataFrame) -> DataFrame:
    """Adds each amount field's trimmed text, then its format check, then its number (null
    when malformed), as columns.

    Spark keeps a projection whose columns are read more than once (`CollapseProject`), so the
    parsers and the reasons that read these columns share one evaluation per row instead of
    inlining the same regular expressions over and over: the clean stage's generated code then
    stays within the JVM's 64 KB method limit.
    """
    texts = lines.select(
        "*", *[F.trim(F.col(raw)).alias(_part(raw, "text")) for raw in AMOUNT_FIELDS]
    ).select(
        "*",
        *[
            F.col(_part(raw, "text")).rlike(AMOUNT_PATTERN).alias(_part(raw, "well_formed"))
            for raw in AMOUNT_FIELDS
        ],
    )
    # The number of a well-formed text only: no cast sees a malformed one (ANSI mode would
    # raise on it), and every reader of the number checks `well_formed` first anyway.
    numbers = [
        _amount_number(F.when(F.col(_part(raw, "well_formed")), F.col(_part(raw, "text")))).alias(
            _part(raw, "number")
        )
        for raw in AMOUNT_FIELDS
    ]
    return texts.select("*", *numbers)


def _parsed(raw: str, parsed: str, columns: list[str]) -> Column:
    """`PARSERS[parsed]` of the raw field, read from `with_amount_parts`' columns if present."""
    if raw in AMOUNT_FIELDS and _part(raw, "number") in columns:
        return _amount_value(F.col(_part(raw, "well_formed")), F.col(_part(raw, "number")))
    return PARSERS[parsed](F.col(raw))


def with_parsed_fields(lines: DataFrame) -> DataFrame:
    """Adds the typed transaction columns (`schema.TRANSACTION_SCHEMA`) from the raw fields."""
    return lines.select(
        "*",
        *[
            _parsed(raw, parsed, lines.columns).alias(parsed)
            for raw, parsed in S.RAW_TO_PARSED.items()
        ],
    )


def _range_detail_of(records: DataFrame, parsed: str, max_abs: float) -> Column:
    """`amount_range_detail` of a parsed amount's raw field (from its parts when present)."""
    raw = _RAW_OF[parsed]
    if _part(raw, "number") not in records.columns:
        return amount_range_detail(F.col(raw), parsed, max_abs)
    text, well_formed, number = (F.col(_part(raw, p)) for p in _PARTS)
    return _range_detail(text, well_formed, number, parsed, max_abs)


_RANGE_DETAIL = "_range_detail_"
_ROW_REASON, _ROW_DETAIL = "_row_reason", "_row_detail"


def with_reasons(
    records: DataFrame,
    run_date: dt.date,
    earliest_date: dt.date,
    quarantine_duplicates: bool,
    max_abs_amount: float = math.inf,
) -> DataFrame:
    """Adds `level`, `reason`, `detail`: null for a row to score, else why it is quarantined.

    File-level reasons come from the reader; row-level ones are checked in a fixed order, so a
    row with several problems reports the first. An amount or credit limit outside
    ±`max_abs_amount` (or beyond a double) is a `bad_amount`: one absurd value would otherwise
    shift the per-account aggregates, and so the scores, of every row of its file.
    """
    tx_date = F.col(S.TRANSACTION_DATE)
    amount_text = F.col(_RAW_OF[S.AMOUNT])
    amounts = (S.AMOUNT, S.CREDIT_LIMIT_TOTAL, S.CREDIT_LIMIT_AVAILABLE)
    # Intermediate columns, each read more than once below, so each is one projection computed
    # once per row (see `with_amount_parts`): the range details, then the row verdict.
    staged = records.select(
        "*",
        *[
            _range_detail_of(records, parsed, max_abs_amount).alias(_RANGE_DETAIL + parsed)
            for parsed in amounts
        ],
    )
    row_cases: list[tuple[Column, str | Column, Column]] = [
        (F.col(read.ROW_REASON).isNotNull(), F.col(read.ROW_REASON), F.col(read.ROW_DETAIL)),
        (tx_date.isNull(), reasons.BAD_DATE, F.lit(BAD_DATE_DETAIL)),
        (
            tx_date > F.lit(run_date),
            reasons.FUTURE_DATE,
            F.concat(F.lit("after run date "), F.lit(run_date.isoformat())),
        ),
        (
            tx_date < F.lit(earliest_date),
            reasons.DATE_TOO_OLD,
            F.concat(F.lit("before "), F.lit(earliest_date.isoformat())),
        ),
        *[
            (detail.isNotNull(), reasons.BAD_AMOUNT, detail)
            for detail in (F.col(_RANGE_DETAIL + parsed) for parsed in amounts)
        ],
        (
            F.col(S.AMOUNT).isNull() & ~is_missing_amount(amount_text),
            reasons.BAD_AMOUNT,
            F.lit(BAD_AMOUNT_DETAIL),
        ),
    ]
    if quarantine_duplicates:
        row_cases.append(
            (F.col(S.IS_REPEATED_LINE), reasons.DUPLICATE_ROW, F.lit(DUPLICATE_ROW_DETAIL))
        )
    reason_of_row, detail_of_row = read.first_match(row_cases)
    staged = staged.select("*", reason_of_row.alias(_ROW_REASON), detail_of_row.alias(_ROW_DETAIL))
    row_reason, row_detail = F.col(_ROW_REASON), F.col(_ROW_DETAIL)
    file_rejected = F.col(read.FILE_REASON).isNotNull()
    return (
        staged.withColumn(
            LEVEL,
            F.when(file_rejected, F.lit(S.LEVEL_FILE)).when(
                row_reason.isNotNull(), F.lit(S.LEVEL_ROW)
            ),
        )
        .withColumn(REASON, F.when(file_rejected, F.col(read.FILE_REASON)).otherwise(row_reason))
        .withColumn(DETAIL, F.when(file_rejected, F.col(read.FILE_DETAIL)).otherwise(row_detail))
        .drop(_ROW_REASON, _ROW_DETAIL, *[_RANGE_DETAIL + parsed for parsed in amounts])
    )


def clean(
    lines: DataFrame,
    run_date: dt.date,
    earliest_date: dt.date,
    quarantine_duplicates: bool = False,
    max_abs_amount: float = math.inf,
) -> DataFrame:
    """Read-stage lines -> typed records, each with its quarantine verdict (null = score it).

    A line repeating an earlier line of its file is scored and keeps `is_repeated_line` true;
    with `quarantine_duplicates` it is quarantined as `duplicate_row` instead.
    """
    parts = [_part(raw, p) for raw in AMOUNT_FIELDS for p in _PARTS]
    return (
        lines.transform(with_amount_parts)
        .transform(with_parsed_fields)
        .transform(with_reasons, run_date, earliest_date, quarantine_duplicates, max_abs_amount)
        .drop(*parts)
    )
