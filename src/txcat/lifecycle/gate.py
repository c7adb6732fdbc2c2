"""The quality gate: is this registered version good enough to serve?

Pure functions over the version's `evaluation.json` (hold-out metrics of the model and of the
baselines, computed on the same rows at training time) and the `quality_gate:` thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from txcat.config import QualityGateConfig
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
    checks = [
        _beats_baselines("macro_f1", model, baselines, gate.min_macro_f1_margin),
        _beats_baselines("accuracy", model, baselines, gate.min_accuracy_margin),
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
