"""Writing values the way the bank's Excel-based export does.

The export went through a Brazilian-locale spreadsheet: decimal comma, thousands dot,
accounting-style dash for a missing amount, day without zero padding, and long account ids
collapsed to three significant digits in scientific notation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from txcat import schema

#: The bank's header as text (encode as latin-1 for bytes).
HEADER_FIELDS: tuple[str, ...] = tuple(schema.RAW_HEADER.split(schema.RAW_SEPARATOR))
#: Spreadsheet accounting format of an empty amount cell.
MISSING_AMOUNT = " -   "
EOL = "\r\n"
#: The bank's files are single-byte; U+0082 stands for the 0x82 byte the export uses for "Ç".
ENCODING = "latin-1"

# Lookup tables: formatting two million amounts one f-string at a time would dominate the
# run time, while the integer parts below this bound cover almost every transaction.
_WHOLE_TABLE_SIZE = 50_000
_WHOLE = [f"{w:,}".replace(",", ".") for w in range(_WHOLE_TABLE_SIZE)]
_FRACTION = ["" if f == 0 else (f",{f // 10}" if f % 10 == 0 else f",{f:02d}") for f in range(100)]


def format_amount_cents(cents: int) -> str:
    """Format one amount given in cents, e.g. 178413 -> "1.784,13", 5440 -> "54,4".

    Args:
        cents: Amount in cents; negative for refunds.

    Returns:
        The amount with decimal comma, thousands dot, no trailing zero decimals.
    """
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{sign}{f'{whole:,}'.replace(',', '.')}{_FRACTION[frac]}"


def format_amounts(cents: np.ndarray) -> list[str]:
    """Vectorised `format_amount_cents` for an int64 array.

    Args:
        cents: Amounts in cents.

    Returns:
        One formatted string per amount.
    """
    cents = np.asarray(cents, dtype=np.int64)
    magnitude = np.abs(cents)
    whole = (magnitude // 100).tolist()
    frac = (magnitude % 100).tolist()
    table, fraction, size = _WHOLE, _FRACTION, _WHOLE_TABLE_SIZE
    out = [
        (table[w] if w < size else f"{w:,}".replace(",", ".")) + fraction[f]
        for w, f in zip(whole, frac, strict=True)
    ]
    for i in np.flatnonzero(cents < 0).tolist():
        out[i] = "-" + out[i]
    return out


def format_date(day: dt.date) -> str:
    """Format a date as the export does: "4.12.2019" (day unpadded, month padded)."""
    return f"{day.day}.{day.month:02d}.{day.year}"


def date_table(start: dt.date, days: int) -> list[str]:
    """Formatted dates for `start` + 0..days-1, to index with day offsets."""
    return [format_date(start + dt.timedelta(days=i)) for i in range(days)]


def excel_id(account_id: str) -> str:
    """The id as Excel shows a long number: three significant digits, e.g. "4,53E+11".

    The digits are cut, not rounded, so that several accounts sharing a prefix collapse to
    the same useless value, as in the bank's files.
    """
    return f"{account_id[0]},{account_id[1:3]}E+{len(account_id) - 1:02d}"


def file_label(category: str) -> str:
    """The label as written in the file (0x82 for "Ç") for a canonical category."""
    cedilla = chr(schema.CEDILLA_BYTE)
    return category.replace("SERVICO", f"SERVI{cedilla}O").replace(
        "AUTO PECAS", f"AUTO PE{cedilla}AS"
    )


#: The canonical category of each label as written in the file (`file_label` reversed).
LABEL_CATEGORIES: dict[str, str] = {file_label(c): c for c in schema.CATEGORIES}


def pad_city(city: str) -> str:
    """Customer city as the fixed-width export writes it (right-padded to 22)."""
    return city.ljust(22)[:22]


def serialize(
    header: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    *,
    sep: str = schema.RAW_SEPARATOR,
    eol: str = EOL,
    final_eol: bool = True,
    quote: bool = False,
) -> str:
    """Join a header and rows into file text.

    Args:
        header: Header tokens, or None for no header line.
        rows: Field lists.
        sep: Field separator.
        eol: Line terminator.
        final_eol: Whether the last line is terminated too (the bank's files are).
        quote: Quote fields containing the separator or a quote, CSV style.

    Returns:
        The file content as text (not yet encoded).
    """
    lines = ([list(header)] if header is not None else []) + [list(r) for r in rows]

    def field(value: str) -> str:
        if quote and (sep in value or '"' in value):
            return '"' + value.replace('"', '""') + '"'
        return value

    text = eol.join(sep.join(field(v) for v in line) for line in lines)
    return text + eol if final_eol and lines else text
