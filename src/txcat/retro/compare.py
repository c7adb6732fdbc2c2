"""Two model versions compared on the same rows: agreement, category flows, feedback accuracy.

Each version's predictions of a day come from what was already scored: its retro-scoring
output (`RETRO/retro/model_version=V/run_date=D/`) when that day is there, else the daily
output's rows of the day scored with that version (`OUT/predictions/run_date=D/`). Comparing
what the jobs wrote — not a new scoring — compares exactly the rows production wrote or would
have written, with their reconciliation already done; `jobs/retro_score.py` produces the missing
side first. Rows are matched on (run_date, row_id); a row one side lacks is counted, per day,
never dropped silently. On the rows users corrected (`txcat feedback import`'s store, the latest
correction of a row wins) both versions get accuracy, macro-F1 and per-category recall.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from txcat import pipeline, storage, write
from txcat import schema as S
from txcat.config import Config
from txcat.feedback import records as FR
from txcat.feedback.store import latest_corrections
from txcat.inputs import InputError
from txcat.monitor.checks import confusion_figures
from txcat.retro import report
from txcat.retro.scoring import days, predictions_path

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
SIDES = (CHAMPION, CHALLENGER)
FROM_RETRO = "retro"
FROM_DAILY = "daily"
REPORT_JSON = "compare.json"
REPORT_HTML = "compare.html"
_CATEGORY = {CHAMPION: "champion_category", CHALLENGER: "challenger_category"}
_PROBABILITY = {CHAMPION: "champion_probability", CHALLENGER: "challenger_probability"}
_TRUTH = "truth"


@dataclass(frozen=True)
class CompareParams:
    champion: str
    challenger: str
    first: dt.date
    last: dt.date
    output: str
    predictions: str = ""
    retro: str = ""
    feedback: str = ""


@dataclass(frozen=True)
class CompareResult:
    report: dict[str, Any]
    json_path: str
    html_path: str


def compare(spark: SparkSession, cfg: Config, params: CompareParams) -> CompareResult:
    """Compares the two versions' predictions over the days and writes the JSON and HTML report.

    Raises:
        InputError: `--from` after `--to`, no prediction source given, or neither version has a
            row on any day.
        ModelArtifactError: A model URI is refused or unreachable.
    """
    if params.first > params.last:
        raise InputError(f"--from {params.first} is after --to {params.last}")
    if not params.predictions and not params.retro:
        raise InputError("give --predictions (the daily output) and/or --retro (retro output)")
    versions = {
        CHAMPION: pipeline.load_model(spark, params.champion, cfg)[0].version,
        CHALLENGER: pipeline.load_model(spark, params.challenger, cfg)[0].version,
    }
    frames, sources = {}, {}
    for side in SIDES:
        frames[side], sources[side] = side_predictions(spark, params, versions[side], side)
    if all(frame is None for frame in frames.values()):
        raise InputError(
            f"no predictions of {versions[CHAMPION]} nor {versions[CHALLENGER]} from "
            f"{params.first} to {params.last} (retro-score them first: jobs/retro_score.py)"
        )
    joined = _joined(spark, frames).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        flows = _flow_counts(joined)
        per_day = _day_counts(joined)
        labels, feedback_note = _labels(spark, params.feedback)
        confusion = _feedback_counts(joined, labels) if labels is not None else None
    finally:
        joined.unpersist()
    result = figures(flows, confusion)
    result |= {
        "champion": {"uri": params.champion, "model_version": versions[CHAMPION]},
        "challenger": {"uri": params.challenger, "model_version": versions[CHALLENGER]},
        "from": params.first.isoformat(),
        "to": params.last.isoformat(),
        "inputs": {"predictions": params.predictions, "retro": params.retro},
        "days": _days(params, sources, per_day),
    }
    if feedback_note:
        result["feedback"]["note"] = feedback_note
    result["verdict"] = verdict(result)
    json_path = storage.join(params.output, REPORT_JSON)
    html_path = storage.join(params.output, REPORT_HTML)
    result["report"] = {"json": json_path, "html": html_path}
    body = json.dumps(result, indent=2, sort_keys=True, default=str) + "\n"
    storage.write_bytes(spark, json_path, body.encode("utf-8"))
    storage.write_bytes(spark, html_path, report.render(result).encode("utf-8"))
    return CompareResult(result, json_path, html_path)


def side_predictions(
    spark: SparkSession, params: CompareParams, version: str, side: str
) -> tuple[DataFrame | None, dict[str, str]]:
    """One version's rows of every day (run_date, row_id, category, probability), and where
    each day's rows come from (`retro`, `daily`, or absent from the map)."""
    parts, sources = [], {}
    for day in days(params.first, params.last):
        frame, source = _day_rows(spark, params, version, day)
        if frame is None:
            continue
        sources[day.isoformat()] = source
        parts.append(
            frame.select(
                F.lit(day).alias(S.RUN_DATE),
                S.ROW_ID,
                F.col(S.PREDICTED_CATEGORY).alias(_CATEGORY[side]),
                F.col(S.PREDICTED_PROBABILITY).alias(_PROBABILITY[side]),
            )
        )
    if not parts:
        return None, sources
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union, sources


