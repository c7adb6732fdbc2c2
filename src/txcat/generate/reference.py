"""Reference tables the enrichment step joins: holidays, countries, credit-bureau snapshots.

Holidays and countries come from the `holidays` and `pycountry` packages and do not depend on
generated accounts: their builders are production's (`txcat.reference`), written here as flat
files. Only the bureau needs the accounts (its snapshots are keyed by account id and correlate
with the account profile); the job joins each account's newest snapshot on or before its run
date (`txcat.features.enrich.latest_bureau_snapshot`).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from txcat import schema
from txcat.reference import (
    COUNTRIES_FILE,
    COUNTRIES_HEADER,
    HOLIDAYS_FILE,
    HOLIDAYS_HEADER,
    build_countries,
    build_holidays,
    holiday_years,
)

if TYPE_CHECKING:
    from txcat.generate.data import Accounts

logger = logging.getLogger(__name__)

BUREAU_FILE = "bureau.jsonl"

BUREAU_COVERAGE = 0.9
#: Days between two snapshots of an account (a monthly feed).
BUREAU_REFRESH_DAYS = 30
#: Chance, from one snapshot to the one before it, that the score band is a step away.
BAND_STEP_SHARE = 0.05
#: Chance, from one snapshot to the one before it, that the account held one card fewer.
CARD_STEP_SHARE = 0.03
_DELINQUENCY_BY_BAND = (0.01, 0.03, 0.06, 0.12, 0.25)
_BAND_CUTS = (1.0, 0.3, -0.4, -1.1)  # latent score above each cut -> A, B, C, D; else E
_STREAM_BUREAU = 6  # random stream number, distinct from the generator's other streams
_STREAM_BUREAU_HISTORY = 8  # the older snapshots (7 is the generator's regular merchants)


def build_bureau(
    accounts: Accounts, end: dt.date, seed: int, start: dt.date | None = None
) -> list[dict[str, Any]]:
    """A credit-bureau history for most accounts, loosely tied to their profile.

    About 90% of accounts are covered. A covered account has a snapshot every
    `BUREAU_REFRESH_DAYS` from its newest one (taken shortly before `end`) back to the first
    taken on or before `start`, so whatever day of the generated range a job or a training
    run takes as its as-of date, it finds the account's snapshot of that time, as it would in a
    monthly bureau feed. Going back, the score band moves a step now and then (with the
    delinquency flag redrawn) and the number of cards falls. An account's records are written
    newest first or oldest first at random, so a reader must pick by date.

    Args:
        accounts: The generated accounts.
        end: Last transaction date; the newest snapshots are taken shortly before it.
        seed: Run seed.
        start: First transaction date (default `end`: the newest snapshots only).

    Returns:
        Records with account_id, score_band, n_cards, delinquent, snapshot_date.
    """
    start = start or end
    rng = np.random.default_rng([seed, _STREAM_BUREAU])
    n = len(accounts.ids)
    present = rng.random(n) < BUREAU_COVERAGE
    rng.random(n)  # a retired draw, kept so a seed's newest snapshots stay what they were
    latent = (
        0.5 * np.clip(accounts.z_age, -2.5, 2.5)
        + 0.6 * np.clip(accounts.z_limit, -2.5, 2.5)
        + rng.normal(0, 0.9, n)
    )
    band = np.searchsorted(-np.asarray(_BAND_CUTS), -latent, side="right")
    delinquent = rng.random(n) < np.asarray(_DELINQUENCY_BY_BAND)[band]
    cards = 1 + rng.poisson(np.maximum(0.2, 1.2 + 0.5 * accounts.z_limit))
    newest_age = rng.integers(0, 46, n)

    history = np.random.default_rng([seed, _STREAM_BUREAU_HISTORY])
    worst = len(schema.SCORE_BANDS) - 1
    out: list[dict[str, Any]] = []
    for a in np.flatnonzero(present).tolist():
        taken = end - dt.timedelta(days=int(newest_age[a]))
        b, late, held = int(band[a]), bool(delinquent[a]), int(cards[a])
        chain = [(taken, b, held, late)]
        while taken > start:
            taken -= dt.timedelta(days=BUREAU_REFRESH_DAYS)
            if history.random() < BAND_STEP_SHARE:
                b = min(max(b + (1 if history.random() < 0.5 else -1), 0), worst)
                late = bool(history.random() < _DELINQUENCY_BY_BAND[b])
            if history.random() < CARD_STEP_SHARE:
                held = max(1, held - 1)
            chain.append((taken, b, held, late))
        if history.random() < 0.5:
            chain.reverse()
        out.extend(
            {
                "account_id": accounts.ids[a],
                "score_band": schema.SCORE_BANDS[b_],
                "n_cards": cards_,
                "delinquent": late_,
                "snapshot_date": day.isoformat(),
            }
            for day, b_, cards_, late_ in chain
        )
    return out


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    """Write a UTF-8, comma-separated table with LF line ends (quoting where needed)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_holidays(path: Path, start: dt.date, end: dt.date) -> Path:
    """Write holidays.csv covering a year either side of [start, end]."""
    return write_csv(path, HOLIDAYS_HEADER, build_holidays(holiday_years(start, end)))


def write_countries(path: Path) -> Path:
    """Write countries.csv."""
    return write_csv(path, COUNTRIES_HEADER, build_countries())


def write_bureau(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write bureau records as JSON lines."""
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return path


def write_reference_tables(
    out_dir: Path, start: dt.date, end: dt.date, accounts: Accounts, seed: int
) -> tuple[Path, ...]:
    """Write holidays.csv, countries.csv and bureau.jsonl into `out_dir`.

    Args:
        out_dir: Target folder, created if needed.
        start: First transaction date.
        end: Last transaction date.
        accounts: The generated accounts (for the bureau snapshot).
        seed: Run seed.

    Returns:
        The paths written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (
        write_holidays(out_dir / HOLIDAYS_FILE, start, end),
        write_countries(out_dir / COUNTRIES_FILE),
        write_bureau(out_dir / BUREAU_FILE, build_bureau(accounts, end, seed, start)),
    )
    logger.info("wrote reference tables to %s", out_dir)
    return paths


def reference_overrides(folder: Path) -> list[str]:
    """The `--set` values pointing a job at the tables `write_reference_tables` wrote to `folder`.

    They name the files, not their run dates: fine for generated data and tests, where one
    snapshot serves every day.
    """
    return [
        f"reference.holidays={folder / HOLIDAYS_FILE}",
        f"reference.countries={folder / COUNTRIES_FILE}",
        f"reference.bureau={folder / BUREAU_FILE}",
    ]
