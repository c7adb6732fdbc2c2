"""Candidates: weights, the search space, and what each model predicts."""

from __future__ import annotations

import numpy as np
import pytest

from txcat.config import load_config
from txcat.lifecycle import candidates as C

TRAINING = load_config("local").training


def test_class_weights_follow_the_power():
    y = np.array([0, 0, 0, 0, 1])
    assert C.class_weights(y, 3, 0.0).tolist() == [1, 1, 1, 1, 1]
    assert C.class_weights(y, 3, 1.0).tolist() == [1, 1, 1, 1, 4]
    assert C.class_weights(y, 3, 0.5).tolist() == pytest.approx([1, 1, 1, 1, 2])


def test_search_starts_from_the_configuration_and_never_repeats():
    configs = C.search_space(TRAINING, 6, seed=1)
    assert len(configs) == 6
    assert configs[0]["max_depth"] == TRAINING.max_depth
    assert configs[0]["learning_rate"] == TRAINING.learning_rate
    assert len({tuple(sorted(c.items())) for c in configs}) == 6
    assert configs == C.search_space(TRAINING, 6, seed=1)
    assert C.search_space(TRAINING, 1, seed=1) == configs[:1]


def _blobs(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 4)) + y[:, None] * 2.0).astype(np.float32)
    x[::7, 1] = np.nan  # missing values must be handled by every candidate
    return x, y


def test_majority_predicts_training_frequencies():
    y = np.array([0, 1, 1, 1])
    fitted = C.fit_majority(np.zeros((4, 2)), y, 3)
    assert fitted.predict_proba(np.zeros((2, 2))).tolist() == [[0.25, 0.75, 0.0]] * 2
    assert fitted.params == {"majority_class": 1}


def test_logistic_regression_learns_separable_classes():
    x, y = _blobs()
    fitted = C.fit_logistic(x, y, np.ones(len(y)), 4, seed=1)
    proba = fitted.predict_proba(x)
    assert proba.shape == (len(y), 4)
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba[:, 3] == 0).all()
    assert (proba.argmax(axis=1) == y).mean() > 0.9
    assert fitted.size_bytes > 0


def test_xgboost_early_stops_and_keeps_best_rounds():
    x, y = _blobs()
    fitted = C.fit_xgboost(
        x[:200],
        y[:200],
        np.ones(200),
        C.search_space(TRAINING, 1, 1)[0],
        3,
        ["a", "b", "c", "d"],
        seed=1,
        num_boost_round=200,
        early_stopping_rounds=5,
        valid=(x[200:], y[200:]),
    )
    assert fitted.best_iteration is not None and fitted.best_iteration < 199
    assert fitted.booster.num_boosted_rounds() == fitted.best_iteration + 1
    assert fitted.params["num_boost_round"] == fitted.best_iteration + 1
    assert (fitted.predict_proba(x[200:]).argmax(axis=1) == y[200:]).mean() > 0.9
    with pytest.raises(ValueError, match="expected 4 features"):
        fitted.predict_proba(x[:, :3])


def test_classes_too_rare_for_a_tree_take_the_label_memory():
    """A class with fewer than `memory_backoff_rows` training rows gets its probability from
    the row's `mem_p_<k>`; the others keep the trees' answer, and every row sums to 1."""
    rng = np.random.default_rng(3)
    names = ["amount", "mem_p_0", "mem_p_1", "mem_p_2"]
    y = np.array([0] * 150 + [1] * 145 + [2] * 5)
    x = np.zeros((len(y), 4), dtype=np.float32)
    x[:, 0] = y + rng.normal(0, 0.3, len(y))
    x[:, 1:] = rng.dirichlet(np.ones(3), len(y))
    x[y == 2, 3] = 0.9  # the memory knows the rare class
    args = (x, y, np.ones(len(y)), C.search_space(TRAINING, 1, 1)[0], 3, names)
    plain = C.fit_xgboost(*args, seed=1, num_boost_round=20)
    backed = C.fit_xgboost(*args, seed=1, num_boost_round=20, memory_backoff_rows=20)
    assert plain.memory_backoff == () and backed.memory_backoff == (2,)
    p, q = plain.predict_proba(x), backed.predict_proba(x)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(
        q[:, 2] / q[:, :2].sum(axis=1), x[:, 3] / p[:, :2].sum(axis=1), rtol=1e-5
    )
    np.testing.assert_allclose(q[:, 0] / q[:, 1], p[:, 0] / p[:, 1], rtol=1e-5)
    assert (q[y == 2].argmax(axis=1) == 2).mean() > (p[y == 2].argmax(axis=1) == 2).mean()
    # Without memory features, or with the option at 0, nothing is replaced.
    assert C.rare_classes(y, 3, 20, ["amount", "b", "c", "d"]) == ()
    assert C.rare_classes(y, 3, 0, names) == ()
    assert C.rare_classes(y, 3, 5, names) == ()  # 5 rows is not fewer than 5


def test_latency_is_timed_on_ten_thousand_rows():
    calls = []

    def predict(rows):
        calls.append(len(rows))
        return rows

    assert C.latency_ms_per_10k(predict, np.zeros((50, 2)), repeats=3) >= 0
    assert calls == [10_000, 10_000, 10_000]
    with pytest.raises(ValueError):
        C.latency_ms_per_10k(predict, np.zeros((0, 2)), repeats=1)


def _trial(number, macro_f1, rounds, depth, latency=10.0):
    params = {"num_boost_round": rounds, "max_depth": depth}
    return {
        "trial": number,
        "params": params,
        "cost": C.model_cost(params, 22),
        "summary": {"macro_f1": {"mean": macro_f1}, "latency_ms_per_10k": {"mean": latency}},
    }


def test_model_cost_is_trees_times_depth():
    assert C.model_cost({"num_boost_round": 40, "max_depth": 3}, 22) == {
        "trees": 880,
        "max_depth": 3,
        "tree_levels": 2640,
    }


def test_selection_takes_the_cheapest_model_within_the_tolerance():
    trials = [
        _trial(0, 0.700, rounds=40, depth=4),  # the best macro-F1
        _trial(1, 0.697, rounds=30, depth=3),  # within 0.005, 2,640 fewer tree levels
        _trial(2, 0.699, rounds=40, depth=3),
        _trial(3, 0.690, rounds=10, depth=2),  # cheapest, but 0.010 below the best
    ]
    assert C.choose_trial(trials, 0.005)["trial"] == 1
    assert C.choose_trial(trials, 0.0)["trial"] == 0
    assert C.choose_trial(trials, 0.02)["trial"] == 3


def test_selection_breaks_equal_cost_by_measured_latency_then_quality():
    trials = [
        _trial(0, 0.70, rounds=20, depth=3, latency=12.0),
        _trial(1, 0.70, rounds=20, depth=3, latency=9.0),
        _trial(2, 0.71, rounds=20, depth=3, latency=9.0),
    ]
    assert C.choose_trial(trials, 0.05)["trial"] == 2
