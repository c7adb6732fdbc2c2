"""The two versions take turns in a reversing order, and a steady drift drops out of the step."""

from __future__ import annotations

import pytest

from txcat.benchmark import versions
from txcat.benchmark.versions import BASE, CURRENT


def test_the_versions_take_turns_in_an_order_reversed_every_round():
    order = versions.turn_order(["base", "current"], 3)
    assert order == [
        (0, "base"),
        (0, "current"),
        (1, "current"),
        (1, "base"),
        (2, "base"),
        (2, "current"),
    ]


def _runs(turns, start, step=0.0, slowing=2.0):
    return [
        {
            "wall_s": start + step + slowing * t,
            "inner_s": start - 10 + step + slowing * t,
            "turn": t,
            "rows_scored": 1000,
            "peak_rss_mb": 100,
        }
        for t in turns
    ]


def test_a_steady_drift_drops_out_of_the_current_version_s_step():
    base = _runs([0, 3, 4], 60.0)
    current = _runs([1, 2, 5], 60.0, step=-6.0)
    ratios = versions.drift_free_ratios(base, current)
    assert ratios["wall_s_step"] == pytest.approx(-6.0)
    assert ratios["inner_s_step"] == pytest.approx(-6.0)
    assert ratios["wall_ratio"] == round(1 - 6.0 / 66.0, 3)  # the base's median: 66 s
    assert ratios["inner_ratio"] == round(1 - 6.0 / 56.0, 3)
    # One run each: no step.
    assert versions.drift_free_ratios(base[:1], current[:1])["inner_ratio"] is None


def test_the_page_shows_the_drift_free_ratios_and_each_run_s_turn():
    base, current = _runs([0, 3], 60.0), _runs([1, 2], 60.0, step=-6.0)
    figures = {label: versions._figures(runs) for label, runs in ((BASE, base), (CURRENT, current))}
    page = versions.render_markdown(
        {
            "date": "2026-12-04",
            "base_ref": "abc",
            "cores": 2,
            "files": 10,
            "rows": 1000,
            "repeats": 2,
            "versions": {BASE: "a" * 40, CURRENT: "b" * 40},
            "figures": figures,
            "wall_ratio": 0.9,
            "inner_ratio": 0.9,
            "drift_free": versions.drift_free_ratios(base, current),
            "runs": {BASE: base, CURRENT: current},
        }
    )
    assert "inner **0.887** (-6.00 s)" in page  # 1 - 6 / 53
    assert "- current: 56.0 / 46.0 (1), 58.0 / 48.0 (2)" in page
