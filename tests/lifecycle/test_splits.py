"""Splits: hold-out accounts, date sides, and folds grouped by account."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txcat import schema as S
from txcat.lifecycle import splits

CUTOFF = dt.date(2026, 9, 15)


def test_holdout_accounts_are_stable_and_about_the_share():
    accounts = [f"acc{i:04d}" for i in range(2000)]
    held = splits.holdout_accounts(accounts, 0.25, seed=7)
    assert held == splits.holdout_accounts(list(reversed(accounts)), 0.25, seed=7)
    assert 0.2 < len(held) / len(accounts) < 0.3
    assert held != splits.holdout_accounts(accounts, 0.25, seed=8)


def test_holdout_keeps_both_sides_on_tiny_inputs():
    held = splits.holdout_accounts(["a", "b"], 0.01, seed=1)
    assert len(held) == 1
    held = splits.holdout_accounts(["a", "b", "c"], 0.99, seed=1)
    assert len(held) == 2


def test_holdout_needs_two_accounts():
    with pytest.raises(ValueError, match="at least two accounts"):
        splits.holdout_accounts(["a", "a"], 0.5, seed=1)


def _sides(spark, frame, holdout):
    """`with_split_side` on a pandas frame: (account, date, side) of every kept row, sorted."""
    rows = spark.createDataFrame(
        list(frame.itertuples(index=False)), f"{S.ACCOUNT_ID} string, {S.TRANSACTION_DATE} date"
    )
    accounts = sorted(set(frame[S.ACCOUNT_ID]))
    split = splits.with_split_side(rows, accounts, holdout, CUTOFF)
    return sorted(
        tuple(r) for r in split.select(S.ACCOUNT_ID, S.TRANSACTION_DATE, splits.SIDE).collect()
    )


@pytest.mark.slow  # a generated labelled set through the feature wiring
def test_sides_follow_account_and_cutoff(spark):
    frame = pd.DataFrame(
        {
            S.ACCOUNT_ID: ["h", "h", "t", "t", "t"],
            S.TRANSACTION_DATE: [
                dt.date(2026, 9, 14),
                CUTOFF,
                dt.date(2026, 9, 14),
                CUTOFF,
                dt.date(2026, 1, 1),
            ],
        }
    )
    assert _sides(spark, frame, {"h"}) == [
        ("h", CUTOFF, splits.HOLDOUT),
        ("t", dt.date(2026, 1, 1), splits.TRAIN),
        ("t", dt.date(2026, 9, 14), splits.TRAIN),
    ]


def test_no_account_on_both_sides_of_the_holdout(spark):
    rng = np.random.default_rng(0)
    dates = [dt.date(2026, 5, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 180, 3000)]
    frame = pd.DataFrame(
        {
            S.ACCOUNT_ID: rng.choice([f"a{i}" for i in range(50)], 3000),
            S.TRANSACTION_DATE: dates,
        }
    )
    held = splits.holdout_accounts(frame[S.ACCOUNT_ID], 0.3, seed=3)
    sides = _sides(spark, frame, held)
    train = [(a, d) for a, d, side in sides if side == splits.TRAIN]
    holdout = [(a, d) for a, d, side in sides if side == splits.HOLDOUT]
    assert {a for a, _ in holdout} == held
    assert not {a for a, _ in train} & held
    assert all(d < CUTOFF for _, d in train)
    assert all(d >= CUTOFF for _, d in holdout)
    after = frame[S.TRANSACTION_DATE] >= CUTOFF
    kept = frame[S.ACCOUNT_ID].isin(held) == after
    assert len(sides) == int(kept.sum())


def test_folds_group_accounts_and_cover_every_row():
    groups = np.array(["a"] * 10 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e"] * 2)
    folds = splits.group_folds(groups, 3, seed=1)
    assert sorted(set(folds)) == [0, 1, 2]
    for account in set(groups):
        assert len(set(folds[groups == account])) == 1
    seen = []
    for _, train, valid in splits.iter_folds(folds):
        assert not set(groups[train]) & set(groups[valid])
        seen.extend(valid)
    assert sorted(seen) == list(range(len(groups)))


def test_folds_balance_rows():
    groups = np.repeat([f"a{i}" for i in range(40)], np.arange(1, 41))
    folds = splits.group_folds(groups, 4, seed=5)
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= 40  # at most one account's rows apart


def test_folds_need_enough_accounts():
    with pytest.raises(ValueError, match="3 folds need at least 3 accounts"):
        splits.group_folds(np.array(["a", "a", "b"]), 3, seed=1)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.sampled_from("abcdefghij"), min_size=5, max_size=60),
    st.integers(2, 4),
    st.integers(0, 1000),
)
def test_no_account_in_two_folds(groups, k, seed):
    groups = np.array(groups)
    if len(set(groups)) < k:
        with pytest.raises(ValueError):
            splits.group_folds(groups, k, seed)
        return
    folds = splits.group_folds(groups, k, seed)
    for _, train, valid in splits.iter_folds(folds):
        assert not set(groups[train]) & set(groups[valid])
        assert len(valid) > 0


def test_sampled_groups_are_whole_and_within_budget():
    groups = np.repeat([f"a{i}" for i in range(30)], 10)
    keep = splits.sample_groups(groups, 95, seed=2)
    assert keep.sum() == 90
    for account in set(groups):
        assert len(set(keep[groups == account])) == 1
    assert splits.sample_groups(groups, 10_000, seed=2).all()
    assert splits.sample_groups(groups, 1, seed=2).sum() == 10  # one account at least


def _balanced_folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The fold assignment training has always used, written out: the models it selected depend
    on it, so `group_folds` must give exactly these folds."""
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_group = np.empty(len(names), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        fold_of_group[g] = f
        load[f] += sizes[g]
    return fold_of_group[inverse]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=2, max_size=400),
    st.integers(2, 5),
    st.integers(0, 2**32 - 1),
)
def test_folds_are_the_balanced_assignment_training_always_used(groups, k, seed):
    groups = np.array([f"acc{g:03d}" for g in groups])
    if len(set(groups)) < k:
        return
    assert splits.group_folds(groups, k, seed).tolist() == _balanced_folds(groups, k, seed).tolist()
