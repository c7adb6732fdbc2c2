"""Synthetic bank files: one CSV per credit-card account, in the bank's exact layout.

All random draws happen column-wise on numpy arrays (accounts first, then every
transaction of every account at once); only the final text formatting is per row, and it
is kept to one string join per line. Every random stream is derived from the seed and a
fixed stream number, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import holidays
import numpy as np

from txcat import schema
from txcat.generate import bad as badmod
from txcat.generate import bankformat as bf
from txcat.generate import categories as cats
from txcat.generate import reference, vocab

logger = logging.getLogger(__name__)

MANIFEST_NAME = "_generation.json"
MANIFEST_VERSION = 1

#: Accounts opened from this month on (the bank's oldest "safra" in the sample).
FIRST_OPENING = (2010, 1)
#: Share of files whose id column holds the plain account id instead of Excel's "4,53E+11".
PLAIN_ID_SHARE = 0.2
#: Share of customers whose city was keyed in with accents.
ACCENTED_CUSTOMER_SHARE = 0.05
#: Share of unlabelled files that omit the label column altogether.
DROPPED_LABEL_SHARE = 0.1
REFUND_SHARE = 0.005
BLANK_COUNTRY_SHARE = 0.01
INVALID_COUNTRY_SHARE = 0.004
#: An account's category mix. The bank's accounts differ mostly in how much of their spending
#: is SERVICO: its share's spread across the export's accounts (sd 0.24) fits a Beta of
#: concentration 3. The mix of the other categories stays closer to the population's: with 12,
#: the next three categories' shares spread by 0.106 across generated accounts, 0.098 in the
#: export. Lower concentrations make more specialised customers and an easier problem for
#: per-account features: one concentration of 3 for every category made the account's usual
#: category right on 54% of its later rows, against 41% in the export (and 41% now;
#: docs/quality.md, "Account habits", compares the two).
HEAD_CATEGORY = "SERVICO"
HEAD_CONCENTRATION = 3.0
REST_CONCENTRATION = 12.0
#: Regular merchants: each account has a few shops it keeps returning to, each with one
#: category, one city spelling and a usual price; REGULAR_SHARE of rows are such visits.
#: In the bank's export 14% of an account's later rows repeat one of its earlier (city, amount)
#: pairs exactly; this share gives about 15%.
REGULAR_SLOTS = 6
REGULAR_SHARE = 0.25
#: Share of regular visits paid at exactly the usual price (the rest vary by ~10%).
REGULAR_EXACT_PRICE = 0.5
#: Recurring charges (streaming, phone, gym): two slots for SERVICO, one for M.O.T.O.
_SUBSCRIPTION_PRICES_CENTS = (
    1490, 1990, 2190, 2790, 2990, 3290, 3490, 3990, 4590, 5590, 6990, 8900, 9990,
    12990, 14990, 19990,
)  # fmt: skip
_CHUNK_ACCOUNTS = 2000

# Random streams: one per concern, so a change in one part does not reshuffle the others.
# (txcat.generate.reference draws the bureau history from streams 6 and 8.)
_STREAM_ACCOUNTS, _STREAM_ROWS, _STREAM_BAD_PICK, _STREAM_BAD_FILE, _STREAM_LABELS = range(1, 6)
# Stream 7: regular merchants (6 and 8 are the bureau's).
_STREAM_REGULARS = 7


@dataclass(frozen=True)
class BadFile:
    """One injected defect, as recorded in the manifest.

    Attributes:
        file: File name in the output folder.
        kind: One of `txcat.generate.bad.BAD_KINDS`.
        account_id: The account whose file was corrupted.
        line: For row-level kinds, 1-based line number of the altered line (header = 1).
    """

    file: str
    kind: str
    account_id: str
    line: int | None


@dataclass(frozen=True)
class GenerationReport:
    """What a generation run wrote.

    Attributes:
        out_dir: The output folder.
        files: Account files written (one per account, bad ones included).
        rows: Data lines written in text or gzip account files (headers excluded).
        bad_files_by_kind: Number of bad files per kind (kinds with none are absent).
        bad_files: Paths of the bad files.
        bad_file_details: Kind and altered line of every bad file.
        manifest: Path of the hidden manifest.
        reference_files: Paths of the reference tables, if any were written.
        seconds: Wall-clock duration.
    """

    out_dir: Path
    files: int
    rows: int
    bad_files_by_kind: Mapping[str, int]
    bad_files: tuple[Path, ...]
    bad_file_details: tuple[BadFile, ...]
    manifest: Path
    reference_files: tuple[Path, ...] = ()
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for logs: files, rows, bad files, seconds."""
        return (
            f"files={self.files} rows={self.rows} bad_files={len(self.bad_files)} "
            f"seconds={self.seconds:.1f} out={self.out_dir}"
        )


@dataclass(frozen=True)
class Accounts:
    """Account-level columns, one entry per account (the same for every row of a file).

    Attributes:
        ids: Account ids (11-12 digits), also the file names.
        id_field: What the file's `id` column holds (Excel-mangled or plain).
        state: Index into `schema.BR_STATES`.
        city: Customer city as written (plain or accented).
        city_plain: Customer city without accents.
        age: Age in years.
        female: Sex is F.
        opening: Opening month as YYYYMM.
        limit: Total credit limit (integer reais).
        available_share: Available limit as a share of the total (can exceed 1).
        available_varies: Whether the available limit moves from row to row.
        n_rows: Transactions per account.
        z_age: Standardised age (drives category preferences and the bureau).
        z_limit: Standardised log limit.
    """

    ids: list[str]
    id_field: list[str]
    state: np.ndarray
    city: list[str]
    city_plain: list[str]
    age: np.ndarray
    female: np.ndarray
    opening: np.ndarray
    limit: np.ndarray
    available_share: np.ndarray
    available_varies: np.ndarray
    n_rows: np.ndarray
    z_age: np.ndarray
    z_limit: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        """Start of each account's rows in the transaction arrays, plus the total."""
        return np.concatenate([[0], np.cumsum(self.n_rows)])