def _day_rows(
    spark: SparkSession, params: CompareParams, version: str, day: dt.date
) -> tuple[DataFrame | None, str]:
    if params.retro:
        folder = write.partition_path(predictions_path(params.retro, version), day)
        if storage.exists(spark, folder):
            return spark.read.parquet(folder), FROM_RETRO
    if params.predictions:
        folder = write.partition_path(write.predictions_path(params.predictions), day)
        if storage.exists(spark, folder):
            rows = spark.read.parquet(folder).where(F.col(S.MODEL_VERSION) == version)
            if rows.limit(1).count():
                return rows, FROM_DAILY
    return None, ""


def _joined(spark: SparkSession, frames: Mapping[str, DataFrame | None]) -> DataFrame:
    keys = [S.RUN_DATE, S.ROW_ID]
    sides = []
    for side in SIDES:
        frame = frames[side]
        if frame is None:  # an empty frame of the same shape: every row is the other side's
            frame = spark.createDataFrame(
                [],
                f"{S.RUN_DATE} date, {S.ROW_ID} string, {_CATEGORY[side]} string, "
                f"{_PROBABILITY[side]} double",
            )
        sides.append(frame)
    return sides[0].join(sides[1], keys, "full_outer")


def _flow_counts(joined: DataFrame) -> list[dict[str, Any]]:
    """(champion category, challenger category) -> rows and probability sums; None = no row."""
    rows = (
        joined.groupBy(_CATEGORY[CHAMPION], _CATEGORY[CHALLENGER])
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(_PROBABILITY[CHAMPION]).alias("champion_probability_sum"),
            F.sum(_PROBABILITY[CHALLENGER]).alias("challenger_probability_sum"),
        )
        .collect()
    )
    return [r.asDict() for r in rows]


def _day_counts(joined: DataFrame) -> dict[str, Counter[str]]:
    presence = (
        joined.groupBy(
            S.RUN_DATE,
            F.col(_CATEGORY[CHAMPION]).isNotNull().alias(CHAMPION),
            F.col(_CATEGORY[CHALLENGER]).isNotNull().alias(CHALLENGER),
        )
        .count()
        .collect()
    )
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in presence:
        key = (
            "both"
            if r[CHAMPION] and r[CHALLENGER]
            else f"{CHAMPION if r[CHAMPION] else CHALLENGER}_only"
        )
        counts[r[S.RUN_DATE].isoformat()][key] += r["count"]
    return counts


def _labels(spark: SparkSession, store: str) -> tuple[DataFrame | None, str]:
    """Each corrected row's latest category (`latest_corrections`); None when not given."""
    if not store:
        return None, "no feedback given (--feedback)"
    try:
        latest = latest_corrections(store)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read feedback store {store}: {exc}") from exc
    if latest.empty:
        return None, f"no correction in {store}"
    pairs = [(str(r), str(c)) for r, c in zip(latest[FR.ROW_ID], latest[FR.CATEGORY], strict=True)]
    return spark.createDataFrame(pairs, f"{S.ROW_ID} string, {_TRUTH} string"), ""


def _feedback_counts(joined: DataFrame, labels: DataFrame) -> list[dict[str, Any]]:
    rows = (
        joined.join(labels, S.ROW_ID)
        .groupBy(_TRUTH, _CATEGORY[CHAMPION], _CATEGORY[CHALLENGER])
        .count()
        .collect()
    )
    return [r.asDict() for r in rows]


