"""Row features, per-file aggregates and enrichment on tiny DataFrames."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from chispa import assert_approx_df_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from tests.helpers import empty_memory
from txcat import schema as S
from txcat.config import ReferenceConfig
from txcat.features import FEATURE_COLUMNS, References, build_features, row
from txcat.features.aggregates import AGGREGATE_FEATURES, WINDOW, with_file_aggregates
from txcat.features.enrich import (
    ReferenceDataError,
    latest_bureau_snapshot,
    load_references,
    with_enrichment,
)
from txcat.features.row import ROW_FEATURES, with_row_features

D = dt.date


def _tx(spark, rows):
    """rows: (file, line, date, amount, merchant_city, country) with a fixed profile."""
    full = [
        (
            f,
            f.split(".")[0],
            line,
            f"{f}:{line}",
            D(2014, 5, 1),
            "SANTOS",
            "SP",
            37,
            "F",
            4700.0,
            1175.0,
            date,
            amount,
            None,
            city,
            country,
        )
        for f, line, date, amount, city, country in rows
    ]
    return spark.createDataFrame(full, S.TRANSACTION_SCHEMA)


def test_row_features(spark):
    df = _tx(
        spark,
        [
            ("a.csv", 2, D(2020, 2, 29), 150.0, "SANTOS", "BR"),  # Saturday, whole, round 10
            ("a.csv", 3, D(2020, 2, 3), -54.4, "LNKD.IN/BILL", "US"),  # refund, URL, foreign
            ("a.csv", 4, D(2020, 2, 4), None, None, None),  # missing amount
            ("a.csv", 5, D(2020, 2, 5), 9.99, "415-503-9235", "BR"),  # phone
        ],
    )
    out = {r[S.LINE_NUMBER]: r for r in with_row_features(df).collect()}
    assert out[2]["amount_is_whole"] == 1.0 and out[2]["amount_is_round_10"] == 1.0
    assert out[2]["is_weekend"] == 1.0 and out[2]["weekday"] == 7.0
    assert out[2]["merchant_city_is_customer_city"] == 1.0 and out[2]["merchant_is_foreign"] == 0
    assert out[2]["days_to_month_end"] == 0.0
    assert out[3]["amount_is_negative"] == 1.0 and out[3]["merchant_city_is_url"] == 1.0
    assert out[3]["merchant_is_foreign"] == 1.0 and out[3]["amount_log"] == pytest.approx(
        -4.0146, abs=1e-3
    )
    assert out[4]["amount_is_missing"] == 1.0 and out[4]["amount_is_whole"] is None
    assert out[4]["merchant_city_is_missing"] == 1.0 and out[4]["merchant_is_foreign"] is None
    assert out[5]["merchant_city_is_phone"] == 1.0 and out[5]["merchant_city_is_url"] == 0.0
    assert out[5]["amount_cents"] == 99.0
    assert out[2]["limit_usage"] == pytest.approx(0.75)
    assert out[2]["account_age_months"] == pytest.approx(69.9, abs=0.1)
    assert out[2]["customer_is_female"] == 1.0
    assert out[2]["customer_state_index"] == float(S.BR_STATES.index("SP") + 1)
    assert set(ROW_FEATURES) <= set(with_row_features(df).columns)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="AWCOMBRHTPS.:/ -", max_size=14), min_size=1, max_size=25))
def test_the_url_flag_is_the_url_pattern_whatever_the_city(spark, cities):
    """The flag skips the expression for a city without ".", "/" or ":": the same answers."""
    frame = spark.createDataFrame([(c,) for c in [*cities, None]], "city string")
    got = [r[0] for r in frame.select(row.is_url(F.col("city"))).collect()]
    pattern = re.compile(row.URL_PATTERN)
    assert got == [float(pattern.search(c) is not None) for c in cities] + [0.0]


@pytest.mark.parametrize("method", ["window", "partition"])
def test_file_aggregates(spark, method):
    df = _tx(
        spark,
        [
            ("a.csv", 2, D(2020, 1, 1), 10.0, "X", "BR"),
            ("a.csv", 3, D(2020, 1, 1), 20.0, "X", "US"),
            ("a.csv", 4, D(2020, 1, 5), 30.0, "Y", "BR"),
            ("a.csv", 5, D(2020, 1, 6), None, None, None),
            ("b.csv", 2, D(2020, 1, 9), 5.0, "X", "BR"),
        ],
    )
    cols = [S.SOURCE_FILE, S.LINE_NUMBER, *AGGREGATE_FEATURES]
    # createDataFrame may cut a file between partitions; the reader never does.
    actual = with_file_aggregates(df.coalesce(1), method).select(*cols)
    expected = df.sparkSession.createDataFrame(
        [
            ("a.csv", 2, 4.0, 20.0, 10.0, 20.0, -1.0, 0.0, 0.25, 2.0, None, 2.0),
            ("a.csv", 3, 4.0, 20.0, 10.0, 20.0, 0.0, 0.5, 0.25, 2.0, 0.0, 2.0),
            ("a.csv", 4, 4.0, 20.0, 10.0, 20.0, 1.0, 1.0, 0.25, 1.0, 4.0, 1.0),
            ("a.csv", 5, 4.0, 20.0, 10.0, 20.0, None, None, 0.25, 1.0, 1.0, 1.0),
            ("b.csv", 2, 1.0, 5.0, None, 5.0, None, 0.5, 0.0, 1.0, None, 1.0),
        ],
        actual.schema,
    )
    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def _refs(spark):
    holidays = spark.createDataFrame(
        [(D(2020, 9, 7), "BR"), (D(2020, 7, 9), "SP")], "date date, scope string"
    )
    bureau = spark.createDataFrame(
        [
            ("a", "B", 2, False, D(2020, 1, 1)),
            ("a", "D", 3, True, D(2020, 6, 1)),
            ("a", "E", 9, True, D(2021, 1, 1)),
        ],
        "account_id string, score_band string, n_cards int, delinquent boolean, snapshot_date date",
    )
    return References(
        national_holidays=holidays.where("scope = 'BR'").select("date"),
        state_holidays=holidays.where("scope != 'BR'").select(
            "date", F.col("scope").alias(S.CUSTOMER_STATE)
        ),
        countries=spark.createDataFrame([("BR",), ("US",)], f"{S.MERCHANT_COUNTRY} string"),
        bureau=latest_bureau_snapshot(bureau, D(2020, 12, 31)),
    )


def test_enrichment_keeps_every_row_and_marks_missing_references(spark):
    df = _tx(
        spark,
        [
            ("a.csv", 2, D(2020, 9, 7), 1.0, "X", "BR"),
            ("a.csv", 3, D(2020, 7, 9), 1.0, "X", "OH"),
            ("b.csv", 2, D(2020, 7, 10), 1.0, "X", None),
        ],
    )
    out = {
        (r[S.ACCOUNT_ID], r[S.LINE_NUMBER]): r for r in with_enrichment(df, _refs(spark)).collect()
    }
    assert len(out) == 3
    a2, a3, b2 = out[("a", 2)], out[("a", 3)], out[("b", 2)]
    assert (a2["is_national_holiday"], a2["is_state_holiday"]) == (1.0, 0.0)
    assert (a3["is_national_holiday"], a3["is_state_holiday"]) == (0.0, 1.0)
    assert a2["merchant_country_is_valid"] == 1.0 and a3["merchant_country_is_valid"] == 0.0
    assert b2["merchant_country_is_valid"] is None
    # Newest snapshot on or before the as-of date wins; none at all is a feature, not a drop.
    assert (a2["bureau_score_band"], a2["bureau_n_cards"], a2["bureau_delinquent"]) == (4, 3, 1)
    assert a2["bureau_is_missing"] == 0.0 and b2["bureau_is_missing"] == 1.0
    assert b2["bureau_score_band"] is None


def test_build_features_produces_every_model_column_one_row_per_input(spark):
    df = _tx(spark, [("a.csv", i, D(2020, 1, i), float(i), "X", "BR") for i in range(2, 9)])
    out = build_features(df, _refs(spark), WINDOW, empty_memory(spark))
    assert set(FEATURE_COLUMNS) <= set(out.columns)
    assert len(FEATURE_COLUMNS) == len(set(FEATURE_COLUMNS))
    assert not set(FEATURE_COLUMNS) & set(S.TRANSACTION_SCHEMA.fieldNames())
    assert out.count() == 7
    assert dict(out.dtypes)["amount_zscore"] == "double"
    # No labelled history: the memory is the flat prior, and nothing is known of any key.
    row = out.select(*FEATURE_COLUMNS).first()
    assert row["mem_p_0"] == pytest.approx(1 / len(S.CATEGORIES)) and row["mem_city_n_log"] == 0


def _reference_files(folder, holidays="2026-11-20,BR,Dia\n", bureau_date="2026-11-01"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "holidays.csv").write_text("date,scope,name\n" + holidays)
    (folder / "countries.csv").write_text("alpha2,alpha3,numeric,name\nBR,BRA,076,Brazil\n")
    (folder / "bureau.jsonl").write_text(
        '{"account_id": "a", "score_band": "B", "n_cards": 1, "delinquent": false, '
        f'"snapshot_date": "{bureau_date}"}}\n'
    )
    return ReferenceConfig(
        holidays=str(folder / "holidays.csv"),
        countries=str(folder / "countries.csv"),
        bureau=str(folder / "bureau.jsonl"),
    )


def test_complete_references_give_no_warning(spark, tmp_path):
    refs = load_references(spark, _reference_files(tmp_path), D(2026, 11, 25))
    assert refs.warnings == ()
    assert refs.bureau.count() == 1 and refs.national_holidays.count() == 1


def test_missing_reference_table_names_the_table_and_its_setting(spark, tmp_path):
    paths = _reference_files(tmp_path)
    (tmp_path / "bureau.jsonl").unlink()
    with pytest.raises(
        ReferenceDataError, match=r"reference table bureau \(setting reference.bureau\) not found"
    ):
        load_references(spark, paths, D(2026, 11, 25))


def test_a_missing_dated_version_names_the_table_its_day_and_how_it_is_built(spark, tmp_path):
    """conf/emr.yaml reads the version of the run date: a day without one stops the run."""
    from txcat import reference
    from txcat.deploy.store import ObjectStore

    root = tmp_path / "reference"
    reference.build(str(root), D(2026, 11, 24), ObjectStore(lambda: None))
    files = _reference_files(tmp_path)
    dated = ReferenceConfig(
        holidays=str(root / "holidays" / "as_of={run_date}" / "holidays.csv"),
        countries=str(root / "countries" / "as_of={run_date}" / "countries.csv"),
        bureau=files.bureau,
    )
    day_before = load_references(spark, dated.for_run_date(D(2026, 11, 24)), D(2026, 11, 24))
    assert day_before.warnings == ()
    with pytest.raises(ReferenceDataError) as caught:
        load_references(spark, dated.for_run_date(D(2026, 11, 25)), D(2026, 11, 25))
    message = str(caught.value)
    assert message.startswith(
        "reference table holidays (setting reference.holidays) not found: "
        f"{root}/holidays/as_of=2026-11-25/holidays.csv"
    )
    assert message.endswith(
        "; the holidays versions are built by `txcat reference build --out ROOT --as-of DAY`"
        " (the reference_data DAG, daily)"
    )


def test_empty_reference_table_and_no_snapshot_for_the_run_date_are_warnings(spark, tmp_path):
    empty_holidays = _reference_files(tmp_path / "a", holidays="")
    refs = load_references(spark, empty_holidays, D(2026, 11, 25))
    assert refs.warnings == (
        f"reference table holidays (reference.holidays) has no row: {empty_holidays.holidays}",
    )
    future_bureau = _reference_files(tmp_path / "b", bureau_date="2026-12-01")
    refs = load_references(spark, future_bureau, D(2026, 11, 25))
    assert refs.warnings == (
        "reference table bureau (reference.bureau) has no snapshot on or before 2026-11-25: "
        f"{future_bureau.bureau}",
    )
    (tmp_path / "b" / "bureau.jsonl").write_text("")
    refs = load_references(spark, future_bureau, D(2026, 11, 25))
    assert refs.warnings == (
        f"reference table bureau (reference.bureau) has no row: {future_bureau.bureau}",
    )
