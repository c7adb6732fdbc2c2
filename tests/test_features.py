"""Row features, per-file aggregates and enrichment on tiny DataFrames."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from txcat import schema as S
from txcat.features import FEATURE_COLUMNS, References, build_features
from txcat.features.aggregates import AGGREGATE_FEATURES, WINDOW, with_file_aggregates
from txcat.features.enrich import latest_bureau_snapshot, with_enrichment
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
    out = build_features(df, _refs(spark), WINDOW)
    assert set(FEATURE_COLUMNS) <= set(out.columns)
    assert len(FEATURE_COLUMNS) == len(set(FEATURE_COLUMNS))
    assert not set(FEATURE_COLUMNS) & set(S.TRANSACTION_SCHEMA.fieldNames())
    assert out.count() == 7
    assert dict(out.dtypes)["amount_zscore"] == "double"
