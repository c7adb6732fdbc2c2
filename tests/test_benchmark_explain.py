"""`make bench`'s cost per row of `scoring.explain`, measured on the benchmark's features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.serve.conftest import save_model
from txcat.benchmark.runner import measure_explain_cost, render_markdown
from txcat.features import FEATURE_COLUMNS


def test_the_explain_cost_is_measured_on_the_first_feature_rows_and_rendered(tmp_path):
    save_model(tmp_path / "model", seed=1)
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(300, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    features["row_id"] = [f"r{i}" for i in range(300)]
    (tmp_path / "features").mkdir()
    features.to_parquet(tmp_path / "features" / "part-0.parquet")

    cost = measure_explain_cost(tmp_path / "features", tmp_path / "model", rows=200)

    assert cost["rows"] == 200
    assert cost["approximate_explanation_us_per_row"] == round(
        cost["predict_with_approximate_explanation_us_per_row"] - cost["predict_us_per_row"], 1
    )
    assert min(cost["predict_us_per_row"], cost["exact_contributions_us_per_row"]) > 0
    page = render_markdown(
        {
            "date": "2026-11-30",
            "cores": 2,
            "files": 1,
            "rows": 1,
            "repeats": 1,
            "measurements": [],
            "job_over_io_floor": 1,
            "files_per_s_per_core": 1,
            "io_floor_files_per_s_per_core": 1,
            "udf_rows_per_s": 1,
            "xgboost_spark_rows_per_s": 1,
            "row_udf_rows_per_s": 1,
            "pandas_rows_per_s": 1,
            "udf_over_xgboost_spark": 1,
            "udf_over_row_udf": 1,
            "udf_over_pandas_per_core": 1,
            "tuning": [],
            "explain_cost": cost,
        }
    )
    assert f"the prediction {cost['predict_us_per_row']} µs" in page
    assert f"(the real-time API's) {cost['exact_contributions_us_per_row']} µs" in page
