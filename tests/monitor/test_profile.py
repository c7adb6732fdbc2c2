"""Fixed-bin histograms in Spark: bins as numpy's searchsorted, categories, file samples."""

from __future__ import annotations

import numpy as np
import pytest

from txcat import schema as S
from txcat.config import load_config
from txcat.monitor import profile as P

MC = load_config("local").monitoring


def test_histograms_bin_like_searchsorted_and_count_missing(spark) -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=400).round(2)
    rows = [
        (None if i % 40 == 0 else float(v), ["BR", "US", None][i % 3]) for i, v in enumerate(values)
    ]
    frame = spark.createDataFrame(rows, "x double, merchant_country string")
    edges = P.quantile_edges(frame, ["x"], 4)
    assert len(edges["x"]) == 3
    counted = P.histograms(frame, edges, ["merchant_country"])
    present = np.array([r[0] for r in rows if r[0] is not None])
    expected = np.bincount(np.searchsorted(edges["x"], present, side="left"), minlength=4)
    assert counted["numeric"]["x"]["counts"] == expected.tolist()
    assert counted["numeric"]["x"]["missing"] == 10
    assert counted["rows"] == 400
    countries = counted["categorical"]["merchant_country"]
    assert countries == {"counts": {"BR": 134, "US": 133}, "missing": 133}


def test_keep_top_sums_the_rest_as_other() -> None:
    kept = P.keep_top({"c": {"counts": {"a": 5, "b": 3, "c": 1, "d": 1}, "missing": 2}}, 2)
    assert kept == {
        "c": {"counts": {"a": 5, "b": 3, P.OTHER: 2}, "missing": 2, "seen": ["a", "b", "c", "d"]}
    }


def test_prediction_profile_mix_and_confidence() -> None:
    proba = np.array([[0.7, 0.3], [0.2, 0.8], [0.55, 0.45], [0.1, 0.9]])
    found = P.prediction_profile(proba, ["A", "B"], 0.6)
    assert found["mix"] == {"A": 2, "B": 2}
    assert found["mean_top_probability"] == pytest.approx(0.7375)
    assert found["low_confidence_share"] == 0.25
    assert sum(found["confidence_counts"]) == 4
    # 0.55 lies in (0.5, 0.55]: bin 10 of the 20 equal-width bins.
    assert found["confidence_counts"][10] == 1


def test_whole_files_keeps_every_row_of_the_chosen_files(spark) -> None:
    rows = [(f"f{i % 50}.csv", i) for i in range(1000)]
    frame = spark.createDataFrame(rows, f"{S.SOURCE_FILE} string, n int")
    kept = P.whole_files(frame, 0.3).groupBy(S.SOURCE_FILE).count().collect()
    assert 5 <= len(kept) <= 25
    assert {r["count"] for r in kept} == {20}
    assert P.whole_files(frame, 1.0) is frame


def test_sample_share_covers_small_days_whole() -> None:
    assert P.sample_share(MC, 1000) == 1.0
    assert P.sample_share(MC, 10 * MC.feature_sample_min_rows) == pytest.approx(
        max(MC.feature_sample_share, 0.1)
    )
