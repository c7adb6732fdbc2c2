"""txcat compare: the daily champion against a retro-scored challenger on the same rows."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest

from tests.retro.conftest import DAYS
from txcat import cli, exits
from txcat import schema as S
from txcat.retro import compare, scoring


@pytest.fixture(scope="module")
def compared(spark, landed, tmp_path_factory):
    """The challenger retro-scored on the first day only; compared over the first two days."""
    root = tmp_path_factory.mktemp("compare")
    retro = root / "retro"
    scored = scoring.score_range(
        spark,
        landed["cfg"],
        scoring.RangeParams(
            str(landed["challenger"]), DAYS[0], DAYS[0], str(landed["out"]), str(retro)
        ),
    )
    assert scored.exit_code == exits.OK
    champion = pd.read_parquet(landed["out"] / "predictions")
    challenger = pd.read_parquet(scored.summary["predictions"])
    day1 = champion[champion[S.RUN_DATE].astype(str) == DAYS[0].isoformat()]
    both = day1.merge(challenger, on=S.ROW_ID, suffixes=("_a", "_b"))
    # Corrections of 6 rows; the first row is corrected twice and the later correction wins.
    picked = both.head(6)
    truths = [S.CATEGORIES[(i * 5) % len(S.CATEGORIES)] for i in range(len(picked))]
    lines = ["row_id,category,corrected_at"]
    first = picked.iloc[0]
    lines.append(f"{first[S.ROW_ID]},{first['predicted_category_a']},2026-11-26T08:00:00Z")
    lines += [
        f"{row_id},{truth},2026-11-27T08:00:00Z"
        for row_id, truth in zip(picked[S.ROW_ID], truths, strict=True)
    ]
    feedback_file = root / "feedback.csv"
    feedback_file.write_text("\n".join(lines) + "\n")
    store = root / "feedback"
    assert (
        cli.main(["feedback", "import", "--input", str(feedback_file), "--store", str(store)]) == 0
    )
    argv = [
        "compare",
        "--champion",
        str(landed["champion"]),
        "--challenger",
        str(landed["challenger"]),
        "--from",
        DAYS[0].isoformat(),
        "--to",
        DAYS[1].isoformat(),
        "--predictions",
        str(landed["out"]),
        "--retro",
        str(retro),
        "--feedback",
        str(store),
        "--output",
        str(root / "report"),
        *[arg for override in landed["overrides"] for arg in ("--set", override)],
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("txcat.session.build_session", lambda *_a, **_k: spark)
        mp.setattr("txcat.session.release_session", lambda _s: None)
        code = cli.main(argv)
    return {
        "code": code,
        "report": json.loads((root / "report" / compare.REPORT_JSON).read_text()),
        "html": (root / "report" / compare.REPORT_HTML).read_text(),
        "both": both,
        "picked": picked.assign(truth=truths),
        "day2_rows": int((champion[S.RUN_DATE].astype(str) == DAYS[1].isoformat()).sum()),
    }


@pytest.mark.slow
def test_rows_of_one_side_only_are_counted_per_day(compared):
    report = compared["report"]
    assert compared["code"] == exits.OK
    assert report["rows"] == {
        "both": len(compared["both"]),
        "champion_only": compared["day2_rows"],
        "challenger_only": 0,
    }
    assert [(d["champion"], d["challenger"]) for d in report["days"]] == [
        ("daily", "retro"),
        ("daily", "missing"),
    ]
    assert report["days"][1]["champion_only"] == compared["day2_rows"] > 0


@pytest.mark.slow
def test_agreement_and_flows_match_the_rows(compared):
    report, both = compared["report"], compared["both"]
    changed = both[both["predicted_category_a"] != both["predicted_category_b"]]
    assert report["agreement"]["agree"] == len(both) - len(changed)
    expected = changed.groupby(["predicted_category_a", "predicted_category_b"]).size()
    assert {(f["from"], f["to"]): f["rows"] for f in report["flows"]} == {
        k: int(v) for k, v in expected.items()
    }
    mean = both["predicted_probability_b"].mean()
    assert report["confidence"]["challenger"]["all"] == pytest.approx(mean, abs=1e-6)


@pytest.mark.slow
def test_feedback_accuracy_uses_each_rows_latest_correction(compared):
    feedback, picked = compared["report"]["feedback"], compared["picked"]
    assert feedback["rows"] == len(picked) == 6
    for side, column in (
        ("champion", "predicted_category_a"),
        ("challenger", "predicted_category_b"),
    ):
        accuracy = (picked[column] == picked["truth"]).mean()
        assert feedback[side]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert feedback["delta"]["accuracy"] == pytest.approx(
        feedback["challenger"]["accuracy"] - feedback["champion"]["accuracy"], abs=1e-6
    )


@pytest.mark.slow
def test_the_verdict_and_an_offline_html_report(compared):
    report, page = compared["report"], compared["html"]
    assert re.fullmatch(
        r"(challenger better|champion better|no macro-F1 difference).* over 6 corrected rows "
        r"\(accuracy [0-9.]+ -> [0-9.]+\); [0-9.]+% of rows change category; "
        rf"{compared['day2_rows']} rows scored by one version only .*",
        report["verdict"],
    )
    assert html.escape(report["verdict"]) in page
    assert not re.search(r"https?://|src=|href=|@import|url\(", page)


def test_figures_count_one_side_rows_and_judge_on_feedback():
    def flow(a, b, rows, pa=0.0, pb=0.0):
        return {
            "champion_category": a,
            "challenger_category": b,
            "rows": rows,
            "champion_probability_sum": pa,
            "challenger_probability_sum": pb,
        }

    food, fuel = S.CATEGORIES[0], S.CATEGORIES[1]
    flows = [
        flow(food, food, 90, 81.0, 72.0),
        flow(food, fuel, 10, 6.0, 5.0),
        flow(food, None, 4, 2.0),
        flow(None, fuel, 3, 0.0, 1.5),
    ]
    confusion = [
        {"truth": fuel, "champion_category": food, "challenger_category": fuel, "count": 8},
        {"truth": food, "champion_category": food, "challenger_category": food, "count": 2},
        {
            "truth": "NOT_A_CATEGORY",
            "champion_category": food,
            "challenger_category": food,
            "count": 1,
        },
    ]
    result = compare.figures(flows, confusion)
    assert result["rows"] == {"both": 100, "champion_only": 4, "challenger_only": 3}
    assert result["changed"] == {"rows": 10, "share": 0.1}
    assert result["flows"] == [{"from": food, "to": fuel, "rows": 10, "share": 0.1}]
    assert result["confidence"]["champion"] == {"all": 0.87, "agreed": 0.9, "changed": 0.6}
    assert result["feedback"]["rows"] == 10 and result["feedback"]["unknown_category_rows"] == 1
    assert (
        result["feedback"]["champion"]["accuracy"],
        result["feedback"]["challenger"]["accuracy"],
    ) == (0.2, 1.0)
    line = compare.verdict(result)
    assert line.startswith("challenger better on feedback rows: +")
    assert "over 10 corrected rows (accuracy 0.200 -> 1.000); 10.0% of rows change category" in line
    assert line.endswith("7 rows scored by one version only (champion 4, challenger 3)")
    assert compare.verdict(compare.figures(flows, None)).startswith("not judged on feedback")