def figures(flows: list[dict[str, Any]], confusion: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Every figure of the report from the two small aggregates (plain Python, tested alone)."""
    champ, chall = _CATEGORY[CHAMPION], _CATEGORY[CHALLENGER]
    both = [f for f in flows if f[champ] is not None and f[chall] is not None]
    rows_both = sum(f["rows"] for f in both)
    agree = sum(f["rows"] for f in both if f[champ] == f[chall])
    changed = rows_both - agree
    flow_list = sorted(
        (
            {
                "from": f[champ],
                "to": f[chall],
                "rows": f["rows"],
                "share": _share(f["rows"], rows_both),
            }
            for f in both
            if f[champ] != f[chall]
        ),
        key=lambda f: (-f["rows"], f["from"], f["to"]),
    )
    return {
        "rows": {
            "both": rows_both,
            "champion_only": sum(f["rows"] for f in flows if f[chall] is None),
            "challenger_only": sum(f["rows"] for f in flows if f[champ] is None),
        },
        "agreement": {"rows": rows_both, "agree": agree, "rate": _share(agree, rows_both)},
        "changed": {"rows": changed, "share": _share(changed, rows_both)},
        "flows": flow_list,
        "category_mix": _mix(both),
        "confidence": _confidence(both),
        "feedback": _feedback(confusion),
    }


def _mix(both: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows each version puts in each category (of the rows both scored)."""
    counts = {side: Counter[str]() for side in SIDES}
    for f in both:
        for side in SIDES:
            counts[side][f[_CATEGORY[side]]] += f["rows"]
    return [
        {"category": c, CHAMPION: counts[CHAMPION][c], CHALLENGER: counts[CHALLENGER][c]}
        for c in S.CATEGORIES
        if counts[CHAMPION][c] or counts[CHALLENGER][c]
    ]


def _confidence(both: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean probability of the predicted category: on every row, the agreed and changed ones."""
    out: dict[str, Any] = {}
    for side in SIDES:
        total = f"{side}_probability_sum"
        parts = {
            "all": both,
            "agreed": [f for f in both if f[_CATEGORY[CHAMPION]] == f[_CATEGORY[CHALLENGER]]],
            "changed": [f for f in both if f[_CATEGORY[CHAMPION]] != f[_CATEGORY[CHALLENGER]]],
        }
        out[side] = {
            name: _share(sum(f[total] or 0.0 for f in rows), sum(f["rows"] for f in rows))
            for name, rows in parts.items()
        }
    return out


def _feedback(confusion: list[dict[str, Any]] | None) -> dict[str, Any]:
    if confusion is None:
        return {"rows": 0}
    known = [c for c in confusion if c[_TRUTH] in S.CATEGORIES]
    scored = [
        c
        for c in known
        if c[_CATEGORY[CHAMPION]] is not None and c[_CATEGORY[CHALLENGER]] is not None
    ]
    result: dict[str, Any] = {
        "rows": sum(c["count"] for c in scored),
        "unknown_category_rows": sum(
            c["count"] for c in confusion if c[_TRUTH] not in S.CATEGORIES
        ),
        "one_side_only_rows": sum(c["count"] for c in known) - sum(c["count"] for c in scored),
    }
    for side in SIDES:
        matrix: Counter[tuple[str, str]] = Counter()
        for c in scored:
            matrix[(c[_TRUTH], c[_CATEGORY[side]])] += c["count"]
        result[side] = confusion_figures(matrix, S.CATEGORIES)
    result["delta"] = {
        key: round(result[CHALLENGER][key] - result[CHAMPION][key], 6)
        for key in ("accuracy", "macro_f1")
    }
    result["per_category_recall"] = [
        {
            "category": c,
            "support": result[CHAMPION]["per_category"][c]["support"],
            CHAMPION: result[CHAMPION]["per_category"][c]["recall"],
            CHALLENGER: result[CHALLENGER]["per_category"][c]["recall"],
        }
        for c in S.CATEGORIES
        if result[CHAMPION]["per_category"][c]["support"]
    ]
    return result


def verdict(result: Mapping[str, Any]) -> str:
    """One line: which version is better on the corrected rows, and how much changes."""
    changed = f"{100 * result['changed']['share']:.1f}% of rows change category"
    feedback = result["feedback"]
    if feedback["rows"]:
        delta = feedback["delta"]["macro_f1"]
        if delta > 0:
            head = f"challenger better on feedback rows: +{delta:.2f} macro-F1"
        elif delta < 0:
            head = f"champion better on feedback rows: challenger {delta:.2f} macro-F1"
        else:
            head = "no macro-F1 difference on feedback rows"
        head += (
            f" over {feedback['rows']} corrected rows "
            f"(accuracy {feedback[CHAMPION]['accuracy']:.3f} -> "
            f"{feedback[CHALLENGER]['accuracy']:.3f})"
        )
    else:
        head = "not judged on feedback: no corrected row among the rows both versions scored"
    line = f"{head}; {changed}"
    rows = result["rows"]
    one_side = rows["champion_only"] + rows["challenger_only"]
    if one_side:
        line += (
            f"; {one_side} rows scored by one version only "
            f"(champion {rows['champion_only']}, challenger {rows['challenger_only']})"
        )
    return line


def _days(
    params: CompareParams,
    sources: Mapping[str, Mapping[str, str]],
    per_day: Mapping[str, Counter[str]],
) -> list[dict[str, Any]]:
    out = []
    for day in days(params.first, params.last):
        key = day.isoformat()
        counts = per_day.get(key, Counter())
        out.append(
            {
                "run_date": key,
                CHAMPION: sources[CHAMPION].get(key) or "missing",
                CHALLENGER: sources[CHALLENGER].get(key) or "missing",
                "both": counts["both"],
                "champion_only": counts["champion_only"],
                "challenger_only": counts["challenger_only"],
            }
        )
    return out


def _share(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole else 0.0
