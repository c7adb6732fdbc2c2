"""The day's monitoring page: one self-contained HTML file (charts inline), PNGs beside it.

Nothing on the page is fetched: no script, stylesheet, font or image from elsewhere, so it
opens offline and from a mail attachment. Order: what changed, in plain words; then the drift
table by severity; the category mix and confidence charts against the reference; the trends of
the last days; data quality and feedback.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a cluster or in CI

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from pyspark.sql import SparkSession

from txcat import storage

REPORT_FILE = "report.html"
SEVERITY_ORDER = {"alert": 0, "warn": 1, "ok": 2}


def write_report(spark: SparkSession, folder: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Writes `report.html` and its charts under `folder`; returns their paths."""
    charts = render_charts(metrics)
    paths = {}
    for name, png in charts.items():
        path = storage.join(folder, f"{name}.png")
        storage.write_bytes(spark, path, png)
        paths[name] = path
    page = render_html(metrics, charts)
    report = storage.join(folder, REPORT_FILE)
    storage.write_bytes(spark, report, page.encode("utf-8"))
    return {"html": report, "charts": paths}


# --- Charts -------------------------------------------------------------------------------------


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def render_charts(metrics: Mapping[str, Any]) -> dict[str, bytes]:
    """PNG bytes by chart name: category mix, confidence, trends (those the data allows)."""
    charts: dict[str, bytes] = {}
    predictions = metrics.get("predictions")
    if predictions:
        charts["category_mix"] = _mix_chart(predictions["mix"])
        charts["confidence"] = _confidence_chart(predictions)
    charts["trends"] = _trend_chart(metrics.get("trend") or [])
    return charts


def _mix_chart(mix: Mapping[str, Mapping[str, float]]) -> bytes:
    names = sorted(mix, key=lambda c: -max(mix[c]["reference_share"], mix[c]["today_share"]))
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(names) + 1))
    y = range(len(names))
    ax.barh(
        [i - 0.2 for i in y],
        [mix[c]["reference_share"] for c in names],
        0.4,
        label="reference (hold-out)",
        color="#9aa5b1",
    )
    ax.barh(
        [i + 0.2 for i in y],
        [mix[c]["today_share"] for c in names],
        0.4,
        label="today",
        color="#1f6feb",
    )
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("Predicted-category mix")
    ax.legend(loc="lower right")
    return _png(fig)


def _confidence_chart(predictions: Mapping[str, Any]) -> bytes:
    edges = [0.0, *predictions["confidence_edges"], 1.0]
    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    width = edges[1] - edges[0]
    fig, ax = plt.subplots(figsize=(8, 3))
    for key, label, colour, shift in (
        ("confidence_counts_reference", "reference (hold-out)", "#9aa5b1", -width / 4),
        ("confidence_counts", "today", "#1f6feb", width / 4),
    ):
        counts = predictions[key]
        total = sum(counts) or 1
        ax.bar(
            [c + shift for c in centres],
            [n / total for n in counts],
            width / 2,
            label=label,
            color=colour,
        )
    ax.axvline(predictions["low_confidence"], color="#d1242f", linestyle="--", linewidth=1)
    ax.set_xlabel("top probability")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("Confidence of the predictions")
    ax.legend()
    return _png(fig)


def _trend_chart(trend: Sequence[Mapping[str, Any]]) -> bytes:
    panels = (
        ("rows_read", "rows read"),
        ("quarantine_share", "quarantine share"),
        ("mean_top_probability", "mean confidence"),
        ("feedback_accuracy", "feedback accuracy"),
    )
    fig, axes = plt.subplots(2, 2, figsize=(10, 5), sharex=True)
    dates = [p["date"][5:] for p in trend]
    for ax, (key, title) in zip(axes.flat, panels, strict=True):
        points = [(d, p[key]) for d, p in zip(dates, trend, strict=True) if p.get(key) is not None]
        if points:
            ax.plot([d for d, _ in points], [v for _, v in points], marker="o", color="#1f6feb")
        else:
            ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    fig.suptitle(f"Last {len(trend)} days")
    fig.tight_layout()
    return _png(fig)


# --- Page ---------------------------------------------------------------------------------------


def plain_words(metrics: Mapping[str, Any]) -> list[str]:
    """What changed, one sentence per finding, most important first."""
    alerts = metrics.get("alerts") or []
    drifted = sorted(
        (a for a in alerts if a["metric"] == "feature_psi"), key=lambda a: -float(a["value"])
    )
    order = ("feedback_", "prediction_", "categories_", "mean_top", "low_conf", "new_", "volume_")
    others = sorted(
        (a for a in alerts if a["metric"] != "feature_psi"),
        key=lambda a: next((i for i, p in enumerate(order) if a["metric"].startswith(p)), 99),
    )
    lines = [a["message"][:1].upper() + a["message"][1:] + "." for a in others]
    if drifted:
        lines.append(
            f"{len(drifted)} feature(s) moved away from training (PSI >= "
            f"{drifted[0]['threshold']}): "
            + ", ".join(f"{a['features'][0]} ({a['value']:.2f})" for a in drifted)
            + "."
        )
    if not alerts:
        lines.append(
            "No alert: features, predictions, volume, quarantine and data expectations are "
            "within their thresholds."
        )
    feedback = metrics.get("feedback") or {}
    if feedback.get("note"):
        lines.append(f"Feedback: {feedback['note']}.")
    elif feedback.get("judged"):
        lines.append(
            f"Feedback: accuracy {feedback['accuracy']:.1%} and macro-F1 "
            f"{feedback['macro_f1']:.3f} on {feedback['rows']} labelled rows "
            f"(hold-out {feedback['holdout']['accuracy']:.1%} / "
            f"{feedback['holdout']['macro_f1']:.3f})."
        )
    volume = metrics.get("volume") or {}
    if volume.get("note"):
        lines.append(f"Volume: {volume['note']}.")
    lines += [f"Note: {n}." for n in metrics.get("notes") or []]
    return lines


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _img(name: str, charts: Mapping[str, bytes]) -> str:
    if name not in charts:
        return ""
    data = base64.b64encode(charts[name]).decode("ascii")
    return f'<img alt="{name}" src="data:image/png;base64,{data}">'


