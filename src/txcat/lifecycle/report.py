"""The report folder of one evaluated model: metrics.json, PNG plots and one HTML page.

Everything is drawn from the metrics dict (as `metrics.evaluate` returns it, plus latency and
size) and, for the importance plot, the booster: so the page and the plots always show exactly
the numbers in `metrics.json`.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from txcat.lifecycle.metrics import SUMMARY_KEYS, json_ready

METRICS_FILE = "metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
F1_PNG = "per_class_f1.png"
CALIBRATION_PNG = "calibration.png"
IMPORTANCE_PNG = "feature_importance.png"
HTML_FILE = "report.html"
DPI = 100
#: (width, height) in inches of each plot; pixels = inches x DPI.
FIGSIZES: Mapping[str, tuple[float, float]] = {
    CONFUSION_PNG: (11.0, 10.0),
    F1_PNG: (10.0, 6.0),
    CALIBRATION_PNG: (6.0, 6.0),
    IMPORTANCE_PNG: (9.0, 7.0),
}
COST_KEYS = ("latency_ms_per_10k", "size_bytes")
TOP_FEATURES = 20


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)


def plot_confusion(metrics: Mapping[str, Any], categories: list[str], path: Path) -> None:
    counts = np.asarray(metrics["confusion_matrix"], dtype=float)
    support = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    fig, ax = plt.subplots(figsize=FIGSIZES[CONFUSION_PNG], layout="constrained")
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(categories)), categories, rotation=90, fontsize=7)
    ax.set_yticks(range(len(categories)), categories, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (rows normalised to recall)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    _save(fig, path)


def plot_per_class_f1(metrics: Mapping[str, Any], categories: list[str], path: Path) -> None:
    f1 = [metrics["per_class"][c]["f1"] for c in categories]
    fig, ax = plt.subplots(figsize=FIGSIZES[F1_PNG], layout="constrained")
    ax.bar(range(len(categories)), f1, color="tab:blue")
    ax.axhline(
        metrics["macro_f1"],
        color="tab:red",
        linestyle="--",
        label=f"macro-F1 {metrics['macro_f1']:.3f}",
    )
    ax.set_xticks(range(len(categories)), categories, rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title("F1 per category")
    ax.legend()
    _save(fig, path)


def plot_calibration(metrics: Mapping[str, Any], path: Path) -> None:
    bins = [b for b in metrics["calibration"] if b["rows"]]
    fig, ax = plt.subplots(figsize=FIGSIZES[CALIBRATION_PNG], layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax.plot(
        [b["confidence"] for b in bins],
        [b["accuracy"] for b in bins],
        marker="o",
        label=f"model (ECE {_fmt(metrics['calibration_error'])})",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean top-label probability")
    ax.set_ylabel("accuracy")
    ax.set_title("Calibration (reliability) curve")
    ax.legend(loc="upper left")
    _save(fig, path)


def plot_importance(importance: Mapping[str, float], path: Path) -> None:
    top = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:TOP_FEATURES][::-1]
    fig, ax = plt.subplots(figsize=FIGSIZES[IMPORTANCE_PNG], layout="constrained")
    if top:
        ax.barh([k for k, _ in top], [v for _, v in top], color="tab:green")
    else:
        ax.text(0.5, 0.5, "the model has no splits", ha="center", va="center")
    ax.set_xlabel("total gain")
    ax.set_title(f"Feature importance (top {TOP_FEATURES} by gain)")
    _save(fig, path)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(folder: Path, name: str) -> str:
    data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>'


def render_html(
    folder: Path,
    title: str,
    metrics: Mapping[str, Any],
    categories: list[str],
    context: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, Any]],
    plots: list[str],
) -> str:
    """One self-contained page (plots inlined) with the headline, per-class and cost tables."""
    headline = [[k, metrics.get(k)] for k in (*SUMMARY_KEYS, *COST_KEYS, "rows")]
    per_class = [
        [c, *(metrics["per_class"][c][k] for k in ("precision", "recall", "f1", "support"))]
        for c in categories
    ]
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        _table(["", "value"], [[k, v] for k, v in context.items()]),
        "<h2>Headline metrics</h2>",
        _table(["metric", "value"], headline),
    ]
    if baselines:
        names = list(baselines)
        sections += [
            "<h2>Compared with the baselines (same hold-out)</h2>",
            _table(
                ["metric", "model", *names],
                [
                    [k, metrics.get(k), *(baselines[n].get(k) for n in names)]
                    for k in (*SUMMARY_KEYS, *COST_KEYS)
                ],
            ),
        ]
    sections += [
        "<h2>Per category</h2>",
        _table(["category", "precision", "recall", "f1", "support"], per_class),
        "<h2>Plots</h2>",
        *[_img(folder, p) for p in plots],
    ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def write_report(
    folder: str | Path,
    metrics: Mapping[str, Any],
    categories: list[str],
    title: str,
    importance: Mapping[str, float] | None = None,
    context: Mapping[str, Any] | None = None,
    baselines: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Writes metrics.json, the PNG plots and report.html; returns their paths by file name.

    Args:
        folder: Report folder (created).
        metrics: `metrics.evaluate` output, optionally with latency_ms_per_10k and size_bytes.
        categories: Category order of the confusion matrix.
        title: Page title (model version and data set).
        importance: Feature -> total gain; the importance plot is skipped without it.
        context: Extra facts for the page header (model version, input, date).
        baselines: Baseline name -> metrics on the same rows, shown side by side.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    clean = json_ready(dict(metrics))
    document = {
        "title": title,
        "context": json_ready(dict(context or {})),
        "categories": list(categories),
        "metrics": clean,
        "baselines": json_ready(dict(baselines or {})),
    }
    (out / METRICS_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    plot_confusion(clean, categories, out / CONFUSION_PNG)
    plot_per_class_f1(clean, categories, out / F1_PNG)
    plot_calibration(clean, out / CALIBRATION_PNG)
    plots = [CONFUSION_PNG, F1_PNG, CALIBRATION_PNG]
    if importance is not None:
        plot_importance(importance, out / IMPORTANCE_PNG)
        plots.append(IMPORTANCE_PNG)
    page = render_html(
        out, title, clean, list(categories), document["context"], document["baselines"], plots
    )
    (out / HTML_FILE).write_text(page, encoding="utf-8")
    return {name: out / name for name in [METRICS_FILE, *plots, HTML_FILE]}


def read_metrics(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / METRICS_FILE).read_text(encoding="utf-8"))
