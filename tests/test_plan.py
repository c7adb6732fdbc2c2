from __future__ import annotations

import json

import pytest

from txcat.plan import PlanInput, load_benchmarks, make_plan, render

BENCH = {
    "files": 20000,
    "rows": 2_000_000,
    "cores": 2,
    "rows_per_s_per_core": 10_000.0,
    "date": "2026-11-26",
}


def test_plan_divides_work_by_usable_core_time():
    spec = PlanInput(
        files=3_000_000,
        rows_per_file=100,
        window_min=30,
        instance_type="m5.4xlarge",
        fixed_overhead_s=300,
        efficiency=0.75,
    )
    plan = make_plan(spec, BENCH)
    # 3e8 rows / 1e4 rows/s = 30,000 core-s; usable (1800 - 300) * 0.75 = 1,125 s per core.
    assert plan.core_seconds == pytest.approx(30_000)
    assert plan.vcpus == 27  # ceil(30000 / 1125) = ceil(26.67)
    assert plan.instances == 2  # 16 vCPUs per m5.4xlarge


def test_storage_latency_adds_waiting_divided_by_reads_in_flight():
    base = PlanInput(files=1_000_000, rows_per_file=100, window_min=30, s3_latency_ms=20)
    sequential = make_plan(base, BENCH)
    concurrent = make_plan(PlanInput(**{**vars(base), "reads_in_flight_per_core": 16}), BENCH)
    assert sequential.core_seconds - 10_000 == pytest.approx(20_000)  # 1e6 files x 20 ms
    assert concurrent.core_seconds - 10_000 == pytest.approx(1_250)
    assert concurrent.vcpus < sequential.vcpus


def test_window_shorter_than_overhead_is_refused():
    with pytest.raises(ValueError, match="shorter than the fixed overhead"):
        make_plan(PlanInput(files=1, rows_per_file=1, window_min=1, fixed_overhead_s=300), BENCH)


def test_figures_come_from_the_benchmark_file(tmp_path):
    path = tmp_path / "benchmarks.json"
    with pytest.raises(FileNotFoundError, match="make bench"):
        load_benchmarks(path)
    path.write_text(json.dumps({"files": 1}))
    with pytest.raises(ValueError, match="lacks"):
        load_benchmarks(path)
    path.write_text(json.dumps(BENCH))
    text = render(
        PlanInput(files=3_000_000, rows_per_file=100, window_min=30),
        make_plan(
            PlanInput(files=3_000_000, rows_per_file=100, window_min=30), load_benchmarks(path)
        ),
    )
    assert "10,000 rows/s per core" in text and "vCPUs" in text


S3_BENCH = {
    "date": "2026-11-26",
    "latency_ms": {
        "0": {"files_per_s_per_core": {"boto3": 100.0, "spark": 20.0}},
        "20": {"files_per_s_per_core": {"boto3": 80.0, "spark": 5.0}},
    },
}


def test_storage_wait_is_the_measured_one_when_the_s3_benchmark_has_the_latency():
    spec = PlanInput(files=1_000_000, rows_per_file=100, window_min=30, s3_latency_ms=20)
    boto3 = make_plan(spec, BENCH, S3_BENCH)
    spark = make_plan(PlanInput(**{**vars(spec), "reader": "spark"}), BENCH, S3_BENCH)
    # boto3: 1/80 - 1/100 = 2.5 ms per file; spark: 1/5 - 1/20 = 150 ms per file.
    assert boto3.core_seconds - 10_000 == pytest.approx(2_500)
    assert spark.core_seconds - 10_000 == pytest.approx(150_000)
    assert "measured for the boto3 reader" in render(spec, boto3)
    # A latency the benchmark did not measure falls back to latency / reads in flight.
    other = make_plan(PlanInput(**{**vars(spec), "s3_latency_ms": 50}), BENCH, S3_BENCH)
    assert other.core_seconds - 10_000 == pytest.approx(50_000)
    assert "not measured at this latency" in render(spec, other)


def test_command_line_prints_the_plan_from_both_benchmark_files(tmp_path, capsys):
    from txcat.cli import main

    bench, s3 = tmp_path / "benchmarks.json", tmp_path / "benchmarks-s3.json"
    bench.write_text(json.dumps(BENCH))
    s3.write_text(json.dumps(S3_BENCH))
    argv = ["plan", "--files", "3000000", "--window-min", "30", "--overhead-s", "300"]
    argv += ["--benchmarks", str(bench), "--s3-benchmarks", str(s3), "--s3-latency-ms", "20"]
    assert main([*argv, "--reader", "spark"]) == 0
    out = capsys.readouterr().out
    # 30,000 core-s of compute + 3e6 files x 150 ms = 480,000 core-s, over 1,125 s per core.
    assert "needed: 427 vCPUs" in out and "measured for the spark reader" in out


