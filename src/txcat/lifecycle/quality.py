"""Model quality on a labelled export: per-account files, a time split, baselines, the report.

The bank's export (`MiBolsillo.csv`) is one file holding every account; the daily job reads one
file per account. `split_export` cuts it into per-account files on either side of a date, bytes
untouched (header, line ends, encoding), so that training and evaluation read exactly what the
job would read. `baselines` scores the majority class and logistic regression on the same
evaluation rows as the model, and `write_docs` writes the figures (`docs/quality.json`) and the
page people read (`docs/quality.md`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from txcat import schema as S
from txcat.lifecycle import candidates as C
from txcat.lifecycle import metrics as M

TRAINING = "training"
EVALUATION = "evaluation"
#: Accuracy and macro-F1 of a public notebook on the same export and split.
PUBLIC_BASELINE = {"accuracy": 0.397, "macro_f1": 0.171}
_DATE = re.compile(rb"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


class ExportError(ValueError):
    """The export cannot be split (no header, no `id` or `data` column, no dated row)."""


@dataclass
class SplitSummary:
    """What `split_export` wrote."""

    cutoff: dt.date
    rows: dict[str, int] = field(default_factory=lambda: {TRAINING: 0, EVALUATION: 0})
    files: dict[str, int] = field(default_factory=lambda: {TRAINING: 0, EVALUATION: 0})
    undated_rows: int = 0
    first_date: dt.date | None = None
    last_date: dt.date | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "rows": dict(self.rows),
            "files": dict(self.files),
            "undated_rows": self.undated_rows,
            "first_date": self.first_date.isoformat() if self.first_date else None,
            "last_date": self.last_date.isoformat() if self.last_date else None,
        }


def account_file_name(raw_id: str) -> str:
    """A file name for an export `id` value (Excel-mangled: `4,53E+11`), stable and unique.

    The readable part keeps letters and digits; a checksum of the exact value keeps two ids that
    differ only in punctuation apart.
    """
    readable = _UNSAFE.sub("_", raw_id.strip()).strip("_") or "account"
    return f"{readable}-{zlib.crc32(raw_id.encode('latin-1')):08x}.csv"


def _date_of(field_bytes: bytes) -> dt.date | None:
    match = _DATE.match(field_bytes)
    if match is None:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def split_export(export: Path, out: Path, cutoff: dt.date) -> SplitSummary:
    """Writes `out/training/<account>.csv` (rows before `cutoff`) and `out/evaluation/...`.

    The export holds every account; its `id` column names the account (the mangled id is all
    there is, so accounts sharing one mangled id share a file). See `split_lines`.

    Raises:
        ExportError: no header, or no `id` / `data` column in it.
    """
    summary = SplitSummary(cutoff)
    split_lines(export.read_bytes(), str(export), out, summary, account=None)
    return _checked(summary, str(export))


def split_folder(folder: Path, out: Path, cutoff: dt.date) -> SplitSummary:
    """Like `split_export` for a folder of per-account files: each file is cut at `cutoff`."""
    summary = SplitSummary(cutoff)
    for path in sorted(folder.rglob("*.csv")):
        split_lines(path.read_bytes(), str(path), out, summary, account=path.name)
    return _checked(summary, str(folder))


def _checked(summary: SplitSummary, source: str) -> SplitSummary:
    if summary.first_date is None:
        raise ExportError(f"{source}: no row with a d.mm.yyyy date")
    return summary


def split_lines(
    content: bytes, source: str, out: Path, summary: SplitSummary, account: str | None
) -> None:
    """Appends the data lines of one file to per-account files on either side of the cutoff.

    Every data line goes, byte for byte, to its account's file after the source's own header
    line. A line whose date does not parse goes to the evaluation side (the job quarantines it
    there, as it would in a daily file). `account` names the output file; None takes the
    account from each line's `id` field.
    """
    newline = b"\r\n" if b"\r\n" in content[:4096] else b"\n"
    lines = content.split(newline)
    if not lines or not lines[0].strip():
        raise ExportError(f"{source}: no header line")
    header = lines[0]
    tokens = [t.strip().lower() for t in header.split(b";")]
    if b"data" not in tokens or (account is None and b"id" not in tokens):
        raise ExportError(f"{source}: the header needs the `id` and `data` columns")
    date_at = tokens.index(b"data")
    id_at = tokens.index(b"id") if account is None else -1
    groups: dict[tuple[str, str], list[bytes]] = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        fields = line.split(b";")
        if account is not None:
            name = account
        else:
            name = account_file_name(fields[id_at].decode("latin-1") if len(fields) > id_at else "")
        date = _date_of(fields[date_at]) if len(fields) > date_at else None
        if date is None:
            summary.undated_rows += 1
        else:
            summary.first_date = min(summary.first_date or date, date)
            summary.last_date = max(summary.last_date or date, date)
        side = TRAINING if date is not None and date < summary.cutoff else EVALUATION
        groups.setdefault((side, name), []).append(line)
    for (side, name), rows in sorted(groups.items()):
        path = out / side / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.write_bytes(path.read_bytes() + newline.join(rows) + newline)
        else:
            summary.files[side] += 1
            path.write_bytes(newline.join([header, *rows]) + newline)
        summary.rows[side] += len(rows)


def baselines(
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    feature_columns: Sequence[str],
    class_weight_power: float,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """The majority class and logistic regression, fitted on `train`, scored on `evaluation`.

    Both frames hold the label and the feature columns, as `workflow.collect_labelled` returns.
    """
    n_classes = len(S.CATEGORIES)
    index = {c: i for i, c in enumerate(S.CATEGORIES)}

    def matrix(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = frame[list(feature_columns)].to_numpy(dtype=np.float32, na_value=np.nan)
        return x, frame[S.LABEL].map(index).to_numpy(dtype=np.int64)

    x, y = matrix(train)
    xe, ye = matrix(evaluation)
    weights = C.class_weights(y, n_classes, class_weight_power)
    fitted = {
        C.MAJORITY: C.fit_majority(x, y, n_classes),
        C.LOGISTIC: C.fit_logistic(x, y, weights, n_classes, seed),
    }
    return {name: M.evaluate(ye, f.predict_proba(xe), S.CATEGORIES) for name, f in fitted.items()}


#: Accounts with fewer rows than this are left out of the spread of category shares.
HABIT_MIN_ROWS = 30


def habits(train: pd.DataFrame, evaluation: pd.DataFrame) -> dict[str, float]:
    """How much an account's labelled history tells about its later rows.

    The statistics the generator is calibrated against (`txcat.generate.data`), measured the
    same way on the real export and on generated data. Both frames hold the account, the label,
    the merchant city and the amount of each row (`workflow.collect_labelled(also=...)`).

    Returns:
        usual_category: share of later rows whose category is their account's most frequent
            one in training.
        usual_at_merchant_seen / usual_at_merchant: share of later rows whose (account,
            merchant city) occurs in training; among them, share whose category is that pair's
            most frequent one.
        repeat_seen / repeat_usual: the same for exact repeats (account, merchant city, amount).
        head_share_sd / other_share_sd: spread across accounts (>= HABIT_MIN_ROWS rows, both
            frames) of the most common category's share, and of the next three's (mean).
        top_share: mean share of an account's own most frequent category.
        The last three are left out with fewer than two such accounts.
    """

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[[S.ACCOUNT_ID, S.LABEL]].copy()
        out[S.MERCHANT_CITY] = frame[S.MERCHANT_CITY].fillna("")
        out[S.AMOUNT] = frame[S.AMOUNT].astype(float).round(2).fillna(np.inf)
        return out

    history, later = keyed(train), keyed(evaluation)

    def usual(key: list[str]) -> tuple[float, float]:
        """(share of later rows whose key is in the history, share of those in its usual label)."""
        table = history.groupby(key)[S.LABEL].agg(lambda s: s.value_counts().index[0])
        joined = later.join(table.rename("usual"), on=key)
        seen = joined["usual"].notna()
        if not seen.any():
            return 0.0, 0.0
        return float(seen.mean()), float((joined["usual"] == joined[S.LABEL])[seen].mean())

    seen, hits = usual([S.ACCOUNT_ID])
    out = {"usual_category": seen * hits}
    out["usual_at_merchant_seen"], out["usual_at_merchant"] = usual([S.ACCOUNT_ID, S.MERCHANT_CITY])
    out["repeat_seen"], out["repeat_usual"] = usual([S.ACCOUNT_ID, S.MERCHANT_CITY, S.AMOUNT])
    rows = pd.concat([history, later])
    sizes = rows.groupby(S.ACCOUNT_ID).size()
    rows = rows[rows[S.ACCOUNT_ID].isin(sizes[sizes >= HABIT_MIN_ROWS].index)]
    if rows[S.ACCOUNT_ID].nunique() >= 2:
        shares = pd.crosstab(rows[S.ACCOUNT_ID], rows[S.LABEL], normalize="index")
        order = rows[S.LABEL].value_counts().index
        out["head_share_sd"] = float(shares[order[0]].std())
        out["other_share_sd"] = float(shares[order[1:4]].std().mean()) if len(order) > 1 else 0.0
        out["top_share"] = float(shares.max(axis=1).mean())
    return {k: round(v, 4) for k, v in out.items()}


_HABIT_ROWS = (
    ("usual_category", "later rows in their account's most frequent category"),
    ("usual_at_merchant_seen", "later rows at a merchant city the account used before"),
    ("usual_at_merchant", "... of which in that (account, city)'s most frequent category"),
    ("repeat_seen", "later rows repeating an earlier (account, city, amount) exactly"),
    ("repeat_usual", "... of which in that repeat's most frequent category"),
    ("head_share_sd", "spread (sd) across accounts of the top category's share"),
    ("other_share_sd", "spread (sd) of the next three categories' shares (mean)"),
    ("top_share", "share of an account's own most frequent category (mean)"),
)


def _habits(results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The account-habit statistics of every dataset side by side."""
    columns = [(name, s["habits"]) for name, s in results.items() if s.get("habits")]
    if not columns:
        return []
    lines = [
        "## Account habits",
        "",
        "How much an account's labelled history tells about its later rows, on each dataset's "
        "time split: what the generator is calibrated against (`txcat.generate.data`). "
        f"Spreads over accounts with at least {HABIT_MIN_ROWS} rows.",
        "",
        "| statistic | " + " | ".join(name for name, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for key, label in _HABIT_ROWS:
        cells = [f"{h[key]:.3f}" if key in h else "–" for _, h in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


_HEADLINE = ("accuracy", "macro_f1", "weighted_f1", "log_loss")


def headline(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The four figures every comparison shows, rounded for the page."""
    return {k: round(float(metrics[k]), 4) for k in _HEADLINE if k in metrics}


def per_class_recall(metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    return {
        c: {"recall": round(float(v["recall"]), 4), "support": int(v["support"])}
        for c, v in metrics.get("per_class", {}).items()
        if int(v.get("support", 0)) > 0
    }


def _table(rows: Mapping[str, Mapping[str, float]]) -> list[str]:
    out = ["| model | accuracy | macro-F1 | weighted-F1 | log loss |", "|---|---|---|---|---|"]
    for name, m in rows.items():
        cells = [f"{m[k]:.3f}" if k in m else "–" for k in _HEADLINE]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def _selection(selection: Mapping[str, Any]) -> list[str]:
    """The training search's trials: quality against model size and prediction cost."""
    trials = selection.get("trials", [])
    if not trials:
        return []
    lines = [
        f"Model size against quality (training's cross-validation; the cheapest trial within "
        f"{selection['macro_f1_tolerance']} of the best macro-F1 is chosen, "
        "`lifecycle.selection_macro_f1_tolerance`):",
        "",
        "| trial | CV macro-F1 | trees | depth | trees x depth | ms per 10k rows | |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in sorted(trials, key=lambda t: t["tree_levels"]):
        mark = []
        if t["trial"] == selection.get("chosen_trial"):
            mark.append("chosen")
        if t["trial"] == selection.get("best_macro_f1_trial"):
            mark.append("best macro-F1")
        lines.append(
            f"| {t['trial']} | {t['macro_f1']:.4f} | {t['trees']} | {t['max_depth']} | "
            f"{t['tree_levels']:,} | {t['latency_ms_per_10k']:.1f} | {', '.join(mark)} |"
        )
    return [*lines, ""]


def _gate(gate: Mapping[str, Any]) -> list[str]:
    """The quality gate's verdict on the trained model, as `txcat promote` would give it."""
    if not gate:
        return []
    verdict = "passes it" if gate["passed"] else "**refuses it**"
    return [
        "The quality gate (the configuration's `quality_gate`, on training's own hold-out rows, "
        f"as `txcat promote` judges a version) {verdict}:",
        "",
        "```text",
        *gate["checks"],
        "```",
        "",
    ]


def _leads(leads: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The model's lead over each baseline on training's hold-out, with its interval."""
    if not leads:
        return []

    def cell(lead: Mapping[str, float]) -> str:
        return f"{lead['lead']:+.3f} [{lead['low']:+.3f}, {lead['high']:+.3f}]"

    confidence = float(next(iter(leads.values()))["confidence"])
    lines = [
        f"The model's lead over each baseline on those hold-out rows, with its {confidence:.0%} "
        "paired bootstrap interval (what `quality_gate.baseline_rule: interval` judges):",
        "",
        "| baseline | accuracy lead | macro-F1 lead |",
        "|---|---|---|",
    ]
    for name, record in leads.items():
        lines.append(f"| {name} | {cell(record['accuracy'])} | {cell(record['macro_f1'])} |")
    return [*lines, ""]


def write_docs(results: Mapping[str, Mapping[str, Any]], docs: Path) -> tuple[Path, Path]:
    """Writes `quality.json` (everything) and `quality.md` (the tables) into `docs`.

    `results` maps a dataset name ("real", "generated") to its section: `description`,
    `split`, `models` (name -> metrics), `per_class_recall`, `commands`, and optional
    `quality_gate` (`passed`, `checks`: the gate's lines), `holdout_leads` (training's
    `evaluation.json`), `selection`, `habits` (what `habits()` returns) and `notes`.
    """
    docs.mkdir(parents=True, exist_ok=True)
    json_path = docs / "quality.json"
    json_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lines = [
        "# Model quality",
        "",
        "Written by `make quality` (`scripts/quality.py`); figures in `docs/quality.json`.",
        "Every model is scored on the same evaluation rows: later days than any training row.",
        "How the features were chosen: `docs/quality-ablation.md`.",
        "",
    ]
    for name, section in results.items():
        lines += [f"## {name}", "", str(section.get("description", "")), ""]
        split = section.get("split", {})
        if split:
            lines += ["Split: " + ", ".join(f"{k} {v}" for k, v in split.items()), ""]
        lines += [*_table(section.get("models", {})), ""]
        lines += _gate(section.get("quality_gate", {}))
        lines += _leads(section.get("holdout_leads", {}))
        recall = section.get("per_class_recall", {})
        if recall:
            lines += ["Per-category recall of the model (evaluation rows):", ""]
            lines += ["| category | support | recall |", "|---|---|---|"]
            for category, r in sorted(recall.items(), key=lambda kv: -kv[1]["support"]):
                lines.append(f"| {category} | {r['support']} | {r['recall']:.3f} |")
            lines.append("")
        lines += _selection(section.get("selection", {}))
        for note in section.get("notes", []):
            lines.append(f"- {note}")
        if section.get("notes"):
            lines.append("")
        commands = section.get("commands", [])
        if commands:
            lines += ["Commands:", "", "```bash", *commands, "```", ""]
    lines += _habits(results)
    md_path = docs / "quality.md"
    md_path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return json_path, md_path
