"""Broken inputs: the ways a bank file goes wrong, injected on purpose.

Each kind turns a well-formed account file into one specific defect, so that the job's
quarantine can be tested kind by kind. File-level kinds break the whole file; row-level
kinds leave the file intact except for ONE data line, whose 1-based line number (the header
is line 1) is reported so a test can check that exactly that line was rejected.
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from txcat.generate import bankformat as bf

FILE_LEVEL_KINDS: tuple[str, ...] = (
    "empty_file",
    "header_only",
    "missing_column",
    "extra_column",
    "reordered_columns",
    "wrong_separator",
    "utf8_bom",
    "utf8",
    "lf_line_ends",
    "no_final_newline",
    "binary_garbage",
    "gzip",
    "non_csv_file",
)
ROW_LEVEL_KINDS: tuple[str, ...] = (
    "amount_missing",
    "amount_abc",
    "amount_dot_decimal",
    "negative_amount",
    "date_invalid",
    "date_other_format",
    "future_date",
    "fewer_fields",
    "more_fields",
    "quoted_semicolon",
    "duplicate_row",
)
#: Every kind, in the order bad files cycle through them.
BAD_KINDS: tuple[str, ...] = FILE_LEVEL_KINDS + ROW_LEVEL_KINDS

#: Written once into a folder that has a `non_csv_file`: what a Hadoop job and a Mac leave
#: behind. Their names start with "_" / "." so Spark's file listing skips them.
SIDE_FILES: dict[str, bytes] = {
    "_SUCCESS": b"",
    ".DS_Store": b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00\x00\x00\x08\x00"
    + bytes(range(256))
    + b"\x00" * 64,
}

_TRANS_FINANC = "TRANS FINANC"
_FUTURE_DAYS = 30
_INVALID_DAY_MONTHS = ((31, 2), (30, 2), (31, 4), (31, 6), (31, 9), (31, 11))
_NOTES = (
    "Conferir os limites destas contas com a agencia antes do fechamento.",
    "Arquivo gerado manualmente - nao processar.",
    "Pendente: reenviar extrato do mes anterior.",
    "Contato do gerente: ramal 4521.",
)


@dataclass
class AccountFile:
    """One account's file, split into fields, with the truth behind each row.

    Attributes:
        account_id: The account id (the file name without extension).
        header: Header tokens as written.
        rows: Field lists as written (text; latin-1 code points, U+0082 for the 0x82 byte).
        categories: Canonical category of each row (known even when labels are not written).
        cents: Amount of each row in cents, None where the amount is missing.
        dates: Transaction date of each row.
    """

    account_id: str
    header: list[str]
    rows: list[list[str]]
    categories: list[str]
    cents: list[int | None]
    dates: list[dt.date]

    def column(self, name: str) -> int:
        """Position of a column, matched on its trimmed header token."""
        return [h.strip() for h in self.header].index(name)


@dataclass(frozen=True)
class Corruption:
    """A bad file ready to write.

    Attributes:
        file_name: Name of the file in the output folder.
        data: Its bytes.
        line: For row-level kinds, the 1-based line number of the altered line.
        data_lines: Data lines (after the header) a text reader would see.
    """

    file_name: str
    data: bytes
    line: int | None
    data_lines: int


@dataclass(frozen=True)
class Context:
    """What a corruption needs to know beyond the file itself.

    Attributes:
        end_date: Last date of the generated range (future dates are after it).
        accented_cities: (accented city, state) pairs for the UTF-8 kinds.
    """

    end_date: dt.date
    accented_cities: Sequence[tuple[str, str]]


def corrupt(kind: str, table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    """Turn one good account file into a bad file of the given kind.

    Args:
        kind: One of `BAD_KINDS`.
        table: The good file, split into fields. It is altered in place.
        rng: Random source for this file only, so files do not depend on each other.
        ctx: Run-wide facts.

    Returns:
        The bad file's name, bytes and, for row-level kinds, the altered line.

    Raises:
        ValueError: If `kind` is unknown.
    """
    if kind in _FILE_KINDS:
        return _FILE_KINDS[kind](table, rng, ctx)
    if kind in _ROW_KINDS:
        line = _ROW_KINDS[kind](table, rng, ctx)
        return _csv(table, line=line)
    raise ValueError(f"unknown bad-file kind {kind!r}; expected one of {BAD_KINDS}")


# --- Serialisation -----------------------------------------------------------------------


def _csv(
    table: AccountFile,
    *,
    line: int | None = None,
    sep: str = ";",
    eol: str = bf.EOL,
    final_eol: bool = True,
    quote: bool = False,
    encoding: str = bf.ENCODING,
    bom: bool = False,
    suffix: str = ".csv",
) -> Corruption:
    text = bf.serialize(
        table.header, table.rows, sep=sep, eol=eol, final_eol=final_eol, quote=quote
    )
    if encoding != bf.ENCODING:
        # The 0x82 stand-in is a latin-1 artefact; a UTF-8 export writes the real letter.
        text = text.replace(chr(0x82), "Ç")
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)
    return Corruption(table.account_id + suffix, data, line, len(table.rows))


# --- File-level kinds ----------------------------------------------------------------------


def _empty_file(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    return Corruption(table.account_id + ".csv", b"", None, 0)


def _header_only(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    table.rows = []
    return _csv(table)


def _missing_column(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    i = table.column("valor")
    table.header.pop(i)
    for row in table.rows:
        row.pop(i)
    return _csv(table)


def _extra_column(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    table.header.append("extra")
    for row, flag in zip(table.rows, rng.integers(0, 2, len(table.rows)).tolist(), strict=True):
        row.append(str(flag))
    return _csv(table)


def _reordered_columns(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    n = len(table.header)
    order = list(range(n))
    while order == sorted(order):
        order = rng.permutation(n).tolist()
    table.header = [table.header[i] for i in order]
    table.rows = [[row[i] for i in order] for row in table.rows]
    return _csv(table)


def _wrong_separator(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    # A comma-separated re-export: fields holding a decimal comma (amounts, the Excel id)
    # get quoted, as any CSV writer would.
    return _csv(table, sep=",", quote=True)


def _use_accented_city(table: AccountFile, rng: np.random.Generator, ctx: Context) -> None:
    # A UTF-8 file is only detectable by its bytes if it has non-ASCII text, and an
    # unlabelled file has no "Ç" label: give the customer an accented city.
    city, state = ctx.accented_cities[int(rng.integers(len(ctx.accented_cities)))]
    ci, si = table.column("cidade"), table.column("estado")
    for row in table.rows:
        row[ci] = bf.pad_city(city)
        row[si] = state + " "


def _utf8_bom(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    _use_accented_city(table, rng, ctx)
    return _csv(table, encoding="utf-8", bom=True)


def _utf8(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    _use_accented_city(table, rng, ctx)
    return _csv(table, encoding="utf-8")


def _lf_line_ends(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    return _csv(table, eol="\n")


def _no_final_newline(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    return _csv(table, final_eol=False)


def _binary_garbage(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    size = int(rng.integers(512, 4096))
    data = rng.integers(0, 256, size, dtype=np.uint8)
    data[rng.random(size) < 0.08] = 0  # NULs: what makes a reader call it binary
    data[0] = 0
    return Corruption(table.account_id + ".csv", data.tobytes(), None, 0)


def _gzip(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    good = _csv(table)
    # mtime=0 keeps the archive byte-identical between runs.
    data = gzip.compress(good.data, compresslevel=6, mtime=0)
    return Corruption(table.account_id + ".csv.gz", data, None, good.data_lines)


def _non_csv_file(table: AccountFile, rng: np.random.Generator, ctx: Context) -> Corruption:
    lines = [_NOTES[i] for i in rng.permutation(len(_NOTES)).tolist()]
    data = ("\n".join([f"Conta {table.account_id}", *lines]) + "\n").encode("utf-8")
    return Corruption(f"{table.account_id}_notes.txt", data, None, 0)


_FILE_KINDS: dict[str, Callable[[AccountFile, np.random.Generator, Context], Corruption]] = {
    "empty_file": _empty_file,
    "header_only": _header_only,
    "missing_column": _missing_column,
    "extra_column": _extra_column,
    "reordered_columns": _reordered_columns,
    "wrong_separator": _wrong_separator,
    "utf8_bom": _utf8_bom,
    "utf8": _utf8,
    "lf_line_ends": _lf_line_ends,
    "no_final_newline": _no_final_newline,
    "binary_garbage": _binary_garbage,
    "gzip": _gzip,
    "non_csv_file": _non_csv_file,
}

# --- Row-level kinds ---------------------------------------------------------------------------


def _pick(rng: np.random.Generator, candidates: list[int], fallback: int) -> int:
    if not candidates:
        return fallback
    return candidates[int(rng.integers(len(candidates)))]


def _with_amount(table: AccountFile) -> list[int]:
    return [i for i, c in enumerate(table.cents) if c is not None and c > 0]


def _line(row: int) -> int:
    return row + 2  # 1-based, after the header


def _amount_missing(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    # Real missing amounts come only with TRANS FINANC and empty merchant fields; this one
    # keeps a merchant city and country, so it stays detectable without labels.
    candidates = [i for i, c in enumerate(table.categories) if c != _TRANS_FINANC]
    i = _pick(rng, candidates, 0)
    row = table.rows[i]
    row[table.column("valor")] = bf.MISSING_AMOUNT
    city, country = table.column("cidade_estabelecimento"), table.column("pais_estabelecimento")
    if not row[city]:
        row[city] = row[table.column("cidade")].strip()[:13]
    if not row[country]:
        row[country] = "BR"
    return _line(i)


def _amount_abc(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    i = _pick(rng, _with_amount(table), 0)
    table.rows[i][table.column("valor")] = "abc"
    return _line(i)


def _amount_dot_decimal(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    i = _pick(rng, _with_amount(table), 0)
    cents = table.cents[i] or int(rng.integers(100, 100_000))
    whole, frac = divmod(abs(cents), 100)
    if frac == 0:
        frac = int(rng.integers(1, 100))
    # One or two decimals after the dot: never three, which would read as a thousands dot.
    decimals = str(frac // 10) if frac % 10 == 0 else f"{frac:02d}"
    table.rows[i][table.column("valor")] = f"{whole}.{decimals}"
    return _line(i)


def _negative_amount(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    # Genuine refunds repeat the amount of an earlier purchase in the same file, negated.
    # This negative matches no other amount of the file, so it is not a refund.
    i = _pick(rng, _with_amount(table), 0)
    others = {abs(c) for j, c in enumerate(table.cents) if c is not None and j != i}
    cents = table.cents[i] or int(rng.integers(100, 100_000))
    while cents in others:
        cents += 1
    table.rows[i][table.column("valor")] = bf.format_amount_cents(-cents)
    return _line(i)


def _date_invalid(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    i = int(rng.integers(len(table.rows)))
    day, month = _INVALID_DAY_MONTHS[int(rng.integers(len(_INVALID_DAY_MONTHS)))]
    table.rows[i][table.column("data")] = f"{day}.{month:02d}.{table.dates[i].year}"
    return _line(i)


def _date_other_format(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    i = int(rng.integers(len(table.rows)))
    table.rows[i][table.column("data")] = table.dates[i].isoformat()
    return _line(i)


def _future_date(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    i = int(rng.integers(len(table.rows)))
    future = ctx.end_date + dt.timedelta(days=_FUTURE_DAYS)
    table.rows[i][table.column("data")] = bf.format_date(future)
    return _line(i)


def _fewer_fields(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    # Dropping a middle field shifts every later value, as a real broken export does.
    i = int(rng.integers(len(table.rows)))
    table.rows[i].pop(table.column("limite_disp"))
    return _line(i)


def _more_fields(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    i = int(rng.integers(len(table.rows)))
    d = table.column("data")
    table.rows[i].insert(d + 1, table.rows[i][d])
    return _line(i)


def _quoted_semicolon(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    i = int(rng.integers(len(table.rows)))
    c = table.column("cidade_estabelecimento")
    city = table.rows[i][c] or "SAO PAULO"
    if " " in city:
        city = city.replace(" ", ";", 1)
    else:
        cut = max(1, len(city) // 2)
        city = f"{city[:cut]};{city[cut:]}"
    table.rows[i][c] = f'"{city}"'
    return _line(i)


def _duplicate_row(table: AccountFile, rng: np.random.Generator, ctx: Context) -> int:
    i = int(rng.integers(len(table.rows)))
    table.rows.insert(i + 1, list(table.rows[i]))
    table.categories.insert(i + 1, table.categories[i])
    table.cents.insert(i + 1, table.cents[i])
    table.dates.insert(i + 1, table.dates[i])
    return _line(i + 1)  # the second copy is the offending line


_ROW_KINDS: dict[str, Callable[[AccountFile, np.random.Generator, Context], int]] = {
    "amount_missing": _amount_missing,
    "amount_abc": _amount_abc,
    "amount_dot_decimal": _amount_dot_decimal,
    "negative_amount": _negative_amount,
    "date_invalid": _date_invalid,
    "date_other_format": _date_other_format,
    "future_date": _future_date,
    "fewer_fields": _fewer_fields,
    "more_fields": _more_fields,
    "quoted_semicolon": _quoted_semicolon,
    "duplicate_row": _duplicate_row,
}

if set(_FILE_KINDS) != set(FILE_LEVEL_KINDS) or set(_ROW_KINDS) != set(ROW_LEVEL_KINDS):
    raise RuntimeError("bad-kind tables out of sync")  # pragma: no cover