@dataclass(frozen=True)
class Transactions:
    """Row-level columns for all accounts, grouped by account and sorted by date.

    Attributes:
        account: Account index of each row.
        category: Index into `schema.CATEGORIES`.
        day: Day offset from the start date.
        cents: Amount in cents (negative for refunds; meaningless where `missing`).
        missing: The amount is missing (written " -   ").
        city: Index into the merchant-city vocabulary.
        country: Index into the country vocabulary.
        available: Available limit.
        city_names: Merchant-city vocabulary (object array) that `city` indexes.
        country_names: Country vocabulary (object array) that `country` indexes.
    """

    account: np.ndarray
    category: np.ndarray
    day: np.ndarray
    cents: np.ndarray
    missing: np.ndarray
    city: np.ndarray
    country: np.ndarray
    available: np.ndarray
    city_names: np.ndarray
    country_names: np.ndarray


class _Vocabulary:
    """A growing list of distinct strings, addressed by index."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, value: str) -> int:
        if value not in self._index:
            self._index[value] = len(self.items)
            self.items.append(value)
        return self._index[value]

    def add_all(self, values: list[str] | tuple[str, ...]) -> np.ndarray:
        return np.array([self.add(v) for v in values], dtype=np.int32)

    def as_array(self) -> np.ndarray:
        return np.array(self.items, dtype=object)


# --- Public entry point ------------------------------------------------------------------


def generate(
    out_dir: str | os.PathLike[str],
    accounts: int,
    start_date: dt.date | str,
    end_date: dt.date | str,
    seed: int,
    labels: bool = True,
    bad_share: float = 0.0,
    reference_out: str | os.PathLike[str] | None = None,
    rows_per_account: float = 100,
) -> GenerationReport:
    """Write one bank file per account, a hidden manifest and optionally reference tables.

    Args:
        out_dir: Folder for the account files; created if needed, must be empty.
        accounts: Number of accounts (files).
        start_date: First transaction date (date or "YYYY-MM-DD").
        end_date: Last transaction date, inclusive.
        seed: Non-negative seed; the same arguments give byte-identical output.
        labels: Write the merchant group; if False the label column is empty (or, in ~10%
            of files, absent).
        bad_share: Share of files replaced by a bad file, cycling through
            `txcat.generate.bad.BAD_KINDS` (at least one of each when there are enough
            accounts).
        reference_out: Folder for holidays.csv, countries.csv and bureau.jsonl.
        rows_per_account: Mean transactions per account.

    Returns:
        What was written.

    Raises:
        ValueError: On an invalid argument.
        FileExistsError: If `out_dir` is not empty (mixing two runs would break the
            manifest's account of what is in the folder).
    """
    started = time.perf_counter()
    start, end = _as_date(start_date), _as_date(end_date)
    _validate(accounts, start, end, seed, bad_share, rows_per_account)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"output folder {out} is not empty")

    behaviour = cats.behaviours()
    bad_kinds = _pick_bad_files(accounts, bad_share, seed)
    acc = build_accounts(accounts, start, rows_per_account, seed, bad_kinds)
    tx = build_transactions(acc, start, end, seed, behaviour)
    dropped = _pick_dropped_label_files(accounts, labels, bad_kinds, seed)

    written = _write_files(out, acc, tx, start, end, seed, labels, bad_kinds, dropped)
    reference_files: tuple[Path, ...] = ()
    if reference_out is not None:
        reference_files = reference.write_reference_tables(
            Path(reference_out), start, end, acc, seed
        )

    details = tuple(written.bad)
    by_kind: dict[str, int] = {}
    for b in details:
        by_kind[b.kind] = by_kind.get(b.kind, 0) + 1
    manifest = out / MANIFEST_NAME
    _write_manifest(
        manifest,
        args={
            "accounts": accounts,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "seed": seed,
            "labels": labels,
            "bad_share": bad_share,
            "rows_per_account": float(rows_per_account),
            "reference": reference_out is not None,
        },
        files=accounts,
        rows=written.rows,
        transactions=int(tx.account.size),
        refunds=int(np.count_nonzero(tx.cents < 0)),
        label_counts=_label_counts(tx),
        bad=details,
        by_kind=by_kind,
        dropped_label=[acc.ids[a] + ".csv" for a in dropped],
        side_files=written.side_files,
    )
    report = GenerationReport(
        out_dir=out,
        files=accounts,
        rows=written.rows,
        bad_files_by_kind=by_kind,
        bad_files=tuple(out / b.file for b in details),
        bad_file_details=details,
        manifest=manifest,
        reference_files=reference_files,
        seconds=time.perf_counter() - started,
    )
    logger.debug("generated %s", report.summary())
    return report


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _validate(
    accounts: int,
    start: dt.date,
    end: dt.date,
    seed: int,
    bad_share: float,
    mean: float,
) -> None:
    if accounts < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    if start < dt.date(*FIRST_OPENING, 1):
        raise ValueError(f"start date must not be before {FIRST_OPENING[0]}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError(f"bad_share must be within [0, 1], got {bad_share}")
    if mean <= 0:
        raise ValueError(f"rows_per_account must be positive, got {mean}")


def _rng(seed: int, stream: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *more])


# --- Accounts ------------------------------------------------------------------------------


def _pick_bad_files(accounts: int, share: float, seed: int) -> dict[int, str]:
    """Account index -> bad kind, cycling through the kinds."""
    if share <= 0:
        return {}
    kinds = badmod.BAD_KINDS
    n = round(share * accounts)
    n = max(n, len(kinds) if accounts >= len(kinds) else 1)
    n = min(n, accounts)
    chosen = _rng(seed, _STREAM_BAD_PICK).permutation(accounts)[:n]
    return {int(a): kinds[i % len(kinds)] for i, a in enumerate(chosen)}


def _pick_dropped_label_files(
    accounts: int, labels: bool, bad_kinds: Mapping[int, str], seed: int
) -> list[int]:
    """Unlabelled files that omit the label column (never a bad file: one defect each)."""
    if labels:
        return []
    drop = _rng(seed, _STREAM_LABELS).random(accounts) < DROPPED_LABEL_SHARE
    return [a for a in np.flatnonzero(drop).tolist() if a not in bad_kinds]


def _account_ids(rng: np.random.Generator, n: int) -> list[str]:
    twelve = rng.random(n) < 0.8
    ids = np.where(twelve, rng.integers(10**11, 10**12, n), rng.integers(10**10, 10**11, n))
    # Redraw collisions until unique; with 10^10+ values this loop almost never runs.
    while True:
        _, first = np.unique(ids, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        ids[dup] = rng.integers(10**11, 10**12, int(dup.sum()))
    return [str(i) for i in ids.tolist()]


def build_accounts(
    n: int,
    start: dt.date,
    rows_per_account: float,
    seed: int,
    bad_kinds: Mapping[int, str] | None = None,
) -> Accounts:
    """Draw the account profiles.

    Args:
        n: Number of accounts.
        start: First transaction date (accounts were opened before it).
        rows_per_account: Mean transactions per account.
        seed: Run seed.
        bad_kinds: Accounts whose file will be corrupted with a row-level defect get at
            least two rows, so the defect has a row to sit in.

    Returns:
        The account columns.
    """
    vocab.check_vocabulary()
    rng = _rng(seed, _STREAM_ACCOUNTS)
    ids = _account_ids(rng, n)
    plain_id = rng.random(n) < PLAIN_ID_SHARE
    id_field = [i if p else bf.excel_id(i) for i, p in zip(ids, plain_id.tolist(), strict=True)]

    states = schema.BR_STATES
    state_p = np.array([vocab.STATE_WEIGHTS[s] for s in states])
    state = rng.choice(len(states), n, p=state_p / state_p.sum())
    city_idx = np.zeros(n, dtype=np.int64)
    table = vocab.CUSTOMER_CITIES
    for s, code in enumerate(states):
        members = [i for i, c in enumerate(table) if c[2] == code]
        weights = np.array([table[i][3] for i in members])
        mask = state == s
        city_idx[mask] = np.array(members)[
            rng.choice(len(members), int(mask.sum()), p=weights / weights.sum())
        ]
    has_accent = np.array([bool(table[i][1]) for i in city_idx.tolist()], dtype=bool)
    accent_share = max(has_accent.mean(), 1e-9)
    accented = has_accent & (rng.random(n) < min(1.0, ACCENTED_CUSTOMER_SHARE / accent_share))
    city_plain = [table[i][0] for i in city_idx.tolist()]
    city = [
        table[i][1] if a else table[i][0]
        for i, a in zip(city_idx.tolist(), accented.tolist(), strict=True)
    ]

    age = np.clip(np.rint(rng.normal(41, 13, n)), 18, 85).astype(np.int64)
    female = rng.random(n) < 0.5
    months = (start.year - FIRST_OPENING[0]) * 12 + (start.month - FIRST_OPENING[1]) + 1
    # Skewed towards recent months: the portfolio grows.
    month = np.minimum((months * rng.random(n) ** 0.7).astype(np.int64), months - 1)
    year0, month0 = FIRST_OPENING
    opening = (year0 + (month0 - 1 + month) // 12) * 100 + (month0 - 1 + month) % 12 + 1
    tenure_years = (months - 1 - month) / 12.0

    z_age = (age - 41.0) / 13.0
    rich_state = np.isin(state, [states.index(s) for s in ("SP", "RJ", "DF", "SC", "PR")])
    log_limit = (
        np.log(2500.0)
        + 0.2 * np.clip(z_age, -2, 2)
        + 0.04 * tenure_years
        + 0.25 * rich_state
        + rng.normal(0, 0.6, n)
    )
    limit = np.clip(np.rint(np.exp(log_limit) / 50) * 50, 300, 80_000).astype(np.int64)
    z_limit = (np.log(limit) - np.log(limit).mean()) / max(np.log(limit).std(), 1e-9)

    over = rng.random(n) < 0.1  # available above total: payments above the balance
    available_share = np.where(over, rng.uniform(1.0, 1.3, n), rng.beta(2, 2, n))
    available_varies = rng.random(n) < 0.4

    spread = rng.gamma(3.0, 1.0 / 3.0, n)  # heavy and light card users
    n_rows = np.maximum(1, rng.poisson(rows_per_account * spread)).astype(np.int64)
    for a, kind in (bad_kinds or {}).items():
        if kind in badmod.ROW_LEVEL_KINDS:
            n_rows[a] = max(int(n_rows[a]), 2)

    return Accounts(
        ids=ids,
        id_field=id_field,
        state=state,
        city=city,
        city_plain=city_plain,
        age=age,
        female=female,
        opening=opening,
        limit=limit,
        available_share=available_share,
        available_varies=available_varies,
        n_rows=n_rows,
        z_age=z_age,
        z_limit=z_limit,
    )


# --- Transactions ------------------------------------------------------------------------


def _category_preferences(
    acc: Accounts,
    rng: np.random.Generator,
    behaviour: tuple[cats.CategoryBehaviour, ...],
) -> np.ndarray:
    """Per-account category mix: the prior, tilted by age/sex/limit, then drawn around it.

    The head category's share is a Beta draw (HEAD_CONCENTRATION), the other categories share
    the rest by a Dirichlet draw (REST_CONCENTRATION).
    """
    prior = np.array([schema.CATEGORY_COUNTS[c] for c in schema.CATEGORIES], dtype=float)
    prior /= prior.sum()
    coef_age = np.array([b.age for b in behaviour])
    coef_female = np.array([b.female for b in behaviour])
    coef_limit = np.array([b.limit for b in behaviour])
    sex = np.where(acc.female, 0.5, -0.5)
    tilt = np.exp(
        np.clip(acc.z_age, -2.5, 2.5)[:, None] * coef_age
        + sex[:, None] * coef_female
        + np.clip(acc.z_limit, -2.5, 2.5)[:, None] * coef_limit
    )
    # Re-centre so the population mix still follows the bank's label counts.
    tilt /= tilt.mean(axis=0, keepdims=True)
    expected = prior * tilt
    expected /= expected.sum(axis=1, keepdims=True)
    head = schema.CATEGORIES.index(HEAD_CATEGORY)
    head_expected = expected[:, head]
    rest_expected = np.delete(expected, head, axis=1)
    rest_expected /= rest_expected.sum(axis=1, keepdims=True)
    head_share = _dirichlet(
        rng,
        HEAD_CONCENTRATION,
        np.column_stack([head_expected, 1.0 - head_expected]),
    )[:, 0]
    rest = _dirichlet(rng, REST_CONCENTRATION, rest_expected) * (1.0 - head_share)[:, None]
    return np.insert(rest, head, head_share, axis=1)


def _dirichlet(rng: np.random.Generator, concentration: float, mean: np.ndarray) -> np.ndarray:
    """One Dirichlet draw per row of `mean` (rows summing to 1) at this concentration."""
    draws = rng.gamma(concentration * mean + 1e-12)
    total = draws.sum(axis=1, keepdims=True)
    # A row whose draws all underflow falls back to its mean.
    return np.where(total > 0, draws / np.where(total > 0, total, 1.0), mean)


def _sample_rows_categorical(
    rng: np.random.Generator, probs: np.ndarray, owner: np.ndarray
) -> np.ndarray:
    """Draw one category per row from its account's distribution, without an R x K gather.

    Each account's CDF is shifted by the account index so all of them form one increasing
    array; `owner + u` then lands inside the owner's segment.
    """
    k = probs.shape[1]
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    flat = (cdf + np.arange(probs.shape[0])[:, None]).ravel()
    pos = np.searchsorted(flat, owner + rng.random(owner.size), side="right")
    return np.minimum(pos - owner * k, k - 1).astype(np.int64)


def _national_holidays(start: dt.date, end: dt.date) -> set[dt.date]:
    years = list(range(start.year, end.year + 1))
    return set(holidays.country_holidays("BR", years=years, language="en_US").keys())


def _day_weights(
    start: dt.date, days: int, behaviour: tuple[cats.CategoryBehaviour, ...]
) -> np.ndarray:
    """K x days weights: weekday profile, salary days, national holidays."""
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    weekday = np.array([d.weekday() for d in dates])
    payday = np.array([d.day <= 10 for d in dates])
    hols = _national_holidays(start, dates[-1])
    holiday = np.array([d in hols for d in dates])
    out = np.empty((len(behaviour), days))
    for k, b in enumerate(behaviour):
        w = np.asarray(b.weekday)[weekday]
        w = w * np.where(payday, b.payday, 1.0) * np.where(holiday, b.holiday, 1.0)
        out[k] = w
    return out


def build_transactions(
    acc: Accounts,
    start: dt.date,
    end: dt.date,
    seed: int,
    behaviour: tuple[cats.CategoryBehaviour, ...] | None = None,
) -> Transactions:
    """Draw every transaction of every account, column by column.

    Args:
        acc: The accounts.
        start: First date.
        end: Last date, inclusive.
        seed: Run seed.
        behaviour: Category behaviour table (defaults to `categories.behaviours()`).

    Returns:
        The rows, grouped by account and sorted by date within an account.
    """
    behaviour = behaviour or cats.behaviours()
    rng = _rng(seed, _STREAM_ROWS)
    n = len(acc.ids)
    days = (end - start).days + 1
    owner = np.repeat(np.arange(n), acc.n_rows)
    size = owner.size
    k_count = len(schema.CATEGORIES)
    cat_index = {c: i for i, c in enumerate(schema.CATEGORIES)}

    prefs = _category_preferences(acc, rng, behaviour)
    category = _sample_rows_categorical(rng, prefs, owner)
    # Regular merchants: a visit takes the category of one of the account's slots (slots are
    # drawn from the account's own mix, so the population mix is unchanged).
    reg_rng = _rng(seed, _STREAM_REGULARS)
    slot_owner = np.repeat(np.arange(n), REGULAR_SLOTS)
    slot_category = _sample_rows_categorical(reg_rng, prefs, slot_owner).reshape(n, REGULAR_SLOTS)
    regular = reg_rng.random(size) < REGULAR_SHARE
    regular_slot = reg_rng.integers(0, REGULAR_SLOTS, size)
    category = np.where(regular, slot_category[owner, regular_slot], category)

    # Amounts: per-category log-normal, scaled by how much the customer spends.
    spend = (acc.limit / 2500.0) ** 0.25 * np.exp(rng.normal(0, 0.2, n))
    median = np.array([b.median for b in behaviour])
    sigma = np.array([b.sigma for b in behaviour])
    raw = np.exp(np.log(median[category]) + sigma[category] * rng.standard_normal(size))
    cents = np.maximum(np.rint(raw * spend[owner] * 100), 100).astype(np.int64)
    u = rng.random(size)
    whole_p = np.array([b.whole for b in behaviour])[category]
    round_p = np.array([b.round10 for b in behaviour])[category]
    charm_p = np.array([b.charm for b in behaviour])[category]
    is_round = (u >= whole_p) & (u < whole_p + round_p)
    fifty = is_round & (rng.random(size) < 0.3)
    cents = np.where(u < whole_p, np.maximum(np.rint(cents / 100) * 100, 100), cents)
    cents = np.where(is_round, np.maximum(np.rint(cents / 1000) * 1000, 1000), cents)
    cents = np.where(fifty, np.maximum(np.rint(cents / 5000) * 5000, 5000), cents)
    is_charm = (u >= whole_p + round_p) & (u < whole_p + round_p + charm_p)
    charm_cents = np.where(rng.random(size) < 0.5, 90, 99)
    cents = np.where(is_charm, (cents // 100) * 100 + charm_cents, cents).astype(np.int64)

    # Days: category weekday/payday/holiday profile.
    weights = _day_weights(start, days, behaviour)
    day = np.empty(size, dtype=np.int64)
    for k in range(k_count):
        rows = np.flatnonzero(category == k)
        cdf = np.cumsum(weights[k])
        day[rows] = np.minimum(
            np.searchsorted(cdf, rng.random(rows.size) * cdf[-1], side="right"),
            days - 1,
        )

    # Merchant cities and countries.
    cities = _Vocabulary()
    cities.add("")
    cut = vocab.MERCHANT_CITY_WIDTH
    customer_cities = vocab.CUSTOMER_CITIES
    local = cities.add_all([c[:cut] for c in acc.city_plain])
    pop = np.array([vocab.STATE_WEIGHTS[c[2]] * c[3] for c in customer_cities], dtype=float)
    # City weights are relative within a state; normalise per state so the state share holds.
    for code in schema.BR_STATES:
        members = [i for i, c in enumerate(customer_cities) if c[2] == code]
        pop[members] /= sum(customer_cities[i][3] for i in members)
    pop /= pop.sum()
    random_pool = cities.add_all([c[0][:cut] for c in customer_cities])
    hub_pool = cities.add_all([c[0][:cut] for c in vocab.HUB_CITIES])
    hub_p = np.array([c[1] for c in vocab.HUB_CITIES])
    hub_p /= hub_p.sum()
    tourist_pool = cities.add_all([c[0][:cut] for c in vocab.TOURIST_CITIES])
    tourist_p = np.array([c[1] for c in vocab.TOURIST_CITIES])
    tourist_p /= tourist_p.sum()
    url_pool = {g: cities.add_all([u[:cut] for u in v]) for g, v in vocab.URLS.items()}
    phone_pool = {g: cities.add_all([p[:cut] for p in v]) for g, v in vocab.PHONES.items()}

    countries = _Vocabulary()
    br, blank = countries.add("BR"), countries.add("")
    invalid_pool = countries.add_all(vocab.INVALID_COUNTRIES)
    foreign_pool = {
        g: (countries.add_all([c for c, _ in v]), np.array([w for _, w in v]))
        for g, v in vocab.FOREIGN_COUNTRIES.items()
    }
    foreign_city_pool = {
        countries.add(code): cities.add_all([c[:cut] for c in names])
        for code, names in vocab.FOREIGN_CITIES.items()
    }

    # Favourite cities: where the customer works or has family, mostly in the home state.
    favourites = np.empty((n, 3), dtype=np.int32)
    for s, code in enumerate(schema.BR_STATES):
        holders = np.flatnonzero(acc.state == s)
        if holders.size == 0:
            continue
        members = [i for i, c in enumerate(customer_cities) if c[2] == code]
        w = pop[members] / pop[members].sum()
        same_state = random_pool[members][rng.choice(len(members), (holders.size, 3), p=w)]
        hub = hub_pool[rng.choice(hub_pool.size, (holders.size, 3), p=hub_p)]
        favourites[holders] = np.where(rng.random((holders.size, 3)) < 0.7, same_state, hub)

    mode = np.empty(size, dtype=np.int64)
    for k, b in enumerate(behaviour):
        rows = np.flatnonzero(category == k)
        mode[rows] = rng.choice(len(cats.CITY_MODES), rows.size, p=np.asarray(b.city))
    modes = {m: i for i, m in enumerate(cats.CITY_MODES)}
    city = np.zeros(size, dtype=np.int32)
    sel = mode == modes["local"]
    city[sel] = local[owner[sel]]
    sel = mode == modes["favourite"]
    city[sel] = favourites[owner[sel], rng.integers(0, 3, int(sel.sum()))]
    sel = mode == modes["hub"]
    city[sel] = hub_pool[rng.choice(hub_pool.size, int(sel.sum()), p=hub_p)]
    sel = mode == modes["tourist"]
    city[sel] = tourist_pool[rng.choice(tourist_pool.size, int(sel.sum()), p=tourist_p)]
    sel = mode == modes["random"]
    city[sel] = random_pool[rng.choice(random_pool.size, int(sel.sum()), p=pop)]
    groups = np.array([b.group for b in behaviour])[category]
    card_not_present = (mode == modes["url"]) | (mode == modes["phone"])
    for g in vocab.URLS:
        for name, pool in (("url", url_pool[g]), ("phone", phone_pool[g])):
            sel = (mode == modes[name]) & (groups == g)
            city[sel] = pool[rng.integers(0, pool.size, int(sel.sum()))]

    # Countries: travellers (high limits) buy abroad more; web/phone orders even more.
    travel = np.exp(0.4 * np.clip(acc.z_limit, -2.5, 2.5) + rng.normal(0, 0.3, n))
    foreign_p = np.array([b.foreign for b in behaviour])[category] * travel[owner]
    foreign_p = np.minimum(np.where(card_not_present, foreign_p * 1.5, foreign_p), 0.9)
    is_foreign = rng.random(size) < foreign_p
    country = np.full(size, br, dtype=np.int32)
    for g, (pool, w) in foreign_pool.items():
        # Online merchants are registered in "digital" countries; card-present abroad
        # means travelling, so the "travel" countries.
        sel = is_foreign & (card_not_present == (g == "digital"))
        country[sel] = pool[rng.choice(pool.size, int(sel.sum()), p=w / w.sum())]
    present_abroad = is_foreign & ~card_not_present & (mode != modes["empty"])
    for country_index, pool in foreign_city_pool.items():
        sel = present_abroad & (country == country_index)
        city[sel] = pool[rng.integers(0, pool.size, int(sel.sum()))]
    v = rng.random(size)
    empty_city = mode == modes["empty"]
    country[(v < BLANK_COUNTRY_SHARE) | (empty_city & (v > 0.5))] = blank
    bad_code = (v >= BLANK_COUNTRY_SHARE) & (v < BLANK_COUNTRY_SHARE + INVALID_COUNTRY_SHARE)
    country[bad_code] = invalid_pool[rng.integers(0, invalid_pool.size, int(bad_code.sum()))]

    # Regular merchants: the slot's usual price and city (drawn once per slot, as any row of
    # that category would be), exactly or within ~10%.
    first_row = np.zeros((n, REGULAR_SLOTS), dtype=np.int64)
    for k in range(k_count):
        # a representative row of the slot's category drawn from the rows just generated
        rows_k = np.flatnonzero(category == k)
        pick = slot_category == k
        if rows_k.size and pick.any():
            first_row[pick] = rows_k[reg_rng.integers(0, rows_k.size, int(pick.sum()))]
    usual_cents = np.maximum(
        np.rint(
            np.exp(
                np.log(median[slot_category])
                + sigma[slot_category] * reg_rng.standard_normal((n, REGULAR_SLOTS))
            )
            * spend[:, None]
            * 100
        ),
        100,
    ).astype(np.int64)
    slot_city_reg = np.where(
        reg_rng.random((n, REGULAR_SLOTS)) < 0.5,
        local[:, None].repeat(REGULAR_SLOTS, axis=1),
        city[first_row],
    )
    visit = np.flatnonzero(regular)
    o, sl = owner[visit], regular_slot[visit]
    exact = reg_rng.random(visit.size) < REGULAR_EXACT_PRICE
    jitter = np.exp(reg_rng.normal(0, 0.1, visit.size))
    cents[visit] = np.where(
        exact, usual_cents[o, sl], np.maximum(np.rint(usual_cents[o, sl] * jitter), 100)
    ).astype(np.int64)
    city[visit] = slot_city_reg[o, sl]
    country[visit] = np.where(city[visit] == local[o], br, country[first_row[o, sl]])

    # Recurring charges: same merchant, same amount, same day of the month.
    slot_cents = np.array(_SUBSCRIPTION_PRICES_CENTS)[
        rng.integers(0, len(_SUBSCRIPTION_PRICES_CENTS), (n, 3))
    ]
    slot_day = rng.integers(1, 29, (n, 3))
    slot_kind = rng.random((n, 3))
    slot_city = np.where(
        slot_kind < 0.6,
        url_pool["digital"][rng.integers(0, url_pool["digital"].size, (n, 3))],
        np.where(
            slot_kind < 0.7,
            phone_pool["digital"][rng.integers(0, phone_pool["digital"].size, (n, 3))],
            hub_pool[rng.choice(hub_pool.size, (n, 3), p=hub_p)],
        ),
    )
    us = countries.add("US")
    slot_country = np.where((slot_kind < 0.6) & (rng.random((n, 3)) < 0.2), us, br)
    sub_p = np.array([b.subscription for b in behaviour])[category]
    recurring = rng.random(size) < sub_p
    slot = np.where(category == cat_index["M.O.T.O."], 2, rng.integers(0, 2, size))[recurring]
    who = owner[recurring]
    moved = _move_to_day_of_month(start, days, day[recurring], slot_day[who, slot])
    # A subscription bills once on its day: keep one row per (account, slot, day), so the
    # files do not fill with exact repeats (which the job rightly treats as duplicates).
    key = (who.astype(np.int64) * 3 + slot) * (days + 1) + moved
    _, first = np.unique(key, return_index=True)
    rows = np.flatnonzero(recurring)[first]
    who, slot, moved = who[first], slot[first], moved[first]
    cents[rows] = slot_cents[who, slot]
    city[rows] = slot_city[who, slot]
    country[rows] = slot_country[who, slot]
    day[rows] = moved

    # Financial transfers: the export has no amount and no merchant for most of them.
    missing = (category == cat_index["TRANS FINANC"]) & (
        rng.random(size) < behaviour[cat_index["TRANS FINANC"]].missing_amount
    )
    city[missing] = 0
    country[missing] = blank

    # Refunds repeat an earlier purchase of the same account, negated.
    refund = (rng.random(size) < REFUND_SHARE) & (acc.n_rows[owner] > 1)
    idx = np.flatnonzero(refund)
    first = acc.offsets[:-1][owner[idx]]
    other = first + rng.integers(0, acc.n_rows[owner[idx]] - 1)
    other = np.where(other >= idx, other + 1, other)
    usable = ~missing[other] & ~missing[idx] & ~refund[other]
    idx, other = idx[usable], other[usable]
    refund[:] = False
    refund[idx] = True
    category[idx] = category[other]
    cents[idx] = -cents[other]
    city[idx] = city[other]
    country[idx] = country[other]
    day[idx] = np.minimum(day[other] + rng.integers(0, 21, idx.size), days - 1)

    share = np.where(
        acc.available_varies[owner],
        acc.available_share[owner] + rng.normal(0, 0.06, size),
        acc.available_share[owner],
    )
    available = np.rint(acc.limit[owner] * np.clip(share, 0.0, 1.35)).astype(np.int64)

    order = np.lexsort((refund, day, owner))
    return Transactions(
        account=owner[order],
        category=category[order],
        day=day[order],
        cents=cents[order],
        missing=missing[order],
        city=city[order],
        country=country[order],
        available=available[order],
        city_names=cities.as_array(),
        country_names=countries.as_array(),
    )


def _move_to_day_of_month(
    start: dt.date, days: int, offsets: np.ndarray, day_of_month: np.ndarray
) -> np.ndarray:
    """Shift each date to the given day of its month (clamped), if that stays in range."""
    base = np.datetime64(start, "D")
    dates = base + offsets
    month = dates.astype("datetime64[M]")
    month_start = month.astype("datetime64[D]")
    month_len = ((month + 1).astype("datetime64[D]") - month_start).astype(np.int64)
    target = month_start + (np.minimum(day_of_month, month_len) - 1)
    moved = (target - base).astype(np.int64)
    return np.where((moved >= 0) & (moved < days), moved, offsets)


# --- Writing -------------------------------------------------------------------------------


@dataclass
class _Written:
    rows: int = 0
    bad: list[BadFile] = dataclasses.field(default_factory=list)
    side_files: list[str] = dataclasses.field(default_factory=list)


def _profile_fields(acc: Accounts) -> list[list[str]]:
    """The seven account columns of each file, as written (constant within a file)."""
    states = schema.BR_STATES
    return [
        [idf, str(opening), bf.pad_city(city), states[s] + " ", str(age), "F" if f else "M",
         str(limit)]
        for idf, opening, city, s, age, f, limit in zip(
            acc.id_field,
            acc.opening.tolist(),
            acc.city,
            acc.state.tolist(),
            acc.age.tolist(),
            acc.female.tolist(),
            acc.limit.tolist(), strict=True,
        )
    ]  # fmt: skip


def _write_files(
    out: Path,
    acc: Accounts,
    tx: Transactions,
    start: dt.date,
    end: dt.date,
    seed: int,
    labels: bool,
    bad_kinds: Mapping[int, str],
    dropped: list[int],
) -> _Written:
    days = (end - start).days + 1
    date_names = np.array(bf.date_table(start, days), dtype=object)
    label_names = np.array(
        [bf.file_label(c) if labels else "" for c in schema.CATEGORIES], dtype=object
    )
    profiles = _profile_fields(acc)
    prefixes = [";".join(p) + ";" for p in profiles]
    header_line = schema.RAW_HEADER + bf.EOL
    offsets = acc.offsets
    dropped_set = set(dropped)
    ctx = badmod.Context(
        end_date=end,
        accented_cities=[(c[1], c[2]) for c in vocab.CUSTOMER_CITIES if c[1]],
    )
    result = _Written()
    n = len(acc.ids)
    # Chunks bound the memory of the per-row strings (a few hundred MB for 2M rows at once).
    for a0 in range(0, n, _CHUNK_ACCOUNTS):
        a1 = min(n, a0 + _CHUNK_ACCOUNTS)
        base, stop = int(offsets[a0]), int(offsets[a1])
        part = slice(base, stop)
        available = list(map(str, tx.available[part].tolist()))
        dates = date_names[tx.day[part]].tolist()
        amounts = bf.format_amounts(tx.cents[part])
        for i in np.flatnonzero(tx.missing[part]).tolist():
            amounts[i] = bf.MISSING_AMOUNT
        label_col = label_names[tx.category[part]].tolist()
        city_col = tx.city_names[tx.city[part]].tolist()
        country_col = tx.country_names[tx.country[part]].tolist()
        # Each tail ends with the line break, so prefix.join(tails) interleaves the account
        # prefix exactly once per line: the whole file is two C-level joins.
        columns = (available, dates, amounts, label_col, city_col, country_col)
        tails = [f"{d};{t};{v};{g};{c};{k}\r\n" for d, t, v, g, c, k in zip(*columns, strict=True)]
        for a in range(a0, a1):
            s, e = int(offsets[a]) - base, int(offsets[a + 1]) - base
            if a in bad_kinds or a in dropped_set:
                table = _account_file(
                    acc.ids[a], profiles[a], columns, tx, base, slice(s, e), start
                )
                if a in bad_kinds:
                    kind = bad_kinds[a]
                    bad = badmod.corrupt(kind, table, _rng(seed, _STREAM_BAD_FILE, a), ctx)
                    (out / bad.file_name).write_bytes(bad.data)
                    result.rows += bad.data_lines
                    result.bad.append(BadFile(bad.file_name, kind, acc.ids[a], bad.line))
                    continue
                label = table.column("grupo_estabelecimento")
                table.header.pop(label)
                for row in table.rows:
                    row.pop(label)
                data = bf.serialize(table.header, table.rows).encode(bf.ENCODING)
            else:
                prefix = prefixes[a]
                data = (header_line + prefix + prefix.join(tails[s:e])).encode(bf.ENCODING)
            (out / f"{acc.ids[a]}.csv").write_bytes(data)
            result.rows += e - s
    if any(kind == "non_csv_file" for kind in bad_kinds.values()):
        for name, content in badmod.SIDE_FILES.items():
            (out / name).write_bytes(content)
            result.side_files.append(name)
    # Manifest order: by file name, so it does not depend on the drawing order.
    result.bad.sort(key=lambda b: b.file)
    return result


def _account_file(
    account_id: str,
    profile: list[str],
    columns: tuple[list[str], ...],
    tx: Transactions,
    base: int,
    rows: slice,
    start: dt.date,
) -> badmod.AccountFile:
    """One account's file as fields, for the slow path (bad files, dropped label column).

    Args:
        account_id: The account.
        profile: Its seven profile fields.
        columns: The chunk's formatted row columns (available limit .. country).
        tx: All transactions.
        base: Index of the chunk's first row in `tx`.
        rows: The account's rows within the chunk.
        start: First date of the run (day offsets count from it).
    """
    truth = slice(base + rows.start, base + rows.stop)
    return badmod.AccountFile(
        account_id=account_id,
        header=list(bf.HEADER_FIELDS),
        rows=[[*profile, *fields] for fields in zip(*(c[rows] for c in columns), strict=True)],
        categories=[schema.CATEGORIES[k] for k in tx.category[truth].tolist()],
        cents=[
            None if m else c
            for c, m in zip(tx.cents[truth].tolist(), tx.missing[truth].tolist(), strict=True)
        ],
        dates=[start + dt.timedelta(days=d) for d in tx.day[truth].tolist()],
    )


def _label_counts(tx: Transactions) -> dict[str, int]:
    counts = np.bincount(tx.category, minlength=len(schema.CATEGORIES))
    return {c: int(counts[i]) for i, c in enumerate(schema.CATEGORIES)}


def _write_manifest(
    path: Path,
    *,
    args: Mapping[str, object],
    files: int,
    rows: int,
    transactions: int,
    refunds: int,
    label_counts: Mapping[str, int],
    bad: tuple[BadFile, ...],
    by_kind: Mapping[str, int],
    dropped_label: list[str],
    side_files: list[str],
) -> None:
    doc = {
        "generator": "txcat.generate",
        "format_version": MANIFEST_VERSION,
        "seed": args["seed"],
        "args": dict(args),
        "counts": {
            "files": files,
            "rows": rows,
            "transactions": transactions,
            "refunds": refunds,
            "bad_files": len(bad),
            "bad_files_by_kind": {k: by_kind[k] for k in badmod.BAD_KINDS if k in by_kind},
            "categories": dict(label_counts),
        },
        "conventions": {
            "line": "1-based line number of the altered line; the header is line 1",
            "duplicate_row": "line is the second, repeated copy",
            "refund": "a negative amount equal to minus the amount of an earlier row "
            "of the same file; negative_amount lines match no other amount of their file",
            "amount_missing": "' -   ' outside TRANS FINANC, merchant city and country kept",
        },
        "bad_files": [dataclasses.asdict(b) for b in bad],
        "label_column_dropped": sorted(dropped_label),
        "side_files": side_files,
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")


def true_categories(out_dir: str | os.PathLike[str]) -> list[tuple[str, int, str]]:
    """The true category of every data line of a generated folder, labels written or not.

    Draws the rows again from the arguments its `_generation.json` records (the same arguments
    give the same rows), without writing anything. Bad files are left out: their lines are
    altered.

    Returns:
        (file name, line number with the header as line 1, category), by file and line.

    Raises:
        FileNotFoundError: the folder has no `_generation.json`.
    """
    args = json.loads((Path(out_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))["args"]
    start, end = _as_date(args["start_date"]), _as_date(args["end_date"])
    accounts, seed = int(args["accounts"]), int(args["seed"])
    bad_kinds = _pick_bad_files(accounts, float(args["bad_share"]), seed)
    acc = build_accounts(accounts, start, float(args["rows_per_account"]), seed, bad_kinds)
    tx = build_transactions(acc, start, end, seed, cats.behaviours())
    truth: list[tuple[str, int, str]] = []
    for a, account_id in enumerate(acc.ids):
        if a in bad_kinds:
            continue
        rows = tx.category[int(acc.offsets[a]) : int(acc.offsets[a + 1])].tolist()
        name = f"{account_id}.csv"
        truth += [(name, i + 2, schema.CATEGORIES[k]) for i, k in enumerate(rows)]
    return sorted(truth)
