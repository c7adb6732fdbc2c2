"""The benchmark's page: the whole job on S3 and the API's cost per row are shown."""

from __future__ import annotations

from txcat.benchmark.runner import render_markdown


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
            }
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
    assert "| 0 ms | 60.0 | 60.0 | 41.67 |" in page
    assert "| 20 ms | 70.0 | 70.0 | 35.71 |" in page
    assert "| file_c1 | 30.0 | 60.0 | 120.5 | 8298.8 |" in page
    assert "before: [3.0, 2.0, 1.0]" in page
    assert "| job with `scoring.explain` / job | **1.8** |" in page
    assert "- job_s3_20ms: `s20`" in page
