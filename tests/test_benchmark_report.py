"""The benchmark's page: the whole job on S3 and the API's cost per row are shown."""

from __future__ import annotations

import statistics

import pytest

from txcat.benchmark import runner
from txcat.benchmark.runner import render_markdown
from txcat.config import PARSERS


def _result():
    return {
        "date": "2026-11-30",
        "load_average": {"before": [3.0, 2.0, 1.0], "after": [4.0, 3.0, 2.0]},
        "cores": 2,
        "files": 5000,
        "rows": 500_000,
        "repeats": 1,
        "measurements": [
            {
                "name": "job",
                "median_s": 50.0,
                "wall_s": [50.0],
                "peak_rss_mb": [900],
                "command": "j",
            }
        ],
        "job_over_io_floor": 2.4,
        "files_per_s_per_core": 50.0,
        "job_startup_and_shutdown_s": 12.5,
        "inner_rows_per_s_per_core": 6666.7,
        "explain_over_job": 1.8,
        "monitor_over_job": 0.2,
        "io_floor_files_per_s_per_core": 120.0,
        "udf_rows_per_s": 1.0,
        "xgboost_spark_rows_per_s": 1.0,
        "row_udf_rows_per_s": 1.0,
        "pandas_rows_per_s": 1.0,
        "udf_over_xgboost_spark": 1.6,
        "udf_over_row_udf": 20.0,
        "udf_over_pandas_per_core": 0.5,
        "s3_job": {
            "files": 2500,
            "latency_ms": {
                "0": {
                    "median_s": 60.0,
                    "wall_s": [60.0],
                    "files_per_s_per_core": 41.67,
                    "command": "s0",
                },
                "20": {
                    "median_s": 70.0,
                    "wall_s": [70.0],
                    "files_per_s_per_core": 35.71,
                    "command": "s20",
                },
            },
        },
        "api": {
            "requests_per_case": 100,
            "file_c1": {
                "p50_ms": 30.0,
                "p99_ms": 60.0,
                "server_cpu_us_per_row": 120.5,
                "rows_per_cpu_s": 8298.8,
            },
        },
        "tuning": [],
        "job_s": 50.0,
    }


def test_the_page_shows_the_job_on_s3_the_api_and_the_machine_load():
    page = render_markdown(_result())
    assert "The day's first 2,500 files" in page
    assert "| 0 ms | 60.0 | 60.0 | 41.67 | - |" in page
    assert "| 20 ms | 70.0 | 70.0 | 35.71 | - |" in page
    assert "| file_c1 | 30.0 | 60.0 | 120.5 | 8298.8 |" in page
    assert "before: [3.0, 2.0, 1.0]" in page
    assert "| job with `scoring.explain` / job | **1.8** |" in page
    assert "- job_s3_20ms: `s20`" in page


def test_the_api_figures_cover_every_case_serve_measures_with_its_rows_per_request():
    from txcat.benchmark import serve
    from txcat.benchmark.runner import api_figures

    cases = {
        "one_transaction_50_history_c1": serve._figures([0.01] * 10, [200] * 10, 1.0, 0.5, 1),
        "file_100_rows_explain_c8": serve._figures(
            [0.02] * 10, [200] * 10, 1.0, 2.0, serve.FILE_ROWS
        ),
    }
    figures = {"requests_per_case": 10, "machine": {"cores": 2}, "cases": cases}
    api = api_figures(figures)
    assert set(api) == {"requests_per_case", "load", *cases}
    one = api["one_transaction_50_history_c1"]
    assert one["server_cpu_us_per_row"] == 50_000.0  # 0.5 CPU-s over 10 rows
    assert one["rows_per_cpu_s"] == 20.0
    file = api["file_100_rows_explain_c8"]
    assert file["server_cpu_us_per_row"] == 2_000.0  # 2 CPU-s over 10 x 100 rows
    assert file["p99_ms"] == 20.0


