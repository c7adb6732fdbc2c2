"""The Great Expectations suites catch broken input and output, and their results are saved."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from txcat import schema as S
from txcat.config import ValidationConfig
from txcat.validate import offline, runner, suites
from txcat.validate.offline import external_references

#: Great Expectations suites run on Spark: left out of `make test-fast`.
pytestmark = pytest.mark.slow

#: Every suite case runs on both of GX's engines: the Spark DataFrame itself, and the same rows
#: collected to pandas, as the daily run checks its samples.
ENGINES = ("spark", "pandas")


def _on(engine, frame):
    return frame.toPandas() if engine == "pandas" else frame


DAY = dt.date(2026, 11, 25)
CFG = ValidationConfig(enabled=True, sample_rows=1000, min_parse_success=0.9, value_mostly=0.99)
TOP3 = [("VAREJO", 0.7), ("SERVICO", 0.2), ("HOTEIS", 0.05)]


def _prediction(row_id, category="VAREJO", probability=0.7, top3=TOP3):
    return (
        row_id,
        "a1",
        "s3://b/a1.csv",
        2,
        False,
        DAY,
        10.5,
        category,
        probability,
        top3,
        None,
        "m1",
        "0" * 64,
        "txcat-categoriser",
        "3",
        "champion",
        "run",
        dt.datetime(2026, 11, 25, 6),
        DAY,
    )


def _output(spark, rows):
    return suites.output_frame(spark.createDataFrame(rows, S.PREDICTION_SCHEMA))


@pytest.mark.parametrize("engine", ENGINES)
def test_good_output_passes(spark, engine):
    outcome = runner.run_suite(
        _on(engine, _output(spark, [_prediction("r1"), _prediction("r2")])), suites.output_suite()
    )
    assert outcome.success and outcome.critical_failures == [] and outcome.evaluated == 6


_UNIQUE = "expect_column_values_to_be_unique[row_id]"
_CATEGORY = "expect_column_values_to_be_in_set[predicted_category]"
_PROBABILITY = "expect_column_values_to_be_between[predicted_probability]"
_TOP3 = "expect_column_values_to_be_in_set[top3_consistent]"


@pytest.mark.parametrize(
    ("bad_row", "failing"),
    [
        (_prediction("r1"), [_UNIQUE]),
        (_prediction("r9", category="PADARIA", top3=[("PADARIA", 0.7), *TOP3[1:]]), [_CATEGORY]),
        (
            _prediction("r9", probability=1.5, top3=[("VAREJO", 1.5), *TOP3[1:]]),
            [_PROBABILITY, _TOP3],
        ),
        (_prediction("r9", probability=0.6), [_TOP3]),  # not the top-1 probability
        (_prediction("r9", top3=[("VAREJO", 0.7), ("SERVICO", 0.9), ("HOTEIS", 0.0)]), [_TOP3]),
        (_prediction("r9", top3=[("VAREJO", 0.7), ("SERVICO", 0.2), ("HOTEIS", 0.2)]), [_TOP3]),
        (_prediction("r9", top3=[("VAREJO", 0.7)]), [_TOP3]),
        (_prediction("r9", top3=[("SERVICO", 0.7), *TOP3[1:]]), [_TOP3]),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_broken_output_fails_critically(spark, engine, bad_row, failing):
    outcome = runner.run_suite(
        _on(engine, _output(spark, [_prediction("r1"), bad_row])), suites.output_suite()
    )
    assert not outcome.success
    assert [f.split(" (")[0] for f in outcome.critical_failures] == failing


@pytest.mark.parametrize("engine", ENGINES)
def test_reconciliation(spark, engine):
    def frame(*counts):
        counted = suites.reconciliation_frame(*counts)
        return counted if engine == "pandas" else spark.createDataFrame(counted)

    good = runner.run_suite(frame(10, 8, 8, 2), suites.reconciliation_suite())
    assert good.success
    lost = runner.run_suite(frame(10, 8, 7, 2), suites.reconciliation_suite())
    assert [f.split(" (")[0] for f in lost.critical_failures] == [
        "expect_column_pair_values_to_be_equal[rows_read,rows_accounted]",
        "expect_column_pair_values_to_be_equal[rows_scored,rows_expected_scored]",
    ]


_RECORD_SCHEMA = (
    f"{S.SOURCE_FILE} string, {S.ACCOUNT_ID} string, {S.ROW_ID} string, {S.LEVEL} string, "
    f"{S.REASON} string, {S.IS_REPEATED_LINE} boolean, "
    + ", ".join(
        f"{f.name} {f.dataType.simpleString()}"
        for f in S.TRANSACTION_SCHEMA.fields
        if f.name not in (S.SOURCE_FILE, S.ACCOUNT_ID, S.ROW_ID)
    )
)


def _record(
    i,
    level=None,
    state="SP",
    country="BR",
    sex="F",
    age=37,
    amount=10.0,
    date=dt.date(2026, 11, 20),
):
    row_id = f"r{i}" if level is None else None
    return {
        S.SOURCE_FILE: "s3://b/a.csv",
        S.ACCOUNT_ID: "a",
        S.ROW_ID: row_id,
        S.LEVEL: level,
        S.REASON: None if level is None else "bad_amount",
        S.IS_REPEATED_LINE: False,
        S.LINE_NUMBER: i + 2,
        S.ACCOUNT_OPENING_MONTH: dt.date(2014, 5, 1),
        S.CUSTOMER_CITY: "SANTOS",
        S.CUSTOMER_STATE: state,
        S.CUSTOMER_AGE: age,
        S.CUSTOMER_SEX: sex,
        S.CREDIT_LIMIT_TOTAL: 4700.0,
        S.CREDIT_LIMIT_AVAILABLE: 5343.0,
        S.TRANSACTION_DATE: date,
        S.AMOUNT: amount,
        S.LABEL: None,
        S.MERCHANT_CITY: "SANTOS",
        S.MERCHANT_COUNTRY: country,
    }


def _records(spark, rows):
    columns = [c.split(" ")[0] for c in _RECORD_SCHEMA.split(", ")]
    return spark.createDataFrame([tuple(r[c] for c in columns) for r in rows], _RECORD_SCHEMA)


def _input_outcome(spark, rows, engine="spark"):
    frame = suites.input_frame(_records(spark, rows), CFG.sample_rows, len(rows))
    return runner.run_suite(_on(engine, frame), suites.input_suite(CFG, DAY, dt.date(2000, 1, 1)))


@pytest.mark.parametrize("engine", ENGINES)
def test_good_input_passes(spark, engine):
    outcome = _input_outcome(spark, [_record(i) for i in range(20)], engine)
    assert outcome.success, outcome.critical_failures + outcome.warnings


def _broken_input():
    rows = [_record(i) for i in range(14)]
    rows += [_record(100 + i, level="row") for i in range(4)]  # parse success 14/20 < 0.9
    rows += [
        _record(
            200, state="XX", country="ZZ", sex="X", age=190, amount=5e7, date=dt.date(2027, 1, 1)
        )
    ]  # a row that parsed with impossible values
    rows += [_record(300)]
    return rows


@pytest.mark.parametrize("engine", ENGINES)
def test_broken_input_is_caught(spark, engine):
    outcome = _input_outcome(spark, _broken_input(), engine)
    assert sorted(f.split(" (")[0] for f in outcome.critical_failures) == [
        "expect_column_values_to_be_between[transaction_date]",
        "expect_column_values_to_be_in_set[parsed]",
    ]
    assert sorted(w.split(" (")[0] for w in outcome.warnings) == sorted(
        [
            "expect_column_values_to_be_in_set[customer_state]",
            "expect_column_values_to_be_in_set[merchant_country]",
            "expect_column_values_to_be_in_set[customer_sex]",
            "expect_column_values_to_be_between[customer_age]",
            "expect_column_values_to_be_between[amount]",
        ]
    )


def test_both_engines_give_the_same_results(spark):
    """Not only the verdicts: every expectation's success, unexpected share and counts."""

    def results(engine):
        outcome = _input_outcome(spark, _broken_input(), engine)
        return [
            (
                r.expectation_config.type,
                r.expectation_config.kwargs.get("column"),
                r.success,
                r.result.get("observed_value"),
                r.result.get("element_count"),
                r.result.get("unexpected_count"),
                r.result.get("unexpected_percent"),
            )
            for r in outcome.result.results
        ]

    spark_results = results("spark")
    assert any(r[6] for r in spark_results)  # some values are unexpected
    assert results("pandas") == spark_results


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_columns_are_critical(spark, engine):
    frame = suites.input_frame(_records(spark, [_record(1)]).drop(S.AMOUNT), 10, 1)
    outcome = runner.run_suite(
        _on(engine, frame), suites.input_suite(CFG, DAY, dt.date(2000, 1, 1))
    )
    assert any(f.startswith("expect_table_columns_to_match_set") for f in outcome.critical_failures)


