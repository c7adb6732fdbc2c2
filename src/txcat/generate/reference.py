"""Reference tables the enrichment step joins: holidays, countries, a credit-bureau snapshot.

Holidays and countries come from the `holidays` and `pycountry` packages and do not depend on
generated accounts: their builders are production's (`txcat.reference`), written here as flat
files. Only the bureau snapshot needs the accounts (it is keyed by account id and correlates
with the account profile).
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
TWO_SNAPSHOT_SHARE = 0.02
_DELINQUENCY_BY_BAND = (0.01, 0.03, 0.06, 0.12, 0.25)
_BAND_CUTS = (1.0, 0.3, -0.4, -1.1)  # latent score above each cut -> A, B, C, D; else E
_STREAM_BUREAU = 6  # random stream number, distinct from the generator's other streams


def build_bureau(accounts: Accounts, end: dt.date, seed: int) -> list[dict[str, Any]]:
    """A credit-bureau snapshot for most accounts, loosely tied to their profile.

    About 90% of accounts are covered; about 2% of accounts have an older snapshot too
    (written before or after the newer one, so a reader must pick by date).

    Args:
        accounts: The generated accounts.
        end: Last transaction date; snapshots are taken shortly before it.
        seed: Run seed.

    Returns:
        Records with account_id, score_band, n_cards, delinquent, snapshot_date.
    """
    rng = np.random.default_rng([seed, _STREAM_BUREAU])
    n = len(accounts.ids)
    present = rng.random(n) < BUREAU_COVERAGE
    twice = present & (rng.random(n) < TWO_SNAPSHOT_SHARE / BUREAU_COVERAGE)
    latent = (
        0.5 * np.clip(accounts.z_age, -2.5, 2.5)
        + 0.6 * np.clip(accounts.z_limit, -2.5, 2.5)
        + rng.normal(0, 0.9, n)
    )
    band = np.searchsorted(-np.asarray(_BAND_CUTS), -latent, side="right")
    delinquent = rng.random(n) < np.asarray(_DELINQUENCY_BY_BAND)[band]
    cards = 1 + rng.poisson(np.maximum(0.2, 1.2 + 0.5 * accounts.z_limit))
    newest_age = rng.integers(0, 46, n)
    # The older snapshot: up to a band away, taken months earlier.
    old_band = np.clip(band + rng.integers(-1, 2, n), 0, len(schema.SCORE_BANDS) - 1)
    old_delinquent = rng.random(n) < np.asarray(_DELINQUENCY_BY_BAND)[old_band]
    old_cards = np.maximum(1, cards - rng.integers(0, 2, n))
    old_age = newest_age + rng.integers(60, 366, n)
    older_first = rng.random(n) < 0.5

    def record(a: int, b: int, cards_: int, late: bool, days_before: int) -> dict[str, Any]:
        return {
            "account_id": accounts.ids[a],
            "score_band": schema.SCORE_BANDS[b],
            "n_cards": cards_,
            "delinquent": late,
            "snapshot_date": (end - dt.timedelta(days=days_before)).isoformat(),
        }

    out: list[dict[str, Any]] = []
    for a in np.flatnonzero(present).tolist():
        new = record(a, int(band[a]), int(cards[a]), bool(delinquent[a]), int(newest_age[a]))
        if not twice[a]:
            out.append(new)
            continue
        old = record(
            a, int(old_band[a]), int(old_cards[a]), bool(old_delinquent[a]), int(old_age[a])
        )
        out.extend([old, new] if older_first[a] else [new, old])
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
        write_bureau(out_dir / BUREAU_FILE, build_bureau(accounts, end, seed)),
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
