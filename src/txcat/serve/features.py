"""The model's features for ONE account file, in pandas/numpy: `txcat.features` without Spark.

Same definitions, same order (`features.FEATURE_COLUMNS`), same arithmetic as the Spark
expressions of `features.row`, `features.enrich` and `features.memory`; the per-file aggregates
are the batch job's own numpy implementation (`features.aggregates.file_aggregates`). The parity
test (`tests/serve/test_parity.py`) compares every column with the Spark job's.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from txcat import schema as S
from txcat import strictmath
from txcat.config import ReferenceConfig
from txcat.features import FEATURE_COLUMNS
from txcat.features import memory as M
from txcat.features.aggregates import AGGREGATE_FEATURES, file_aggregates
from txcat.features.enrich import NATIONAL_SCOPE, ReferenceDataError
from txcat.features.row import PHONE_PATTERN, ROW_FEATURES, URL_PATTERN
from txcat.serve import javaregex as J
from txcat.serve.rows import Record

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_NOT_DIGIT = re.compile(r"\D", re.ASCII)
_SECONDS_PER_DAY = 86400
_SECONDS_IN_31_DAYS = 31 * _SECONDS_PER_DAY
_INT32 = 2**31


# --- reference data --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceTables:
    """The reference tables of `features.enrich`, held in memory, the bureau as of one day."""

    national_holidays: frozenset[dt.date]
    state_holidays: frozenset[tuple[dt.date, str]]
    countries: frozenset[str]
    #: account -> (score band index, cards, delinquent) of its newest snapshot on or before
    #: `as_of`.
    bureau: Mapping[str, tuple[float | None, float | None, float | None]]
    as_of: dt.date
    warnings: tuple[str, ...] = ()


def _iso_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.fullmatch(value)
    if match is None:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _csv_rows(data: bytes) -> list[dict[str, str | None]]:
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text))
    rows = list(reader)
    if not rows:
        return []
    header = rows[0]
    return [
        {name: (row[i] if i < len(row) and row[i] != "" else None) for i, name in enumerate(header)}
        for row in rows[1:]
    ]


def load_reference_tables(
    paths: ReferenceConfig, as_of: dt.date, read: Callable[[str], bytes]
) -> ReferenceTables:
    """Reads the reference tables named in the configuration (`enrich.load_references`).

    Raises:
        ReferenceDataError: A table cannot be read; names the table and its setting.
    """
    paths = paths.for_run_date(as_of)
    data: dict[str, bytes] = {}
    for name in ("holidays", "countries", "bureau"):
        path = getattr(paths, name)
        try:
            data[name] = read(path)
        except (OSError, ValueError) as exc:
            raise ReferenceDataError(
                f"reference table {name} (setting reference.{name}) cannot be read: {path} ({exc})"
            ) from exc
    national: set[dt.date] = set()
    state: set[tuple[dt.date, str]] = set()
    holiday_rows = _csv_rows(data["holidays"])
    for row in holiday_rows:
        day, scope = _iso_date(row.get("date")), row.get("scope")
        if day is None or scope is None:
            continue
        scope = scope.strip(" ").upper()
        if scope == NATIONAL_SCOPE:
            national.add(day)
        else:
            state.add((day, scope))
    country_rows = _csv_rows(data["countries"])
    countries = {
        code
        for code in ((row.get("alpha2") or "").strip(" ").upper() for row in country_rows)
        if len(code) == 2
    }
    bureau, bureau_rows, before = _bureau(data["bureau"], as_of)
    warnings = []
    for name, usable in (
        ("holidays", any(_iso_date(r.get("date")) for r in holiday_rows)),
        ("countries", any(r.get("alpha2") is not None for r in country_rows)),
        ("bureau", bureau_rows > 0),
    ):
        if not usable:
            warnings.append(
                f"reference table {name} (reference.{name}) has no row: {getattr(paths, name)}"
            )
    if bureau_rows > 0 and not before:
        warnings.append(
            f"reference table bureau (reference.bureau) has no snapshot on or before "
            f"{as_of.isoformat()}: {paths.bureau}"
        )
    return ReferenceTables(
        frozenset(national), frozenset(state), frozenset(countries), bureau, as_of, tuple(warnings)
    )


def _bureau(
    data: bytes, as_of: dt.date
) -> tuple[dict[str, tuple[float | None, float | None, float | None]], int, bool]:
    """Each account's newest snapshot on or before `as_of` (`enrich.latest_bureau_snapshot`)."""
    latest: dict[str, tuple[dt.date, Any, Any, Any]] = {}
    rows = 0
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        account = record.get("account_id")
        if account is None:
            continue
        if not isinstance(account, str):
            account = json.dumps(account)
        rows += 1
        day = _iso_date(record.get("snapshot_date"))
        if day is None or day > as_of:
            continue
        band = record.get("score_band")
        cards = record.get("n_cards")
        delinquent = record.get("delinquent")
        if account not in latest or day >= latest[account][0]:
            latest[account] = (
                day,
                band if isinstance(band, str) else None,
                cards
                if isinstance(cards, int) and not isinstance(cards, bool) and abs(cards) < _INT32
                else None,
                delinquent if isinstance(delinquent, bool) else None,
            )
    out: dict[str, tuple[float | None, float | None, float | None]] = {}
    for account, (_, band, cards, delinquent) in latest.items():
        index = None
        if band is not None:
            upper = band.upper()
            index = float(S.SCORE_BANDS.index(upper) + 1) if upper in S.SCORE_BANDS else 0.0
        out[account] = (
            index,
            None if cards is None else float(cards),
            None if delinquent is None else float(delinquent),
        )
    return out, rows, bool(latest)


