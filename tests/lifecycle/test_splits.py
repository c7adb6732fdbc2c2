"""Splits: hold-out accounts, date sides, and folds grouped by account."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_sides_follow_account_and_cutoff():
    frame = pd.DataFrame(
        {
            "account_id": ["h", "h", "t", "t", "t"],
            "transaction_date": [
                dt.date(2026, 9, 14),
                CUTOFF,
                dt.date(2026, 9, 14),
                CUTOFF,
                dt.date(2026, 1, 1),
            ],
        }
    )
    sides = splits.assign_sides(frame, "account_id", "transaction_date", CUTOFF, {"h"})
    assert sides.tolist() == [None, splits.HOLDOUT, splits.TRAIN, None, splits.TRAIN]
    for i, row in frame.iterrows():
        assert splits.side_of(row["account_id"], row["transaction_date"], CUTOFF, {"h"}) == sides[i]


def test_no_account_on_both_sides_of_the_holdout():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "account_id": rng.choice([f"a{i}" for i in range(50)], 3000),
            "transaction_date": pd.to_datetime("2026-05-01")
            + pd.to_timedelta(rng.integers(0, 180, 3000), unit="D"),
        }
    )
    held = splits.holdout_accounts(frame["account_id"], 0.3, seed=3)
    sides = splits.assign_sides(frame, "account_id", "transaction_date", CUTOFF, held)
    train_accounts = set(frame.loc[sides == splits.TRAIN, "account_id"])
    holdout_accounts = set(frame.loc[sides == splits.HOLDOUT, "account_id"])
    assert train_accounts and holdout_accounts
    assert not train_accounts & holdout_accounts
    dates = pd.to_datetime(frame["transaction_date"]).dt.date
    assert (dates[sides == splits.TRAIN] < CUTOFF).all()
    assert (dates[sides == splits.HOLDOUT] >= CUTOFF).all()


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
