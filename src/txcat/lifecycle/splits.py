"""Honest splits: a time hold-out, and k folds grouped by account.

The hold-out is later in time: training rows are dated before the cutoff, hold-out rows on or
after it, so the score reflects the model's use on future files. Two modes (`lifecycle.holdout`):

- `time`: every account on both sides, as the daily job scores accounts the model has seen.
  Each side of an account is a file of its own (`split_file`), so per-file aggregates never mix
  training and hold-out rows.
- `time_unseen_accounts`: the hold-out also holds out whole accounts (a stable share), so no
  account is on both sides: the score of accounts never seen.

Without a configured cutoff, `derive_cutoff` takes the last share of the labelled days.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from sklearn.model_selection import GroupKFold

from txcat import schema as S

TRAIN = "train"
HOLDOUT = "holdout"
#: The column `with_split_side` adds.
SIDE = "split_side"
_IN_HOLDOUT = "_in_holdout"


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


def derive_cutoff(days: Iterable[dt.date], holdout_share: float) -> dt.date:
    """The first day of the hold-out: the last `holdout_share` of the distinct days.

    Raises:
        ValueError: fewer than two distinct days (nothing to hold out from).
    """
    distinct = sorted(set(days))
    if len(distinct) < 2:
        raise ValueError(
            f"need labelled rows on at least two days to hold later days out, got {len(distinct)}"
        )
    held = min(max(1, round(holdout_share * len(distinct))), len(distinct) - 1)
    return distinct[-held]


def split_file(source_file: str, side: str) -> str:
    """The per-file aggregates' file of one side of an account in `time` mode."""
    return f"{source_file}#{side}"


def original_file(split_name: str) -> str:
    """`split_file`'s inverse (any other name is returned unchanged)."""
    for side in (TRAIN, HOLDOUT):
        if split_name.endswith(f"#{side}"):
            return split_name[: -len(side) - 1]
    return split_name


def with_time_side(transactions: DataFrame, cutoff: dt.date) -> DataFrame:
    """`time` mode: adds `SIDE` to every row (HOLDOUT on or after `cutoff`, else TRAIN).

    Each side of a file becomes a file of its own (`split_file`) and the rows are put together
    by file inside their partition (no shuffle), so the per-file aggregates of either method
    see one side only.
    """
    side = F.when(F.col(S.TRANSACTION_DATE) >= F.lit(cutoff), HOLDOUT).otherwise(TRAIN)
    return (
        transactions.withColumn(SIDE, side)
        .withColumn(S.SOURCE_FILE, F.concat_ws("#", S.SOURCE_FILE, SIDE))
        .sortWithinPartitions(S.SOURCE_FILE, S.LINE_NUMBER)
    )


def with_split_side(
    transactions: DataFrame, accounts: Sequence[str], holdout: set[str], cutoff: dt.date
) -> DataFrame:
    """`time_unseen_accounts` mode: adds `SIDE` and keeps only the rows of one side.

    Hold-out accounts give their rows dated on or after `cutoff`, the other accounts their rows
    dated before it; the rest belong to neither side and are left out. `accounts` lists every
    account of `transactions` (a row of any other account is left out too).
    """
    in_holdout = transactions.sparkSession.createDataFrame(
        [(a, a in holdout) for a in accounts], f"{S.ACCOUNT_ID} string, {_IN_HOLDOUT} boolean"
    )
    after = F.col(S.TRANSACTION_DATE) >= F.lit(cutoff)
    side = F.when(F.col(_IN_HOLDOUT) & after, HOLDOUT).when(~F.col(_IN_HOLDOUT) & ~after, TRAIN)
    return (
        transactions.join(F.broadcast(in_holdout), S.ACCOUNT_ID)
        .withColumn(SIDE, side)
        .drop(_IN_HOLDOUT)
        .where(F.col(SIDE).isNotNull())
    )


def group_folds(groups: np.ndarray | pd.Series, k: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) per row; all rows of one group (account) share a fold.

    scikit-learn's `GroupKFold` deals the groups largest first onto the fold with the fewest rows,
    so folds stay balanced in rows even when accounts differ in size. It takes groups of equal
    size in descending order of their code; coding the groups in the reverse of a shuffle by
    `seed` makes that order random, and the same for a seed.

    Raises:
        ValueError: fewer groups than folds.
    """
    values = np.asarray(groups)
    names, inverse = np.unique(values, return_inverse=True)
    if len(names) < k:
        raise ValueError(f"{k} folds need at least {k} accounts, got {len(names)}")
    order = np.random.default_rng(seed).permutation(len(names))
    code = np.empty(len(names), dtype=np.int64)
    code[order] = np.arange(len(names))[::-1]
    folds = np.empty(len(values), dtype=np.int64)
    for fold, (_, rows) in enumerate(GroupKFold(n_splits=k).split(values, groups=code[inverse])):
        folds[rows] = fold
    return folds


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
