"""The day's figures against the reference and the recent runs: metrics and alerts.

Pure Python on counts the monitor job aggregated with Spark, so every rule is tested without
Spark. Drift is judged on population stability indexes (PSI) over fixed bins, never on p-values,
which are tiny at these row counts whatever the change. Each alert names its metric, value,
threshold and the features, categories or reasons concerned.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from txcat.config import MonitoringConfig
from txcat.monitor.profile import OTHER

#: Floor of a bin's share in the PSI: an empty bin counts as 0.01 % of the rows.
PSI_FLOOR = 1e-4
#: A category is "never predicted" only when the reference mix expects at least this many rows.
MIN_EXPECTED_ROWS = 10

OK, WARN, ALERT = "ok", "warn", "alert"


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two count vectors over the same bins.

    sum((a - e) * ln(a / e)) over the bins' shares, each floored at `PSI_FLOOR`; 0 when either
    side has no row.
    """
    terms = psi_terms(expected, actual)
    return float(sum(terms))


def psi_terms(expected: Sequence[float], actual: Sequence[float]) -> list[float]:
    """Each bin's share of the PSI (what a table lists as the bins that moved)."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.sum() <= 0 or a.sum() <= 0:
        return [0.0] * len(e)
    p = np.maximum(e / e.sum(), PSI_FLOOR)
    q = np.maximum(a / a.sum(), PSI_FLOOR)
    return [float(v) for v in (q - p) * np.log(q / p)]


def alert(metric: str, value: float, threshold: float, message: str, **concerned: Any) -> dict:
    """One alert: metric, value, threshold, what it concerns and a sentence for people."""
    record: dict[str, Any] = {
        "metric": metric,
        "value": _round(value),
        "threshold": _round(threshold),
        "message": message,
    }
    record.update({k: list(v) for k, v in concerned.items() if v})
    return record


def _round(value: float) -> float:
    return round(float(value), 6) if math.isfinite(value) else float(value)


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


# --- Feature drift ------------------------------------------------------------------------------


def report_only(name: str, mc: MonitoringConfig) -> bool:
    """Whether a feature is listed in `monitoring.report_only_features` (`prefix*` allowed)."""
    return any(
        name.startswith(p[:-1]) if p.endswith("*") else name == p for p in mc.report_only_features
    )


def feature_drift(
    reference: Mapping[str, Any], day: Mapping[str, Any], mc: MonitoringConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """PSI per numeric feature (bins + a missing bin) and per categorical column (values + a
    missing bin), and the share of categorical values training never saw.

    Returns:
        The drift table (one record per feature, highest PSI first) and the alerts.
    """
    table: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for name, ref in reference["numeric"].items():
        today = day["numeric"].get(name)
        if today is None or list(today["edges"]) != list(ref["edges"]):
            note = "not binned on the reference's edges today"
            table.append(
                {"feature": name, "kind": "numeric", "psi": None, "severity": OK}
                | {"alerting": False, "note": note}
            )
            continue
        expected = [*ref["counts"], ref["missing"]]
        actual = [*today["counts"], today["missing"]]
        record = _drift_record(name, "numeric", expected, actual, mc, report_only(name, mc))
        table.append(record)
    for name, ref in reference["categorical"].items():
        today = day["categorical"].get(name)
        if today is None:
            continue
        known = [v for v in ref["counts"] if v != OTHER]
        seen = set(ref.get("seen", known))
        new = {v: n for v, n in today["counts"].items() if v != OTHER and v not in seen}
        expected = [*(ref["counts"][v] for v in known), ref["counts"].get(OTHER, 0), ref["missing"]]
        actual = [
            *(today["counts"].get(v, 0) for v in known),
            sum(n for v, n in today["counts"].items() if v not in known),
            today["missing"],
        ]
        record = _drift_record(name, "categorical", expected, actual, mc, report_only(name, mc))
        rows = sum(actual)
        record["new_share"] = _round(_share(sum(new.values()), rows))
        record["new_values"] = dict(sorted(new.items(), key=lambda kv: -kv[1])[:10])
        table.append(record)
        if record["new_share"] > mc.max_new_category_share:
            values = list(record["new_values"])
            alerts.append(
                alert(
                    "new_category_share",
                    record["new_share"],
                    mc.max_new_category_share,
                    f"{record['new_share']:.1%} of today's rows have a {name} never seen in "
                    f"training ({', '.join(values[:5])})",
                    features=[name],
                    categories=values,
                )
            )
    alerts.extend(
        alert(
            "feature_psi",
            r["psi"],
            mc.psi_alert,
            f"{r['feature']} has drifted (PSI {r['psi']:.2f}; missing "
            f"{r['missing_share_reference']:.1%} -> {r['missing_share_today']:.1%})",
            features=[r["feature"]],
        )
        for r in table
        if r["severity"] == ALERT and r["alerting"]
    )
    table.sort(key=lambda r: -(r["psi"] or 0.0))
    return table, alerts


def _drift_record(
    name: str,
    kind: str,
    expected: Sequence[float],
    actual: Sequence[float],
    mc: MonitoringConfig,
    quiet: bool,
) -> dict[str, Any]:
    value = psi(expected, actual)
    severity = ALERT if value >= mc.psi_alert else WARN if value >= mc.psi_warn else OK
    return {
        "feature": name,
        "kind": kind,
        "psi": _round(value),
        "severity": severity,
        "alerting": not quiet,
        "missing_share_reference": _round(_share(expected[-1], sum(expected))),
        "missing_share_today": _round(_share(actual[-1], sum(actual))),
        "rows_today": int(sum(actual)),
    }


# --- Prediction drift ---------------------------------------------------------------------------


def prediction_drift(
    reference: Mapping[str, Any], day: Mapping[str, Any], mc: MonitoringConfig
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The predicted-category mix, mean top probability, low-confidence share and categories
    never predicted, against the hold-out's predictions.

    Args:
        reference: The profile's `predictions` block.
        day: `rows`, `mix` (category -> rows), `confidence_counts`, `mean_top_probability`,
            `low_confidence_share` of today's predictions.
    """
    categories = list(reference["mix"])
    expected = [reference["mix"][c] for c in categories]
    actual = [day["mix"].get(c, 0) for c in categories]
    terms = psi_terms(expected, actual)
    mix_psi = float(sum(terms))
    movers = [categories[i] for i in np.argsort(terms)[::-1][:3] if terms[i] > 0]
    ref_rows, rows = sum(expected), sum(actual)
    mix = {
        c: {
            "reference_share": _round(_share(e, ref_rows)),
            "today_share": _round(_share(a, rows)),
        }
        for c, e, a in zip(categories, expected, actual, strict=True)
    }
    never = [
        c
        for c, e, a in zip(categories, expected, actual, strict=True)
        if a == 0
        and _share(e, ref_rows) >= mc.never_predicted_min_share
        and _share(e, ref_rows) * rows >= MIN_EXPECTED_ROWS
    ]
    metrics = {
        "rows": rows,
        "mix": mix,
        "mix_psi": _round(mix_psi),
        "mix_movers": movers,
        "mean_top_probability": _round(day["mean_top_probability"]),
        "mean_top_probability_reference": _round(reference["mean_top_probability"]),
        "low_confidence": mc.low_confidence,
        "low_confidence_share": _round(day["low_confidence_share"]),
        "low_confidence_share_reference": _round(reference["low_confidence_share"]),
        "confidence_edges": list(reference["confidence_edges"]),
        "confidence_counts": list(day["confidence_counts"]),
        "confidence_counts_reference": list(reference["confidence_counts"]),
        "never_predicted": never,
    }
    alerts: list[dict[str, Any]] = []
    if mix_psi >= mc.prediction_psi_alert:
        moved = ", ".join(
            f"{c} {mix[c]['reference_share']:.1%} -> {mix[c]['today_share']:.1%}" for c in movers
        )
        alerts.append(
            alert(
                "prediction_mix_psi",
                mix_psi,
                mc.prediction_psi_alert,
                f"the predicted-category mix moved (PSI {mix_psi:.2f}): {moved}",
                categories=movers,
            )
        )
    floor = reference["mean_top_probability"] - mc.max_confidence_drop
    if day["mean_top_probability"] < floor:
        alerts.append(
            alert(
                "mean_top_probability",
                day["mean_top_probability"],
                floor,
                f"mean confidence {day['mean_top_probability']:.3f}, reference "
                f"{reference['mean_top_probability']:.3f}",
            )
        )
    ceiling = reference["low_confidence_share"] + mc.max_low_confidence_rise
    if day["low_confidence_share"] > ceiling:
        alerts.append(
            alert(
                "low_confidence_share",
                day["low_confidence_share"],
                ceiling,
                f"{day['low_confidence_share']:.1%} of rows under confidence "
                f"{mc.low_confidence} (reference {reference['low_confidence_share']:.1%})",
            )
        )
    if never:
        alerts.append(
            alert(
                "categories_never_predicted",
                len(never),
                0,
                f"never predicted today: {', '.join(never)}",
                categories=never,
            )
        )
    return metrics, alerts