def test_two_day_sizes_give_the_marginal_rate_and_what_a_run_pays_whatever_its_size():
    from txcat.benchmark.runner import job_scaling

    # 10 s fixed + 20 us per row on 2 cores: 100,000 rows -> 12 s, 400,000 rows -> 18 s.
    scaling = job_scaling(100_000, 12.0, 400_000, 18.0, cores=2)
    assert scaling["marginal_rows_per_s_per_core"] == 25_000.0  # 1 / (20 us x 2 cores)
    assert scaling["fixed_in_run_s"] == 10.0
    assert scaling["rows"] == [100_000, 400_000] and scaling["in_run_s"] == [12.0, 18.0]
    # The larger day not taking longer gives no rate (the plan then keeps the in-run one).
    assert (
        job_scaling(100_000, 12.0, 400_000, 11.0, cores=2)["marginal_rows_per_s_per_core"] is None
    )
    with pytest.raises(ValueError, match="two different day sizes"):
        job_scaling(100, 1.0, 100, 2.0, cores=2)
    # The step with the host's drift taken out gives the slope when measured; the line goes
    # through the two medians' mean (here 15 s at 250,000 rows).
    drift_free = job_scaling(100_000, 12.0, 400_000, 18.0, cores=2, step_s=7.5)
    assert drift_free["drift_free_step_s"] == 7.5
    assert drift_free["marginal_rows_per_s_per_core"] == 20_000.0  # 1 / (25 us x 2 cores)
    assert drift_free["fixed_in_run_s"] == 8.75  # 15 - 250,000 x 25 us


def test_the_page_shows_the_job_on_two_day_sizes():
    result = _result() | {
        "job_scaling": {
            "rows": [125_000, 500_000],
            "in_run_s": [30.0, 45.0],
            "marginal_rows_per_s_per_core": 12500.0,
            "fixed_in_run_s": 25.0,
        }
    }
    page = render_markdown(result)
    assert (
        "| job in run on 125,000 and 500,000 rows (the small day and the day) | 30.0 s, 45.0 s |"
        in page
    )
    assert "marginal (slope between the two days; `txcat plan`) | **12500.0** |" in page
    assert "| job seconds a run pays whatever its size (intercept) | 25.0 s |" in page
    assert "marginal" not in render_markdown(_result())


def test_the_floor_and_the_job_on_the_two_days_take_turns(tmp_path):
    calls = []

    class Recording:
        repeats = 2
        landing_small = tmp_path / "small"

        def io_floor(self, repeats=None):
            calls.append(("io_floor", repeats))
            return runner.Measurement("io_floor", "floor", wall_s=[float(len(calls))])

        def job(self, name="job", landing=None, repeats=None):
            calls.append((name, repeats))
            return runner.Measurement(name, "job", wall_s=[float(len(calls))])

    floor, day, small = runner.floor_and_job_on_two_days(Recording())
    # The order turns round every round, so none always runs after another.
    assert calls == [
        ("io_floor", 1),
        ("job", 1),
        ("job_small", 1),
        ("job_small", 1),
        ("job", 1),
        ("io_floor", 1),
    ]
    assert (floor.wall_s, day.wall_s, small.wall_s) == ([1.0, 6.0], [2.0, 5.0], [3.0, 4.0])
    assert (floor.turns, day.turns, small.turns) == ([0, 5], [1, 4], [2, 3])


def test_the_scorers_take_turns_on_the_featured_rows():
    calls = []

    class Recording:
        repeats = 2

        def scorer(self, variant, limit, repeats=None):
            calls.append((variant, limit, repeats))
            return runner.Measurement(f"score_{variant}", variant, wall_s=[float(len(calls))])

    measured = runner.scorers_side_by_side(Recording(), row_udf_limit=50)
    first_round = [(v, 50 if v == "row_udf" else None, 1) for v in runner.SCORERS]
    # Every scorer once per round, the order reversed in the next, only the row UDF limited.
    assert calls == first_round + first_round[::-1]
    assert list(measured) == list(runner.SCORERS)
    last = 2 * len(runner.SCORERS) - 1
    assert measured["txcat_udf"].turns == [0, last]
    assert measured["xgboost_spark"].wall_s == [3.0, float(last - 1)]