def test_the_whole_job_s_figures_win_when_the_benchmark_measured_them():
    bench = BENCH | {
        "inner_rows_per_s_per_core": 20_000.0,
        "s3_job": {
            "latency_ms": {
                "0": {"files_per_s_per_core": 200.0},
                "20": {"files_per_s_per_core": 100.0},
            }
        },
    }
    at_0 = make_plan(PlanInput(files=3_000_000, rows_per_file=100, window_min=30), bench)
    # 3e8 rows / 2e4 rows/s (in run) = 15,000 core-s, no wait at 0 ms.
    assert at_0.core_seconds == pytest.approx(15_000)
    assert "in run; spark-submit start-up counted in the fixed overhead" in render(
        PlanInput(files=3_000_000, rows_per_file=100, window_min=30), at_0
    )
    spec = PlanInput(files=1_000_000, rows_per_file=100, window_min=30, s3_latency_ms=20)
    at_20 = make_plan(spec, bench, S3_BENCH)
    # The job itself: 1/100 - 1/200 = 5 ms per file, not the reader benchmark's 2.5 ms.
    assert at_20.core_seconds - 5_000 == pytest.approx(5_000)
    assert "the whole job measured on S3" in render(spec, at_20)
    # The spark reader keeps its reader figures: the job was measured with boto3.
    spark = make_plan(PlanInput(**{**vars(spec), "reader": "spark"}), bench, S3_BENCH)
    assert spark.core_seconds - 5_000 == pytest.approx(150_000)
    # The step with the host's drift taken out wins over the medians' difference: 2.5 s per
    # run of 2,000 files on 2 cores is 2.5 ms of core time per file.
    drifting = bench | {"cores": 2}
    drifting["s3_job"] = {
        "files": 2_000,
        "latency_ms": {
            "0": {"files_per_s_per_core": 200.0, "median_s": 5.0},
            "20": {"files_per_s_per_core": 100.0, "median_s": 10.0, "drift_free_step_s": 2.5},
        },
    }
    stepped = make_plan(spec, drifting, S3_BENCH)
    assert stepped.core_seconds - 5_000 == pytest.approx(2_500)
    assert "+2.50 s per run of 2,000 files on 2 cores, the host's drift taken out" in render(
        spec, stepped
    )


def test_the_boto3_reader_s_own_cpu_per_object_is_counted_at_every_latency():
    s3 = S3_BENCH | {
        "reader_cpu_ms_per_object": {"0": 1.5, "20": 1.6},
        "boto3_threads_per_task": 16,
    }
    at_0 = PlanInput(files=1_000_000, rows_per_file=100, window_min=30)
    plan = make_plan(at_0, BENCH, s3)
    # 10,000 core-s of compute + 1e6 GETs x 1.5 ms of the reader's CPU.
    assert plan.core_seconds == pytest.approx(10_000 + 1_500)
    text = render(at_0, plan)
    assert "the boto3 reader's own CPU 1.50 ms per file" in text
    assert "1,500 reading from storage" in text
    at_20 = PlanInput(**{**vars(at_0), "s3_latency_ms": 20})
    # The wait measured at 20 ms (1/80 - 1/100 = 2.5 ms per file) comes on top: the benchmark's
    # 0 ms rate already paid the reader's CPU, so the difference holds only the waiting.
    assert make_plan(at_20, BENCH, s3).core_seconds == pytest.approx(10_000 + 1_500 + 2_500)
    # Not measured (older figures), or another reader: nothing added, and the plan says so.
    for spec, figures in ((at_0, S3_BENCH), (PlanInput(**{**vars(at_0), "reader": "spark"}), s3)):
        unmeasured = make_plan(spec, BENCH, figures)
        assert unmeasured.core_seconds == pytest.approx(10_000)
        assert "own CPU per S3 object not counted: not measured" in render(spec, unmeasured)


def test_the_marginal_rate_of_two_day_sizes_wins_and_its_fixed_seconds_leave_the_window():
    bench = BENCH | {
        "inner_rows_per_s_per_core": 5_000.0,
        "job_scaling": {
            "rows": [500_000, 2_000_000],
            "in_run_s": [50.0, 95.0],
            "marginal_rows_per_s_per_core": 16_666.7,
            "fixed_in_run_s": 35.0,
        },
    }
    spec = PlanInput(files=3_000_000, rows_per_file=100, window_min=30, fixed_overhead_s=300)
    plan = make_plan(spec, bench)
    # 3e8 rows / 16,666.7 rows/s = 18,000 core-s over (1800 - 300 - 35) s x 0.75 per core.
    assert plan.core_seconds == pytest.approx(18_000, rel=1e-5)
    assert plan.usable_seconds == pytest.approx(1_465)
    assert plan.vcpus == 17  # ceil(18000 / 1098.75)
    text = render(spec, plan)
    assert "marginal: the run's own time against its rows at two day sizes" in text
    assert "35 s of the run independent of its size" in text
    # A negative intercept keeps the (steeper) marginal rate and takes nothing off the window.
    steep = bench | {"job_scaling": bench["job_scaling"] | {"fixed_in_run_s": -5.0}}
    assert make_plan(spec, steep).usable_seconds == pytest.approx(1_500)
    # No marginal rate measured: the in-run rate, nothing taken off.
    flat = bench | {"job_scaling": bench["job_scaling"] | {"marginal_rows_per_s_per_core": None}}
    fallback = make_plan(spec, flat)
    assert fallback.core_seconds == pytest.approx(60_000) and fallback.usable_seconds == 1_500
