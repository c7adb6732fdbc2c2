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
