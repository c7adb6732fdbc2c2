"""Metrics against numbers computed by hand on a six-row, three-class case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from txcat.lifecycle import metrics as M

CATEGORIES = ["A", "B", "C"]
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
PROBA = np.array(
    [
        [0.7, 0.2, 0.1],  # A, right
        [0.4, 0.5, 0.1],  # A predicted B
        [0.2, 0.6, 0.2],  # B, right
        [0.1, 0.3, 0.6],  # B predicted C
        [0.1, 0.1, 0.8],  # C, right
        [0.3, 0.3, 0.4],  # C, right
    ]
)


@pytest.fixture(scope="module")
def result():
    return M.evaluate(Y_TRUE, PROBA, CATEGORIES)


def test_confusion_matrix(result):
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]


def test_accuracy_and_f1s(result):
    assert result["rows"] == 6
    assert result["accuracy"] == pytest.approx(4 / 6)
    # A: tp 1 fp 0 fn 1; B: tp 1 fp 1 fn 1; C: tp 2 fp 1 fn 0
    f1 = [2 / 3, 1 / 2, 4 / 5]
    assert result["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert result["weighted_f1"] == pytest.approx(sum(f1) / 3)  # equal supports
    pc = result["per_class"]
    assert pc["A"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert pc["B"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert pc["C"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})


def test_log_loss(result):
    picked = [0.7, 0.4, 0.6, 0.3, 0.8, 0.4]
    assert result["log_loss"] == pytest.approx(-sum(math.log(p) for p in picked) / 6)


def test_roc_auc_one_vs_rest_macro(result):
    # A: both positives above all four negatives -> 8/8.
    # B: 0.6 beats 4; 0.3 beats 0.2 and 0.1, ties 0.3 (half), loses to 0.5 -> 6.5/8.
    # C: 0.8 beats 4; 0.4 beats 0.1, 0.1, 0.2 -> 7/8.
    assert result["roc_auc_ovr_macro"] == pytest.approx((1 + 6.5 / 8 + 7 / 8) / 3)


def test_calibration_error(result):
    # Top-label confidences 0.7 ok, 0.5 wrong, 0.6 ok, 0.6 wrong, 0.8 ok, 0.4 ok.
    # Bins: (0.3,0.4] |1-0.4|, (0.4,0.5] |0-0.5|, (0.5,0.6] 2 rows |0.5-0.6|,
    # (0.6,0.7] |1-0.7|, (0.7,0.8] |1-0.8|.
    expected = (0.6 + 0.5 + 2 * 0.1 + 0.3 + 0.2) / 6
    assert result["calibration_error"] == pytest.approx(expected)
    filled = {round(b["upper"], 1): b for b in result["calibration"] if b["rows"]}
    assert filled[0.6]["rows"] == 2 and filled[0.6]["accuracy"] == 0.5
    assert sum(b["rows"] for b in result["calibration"]) == 6


def test_macro_f1_ignores_classes_never_seen():
    proba = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    result = M.evaluate(np.array([0, 1]), proba, CATEGORIES)
    assert result["macro_f1"] == 1.0  # C neither true nor predicted
    assert result["per_class"]["C"]["support"] == 0
    assert math.isnan(M.evaluate(np.array([0, 0]), proba, CATEGORIES)["roc_auc_ovr_macro"])


def test_agrees_with_scikit_learn_on_random_data():
    from sklearn import metrics as skm

    rng = np.random.default_rng(4)
    y = rng.integers(0, 5, 400)
    proba = rng.dirichlet(np.ones(5), 400)
    proba[np.arange(400), y] += 0.3
    proba /= proba.sum(axis=1, keepdims=True)
    result = M.evaluate(y, proba, list("abcde"))
    pred = proba.argmax(axis=1)
    assert result["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert result["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert result["roc_auc_ovr_macro"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert result["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="zero rows"):
        M.evaluate(np.array([], dtype=int), np.zeros((0, 3)), CATEGORIES)
    with pytest.raises(ValueError, match="shape"):
        M.evaluate(Y_TRUE, PROBA[:, :2], CATEGORIES)
    with pytest.raises(ValueError, match="outside"):
        M.evaluate(np.array([0, 3]), PROBA[:2], CATEGORIES)


def test_fold_summary():
    summary = M.summarise_folds([{"accuracy": 0.5, "note": "x"}, {"accuracy": 0.7, "note": "y"}])
    assert summary == {"accuracy": pytest.approx({"mean": 0.6, "std": 0.1})}


def test_paired_bootstrap_lead_is_the_difference_on_all_rows_with_an_interval_around_it():
    from sklearn import metrics as skm

    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 2000)
    better = np.where(rng.random(2000) < 0.8, y, rng.integers(0, 5, 2000))
    worse = np.where(rng.random(2000) < 0.6, y, rng.integers(0, 5, 2000))
    result = M.paired_bootstrap_lead(y, better, worse, 5, resamples=300, seed=1)
    accuracy = skm.accuracy_score(y, better) - skm.accuracy_score(y, worse)
    macro_f1 = skm.f1_score(y, better, average="macro") - skm.f1_score(y, worse, average="macro")
    assert result["accuracy"]["lead"] == pytest.approx(accuracy)
    assert result["macro_f1"]["lead"] == pytest.approx(macro_f1)
    for metric in ("accuracy", "macro_f1"):
        lead = result[metric]
        assert 0 < lead["low"] < lead["lead"] < lead["high"]
    assert (result["rows"], result["resamples"], result["confidence"]) == (2000, 300, 0.95)
    # The same predictions lead by nothing, in every resample.
    same = M.paired_bootstrap_lead(y, better, better, 5, resamples=50)
    assert same["macro_f1"] == {"lead": 0.0, "low": 0.0, "high": 0.0}


def test_paired_bootstrap_interval_straddles_zero_when_the_rows_cannot_tell():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 60)
    a = np.where(rng.random(60) < 0.7, y, rng.integers(0, 3, 60))
    b = np.where(rng.random(60) < 0.7, y, rng.integers(0, 3, 60))
    lead = M.paired_bootstrap_lead(y, a, b, 3, resamples=500)["accuracy"]
    assert lead["low"] < 0 < lead["high"]
    with pytest.raises(ValueError, match="same, non-zero number"):
        M.paired_bootstrap_lead(y, a[:10], b, 3)
    with pytest.raises(ValueError, match="confidence"):
        M.paired_bootstrap_lead(y, a, b, 3, confidence=1.0)