# --- label memory ----------------------------------------------------------------------------


def memory_keys(account_id: str, city: str | None, amount: float | None) -> dict[str, str]:
    """`memory.memory_keys` for one row."""
    city_key = city if city is not None else M._EMPTY
    amount_key = "NULL"
    if amount is not None and abs(amount) < 1e18:  # beyond decimal(20,2): null in Spark
        amount_key = J.decimal_text(amount, 2)
    return {
        M.PRIOR: "",
        "city": city_key,
        "account": account_id,
        "account_city": M._SEP.join((account_id, city_key)),
        "account_city_amount": M._SEP.join((account_id, city_key, amount_key)),
    }


# --- row features ----------------------------------------------------------------------------


def _last_day(day: dt.date) -> dt.date:
    following = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def months_between(later: dt.date, opening: dt.date | tuple[int, int]) -> float:
    """Spark's `months_between(later, opening)` of two dates (rounded to 8 decimals)."""
    year, month, day = (
        (opening.year, opening.month, opening.day)
        if isinstance(opening, dt.date)
        else (opening[0], opening[1], 1)
    )
    month_diff = float((later.year * 12 + later.month) - (year * 12 + month))
    opening_last = day == _month_days(year, month)
    if later.day == day or (later == _last_day(later) and opening_last):
        return month_diff
    seconds = (later.day - day) * _SECONDS_PER_DAY
    return J.round_half_up(month_diff + seconds / float(_SECONDS_IN_31_DAYS), 8)


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _signum(value: float) -> float:
    return math.copysign(1.0, value) if value != 0 else value


def _flag(condition: bool | None) -> float | None:
    return None if condition is None else float(condition)


def row_features(values: Mapping[str, Any]) -> list[float | None]:
    """`features.row.with_row_features` for one parsed transaction, in `ROW_FEATURES` order."""
    amount = values[S.AMOUNT]
    date: dt.date = values[S.TRANSACTION_DATE]
    country = values[S.MERCHANT_COUNTRY]
    city = values[S.MERCHANT_CITY]
    total = values[S.CREDIT_LIMIT_TOTAL]
    available = values[S.CREDIT_LIMIT_AVAILABLE]
    customer_city = values[S.CUSTOMER_CITY]
    sex = values[S.CUSTOMER_SEX]
    state = values[S.CUSTOMER_STATE]
    opening = values[S.ACCOUNT_OPENING_MONTH]
    age = values[S.CUSTOMER_AGE]
    weekday = date.isoweekday() % 7 + 1
    has_amount = amount is not None
    magnitude = abs(amount) if has_amount else 0.0
    phone = False
    if city is not None and J.rlike(PHONE_PATTERN, city):
        phone = len(_NOT_DIGIT.sub("", city)) >= 7
    features = [
        amount,
        _signum(amount) * strictmath.log1p(magnitude) if has_amount else None,
        float(not has_amount),
        _flag(amount < 0) if has_amount else None,
        _flag(math.fmod(magnitude, 1.0) < 1e-9) if has_amount else None,
        _flag(math.fmod(magnitude, 10.0) < 1e-9) if has_amount else None,
        J.round_half_up(math.fmod(magnitude * 100, 100), 0) if has_amount else None,
        float(weekday),
        float(weekday in (1, 7)),
        float(date.day),
        float(date.month),
        float((_last_day(date) - date).days),
        _flag(country != "BR") if country is not None else None,
        float(country is None),
        float(city is None),
        float(bool(J.rlike(URL_PATTERN, city, ascii_classes=False))) if city else 0.0,
        float(phone),
        float(city is not None and customer_city is not None and city == customer_city[:13]),
        total,
        (total - available) / total
        if total is not None and total > 0 and available is not None
        else None,
        months_between(date, opening) if opening is not None else None,
        None if age is None else float(age),
        _flag(sex == "F") if sex is not None else None,
        float(S.BR_STATES.index(state) + 1) if state in S.BR_STATES else None,
    ]
    if len(features) != len(ROW_FEATURES):
        raise AssertionError("ROW_FEATURES is out of step with the features computed")
    return features