def render_html(metrics: Mapping[str, Any], charts: Mapping[str, bytes]) -> str:
    """The page, every chart inline as a data URI."""
    alerts = metrics.get("alerts") or []
    status = f"{len(alerts)} alert(s)" if alerts else "no alert"
    colour = "#d1242f" if alerts else "#1a7f37"
    parts = [
        f"<h1>txcat monitoring, run date {html.escape(str(metrics['run_date']))}</h1>",
        f'<p class="status" style="background:{colour}">{status}</p>',
        "<p>Model "
        + html.escape(str(metrics.get("model_version")))
        + f", run {html.escape(str(metrics.get('run_id')))}"
        + f" ({html.escape(str(metrics.get('run_status')))}).</p>",
        "<h2>In plain words</h2><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in plain_words(metrics))
        + "</ul>",
    ]
    if alerts:
        parts.append("<h2>Alerts</h2>")
        parts.append(
            _table(
                ["metric", "value", "threshold", "concerns"],
                [
                    [
                        a["metric"],
                        a["value"],
                        a["threshold"],
                        a.get("features")
                        or a.get("categories")
                        or a.get("reasons")
                        or a.get("expectations"),
                    ]
                    for a in alerts
                ],
            )
        )
    features = metrics.get("features") or {}
    parts.append("<h2>Feature drift (PSI on the reference's fixed bins)</h2>")
    if features.get("drift"):
        drift = sorted(
            features["drift"],
            key=lambda r: (SEVERITY_ORDER.get(r["severity"], 3), -(r["psi"] or 0.0)),
        )
        parts.append(
            f"<p>{features['rows']} rows binned ({features['file_share']:.0%} of the day's "
            "files). PSI 0.1 to 0.25: moderate change; above 0.25: alert, except for the "
            "features listed in monitoring.report_only_features.</p>"
        )
        parts.append(
            _table(
                [
                    "feature",
                    "kind",
                    "PSI",
                    "severity",
                    "alerted on",
                    "missing ref",
                    "missing today",
                    "new values",
                ],
                [
                    [
                        r["feature"],
                        r["kind"],
                        r["psi"],
                        r["severity"],
                        "yes" if r.get("alerting") else "no",
                        r.get("missing_share_reference"),
                        r.get("missing_share_today"),
                        r.get("new_values") or None,
                    ]
                    for r in drift
                ],
            )
        )
    else:
        parts.append(f"<p>{html.escape(str(features.get('note', 'not computed')))}</p>")
    predictions = metrics.get("predictions")
    parts.append("<h2>Predictions</h2>")
    if predictions:
        parts.append(
            f"<p>{predictions['rows']} rows; mix PSI {predictions['mix_psi']:.3f}; mean "
            f"confidence {predictions['mean_top_probability']:.3f} (reference "
            f"{predictions['mean_top_probability_reference']:.3f}); under "
            f"{predictions['low_confidence']}: {predictions['low_confidence_share']:.1%} "
            f"(reference {predictions['low_confidence_share_reference']:.1%}).</p>"
        )
        parts.append(_img("category_mix", charts) + _img("confidence", charts))
    else:
        parts.append("<p>No reference profile: the mix is not compared.</p>")
    parts.append("<h2>Trends</h2>" + _img("trends", charts))
    quarantine = metrics.get("quarantine") or {}
    parts.append("<h2>Data quality</h2>")
    volume = metrics.get("volume") or {}
    parts.append(
        _table(
            ["volume", "today", "trailing median"],
            [
                [k, volume[k]["today"], volume[k]["trailing_median"]]
                for k in ("files_read", "rows_read")
                if k in volume
            ],
        )
    )
    parts.append(
        _table(
            ["quarantine reason", "share", "trailing median"],
            [
                [k, v["share"], v["trailing_median"]]
                for k, v in quarantine.get("by_reason", {}).items()
            ],
        )
    )
    expectations = (metrics.get("expectations") or {}).get("results") or []
    parts.append(
        _table(
            ["expectation", "success", "unexpected %", "observed", "failed on earlier days"],
            [
                [
                    e["id"],
                    e["success"],
                    e.get("unexpected_percent"),
                    e.get("observed"),
                    e.get("failed_days_before"),
                ]
                for e in expectations
            ],
        )
    )
    feedback = metrics.get("feedback") or {}
    parts.append("<h2>Feedback</h2>")
    if feedback.get("note"):
        parts.append(f"<p>{html.escape(feedback['note'])}.</p>")
    if feedback.get("per_category"):
        parts.append(
            _table(
                ["category", "recall", "labelled rows"],
                [
                    [c, v["recall"], v["support"]]
                    for c, v in feedback["per_category"].items()
                    if v["support"]
                ],
            )
        )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#1f2328}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
        "td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}"
        ".status{color:white;padding:6px 12px;display:inline-block;border-radius:4px}"
        "img{max-width:100%;display:block;margin:1em 0}"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>txcat monitoring {html.escape(str(metrics['run_date']))}</title>"
        f"<style>{style}</style></head><body>" + "\n".join(parts) + "</body></html>\n"
    )
