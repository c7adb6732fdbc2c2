"""Per-file (per-account) aggregates: how a transaction sits among its account's others.

All windows partition by the source file, so Spark plans one shuffle by file and a sort per
window spec; the file is the account, whatever the (untrusted) `id` column says.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from txcat import schema as S


def with_file_aggregates(tx: DataFrame) -> DataFrame:
    """Adds `AGGREGATE_FEATURES`, computed over the scorable rows of each file."""
    by_file = Window.partitionBy(S.SOURCE_FILE)
    by_amount = by_file.orderBy(F.col(S.AMOUNT).asc_nulls_last(), S.LINE_NUMBER)
    by_time = by_file.orderBy(S.TRANSACTION_DATE, S.LINE_NUMBER)
    by_city = Window.partitionBy(S.SOURCE_FILE, S.MERCHANT_CITY)
    by_day = Window.partitionBy(S.SOURCE_FILE, S.TRANSACTION_DATE)
    amount = F.col(S.AMOUNT)
    mean = F.avg(amount).over(by_file)
    std = F.stddev_samp(amount).over(by_file)
    amounts_in_file = F.count(amount).over(by_file)
    features: dict[str, Column] = {
        "file_row_count": F.count(F.lit(1)).over(by_file),
        "file_amount_mean": mean,
        "file_amount_std": std,
        "file_amount_median": F.median(amount).over(by_file),
        "amount_zscore": F.when(std > 0, (amount - mean) / std),
        # Rank among the file's known amounts: 0 = smallest, 1 = largest.
        "amount_percentile": F.when(
            amount.isNotNull(),
            F.when(
                amounts_in_file > 1,
                (F.rank().over(by_amount) - 1) / (amounts_in_file - 1),
            ).otherwise(F.lit(0.5)),
        ),
        "file_foreign_share": F.avg(
            F.coalesce((F.col(S.MERCHANT_COUNTRY) != "BR").cast("double"), F.lit(0.0))
        ).over(by_file),
        "merchant_city_count_in_file": F.count(F.lit(1)).over(by_city),
        "days_since_previous": F.datediff(
            F.col(S.TRANSACTION_DATE), F.lag(S.TRANSACTION_DATE).over(by_time)
        ),
        "transactions_same_day": F.count(F.lit(1)).over(by_day),
    }
    if tuple(features) != AGGREGATE_FEATURES:
        raise AssertionError("AGGREGATE_FEATURES is out of step with the features computed")
    return tx.select("*", *[col.cast("double").alias(name) for name, col in features.items()])


AGGREGATE_FEATURES: tuple[str, ...] = (
    "file_row_count",
    "file_amount_mean",
    "file_amount_std",
    "file_amount_median",
    "amount_zscore",
    "amount_percentile",
    "file_foreign_share",
    "merchant_city_count_in_file",
    "days_since_previous",
    "transactions_same_day",
)
