"""Row features: computed from one transaction and its account profile alone."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from txcat import schema as S

URL_PATTERN = r"(?i)(https?:|www\.|/|\.(com|net|org|br|io|in|co|me|ly)\b)"
PHONE_PATTERN = r"^\+?[\d\s().-]{7,}$"


def signed_log_amount(amount: Column) -> Column:
    """sign(x) * log1p(|x|): keeps refunds apart from purchases on a log scale."""
    return F.signum(amount) * F.log1p(F.abs(amount))


def is_round(amount: Column, step: float) -> Column:
    return F.when(amount.isNotNull(), (F.abs(amount) % step < 1e-9).cast("double"))


def is_url(city: Column) -> Column:
    # Every match of URL_PATTERN holds a ".", "/" or ":": a city without one (nearly all) is
    # answered without running the regular expression.
    maybe = city.contains(".") | city.contains("/") | city.contains(":")
    return F.coalesce(maybe & city.rlike(URL_PATTERN), F.lit(False)).cast("double")


def is_phone(city: Column) -> Column:
    digits = F.length(F.regexp_replace(city, r"\D", ""))
    return F.coalesce(city.rlike(PHONE_PATTERN) & (digits >= 7), F.lit(False)).cast("double")


def with_row_features(tx: DataFrame) -> DataFrame:
    """Adds the row features (`ROW_FEATURES`) to parsed transactions."""
    amount = F.col(S.AMOUNT)
    date = F.col(S.TRANSACTION_DATE)
    country = F.col(S.MERCHANT_COUNTRY)
    city = F.col(S.MERCHANT_CITY)
    total = F.col(S.CREDIT_LIMIT_TOTAL)
    state_index = F.call_function(
        "array_position", F.array(*[F.lit(s) for s in S.BR_STATES]), F.col(S.CUSTOMER_STATE)
    )
    features: dict[str, Column] = {
        "amount_value": amount,
        "amount_log": signed_log_amount(amount),
        "amount_is_missing": amount.isNull().cast("double"),
        "amount_is_negative": F.when(amount.isNotNull(), (amount < 0).cast("double")),
        "amount_is_whole": is_round(amount, 1.0),
        "amount_is_round_10": is_round(amount, 10.0),
        "amount_cents": F.when(amount.isNotNull(), F.round(F.abs(amount) * 100 % 100)),
        "weekday": F.dayofweek(date).cast("double"),
        "is_weekend": F.dayofweek(date).isin(1, 7).cast("double"),
        "day_of_month": F.dayofmonth(date).cast("double"),
        "month": F.month(date).cast("double"),
        "days_to_month_end": F.datediff(F.last_day(date), date).cast("double"),
        "merchant_is_foreign": F.when(country.isNotNull(), (country != "BR").cast("double")),
        "merchant_country_is_missing": country.isNull().cast("double"),
        "merchant_city_is_missing": city.isNull().cast("double"),
        "merchant_city_is_url": is_url(city),
        "merchant_city_is_phone": is_phone(city),
        "merchant_city_is_customer_city": F.coalesce(
            city == F.substring(F.col(S.CUSTOMER_CITY), 1, 13), F.lit(False)
        ).cast("double"),
        "limit_total": total,
        "limit_usage": F.when(total > 0, (total - F.col(S.CREDIT_LIMIT_AVAILABLE)) / total),
        "account_age_months": F.months_between(date, F.col(S.ACCOUNT_OPENING_MONTH)),
        "age_years": F.col(S.CUSTOMER_AGE).cast("double"),
        "customer_is_female": F.when(
            F.col(S.CUSTOMER_SEX).isNotNull(), (F.col(S.CUSTOMER_SEX) == "F").cast("double")
        ),
        "customer_state_index": F.when(state_index > 0, state_index.cast("double")),
    }
    if tuple(features) != ROW_FEATURES:
        raise AssertionError("ROW_FEATURES is out of step with the features computed")
    return tx.select("*", *[col.cast("double").alias(name) for name, col in features.items()])


ROW_FEATURES: tuple[str, ...] = (
    "amount_value",
    "amount_log",
    "amount_is_missing",
    "amount_is_negative",
    "amount_is_whole",
    "amount_is_round_10",
    "amount_cents",
    "weekday",
    "is_weekend",
    "day_of_month",
    "month",
    "days_to_month_end",
    "merchant_is_foreign",
    "merchant_country_is_missing",
    "merchant_city_is_missing",
    "merchant_city_is_url",
    "merchant_city_is_phone",
    "merchant_city_is_customer_city",
    "limit_total",
    "limit_usage",
    "account_age_months",
    "age_years",
    "customer_is_female",
    "customer_state_index",
)
