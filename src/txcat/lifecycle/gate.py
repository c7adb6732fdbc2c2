"""The quality gate: is this registered version good enough to serve?

Pure functions over the version's `evaluation.json` (hold-out metrics of the model and of the
baselines, computed on the same rows at training time) and the `quality_gate:` thresholds.

Against the baselines, `quality_gate.baseline_rule` chooses the test: `margin` (the model's
macro-F1 and accuracy at least the best baseline's plus a margin) or `interval` (the model's lead
over the best baseline judged by the 95 % paired bootstrap interval training recorded in
`holdout_leads`: the accuracy lead surely above 0, the macro-F1 lead not surely below 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from txcat.config import INTERVAL, QualityGateConfig
from txcat.lifecycle.candidates import BASELINES, XGBOOST


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateResult:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def lines(self) -> list[str]:
        return [f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]


class GateInputError(ValueError):
    """The evaluation lacks what the gate needs (an old or foreign artifact)."""


def _beats_baselines(
    metric: str,
    model: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, Any]],
    margin: float,
) -> Check:
    best_name = max(baselines, key=lambda n: baselines[n][metric])
    needed = baselines[best_name][metric] + margin
    value = model[metric]
    return Check(
        f"{metric}_vs_baselines",
        value >= needed,
        f"{value:.4f} vs required {needed:.4f} (best baseline {best_name} "
        f"{baselines[best_name][metric]:.4f} + margin {margin})",
    )


def _lead_interval(
    metric: str,
    baselines: Mapping[str, Mapping[str, Any]],
    leads: Mapping[str, Mapping[str, Any]],
    above_zero: bool,
) -> Check:
    """The model's lead over the best baseline on `metric`, judged by its bootstrap interval:
    the whole interval above 0 (`above_zero`), or its upper end at 0 or more (not surely
    worse)."""
    best_name = max(baselines, key=lambda n: baselines[n][metric])
    record = leads[best_name]
    lead = record[metric]
    passed = lead["low"] > 0 if above_zero else lead["high"] >= 0
    rule = "must lie above 0" if above_zero else "must reach 0"
    return Check(
        f"{metric}_vs_baselines",
        passed,
        f"lead {lead['lead']:+.4f} over best baseline {best_name}, "
        f"{float(record['confidence']):.0%} interval [{lead['low']:+.4f}, {lead['high']:+.4f}] "
        f"({rule}; {record['rows']} hold-out rows)",
    )


def _versus_champion(
    model: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    serving_version: str | None,
    max_drop: float,
) -> Check:
    """The candidate against the champion scored on the same hold-out rows at training time."""
    name = "macro_f1_vs_champion"
    if champion is None:
        return Check(name, True, "no champion when this version was trained")
    label = champion.get("label", f"version {champion.get('version')}")
    if serving_version is not None and str(champion.get("version")) != serving_version:
        return Check(
            name,
            True,
            f"not compared: evaluated against {label}, the champion is now version "
            f"{serving_version} (retrain to compare)",
        )
    if not champion.get("comparable"):
        return Check(name, True, f"not compared with {label}: {champion.get('reason')}")
    theirs = float(champion["metrics"]["macro_f1"])
    needed = theirs - max_drop
    value = float(model["macro_f1"])
    return Check(
        name,
        value >= needed,
        f"{value:.4f} vs required {needed:.4f} ({label} {theirs:.4f} on the same hold-out rows, "
        f"allowed drop {max_drop})",
    )


def evaluate_gate(
    evaluation: Mapping[str, Any],
    gate: QualityGateConfig,
    serving_version: str | None = None,
) -> GateResult:
    """Runs every check; the result lists all of them, passed or not.

    `serving_version` is the version the serving alias points at now: a comparison with an
    older champion, recorded at training time, is reported but no longer decides.

    Raises:
        GateInputError: the hold-out metrics of the model or a baseline are missing.
    """
    holdout = evaluation.get("holdout") or {}
    missing = [n for n in (XGBOOST, *BASELINES) if n not in holdout]
    if missing:
        raise GateInputError(f"evaluation has no hold-out metrics for {missing}")
    model = holdout[XGBOOST]
    baselines = {n: holdout[n] for n in BASELINES}
    if gate.baseline_rule == INTERVAL:
        leads = evaluation.get("holdout_leads") or {}
        if any(n not in leads for n in BASELINES):
            raise GateInputError(
                "evaluation has no hold-out lead intervals (trained before they were recorded): "
                "retrain it, or judge it with quality_gate.baseline_rule margin"
            )
        versus_baselines = [
            _lead_interval("macro_f1", baselines, leads, above_zero=False),
            _lead_interval("accuracy", baselines, leads, above_zero=True),
        ]
    else:
        versus_baselines = [
            _beats_baselines("macro_f1", model, baselines, gate.min_macro_f1_margin),
            _beats_baselines("accuracy", model, baselines, gate.min_accuracy_margin),
        ]
    checks = [
        *versus_baselines,
        _versus_champion(
            model,
            evaluation.get("champion"),
            serving_version,
            gate.max_macro_f1_drop_vs_champion,
        ),
    ]
    dead = sorted(
        name
        for name, pc in model["per_class"].items()
        if pc["support"] >= gate.min_support_for_recall and pc["recall"] == 0.0
    )
    checks.append(
        Check(
            "no_dead_category",
            not dead,
            f"categories with >= {gate.min_support_for_recall} hold-out rows and recall 0: "
            + (", ".join(dead) if dead else "none"),
        )
    )
    ece = model.get("calibration_error")
    checks.append(
        Check(
            "calibration_error",
            ece is not None and ece <= gate.max_calibration_error,
            f"{ece if ece is None else round(ece, 4)} vs max {gate.max_calibration_error}",
        )
    )
    latency = model["latency_ms_per_10k"]
    checks.append(
        Check(
            "latency",
            latency <= gate.max_latency_ms_per_10k,
            f"{latency:.1f} ms per 10,000 rows vs max {gate.max_latency_ms_per_10k}",
        )
    )
    size = model["size_bytes"]
    checks.append(
        Check(
            "size",
            size <= gate.max_size_bytes,
            f"{int(size)} bytes vs max {gate.max_size_bytes}",
        )
    )
    return GateResult(tuple(checks))