def test_a_steady_drift_of_the_host_is_taken_out_of_the_step_between_two_measurements():
    # A host slowing down by 2 s per run; the second measurement costs 3 s more.
    turns_a, turns_b = [0, 3, 4], [1, 2, 5]
    a = [60.0 + 2 * t for t in turns_a]
    b = [63.0 + 2 * t for t in turns_b]
    assert runner.drift_free_step(a, turns_a, b, turns_b) == pytest.approx(3.0)
    # The medians' difference holds the drift of the runs between them.
    assert statistics.median(b) - statistics.median(a) == pytest.approx(1.0)
    # In the plain alternation (a, b, a, b, ...) too.
    turns_a, turns_b = [0, 2, 4], [1, 3, 5]
    a = [60.0 + 2 * t for t in turns_a]
    b = [63.0 + 2 * t for t in turns_b]
    assert runner.drift_free_step(a, turns_a, b, turns_b) == pytest.approx(3.0)
    assert statistics.median(b) - statistics.median(a) == pytest.approx(5.0)
    # Too few runs, or no places recorded: not measured.
    assert runner.drift_free_step([60.0], [0], [63.0], [1]) is None
    assert runner.drift_free_step(a, [], b, turns_b) is None


def test_the_s3_section_reports_each_wait_s_step_with_the_drift_taken_out(tmp_path):
    result = _result()
    result["s3_job"]["latency_ms"]["0"] |= {"wall_s": [60.0, 66.0], "turns": [0, 3]}
    result["s3_job"]["latency_ms"]["20"] |= {
        "wall_s": [65.0, 67.0],
        "turns": [1, 2],
        "drift_free_step_s": 3.0,
    }
    page = render_markdown(result)
    assert "| 0 ms | 60.0 | 60.0 (0), 66.0 (3) | 41.67 | - |" in page
    assert "| 20 ms | 70.0 | 65.0 (1), 67.0 (2) | 35.71 | +3.00 |" in page


def test_the_two_readers_take_turns_on_the_small_day_and_report_their_own_seconds(tmp_path):
    calls = []

    class Recording:
        repeats = 2
        cores = 2
        landing_small = tmp_path / "small"

        def read_stage(self, name, input_path, settings=()):
            calls.append((name, input_path, tuple(settings)))
            seconds = {"read_spark": 10.0, "read_arrow": 4.0}[name] + len(calls)
            return runner.Measurement(
                name, "read", wall_s=[seconds + 9], inner=[{"rows": 500_000, "seconds": seconds}]
            )

    readers = runner.readers_side_by_side(Recording())
    assert set(runner.READERS) == set(PARSERS)
    assert [c[0] for c in calls] == ["read_spark", "read_arrow", "read_arrow", "read_spark"]
    assert calls[0][1:] == (tmp_path / "small", ("input.parser=spark",))
    assert readers["spark"]["seconds"] == [11.0, 14.0]
    assert readers["arrow"]["seconds"] == [6.0, 7.0]
    assert readers["spark"]["us_per_row_core"] == 50.0  # 12.5 s x 2 cores / 500,000 rows
    assert readers["arrow_over_spark"] == round(6.5 / 12.5, 3)
    # One second more per run on this host: the stage's own difference is 6 s.
    assert readers["arrow_minus_spark_drift_free_s"] == pytest.approx(-6.0)

    result = _result() | {"readers": readers}
    page = render_markdown(result)
    assert "arrow / spark: **0.52**; arrow minus spark, drift taken out: -6.00 s." in page
    assert "| arrow | 500,000 | 6.00 (1), 7.00 (2) | 6.5 | 26.0 |" in page
