"""The input and output expectation suites, and the small frames they run on.

Cost is kept small by what each suite looks at, not by skipping checks:

* input: the parse-success rate is computed over every read row from one aggregated row
  (`parsed` flags); the value checks (states, countries, sexes, ages, limits, amounts, dates)
  run on a random sample of at most `validation.sample_rows` scorable rows;
* output: the written predictions projected to five columns (row id, repeated-line flag,
  category, probability and a per-row top-3 consistency flag computed natively), on a random
  sample of at most `validation.sample_rows` of the day's written rows, plus a one-row
  reconciliation frame. The counts the run reconciles (rows, repeated lines, distinct row ids)
  are exact and checked by the run's verdict, not by the sample.

The daily run collects each sample (at most `validation.sample_rows` rows) to the driver and
checks it with GX's pandas engine; the reconciliation frame is a pandas frame from the start.

`critical` expectations fail the run; `warning` ones are reported only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

import great_expectations.expectations as gxe
import pandas as pd
import pycountry
from great_expectations.expectations.metadata_types import FailureSeverity
from great_expectations.expectations.row_conditions import Column
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from txcat import schema as S
from txcat.config import ValidationConfig


@dataclass(frozen=True)
class SuiteSpec:
    """A suite's name and expectations; the runner builds the GX suite inside its context."""

    name: str
    expectations: tuple[gxe.Expectation, ...]


CRITICAL = FailureSeverity.CRITICAL
WARNING = FailureSeverity.WARNING

PARSED = "parsed"
TOP3_CONSISTENT = "top3_consistent"
ROWS_READ = "rows_read"
ROWS_ACCOUNTED = "rows_accounted"
ROWS_SCORED = "rows_scored"
ROWS_EXPECTED_SCORED = "rows_expected_scored"

#: Columns every record must have after the read and clean stages.
INPUT_COLUMNS: tuple[str, ...] = (
    S.SOURCE_FILE, S.ACCOUNT_ID, S.ROW_ID, S.LEVEL, S.REASON, S.IS_REPEATED_LINE,
    *[f.name for f in S.TRANSACTION_SCHEMA.fields],
)  # fmt: skip
COUNTRIES: tuple[str, ...] = tuple(sorted(c.alpha_2 for c in pycountry.countries))
SEXES = ("F", "M")
_TOLERANCE = 1e-6
#: Value checks judge the rows that parsed; the rest is quarantined with a reason already.
_PARSED_ONLY = Column(PARSED) == True  # noqa: E712 - a GX condition


def input_frame(records: DataFrame, sample_rows: int, total_rows: int, seed: int = 7) -> DataFrame:
    """The cleaned records' `INPUT_COLUMNS` (those present: a missing one fails the suite) with
    a `parsed` flag, sampled to about `sample_rows` rows (`collect_sample` cuts it to them).

    The flag is 1 for a row to score. Sampling is uniform over every read row, so the share of
    parsed rows stays an unbiased estimate; the exact share is in the run summary anyway. The
    records' other columns (raw fields and lines) are left out: the suite reads none of them.
    """
    checked = [c for c in records.columns if c in INPUT_COLUMNS]
    return _sampled(
        records.select(*checked, F.col(S.LEVEL).isNull().alias(PARSED)),
        sample_rows,
        total_rows,
        seed,
    )


def _sampled(frame: DataFrame, sample_rows: int, total_rows: int, seed: int) -> DataFrame:
    """A uniform sample of about 1.2 times `sample_rows` of `frame`'s `total_rows` rows (all if
    there are no more than `sample_rows`); `collect_sample` keeps `sample_rows` of them.

    No `limit` here: it would keep the first rows in partition order, so the files late in
    the listing would be checked less often than the others.
    """
    if total_rows <= sample_rows:
        return frame
    return frame.sample(fraction=min(1.0, 1.2 * sample_rows / total_rows), seed=seed)


def collect_sample(frame: DataFrame, sample_rows: int, seed: int = 7) -> pd.DataFrame:
    """`frame` (an `input_frame` or `output_frame` sample) in the driver: at most `sample_rows`
    rows, picked uniformly among the sampled ones, in the frame's order."""
    collected = cast(pd.DataFrame, frame.toPandas())
    if len(collected) <= sample_rows:
        return collected
    kept = collected.sample(n=sample_rows, random_state=seed).sort_index()
    return kept.reset_index(drop=True)