# --- Data quality -------------------------------------------------------------------------------


def volume(
    today: Mapping[str, Any], history: Sequence[Mapping[str, Any]], mc: MonitoringConfig
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Files and rows read against the median of the last runs' (their summaries)."""
    recent = list(history)[: mc.volume_history_runs]
    metrics: dict[str, Any] = {"history_runs": len(recent)}
    alerts: list[dict[str, Any]] = []
    for key in ("files_read", "rows_read"):
        value = int(today.get(key) or 0)
        past = [int(s[key]) for s in recent if s.get(key) is not None]
        median = statistics.median(past) if past else None
        metrics[key] = {"today": value, "trailing_median": median}
        if median is None or len(past) < mc.min_history_runs or median <= 0:
            continue
        low, high = (1 - mc.max_volume_drop) * median, (1 + mc.max_volume_rise) * median
        if value < low or value > high:
            word = "dropped" if value < low else "rose"
            alerts.append(
                alert(
                    f"volume_{key}",
                    value,
                    low if value < low else high,
                    f"{key.replace('_', ' ')} {word} to {value} against a median of "
                    f"{median:g} over the last {len(past)} runs",
                )
            )
    if len(recent) < mc.min_history_runs:
        metrics["note"] = (
            f"{len(recent)} earlier runs, fewer than monitoring.min_history_runs = "
            f"{mc.min_history_runs}: volume not judged"
        )
    return metrics, alerts


def quarantine_shares(summary: Mapping[str, Any]) -> dict[str, float]:
    """Share per quarantine reason: rows of rows read, files of files read (`file:`/`row:`)."""
    shares = {
        f"row:{r}": _share(n, summary.get("rows_read") or 0)
        for r, n in (summary.get("quarantined_by_reason") or {}).items()
    }
    shares |= {
        f"file:{r}": _share(n, summary.get("files_read") or 0)
        for r, n in (summary.get("files_quarantined_by_reason") or {}).items()
    }
    return shares


def quarantine_share_of(summary: Mapping[str, Any] | None) -> float | None:
    """Rows quarantined of rows read in a run summary (None without a summary)."""
    if not summary:
        return None
    return _round(_share(summary.get("rows_quarantined") or 0, summary.get("rows_read") or 0))


def quarantine(
    today: Mapping[str, Any], history: Sequence[Mapping[str, Any]], mc: MonitoringConfig
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Quarantine shares by reason against a ceiling and against their trailing median."""
    shares = quarantine_shares(today)
    past = [quarantine_shares(s) for s in list(history)[: mc.volume_history_runs]]
    reasons_: dict[str, Any] = {}
    alerts: list[dict[str, Any]] = []
    for key in sorted(set(shares) | {k for p in past for k in p}):
        value = shares.get(key, 0.0)
        median = statistics.median([p.get(key, 0.0) for p in past]) if past else None
        reasons_[key] = {"share": _round(value), "trailing_median": median}
        limit = mc.max_reason_share
        if median is not None and len(past) >= mc.min_history_runs:
            limit = min(limit, median + mc.max_reason_rise)
        if value > limit:
            alerts.append(
                alert(
                    "quarantine_share",
                    value,
                    limit,
                    f"{value:.1%} quarantined as {key}"
                    + (f" (trailing median {median:.1%})" if median is not None else ""),
                    reasons=[key],
                )
            )
    return {"row_share": quarantine_share_of(today), "by_reason": reasons_}, alerts


def expectations(
    results: Sequence[Mapping[str, Any]], history: Sequence[Sequence[Mapping[str, Any]]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Great Expectations results per expectation today, and its failures on earlier days.

    Args:
        results: Today's expectations (`suite`, `expectation`, `success`, `observed`).
        history: Earlier days' `expectations.results` from their metrics.json, newest first.
    """
    failed_before: dict[str, int] = {}
    for day in history:
        for r in day:
            if not r.get("success", True):
                failed_before[r["id"]] = failed_before.get(r["id"], 0) + 1
    table = []
    alerts: list[dict[str, Any]] = []
    for r in results:
        record = dict(r) | {"failed_days_before": failed_before.get(r["id"], 0)}
        table.append(record)
        if not r["success"]:
            alerts.append(
                alert(
                    "expectation_failed",
                    float(r.get("unexpected_percent") or 100.0),
                    0.0,
                    f"expectation {r['id']} failed ({r.get('observed', '')}); failed on "
                    f"{record['failed_days_before']} of the {len(history)} earlier days",
                    expectations=[r["id"]],
                )
            )
    table.sort(key=lambda r: (r["success"], r["id"]))
    return {"results": table, "failed": sum(not r["success"] for r in table)}, alerts


# --- Degradation on feedback --------------------------------------------------------------------


def confusion_figures(
    confusion: Mapping[tuple[str, str], int], categories: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-category recall from (true, predicted) -> rows.

    Macro-F1 averages over the categories present in the truth or the predictions, as
    `txcat.lifecycle.metrics.evaluate` (scikit-learn) does.
    """
    total = sum(confusion.values())
    tp = {c: confusion.get((c, c), 0) for c in categories}
    support = {c: sum(n for (t, _), n in confusion.items() if t == c) for c in categories}
    predicted = {c: sum(n for (_, p), n in confusion.items() if p == c) for c in categories}
    f1s = []
    per = {}
    for c in categories:
        recall = _share(tp[c], support[c])
        precision = _share(tp[c], predicted[c])
        f1 = _share(2 * tp[c], support[c] + predicted[c])
        per[c] = {"recall": _round(recall), "precision": _round(precision), "support": support[c]}
        if support[c] or predicted[c]:
            f1s.append(f1)
    return {
        "rows": total,
        "accuracy": _round(_share(sum(tp.values()), total)),
        "macro_f1": _round(float(np.mean(f1s)) if f1s else 0.0),
        "per_category": per,
    }


def degradation(
    confusion: Mapping[tuple[str, str], int],
    holdout: Mapping[str, Any],
    categories: Sequence[str],
    mc: MonitoringConfig,
    window: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Feedback figures against the hold-out's; nothing is judged under the minimum counts."""
    figures = confusion_figures(confusion, categories)
    rows = figures["rows"]
    metrics: dict[str, Any] = {"window": window, "judged": rows >= mc.min_feedback_rows} | figures
    metrics["holdout"] = {k: holdout[k] for k in ("accuracy", "macro_f1")}
    if rows < mc.min_feedback_rows:
        metrics["note"] = (
            f"{rows} labelled rows in {window}, fewer than monitoring.min_feedback_rows = "
            f"{mc.min_feedback_rows}: degradation not judged"
        )
        return metrics, []
    alerts: list[dict[str, Any]] = []
    for key, drop in (("accuracy", mc.max_accuracy_drop), ("macro_f1", mc.max_macro_f1_drop)):
        floor = holdout[key] - drop
        if figures[key] < floor:
            alerts.append(
                alert(
                    f"feedback_{key}",
                    figures[key],
                    floor,
                    f"{key.replace('_', '-')} on {rows} labelled rows is {figures[key]:.3f}, "
                    f"hold-out {holdout[key]:.3f}",
                )
            )
    skipped = []
    for c in categories:
        got = figures["per_category"][c]
        ref = holdout["per_category"].get(c)
        if ref is None or got["support"] == 0:
            continue
        if got["support"] < mc.min_category_feedback:
            skipped.append(c)
            continue
        floor = ref["recall"] - mc.max_recall_drop
        if got["recall"] < floor or (got["recall"] == 0 and ref["recall"] > 0):
            alerts.append(
                alert(
                    "feedback_category_recall",
                    got["recall"],
                    max(floor, 0.0),
                    f"recall of {c} is {got['recall']:.2f} on {got['support']} labelled rows, "
                    f"hold-out {ref['recall']:.2f}",
                    categories=[c],
                )
            )
    if skipped:
        metrics["categories_under_minimum"] = skipped
    return metrics, alerts