# --- the whole frame -------------------------------------------------------------------------


def feature_frame(
    source_file: str,
    account_id: str,
    records: Sequence[Record],
    refs: ReferenceTables,
    memory: M.MemoryIndex,
) -> pd.DataFrame:
    """Every feature of a file's scorable records (in line order), with `line_number`."""
    values = [r.values for r in records]
    n = len(values)
    columns: dict[str, Any] = {S.LINE_NUMBER: np.array([r.line_number for r in records], int)}
    by_row = np.array([row_features(v) for v in values], dtype=np.float64).reshape(
        n, len(ROW_FEATURES)
    )
    for i, name in enumerate(ROW_FEATURES):
        columns[name] = by_row[:, i]

    table = pa.table(
        {
            S.SOURCE_FILE: pa.array([source_file] * n, pa.string()),
            S.AMOUNT: pa.array([v[S.AMOUNT] for v in values], pa.float64()),
            S.LINE_NUMBER: pa.array([r.line_number for r in records], pa.int32()),
            S.TRANSACTION_DATE: pa.array([v[S.TRANSACTION_DATE] for v in values], pa.date32()),
            S.MERCHANT_COUNTRY: pa.array([v[S.MERCHANT_COUNTRY] for v in values], pa.string()),
            S.MERCHANT_CITY: pa.array([v[S.MERCHANT_CITY] for v in values], pa.string()),
        }
    )
    aggregates = file_aggregates(table)
    for name in AGGREGATE_FEATURES:
        columns[name] = aggregates[name].to_numpy(zero_copy_only=False).astype(np.float64)

    columns["is_national_holiday"] = np.array(
        [float(v[S.TRANSACTION_DATE] in refs.national_holidays) for v in values]
    )
    columns["is_state_holiday"] = np.array(
        [float((v[S.TRANSACTION_DATE], v[S.CUSTOMER_STATE]) in refs.state_holidays) for v in values]
    )
    columns["merchant_country_is_valid"] = np.array(
        [
            np.nan
            if v[S.MERCHANT_COUNTRY] is None
            else float(v[S.MERCHANT_COUNTRY] in refs.countries)
            for v in values
        ],
        dtype=np.float64,
    )
    bureau = refs.bureau.get(account_id)
    for i, name in enumerate(("bureau_score_band", "bureau_n_cards", "bureau_delinquent")):
        value = np.nan if bureau is None or bureau[i] is None else bureau[i]
        columns[name] = np.full(n, value, dtype=np.float64)
    columns["bureau_is_missing"] = np.full(n, float(bureau is None))

    keys = [memory_keys(account_id, v[S.MERCHANT_CITY], v[S.AMOUNT]) for v in values]
    columns.update(memory.features({level: [k[level] for k in keys] for level in M.LEVELS}, n))
    # One float block in the model's column order (inserting column by column costs more
    # than the prediction).
    frame = pd.DataFrame(
        np.column_stack([columns[name] for name in FEATURE_COLUMNS]).reshape(
            n, len(FEATURE_COLUMNS)
        ),
        columns=list(FEATURE_COLUMNS),
    )
    frame.insert(0, S.LINE_NUMBER, columns[S.LINE_NUMBER])
    return frame