def input_suite(cfg: ValidationConfig, run_date: dt.date, earliest: dt.date) -> SuiteSpec:
    """Columns present, parse success, allowed values and ranges of the parsed fields."""
    mostly = cfg.value_mostly
    return SuiteSpec(
        "txcat_input",
        (
            gxe.ExpectTableColumnsToMatchSet(
                column_set=list(INPUT_COLUMNS), exact_match=False, severity=CRITICAL
            ),
            gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=CRITICAL),
            gxe.ExpectColumnValuesToBeInSet(
                column=PARSED, value_set=[True], mostly=cfg.min_parse_success, severity=CRITICAL
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column=S.TRANSACTION_DATE,
                min_value=earliest,
                max_value=run_date,
                row_condition=_PARSED_ONLY,
                severity=CRITICAL,
            ),
            gxe.ExpectColumnValuesToNotBeNull(
                column=S.ROW_ID,
                row_condition=_PARSED_ONLY,
                severity=CRITICAL,
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column=S.CUSTOMER_STATE,
                row_condition=_PARSED_ONLY,
                value_set=list(S.BR_STATES),
                mostly=mostly,
                severity=WARNING,
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column=S.MERCHANT_COUNTRY,
                row_condition=_PARSED_ONLY,
                value_set=list(COUNTRIES),
                mostly=mostly,
                severity=WARNING,
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column=S.CUSTOMER_SEX,
                row_condition=_PARSED_ONLY,
                value_set=list(SEXES),
                mostly=mostly,
                severity=WARNING,
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column=S.CUSTOMER_AGE,
                row_condition=_PARSED_ONLY,
                min_value=16,
                max_value=110,
                mostly=mostly,
                severity=WARNING,
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column=S.CREDIT_LIMIT_TOTAL,
                row_condition=_PARSED_ONLY,
                min_value=0,
                max_value=10_000_000,
                mostly=mostly,
                severity=WARNING,
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column=S.CREDIT_LIMIT_AVAILABLE,
                row_condition=_PARSED_ONLY,
                min_value=-1_000_000,
                max_value=10_000_000,
                mostly=mostly,
                severity=WARNING,
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column=S.AMOUNT,
                row_condition=_PARSED_ONLY,
                min_value=-1_000_000,
                max_value=1_000_000,
                mostly=mostly,
                severity=WARNING,
            ),
        ),
    )


def _top3_consistent(
    top3: SparkColumn, category: SparkColumn, probability: SparkColumn
) -> SparkColumn:
    """Three entries, probabilities in [0, 1], non-increasing, summing to at most 1, the first
    being the predicted category with its probability."""
    p = [F.element_at(top3, i).getField("probability") for i in (1, 2, 3)]
    first = F.element_at(top3, 1)
    ok = (
        (F.size(top3) == 3)
        & (first.getField("category") == category)
        & (F.abs(p[0] - probability) <= _TOLERANCE)
        & (p[0] >= p[1])
        & (p[1] >= p[2])
        & (p[2] >= 0)
        & (p[0] <= 1)
        & (p[0] + p[1] + p[2] <= 1 + _TOLERANCE)
    )
    return F.coalesce(ok, F.lit(False))


def output_frame(
    predictions: DataFrame, sample_rows: int | None = None, total_rows: int = 0, seed: int = 7
) -> DataFrame:
    """The written predictions reduced to what the output suite checks.

    With `sample_rows`, a uniform sample of about that many of the `total_rows` predictions
    (`collect_sample` cuts it to them).
    """
    if sample_rows is not None:
        predictions = _sampled(predictions, sample_rows, total_rows, seed)
    return predictions.select(
        S.ROW_ID,
        S.IS_REPEATED_LINE,
        S.PREDICTED_CATEGORY,
        S.PREDICTED_PROBABILITY,
        _top3_consistent(
            F.col(S.TOP3), F.col(S.PREDICTED_CATEGORY), F.col(S.PREDICTED_PROBABILITY)
        ).alias(TOP3_CONSISTENT),
    )


def reconciliation_frame(
    rows_read: int,
    rows_scored_expected: int,
    rows_scored: int,
    rows_quarantined: int,
) -> pd.DataFrame:
    """One row of counts: what was read, what was written, what should have been scored."""
    return pd.DataFrame(
        {
            ROWS_READ: [rows_read],
            ROWS_ACCOUNTED: [rows_scored + rows_quarantined],
            ROWS_SCORED: [rows_scored],
            ROWS_EXPECTED_SCORED: [rows_scored_expected],
        },
        dtype="int64",
    )


def output_suite() -> SuiteSpec:
    """Categories from the 22, probabilities in [0, 1] and consistent with the top 3, one row
    per input row id, each row saying whether it repeats an earlier line."""
    return SuiteSpec(
        "txcat_output",
        (
            gxe.ExpectColumnValuesToNotBeNull(column=S.ROW_ID, severity=CRITICAL),
            gxe.ExpectColumnValuesToBeUnique(column=S.ROW_ID, severity=CRITICAL),
            gxe.ExpectColumnValuesToNotBeNull(column=S.IS_REPEATED_LINE, severity=CRITICAL),
            gxe.ExpectColumnValuesToBeInSet(
                column=S.PREDICTED_CATEGORY, value_set=list(S.CATEGORIES), severity=CRITICAL
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column=S.PREDICTED_PROBABILITY, min_value=0, max_value=1, severity=CRITICAL
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column=TOP3_CONSISTENT, value_set=[True], severity=CRITICAL
            ),
        ),
    )


def reconciliation_suite() -> SuiteSpec:
    """Every read row is written once: rows_read = scored + quarantined, and every row that
    parsed was scored."""
    return SuiteSpec(
        "txcat_reconciliation",
        (
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A=ROWS_READ, column_B=ROWS_ACCOUNTED, severity=CRITICAL
            ),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A=ROWS_SCORED, column_B=ROWS_EXPECTED_SCORED, severity=CRITICAL
            ),
        ),
    )
