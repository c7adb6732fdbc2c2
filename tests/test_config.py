from __future__ import annotations

import datetime as dt

import pytest

from txcat.config import ConfigError, load_config


def test_local_and_emr_overlays_load():
    local = load_config("local")
    emr = load_config("emr")
    assert local.env == "local" and emr.env == "emr"
    assert local.spark["spark.sql.sources.partitionOverwriteMode"] == "dynamic"
    assert emr.spark["spark.sql.shuffle.partitions"] == "200"
    assert local.quality.earliest_transaction_date == dt.date(2000, 1, 1)
    assert local.input.extensions == (".csv", ".csv.gz")
    # The only source of the aggregates method: build_features has no default of its own.
    assert local.features.aggregates == emr.features.aggregates == "partition"
    # EMR reads the reference version of the run date (txcat reference build, daily).
    dated = emr.reference.for_run_date(dt.date(2026, 11, 25))
    assert dated.holidays == "s3://txcat-reference/holidays/as_of=2026-11-25/holidays.csv"
    assert dated.countries == "s3://txcat-reference/countries/as_of=2026-11-25/countries.csv"


def test_overrides_are_typed():
    cfg = load_config(
        "local",
        overrides=[
            "quality.max_row_quarantine_share=0.5",
            "spark.spark.sql.shuffle.partitions=3",
            "reference.bureau=/x/{run_date}/b.jsonl",
        ],
    )
    assert cfg.quality.max_row_quarantine_share == 0.5
    assert cfg.spark["spark.sql.shuffle.partitions"] == "3"
    assert cfg.reference.for_run_date(dt.date(2026, 1, 2)).bureau == "/x/2026-01-02/b.jsonl"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("quality.max_row_quarantine_share=lots", "expected a number"),
        ("quality.quarantine_duplicate_rows=maybe", "true or false"),
        ("quality.unknown_key=1", "unknown keys"),
        ("training.validation_share=0.2", "unknown keys"),
        ("features.aggregates=rows", "'partition' or 'window'"),
        ("input.parser=pandas", "input.parser must be one of arrow, spark"),
        ("nonsense.key=1", "unknown configuration sections"),
        ("training.max_depth=2.5", "whole number"),
        ("novalue", "section.key=value"),
    ],
)
def test_bad_values_fail_at_start(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("local", overrides=[override])


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="no configuration for environment 'prod'"):
        load_config("prod")


def test_amount_bound_is_positive_and_finite():
    assert load_config("local").quality.max_abs_amount == 10_000_000.0
    assert (
        load_config("local", overrides=["quality.max_abs_amount=500000"]).quality.max_abs_amount
        == 5e5
    )
    for value in ("0", "-1", ".inf", "lots"):
        with pytest.raises(ConfigError, match=r"quality\.max_abs_amount"):
            load_config("local", overrides=[f"quality.max_abs_amount={value}"])


def test_shares_must_be_fractions():
    with pytest.raises(ConfigError, match="between 0 and 1"):
        load_config("local", overrides=["quality.max_file_quarantine_share=5"])


def test_run_lock_staleness_is_configurable():
    assert load_config("local").run.lock_stale_after == dt.timedelta(minutes=240)
    cfg = load_config("local", overrides=["run.lock_stale_after_minutes=30"])
    assert cfg.run.lock_stale_after == dt.timedelta(minutes=30)
    with pytest.raises(ConfigError, match="lock_stale_after_minutes must be >= 1"):
        load_config("local", overrides=["run.lock_stale_after_minutes=0"])
