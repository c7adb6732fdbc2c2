"""Enrichment: broadcast joins with external reference data.

Reference tables are small (holidays, countries) or account-sized (the bureau snapshot); all are
broadcast, so the transactions never shuffle for them. A transaction with no reference row gets a
feature value saying so; it is never dropped, and a reference table with repeated keys is
de-duplicated first so that it can never multiply rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import schema as S
from txcat.config import ReferenceConfig

log = logging.getLogger(__name__)

HOLIDAYS_SCHEMA = T.StructType(
    [
        T.StructField("date", T.DateType()),
        T.StructField("scope", T.StringType()),
        T.StructField("name", T.StringType()),
    ]
)
COUNTRIES_SCHEMA = T.StructType(
    [
        T.StructField("alpha2", T.StringType()),
        T.StructField("alpha3", T.StringType()),
        T.StructField("numeric", T.StringType()),
        T.StructField("name", T.StringType()),
    ]
)
BUREAU_SCHEMA = T.StructType(
    [
        T.StructField("account_id", T.StringType()),
        T.StructField("score_band", T.StringType()),
        T.StructField("n_cards", T.IntegerType()),
        T.StructField("delinquent", T.BooleanType()),
        T.StructField("snapshot_date", T.DateType()),
    ]
)
_BUREAU_PRESENT = "_bureau_present"
_JOINED = (
    "is_national_holiday",
    "is_state_holiday",
    "country_known",
    "bureau_score_band",
    "bureau_n_cards",
    "bureau_delinquent",
    _BUREAU_PRESENT,
)
NATIONAL_SCOPE = "BR"


class ReferenceDataError(RuntimeError):
    """A reference table is missing or unreadable (the message names its setting)."""


@dataclass(frozen=True)
class References:
    """Reference tables, already keyed and de-duplicated for their joins."""

    national_holidays: DataFrame  # date
    state_holidays: DataFrame  # date, customer_state
    countries: DataFrame  # merchant_country
    bureau: DataFrame  # account_id, bureau_* columns
    #: What the run summary lists under `warnings`: a table with no usable row.
    warnings: tuple[str, ...] = ()


def load_references(spark: SparkSession, paths: ReferenceConfig, as_of: dt.date) -> References:
    """Reads the reference tables named in config; the bureau as known on `as_of`.

    A missing table is an error; a table without a usable row, or a bureau without a snapshot
    on or before `as_of`, is a warning: the run goes on, every transaction getting the
    "no reference row" feature value, as it would for an account the table does not know.

    Raises:
        ReferenceDataError: A table cannot be read; names the table and its setting.
    """
    holidays = _read(spark, "holidays", "csv", paths.holidays, HOLIDAYS_SCHEMA, header=True)
    countries = _read(spark, "countries", "csv", paths.countries, COUNTRIES_SCHEMA, header=True)
    bureau = _read(spark, "bureau", "json", paths.bureau, BUREAU_SCHEMA)
    warnings = _warnings(holidays, countries, bureau, paths, as_of)
    for warning in warnings:
        log.warning("%s; every transaction gets its no-reference-row feature value", warning)
    scope = F.upper(F.trim("scope"))
    return References(
        national_holidays=holidays.where(scope == NATIONAL_SCOPE).select("date").distinct(),
        state_holidays=holidays.where(scope != NATIONAL_SCOPE)
        .select("date", scope.alias(S.CUSTOMER_STATE))
        .distinct(),
        countries=countries.select(F.upper(F.trim("alpha2")).alias(S.MERCHANT_COUNTRY))
        .where(F.length(S.MERCHANT_COUNTRY) == 2)
        .distinct(),
        bureau=latest_bureau_snapshot(bureau, as_of),
        warnings=tuple(warnings),
    )


def _warnings(
    holidays: DataFrame,
    countries: DataFrame,
    bureau: DataFrame,
    paths: ReferenceConfig,
    as_of: dt.date,
) -> list[str]:
    """Tables without a usable row; each check stops at the first row it finds."""
    warnings: list[str] = []
    for name, table, key, path in (
        ("holidays", holidays, "date", paths.holidays),
        ("countries", countries, "alpha2", paths.countries),
        ("bureau", bureau, "account_id", paths.bureau),
    ):
        usable = table.where(F.col(key).isNotNull())
        if usable.isEmpty():
            warnings.append(f"reference table {name} (reference.{name}) has no row: {path}")
        elif name == "bureau" and usable.where(F.col("snapshot_date") <= F.lit(as_of)).isEmpty():
            warnings.append(
                f"reference table bureau (reference.bureau) has no snapshot on or before "
                f"{as_of.isoformat()}: {path}"
            )
    return warnings


def latest_bureau_snapshot(bureau: DataFrame, as_of: dt.date) -> DataFrame:
    """One row per account: its newest snapshot taken on or before `as_of`."""
    band_index = F.call_function(
        "array_position", F.array(*[F.lit(b) for b in S.SCORE_BANDS]), F.upper("s.score_band")
    )
    latest = (
        bureau.where(F.col("account_id").isNotNull() & (F.col("snapshot_date") <= F.lit(as_of)))
        .groupBy("account_id")
        .agg(F.max_by(F.struct("score_band", "n_cards", "delinquent"), "snapshot_date").alias("s"))
    )
    return latest.select(
        F.col("account_id").alias(S.ACCOUNT_ID),
        F.when(F.col("s.score_band").isNotNull(), band_index).alias("bureau_score_band"),
        F.col("s.n_cards").alias("bureau_n_cards"),
        F.col("s.delinquent").alias("bureau_delinquent"),
        F.lit(True).alias(_BUREAU_PRESENT),
    )


def with_enrichment(tx: DataFrame, refs: References) -> DataFrame:
    """Adds `ENRICHMENT_FEATURES` through broadcast left joins."""
    national = refs.national_holidays.select(
        F.col("date").alias(S.TRANSACTION_DATE), F.lit(1.0).alias("is_national_holiday")
    )
    state = refs.state_holidays.select(
        F.col("date").alias(S.TRANSACTION_DATE),
        S.CUSTOMER_STATE,
        F.lit(1.0).alias("is_state_holiday"),
    )
    countries = refs.countries.select(S.MERCHANT_COUNTRY, F.lit(1.0).alias("country_known"))
    joined = (
        tx.join(F.broadcast(national), S.TRANSACTION_DATE, "left")
        .join(F.broadcast(state), [S.TRANSACTION_DATE, S.CUSTOMER_STATE], "left")
        .join(F.broadcast(countries), S.MERCHANT_COUNTRY, "left")
        .join(F.broadcast(refs.bureau), S.ACCOUNT_ID, "left")
    )
    country = F.col(S.MERCHANT_COUNTRY)
    return joined.select(
        *[c for c in joined.columns if c not in _JOINED],
        F.coalesce("is_national_holiday", F.lit(0.0)).alias("is_national_holiday"),
        F.coalesce("is_state_holiday", F.lit(0.0)).alias("is_state_holiday"),
        F.when(country.isNotNull(), F.coalesce("country_known", F.lit(0.0))).alias(
            "merchant_country_is_valid"
        ),
        F.col("bureau_score_band").cast("double").alias("bureau_score_band"),
        F.col("bureau_n_cards").cast("double").alias("bureau_n_cards"),
        F.col("bureau_delinquent").cast("double").alias("bureau_delinquent"),
        F.col(_BUREAU_PRESENT).isNull().cast("double").alias("bureau_is_missing"),
    )


ENRICHMENT_FEATURES: tuple[str, ...] = (
    "is_national_holiday",
    "is_state_holiday",
    "merchant_country_is_valid",
    "bureau_score_band",
    "bureau_n_cards",
    "bureau_delinquent",
    "bureau_is_missing",
)


def _read(
    spark: SparkSession,
    name: str,
    fmt: str,
    path: str,
    schema: T.StructType,
    header: bool = False,
) -> DataFrame:
    try:
        reader = spark.read.format(fmt).schema(schema).option("mode", "PERMISSIVE")
        if header:
            reader = reader.option("header", "true")
        return reader.load(path)
    except Exception as exc:  # AnalysisException (path not found), IllegalArgumentException
        first_line = str(exc).strip().split("\n", 1)[0]
        problem = "not found" if "PATH_NOT_FOUND" in first_line else "cannot be read"
        hint = _BUILT_BY.get(name, "") if problem == "not found" else ""
        raise ReferenceDataError(
            f"reference table {name} (setting reference.{name}) {problem}: {path} "
            f"({first_line}){hint}"
        ) from exc


#: Where a missing table comes from, said in its error.
_BUILT_BY = {
    table: f"; the {table} versions are built by `txcat reference build --out ROOT --as-of DAY`"
    " (the reference_data DAG, daily)"
    for table in ("holidays", "countries")
}
