"""Honest splits: a time hold-out on unseen accounts, and k folds grouped by account.

Per-file aggregates (counts, amount ranks within the account's file) describe a whole account,
so an account seen in training must never appear on the evaluation side: every split here is by
account. The hold-out is also later in time: training rows are dated before the cutoff, hold-out
rows on or after it, so the score reflects the model's use on future files.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

TRAIN = "train"
HOLDOUT = "holdout"


def _bucket(account: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) per account (independent of row order)."""
    return zlib.crc32(f"{seed}:{account}".encode()) / 2**32


def holdout_accounts(accounts: Iterable[str], share: float, seed: int) -> set[str]:
    """The accounts reserved for the hold-out: about `share` of them, the same on every run.

    Raises:
        ValueError: fewer than two accounts, or the share leaves one side empty.
    """
    unique = sorted(set(accounts))
    if len(unique) < 2:
        raise ValueError(f"need at least two accounts to hold some out, got {len(unique)}")
    chosen = {a for a in unique if _bucket(a, seed) < share}
    if not chosen or len(chosen) == len(unique):
        # Tiny inputs: fall back to a rank cut so both sides keep at least one account.
        ranked = sorted(unique, key=lambda a: _bucket(a, seed))
        n = min(max(1, round(share * len(unique))), len(unique) - 1)
        chosen = set(ranked[:n])
    return chosen


def side_of(account: str, date: dt.date, cutoff: dt.date, holdout: set[str]) -> str | None:
    """TRAIN, HOLDOUT, or None for rows that belong to neither (kept out of both)."""
    if account in holdout:
        return HOLDOUT if date >= cutoff else None
    return TRAIN if date < cutoff else None


def assign_sides(
    frame: pd.DataFrame, account_col: str, date_col: str, cutoff: dt.date, holdout: set[str]
) -> pd.Series:
    """Vectorised `side_of` for a pandas frame (None where a row is dropped)."""
    in_holdout = frame[account_col].isin(holdout).to_numpy()
    dates = pd.to_datetime(frame[date_col]).dt.date.to_numpy()
    after = np.array([d >= cutoff for d in dates], dtype=bool)
    sides = np.where(in_holdout & after, HOLDOUT, np.where(~in_holdout & ~after, TRAIN, None))
    return pd.Series(sides, index=frame.index, dtype=object)


def group_folds(groups: np.ndarray | pd.Series, k: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) per row; all rows of one group (account) share a fold.

    Groups are shuffled with `seed`, then dealt to folds largest first onto the fold with the
    fewest rows, so folds stay balanced in rows even when accounts differ in size.

    Raises:
        ValueError: fewer groups than folds.
    """
    values = np.asarray(groups)
    names, inverse, sizes = np.unique(values, return_inverse=True, return_counts=True)
    if len(names) < k:
        raise ValueError(f"{k} folds need at least {k} accounts, got {len(names)}")
    order = np.random.default_rng(seed).permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_group = np.empty(len(names), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        fold_of_group[g] = f
        load[f] += sizes[g]
    return fold_of_group[inverse]


def iter_folds(folds: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(fold, train row indices, validation row indices) for each fold."""
    for f in np.unique(folds):
        yield int(f), np.flatnonzero(folds != f), np.flatnonzero(folds == f)


def sample_groups(groups: np.ndarray | pd.Series, max_rows: int, seed: int) -> np.ndarray:
    """Row mask keeping whole groups (accounts), drawn in random order, up to `max_rows` rows.

    The first drawn group is always kept, even when it alone exceeds `max_rows`.
    """
    values = np.asarray(groups)
    names, inverse, sizes = np.unique(values, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    keep = np.zeros(len(names), dtype=bool)
    total = 0
    for g in order:
        if total and total + sizes[g] > max_rows:
            continue
        keep[g] = True
        total += sizes[g]
    return keep[inverse]
