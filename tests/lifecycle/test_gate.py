"""The quality gate: the pass path and each way to fail."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from txcat.config import load_config
from txcat.lifecycle.gate import GateInputError, evaluate_gate

GATE = load_config("local").quality_gate


def _model(
    macro_f1: float,
    accuracy: float,
    recall_b: float = 0.5,
    support_b: int = 50,
    ece: float = 0.05,
    latency: float = 300.0,
    size: float = 1e6,
) -> dict:
    return {
        "macro_f1": macro_f1,
        "accuracy": accuracy,
        "calibration_error": ece,
        "latency_ms_per_10k": latency,
        "size_bytes": size,
        "per_class": {
            "A": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 100},
            "B": {"precision": 0.5, "recall": recall_b, "f1": 0.5, "support": support_b},
        },
    }


EVALUATION = {
    "holdout": {
        "xgboost": _model(0.70, 0.80),
        "majority": _model(0.10, 0.60, recall_b=0.0),
        "logistic_regression": _model(0.55, 0.70),
    }
}


def _with_model(**kwargs) -> dict:
    evaluation = copy.deepcopy(EVALUATION)
    evaluation["holdout"]["xgboost"] = _model(**({"macro_f1": 0.70, "accuracy": 0.80} | kwargs))
    return evaluation


def test_a_good_model_passes_every_check():
    result = evaluate_gate(EVALUATION, GATE)
    assert result.passed
    assert [c.name for c in result.checks] == [
        "macro_f1_vs_baselines",
        "accuracy_vs_baselines",
        "macro_f1_vs_champion",
        "no_dead_category",
        "calibration_error",
        "latency",
        "size",
    ]
    assert result.lines()[0].startswith("PASS macro_f1_vs_baselines: 0.7000 vs required 0.6000")
    assert "best baseline logistic_regression 0.5500" in result.lines()[0]


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"macro_f1": 0.58}, "macro_f1_vs_baselines"),
        ({"accuracy": 0.71}, "accuracy_vs_baselines"),
        ({"recall_b": 0.0}, "no_dead_category"),
        ({"ece": 0.5}, "calibration_error"),
        ({"latency": 1e6}, "latency"),
        ({"size": 1e12}, "size"),
    ],
)
def test_each_failure_is_named(change, failing):
    result = evaluate_gate(_with_model(**change), GATE)
    assert not result.passed
    assert [c.name for c in result.failed] == [failing]
    assert any(line.startswith(f"FAIL {failing}:") for line in result.lines())


def test_dead_category_lists_the_category_and_ignores_rare_ones():
    result = evaluate_gate(_with_model(recall_b=0.0), GATE)
    assert "recall 0: B" in result.failed[0].detail
    rare = _with_model(recall_b=0.0, support_b=GATE.min_support_for_recall - 1)
    assert evaluate_gate(rare, GATE).passed


def test_margins_come_from_the_configuration():
    strict = dataclasses.replace(GATE, min_macro_f1_margin=0.2)
    assert [c.name for c in evaluate_gate(EVALUATION, strict).failed] == ["macro_f1_vs_baselines"]


def test_missing_baseline_is_an_input_error():
    evaluation = copy.deepcopy(EVALUATION)
    del evaluation["holdout"]["majority"]
    with pytest.raises(GateInputError, match="majority"):
        evaluate_gate(evaluation, GATE)


def _with_champion(macro_f1: float, comparable: bool = True, version: str = "3") -> dict:
    evaluation = copy.deepcopy(EVALUATION)
    evaluation["champion"] = {
        "label": f"txcat-categoriser version {version}",
        "version": version,
        "comparable": comparable,
        "reason": "" if comparable else "trained on other feature columns",
        "metrics": {"macro_f1": macro_f1},
    }
    return evaluation


def test_a_candidate_worse_than_the_champion_is_refused_and_says_why():
    result = evaluate_gate(_with_champion(0.72), GATE, serving_version="3")
    assert [c.name for c in result.failed] == ["macro_f1_vs_champion"]
    assert (
        "0.7000 vs required 0.7200 (txcat-categoriser version 3 0.7200 on the same hold-out rows"
        in result.failed[0].detail
    )
    assert evaluate_gate(_with_champion(0.69), GATE, serving_version="3").passed
    lenient = dataclasses.replace(GATE, max_macro_f1_drop_vs_champion=0.05)
    assert evaluate_gate(_with_champion(0.72), lenient, serving_version="3").passed


def test_a_champion_that_cannot_be_compared_or_has_moved_does_not_decide():
    other_features = evaluate_gate(_with_champion(0.9, comparable=False), GATE, "3")
    assert other_features.passed
    assert "not compared with txcat-categoriser version 3: trained on other feature columns" in (
        other_features.checks[2].detail
    )
    moved = evaluate_gate(_with_champion(0.9), GATE, serving_version="4")
    assert moved.passed and "the champion is now version 4" in moved.checks[2].detail
    assert "no champion" in evaluate_gate(EVALUATION, GATE).checks[2].detail


def _lead(lead: float, low: float, high: float) -> dict:
    return {"lead": lead, "low": low, "high": high}


def _with_leads(accuracy: dict, macro_f1: dict) -> dict:
    """The model 0.03 accuracy and 0.01 macro-F1 ahead of logistic regression, and intervals."""
    evaluation = _with_model(macro_f1=0.56, accuracy=0.73)
    evaluation["holdout_leads"] = {
        name: {"accuracy": accuracy, "macro_f1": macro_f1, "confidence": 0.95, "rows": 860}
        for name in ("majority", "logistic_regression")
    }
    return evaluation


INTERVAL_GATE = dataclasses.replace(GATE, baseline_rule="interval")


def test_the_interval_rule_wants_a_sure_accuracy_lead_and_a_macro_f1_not_surely_worse():
    # Leads smaller than the margins, yet sure (accuracy) or possible (macro-F1): passes.
    small = _with_leads(_lead(0.03, 0.01, 0.05), _lead(0.01, -0.02, 0.04))
    assert not evaluate_gate(small, GATE).passed  # the margin rule refuses them
    result = evaluate_gate(small, INTERVAL_GATE)
    assert result.passed
    assert result.lines()[1] == (
        "PASS accuracy_vs_baselines: lead +0.0300 over best baseline logistic_regression, "
        "95% interval [+0.0100, +0.0500] (must lie above 0; 860 hold-out rows)"
    )
    unsure = _with_leads(_lead(0.03, -0.01, 0.07), _lead(0.01, -0.02, 0.04))
    assert [c.name for c in evaluate_gate(unsure, INTERVAL_GATE).failed] == [
        "accuracy_vs_baselines"
    ]
    worse = _with_leads(_lead(0.03, 0.01, 0.05), _lead(-0.05, -0.08, -0.01))
    assert [c.name for c in evaluate_gate(worse, INTERVAL_GATE).failed] == ["macro_f1_vs_baselines"]


def test_the_interval_rule_needs_the_recorded_intervals():
    with pytest.raises(GateInputError, match="no hold-out lead intervals"):
        evaluate_gate(EVALUATION, INTERVAL_GATE)


def test_an_unknown_baseline_rule_is_a_configuration_error():
    from txcat.config import ConfigError

    with pytest.raises(ConfigError, match="baseline_rule must be one of margin, interval"):
        dataclasses.replace(GATE, baseline_rule="vibes")
