"""The comparison's HTML page: one self-contained file (inline style, no external resource)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

#: Flows shown in the page (the JSON has them all).
MAX_FLOWS = 25

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
.verdict { font-size: 1.15em; padding: 0.6em; background: #eef5ff; border-left: 4px solid #36c; }
.bar { display: inline-block; height: 0.8em; background: #69c; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def render(result: Mapping[str, Any]) -> str:
    """The report as an HTML document."""
    champion, challenger = result["champion"], result["challenger"]
    rows, feedback = result["rows"], result["feedback"]
    parts = [
        f"<h1>txcat: champion against challenger, {html.escape(result['from'])} to "
        f"{html.escape(result['to'])}</h1>",
        f"<p class='verdict'>{html.escape(result['verdict'])}</p>",
        _table(
            ["", "URI", "model version"],
            [
                ["champion", champion["uri"], champion["model_version"]],
                ["challenger", challenger["uri"], challenger["model_version"]],
            ],
        ),
        "<h2>Rows</h2>",
        _table(
            ["scored by both", "champion only", "challenger only", "agreement", "change category"],
            [
                [
                    rows["both"],
                    rows["champion_only"],
                    rows["challenger_only"],
                    _pct(result["agreement"]["rate"]),
                    _pct(result["changed"]["share"]),
                ]
            ],
        ),
        _table(
            [
                "run date",
                "champion from",
                "challenger from",
                "both",
                "champion only",
                "challenger only",
            ],
            [
                [
                    d["run_date"],
                    d["champion"],
                    d["challenger"],
                    d["both"],
                    d["champion_only"],
                    d["challenger_only"],
                ]
                for d in result["days"]
            ],
        ),
        "<h2>Feedback (corrected rows)</h2>",
    ]
    if feedback["rows"]:
        parts.append(
            _table(
                ["", "accuracy", "macro-F1"],
                [
                    [
                        "champion",
                        feedback["champion"]["accuracy"],
                        feedback["champion"]["macro_f1"],
                    ],
                    [
                        "challenger",
                        feedback["challenger"]["accuracy"],
                        feedback["challenger"]["macro_f1"],
                    ],
                    ["difference", feedback["delta"]["accuracy"], feedback["delta"]["macro_f1"]],
                ],
            )
        )
        parts.append(f"<p>{feedback['rows']} corrected rows scored by both versions.</p>")
        parts.append("<h3>Recall per category</h3>")
        parts.append(
            _table(
                ["category", "corrected rows", "champion", "challenger"],
                [
                    [r["category"], r["support"], r["champion"], r["challenger"]]
                    for r in feedback["per_category_recall"]
                ],
            )
        )
    else:
        parts.append(f"<p>{html.escape(feedback.get('note', 'no corrected row'))}.</p>")
    flows = result["flows"]
    parts.append("<h2>Category flows (champion to challenger)</h2>")
    if flows:
        widest = flows[0]["rows"]
        parts.append(
            "<table><tr><th>champion</th><th>challenger</th><th>rows</th><th>share</th><th></th></tr>"
            + "".join(
                f"<tr><td>{html.escape(f['from'])}</td><td>{html.escape(f['to'])}</td>"
                f"<td>{f['rows']}</td><td>{_pct(f['share'])}</td>"
                f"<td><span class='bar' style='width:{max(1, round(120 * f['rows'] / widest))}px'>"
                "</span></td></tr>"
                for f in flows[:MAX_FLOWS]
            )
            + "</table>"
        )
        if len(flows) > MAX_FLOWS:
            parts.append(f"<p>{len(flows) - MAX_FLOWS} smaller flows in the JSON report.</p>")
    else:
        parts.append("<p>No row changes category.</p>")
    parts.append("<h2>Category mix (rows scored by both)</h2>")
    parts.append(
        _table(
            ["category", "champion", "challenger"],
            [[m["category"], m["champion"], m["challenger"]] for m in result["category_mix"]],
        )
    )
    confidence = result["confidence"]
    parts.append("<h2>Confidence (mean probability of the predicted category)</h2>")
    parts.append(
        _table(
            ["", "all rows", "rows that agree", "rows that change"],
            [
                [side, c["all"], c["agreed"], c["changed"]]
                for side, c in (
                    ("champion", confidence["champion"]),
                    ("challenger", confidence["challenger"]),
                )
            ],
        )
    )
    title = f"txcat compare {result['from']} to {result['to']}"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