def test_input_frame_samples_to_the_limit(spark):
    records = _records(spark, [_record(i) for i in range(200)])
    sampled = suites.collect_sample(suites.input_frame(records, 50, 200), 50)
    assert 0 < len(sampled) <= 50
    assert len(suites.collect_sample(suites.input_frame(records, 500, 200), 500)) == 200


def test_output_frame_samples_the_written_rows_to_the_limit(spark):
    predictions = spark.createDataFrame(
        [_prediction(f"r{i}") for i in range(200)], S.PREDICTION_SCHEMA
    )
    sampled = suites.output_frame(predictions, 50, 200)
    assert 0 < len(suites.collect_sample(sampled, 50)) <= 50
    assert sampled.columns == suites.output_frame(predictions).columns
    assert len(suites.collect_sample(suites.output_frame(predictions, 500, 200), 500)) == 200


def test_the_collected_sample_is_cut_uniformly_not_to_the_first_rows(spark):
    predictions = spark.createDataFrame(
        [_prediction(f"r{i:04d}") for i in range(2000)], S.PREDICTION_SCHEMA
    ).repartition(8)
    sampled = suites.output_frame(predictions, 100, 2000)
    collected = suites.collect_sample(sampled, 100)
    assert len(collected) == 100 and collected[S.ROW_ID].is_unique
    # Every partition of the sample is represented, none cut off by a limit.
    parts = sampled.rdd.mapPartitionsWithIndex(
        lambda i, rows: [(r[S.ROW_ID], i) for r in rows]
    ).collectAsMap()
    assert {parts[row_id] for row_id in collected[S.ROW_ID]} == set(range(8))


@pytest.mark.parametrize("engine", ENGINES)
def test_results_are_saved_as_json_and_html(spark, engine, tmp_path):
    outcome = runner.run_suite(
        _on(engine, _output(spark, [_prediction("r1"), _prediction("r1")])),
        suites.output_suite(),
    )
    runner.save_outcome(spark, outcome, str(tmp_path / "validation"))
    saved = json.loads((tmp_path / "validation" / "txcat_output.json").read_text())
    assert saved["success"] is False
    assert {r["expectation_config"]["type"] for r in saved["results"] if not r["success"]} == {
        "expect_column_values_to_be_unique"
    }
    html = (tmp_path / "validation" / "txcat_output.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "txcat_output" in html and "row_id" in html
    # Offline: nothing fetched from or linked to another host; the results are all there.
    assert external_references(html) == []
    assert "<script" not in html and "<link" not in html
    assert "fa-times" in html and offline.STYLE in html  # the failed expectation's status
    assert "unique" in html
    assert outcome.summary()["results"]["json"].endswith("txcat_output.json")
