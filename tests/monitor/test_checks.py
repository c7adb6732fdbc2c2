"""The monitor's rules on counts: PSI, drift, prediction mix, volume, quarantine, feedback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from txcat import schema as S
from txcat.config import load_config
from txcat.monitor import checks
from txcat.monitor.profile import OTHER

MC = load_config("local").monitoring


def test_psi_matches_its_definition_and_floors_empty_bins() -> None:
    e, a = [50, 30, 20], [20, 30, 50]
    p, q = np.array(e) / 100, np.array(a) / 100
    assert checks.psi(e, a) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert checks.psi(e, e) == 0.0
    # An empty bin today counts as PSI_FLOOR, not as -inf.
    assert math.isfinite(checks.psi([10, 10], [20, 0]))
    assert checks.psi([0, 0], [1, 2]) == 0.0


def _numeric(counts, missing=0, edges=(1.0, 2.0)):
    return {"edges": list(edges), "counts": list(counts), "missing": missing}


def test_feature_drift_alerts_on_a_moved_feature_only() -> None:
    reference = {
        "numeric": {
            "amount_log": _numeric([100, 100, 100]),
            "age_years": _numeric([100, 100, 100]),
            "month": _numeric([300, 0, 0]),
        },
        "categorical": {},
    }
    day = {
        "numeric": {
            "amount_log": _numeric([5, 5, 290]),
            "age_years": _numeric([98, 101, 101]),
            "month": _numeric([0, 0, 300]),
        },
        "categorical": {},
    }
    table, alerts = checks.feature_drift(reference, day, MC)
    assert [a["features"] for a in alerts] == [["amount_log"]]
    assert alerts[0]["metric"] == "feature_psi" and alerts[0]["threshold"] == MC.psi_alert
    assert table[0]["feature"] == "month"  # highest PSI first, listed but report-only
    assert not table[0]["alerting"] and table[0]["severity"] == "alert"


def test_a_column_gone_missing_drifts_through_its_missing_bin() -> None:
    reference = {"numeric": {"age_years": _numeric([100, 100, 100])}, "categorical": {}}
    day = {"numeric": {"age_years": _numeric([0, 0, 0], missing=300)}, "categorical": {}}
    table, alerts = checks.feature_drift(reference, day, MC)
    assert alerts[0]["features"] == ["age_years"]
    assert table[0]["missing_share_today"] == 1.0 and table[0]["missing_share_reference"] == 0.0


def test_new_categorical_values_are_named() -> None:
    reference = {
        "numeric": {},
        "categorical": {"merchant_country": {"counts": {"BR": 950, "US": 50}, "missing": 0}},
    }
    day = {
        "numeric": {},
        "categorical": {
            "merchant_country": {
                "counts": {"BR": 700, "US": 50, "KZ": 150, "MN": 100},
                "missing": 0,
            }
        },
    }
    table, alerts = checks.feature_drift(reference, day, MC)
    new = [a for a in alerts if a["metric"] == "new_category_share"]
    assert new[0]["features"] == ["merchant_country"]
    assert new[0]["categories"] == ["KZ", "MN"]
    assert new[0]["value"] == pytest.approx(0.25)
    assert table[0]["new_values"] == {"KZ": 150, "MN": 100}


def test_rare_reference_values_are_not_new() -> None:
    reference = {
        "numeric": {},
        "categorical": {"merchant_country": {"counts": {"BR": 990, OTHER: 10}, "missing": 0}},
    }
    day = {
        "numeric": {},
        "categorical": {"merchant_country": {"counts": {"BR": 1000}, "missing": 0}},
    }
    _, alerts = checks.feature_drift(reference, day, MC)
    assert alerts == []


def test_values_folded_into_other_in_the_reference_are_not_new() -> None:
    # CN was seen in training but is not among the top values the profile counts one by one.
    reference = {
        "numeric": {},
        "categorical": {
            "merchant_country": {
                "counts": {"BR": 950, OTHER: 50},
                "missing": 0,
                "seen": ["BR", "CN", "US"],
            }
        },
    }
    day = {
        "numeric": {},
        "categorical": {
            "merchant_country": {"counts": {"BR": 700, "CN": 50, "KZ": 250}, "missing": 0}
        },
    }
    table, alerts = checks.feature_drift(reference, day, MC)
    new = [a for a in alerts if a["metric"] == "new_category_share"]
    assert new[0]["categories"] == ["KZ"]
    assert table[0]["new_values"] == {"KZ": 250}
    assert table[0]["new_share"] == pytest.approx(0.25)


def _prediction_reference(mix):
    return {
        "mix": mix,
        "confidence_edges": [0.5],
        "confidence_counts": [10, 90],
        "mean_top_probability": 0.6,
        "low_confidence_share": 0.1,
    }


def test_prediction_mix_shift_names_the_categories_that_moved() -> None:
    reference = _prediction_reference({"SERVICO": 500, "RESTAURANTE": 300, "VAREJO": 200})
    day = {
        "rows": 1000,
        "mix": {"SERVICO": 50, "RESTAURANTE": 600, "VAREJO": 350},
        "confidence_counts": [10, 990],
        "mean_top_probability": 0.6,
        "low_confidence_share": 0.1,
    }
    metrics, alerts = checks.prediction_drift(reference, day, MC)
    assert [a["metric"] for a in alerts] == ["prediction_mix_psi"]
    assert alerts[0]["categories"][0] == "SERVICO"
    assert metrics["mix"]["SERVICO"] == {"reference_share": 0.5, "today_share": 0.05}


def test_confidence_drop_low_confidence_and_never_predicted() -> None:
    reference = _prediction_reference({"SERVICO": 500, "RESTAURANTE": 300, "VAREJO": 200})
    day = {
        "rows": 1000,
        "mix": {"SERVICO": 600, "RESTAURANTE": 400},
        "confidence_counts": [600, 400],
        "mean_top_probability": 0.4,
        "low_confidence_share": 0.6,
    }
    _, alerts = checks.prediction_drift(reference, day, MC)
    by_metric = {a["metric"]: a for a in alerts}
    assert by_metric["mean_top_probability"]["threshold"] == pytest.approx(0.5)
    assert by_metric["low_confidence_share"]["value"] == 0.6
    assert by_metric["categories_never_predicted"]["categories"] == ["VAREJO"]


def test_volume_is_judged_against_the_trailing_median_once_there_is_history() -> None:
    history = [{"files_read": 1000, "rows_read": 100_000}] * 3
    metrics, alerts = checks.volume({"files_read": 300, "rows_read": 30_000}, history, MC)
    assert {a["metric"] for a in alerts} == {"volume_files_read", "volume_rows_read"}
    assert metrics["rows_read"] == {"today": 30_000, "trailing_median": 100_000}
    _, alerts = checks.volume({"files_read": 300, "rows_read": 30_000}, history[:2], MC)
    assert alerts == []  # two runs: fewer than min_history_runs
    _, alerts = checks.volume({"files_read": 900, "rows_read": 95_000}, history, MC)
    assert alerts == []


def test_quarantine_share_by_reason_against_ceiling_and_trend() -> None:
    today = {
        "rows_read": 1000,
        "files_read": 100,
        "rows_quarantined": 40,
        "quarantined_by_reason": {"bad_date": 30, "bad_amount": 10},
        "files_quarantined_by_reason": {"missing_columns": 1},
    }
    usual = {"rows_read": 1000, "files_read": 100, "quarantined_by_reason": {"bad_amount": 10}}
    metrics, alerts = checks.quarantine(today, [usual] * 3, MC)
    assert [a["reasons"] for a in alerts] == [["row:bad_date"]]
    assert metrics["by_reason"]["row:bad_amount"] == {"share": 0.01, "trailing_median": 0.01}
    assert metrics["row_share"] == 0.04


def test_failed_expectations_alert_with_their_history() -> None:
    results = [
        {"id": "input:expect_x[amount]", "success": False, "unexpected_percent": 3.0},
        {"id": "output:expect_y", "success": True},
    ]
    earlier = [[{"id": "input:expect_x[amount]", "success": False}], []]
    metrics, alerts = checks.expectations(results, earlier)
    assert alerts[0]["expectations"] == ["input:expect_x[amount]"]
    assert alerts[0]["value"] == 3.0
    assert metrics["results"][0]["failed_days_before"] == 1 and metrics["failed"] == 1


def test_confusion_figures_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    cats = list(S.CATEGORIES[:5])
    truth = rng.integers(0, 5, 400)
    pred = np.where(rng.random(400) < 0.6, truth, rng.integers(0, 4, 400))
    confusion: dict[tuple[str, str], int] = {}
    for t, p in zip(truth, pred, strict=True):
        confusion[(cats[t], cats[p])] = confusion.get((cats[t], cats[p]), 0) + 1
    figures = checks.confusion_figures(confusion, S.CATEGORIES)
    assert figures["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred), abs=1e-6)
    assert figures["macro_f1"] == pytest.approx(
        skm.f1_score(truth, pred, average="macro", zero_division=0), abs=1e-6
    )
    recall = skm.recall_score(truth, pred, labels=range(5), average=None, zero_division=0)
    assert [figures["per_category"][c]["recall"] for c in cats] == pytest.approx(recall, abs=1e-6)


HOLDOUT = {
    "accuracy": 0.6,
    "macro_f1": 0.4,
    "per_category": {c: {"recall": 0.6, "support": 100} for c in S.CATEGORIES},
}


def test_degradation_alerts_on_a_worse_model() -> None:
    confusion = {("SERVICO", "SERVICO"): 100, ("RESTAURANTE", "SERVICO"): 200}
    metrics, alerts = checks.degradation(confusion, HOLDOUT, S.CATEGORIES, MC, "a window")
    assert metrics["judged"] is True
    names = {a["metric"] for a in alerts}
    assert {"feedback_accuracy", "feedback_macro_f1", "feedback_category_recall"} <= names
    recall = [a for a in alerts if a["metric"] == "feedback_category_recall"]
    assert recall[0]["categories"] == ["RESTAURANTE"] and recall[0]["value"] == 0.0


def test_too_little_feedback_is_not_judged_and_says_why() -> None:
    confusion = {("RESTAURANTE", "SERVICO"): 50}
    metrics, alerts = checks.degradation(confusion, HOLDOUT, S.CATEGORIES, MC, "a window")
    assert alerts == []
    assert metrics["judged"] is False
    assert "50 labelled rows" in metrics["note"] and "min_feedback_rows" in metrics["note"]


def test_plain_words_put_the_verdicts_first_and_group_drifted_features() -> None:
    from txcat.monitor.report import plain_words

    metrics = {
        "alerts": [
            checks.alert("feature_psi", 0.4, 0.25, "x", features=["amount_log"]),
            checks.alert("volume_rows_read", 10, 50, "rows read dropped to 10"),
            checks.alert("feature_psi", 2.0, 0.25, "x", features=["age_years"]),
            checks.alert("feedback_accuracy", 0.2, 0.5, "accuracy on 300 labelled rows is 0.200"),
        ],
        "feedback": {"judged": True, "accuracy": 0.2, "macro_f1": 0.1, "rows": 300,
                     "holdout": {"accuracy": 0.6, "macro_f1": 0.4}},
    }  # fmt: skip
    lines = plain_words(metrics)
    assert lines[0] == "Accuracy on 300 labelled rows is 0.200."
    assert lines[1] == "Rows read dropped to 10."
    assert lines[2] == (
        "2 feature(s) moved away from training (PSI >= 0.25): age_years (2.00), amount_log (0.40)."
    )
