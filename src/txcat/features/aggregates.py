"""Per-file (per-account) aggregates: how a transaction sits among its account's others.

The file is the account, whatever the (untrusted) `id` column says. Two implementations give
the same values, and a test holds them to it:

- `window`: Spark windows partitioned by the source file: one shuffle by file, then a sort per
  window spec. Correct for any input DataFrame.
- `partition`: the reader never splits a file (each file is one record of the
  `binaryFile` scan, exploded in place), so every file's rows already sit together in one
  partition. `mapInArrow` computes the aggregates there with numpy, with no shuffle. A file
  whose rows are found apart raises instead of giving wrong values; a DataFrame that has been
  repartitioned since the read must use `window`. The daily job runs the same code inside its
  scoring pass (`score.with_predictions(aggregates_in_scorer=True)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import schema as S

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

#: The columns `file_aggregates` reads.
AGGREGATE_INPUTS: tuple[str, ...] = (
    S.SOURCE_FILE,
    S.AMOUNT,
    S.LINE_NUMBER,
    S.TRANSACTION_DATE,
    S.MERCHANT_COUNTRY,
    S.MERCHANT_CITY,
)

WINDOW = "window"
PARTITION = "partition"
METHODS = (PARTITION, WINDOW)


class SplitFileError(RuntimeError):
    """The rows of one file are not together in one partition: per-partition aggregates would
    be wrong."""


def with_file_aggregates(tx: DataFrame, method: str) -> DataFrame:
    """Adds `AGGREGATE_FEATURES`, computed over the scorable rows of each file.

    `method` (`WINDOW` or `PARTITION`) is `features.aggregates` of the configuration.
    """
    if method == WINDOW:
        return with_window_aggregates(tx)
    if method == PARTITION:
        return with_partition_aggregates(tx)
    raise ValueError(f"unknown aggregates method {method!r}; expected one of {METHODS}")


# --- window: one shuffle by file --------------------------------------------------------------


def with_window_aggregates(tx: DataFrame) -> DataFrame:
    """The aggregates as Spark windows over each file (shuffles by file)."""
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


# --- partition: numpy over the files of each partition, no shuffle ----------------------------


def with_partition_aggregates(tx: DataFrame) -> DataFrame:
    """The aggregates computed inside each partition (`mapInArrow`), without a shuffle.

    Requires every file's rows to be consecutive within one partition, as the reader leaves
    them; rows of one file found apart raise `SplitFileError` in the task.
    """
    schema = T.StructType(
        [*tx.schema.fields, *[T.StructField(n, T.DoubleType(), True) for n in AGGREGATE_FEATURES]]
    )
    return tx.mapInArrow(aggregate_batches, schema)


def aggregate_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One partition's batches, each extended with the aggregate columns.

    A file may straddle two Arrow batches: the last file of a batch is held back and joined to
    the next one, so every file is aggregated whole. Used by `with_partition_aggregates` and by
    the scoring UDF that computes the aggregates itself (`score.with_predictions`).
    """
    finished: set[str] = set()
    pending: pa.Table | None = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch])
        if pending is not None:
            table = pa.concat_tables([pending, table])
        cut = _start_of_last_file(table.column(S.SOURCE_FILE))
        pending = table.slice(cut)
        if cut > 0:
            yield from _aggregated(table.slice(0, cut), finished)
    if pending is not None and pending.num_rows:
        yield from _aggregated(pending, finished)


def _start_of_last_file(files: pa.ChunkedArray) -> int:
    is_last = pc.equal(files, files[len(files) - 1]).to_numpy(zero_copy_only=False)
    return int(len(is_last) - np.argmin(is_last[::-1])) if not is_last.all() else 0


def _aggregated(table: pa.Table, finished: set[str]) -> Iterator[pa.RecordBatch]:
    table = table.combine_chunks()
    features = file_aggregates(table, finished)
    for name in AGGREGATE_FEATURES:
        table = table.append_column(name, features[name])
    yield from table.to_batches()


def file_aggregates(table: pa.Table, finished: set[str] | None = None) -> dict[str, pa.Array]:
    """The aggregate features of rows where each file's rows are consecutive.

    Values match the `window` implementation exactly: sums run in row order as Spark's do, the
    standard deviation uses Spark's running update, the median Spark's interpolation. Names in
    `finished` are files already aggregated; meeting one again (or meeting a file twice here)
    raises `SplitFileError`.
    """
    n = table.num_rows
    if n == 0:
        return {name: pa.array([], type=pa.float64()) for name in AGGREGATE_FEATURES}
    files = table.column(S.SOURCE_FILE)
    starts = np.ones(n, dtype=bool)
    if n > 1:
        starts[1:] = pc.not_equal(files.slice(1), files.slice(0, n - 1)).to_numpy(
            zero_copy_only=False
        )
    group = np.cumsum(starts) - 1
    n_groups = int(group[-1]) + 1
    names = files.take(pa.array(np.flatnonzero(starts))).to_pylist()
    seen = set(names)
    if len(seen) != n_groups or (finished is not None and not seen.isdisjoint(finished)):
        raise SplitFileError(
            "rows of one file are not consecutive in their partition; compute the per-file "
            "aggregates with the window method for an input that is not straight from the reader"
        )
    if finished is not None:
        finished |= seen

    amount, has_amount = _floats(table.column(S.AMOUNT))
    line = _floats(table.column(S.LINE_NUMBER))[0]
    day, has_day = _floats(pc.cast(table.column(S.TRANSACTION_DATE), pa.int32()))
    rows = np.bincount(group, minlength=n_groups).astype(np.float64)

    amounts = np.bincount(group, weights=has_amount, minlength=n_groups)
    total = np.bincount(group, weights=np.where(has_amount, amount, 0.0), minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / amounts
    std = _running_std(group, amount, has_amount, n_groups)
    median = _median(group, amount, has_amount, n_groups)

    g_mean, g_std = mean[group], std[group]
    with np.errstate(divide="ignore", invalid="ignore"):
        zscore = (amount - g_mean) / g_std
    zscore_valid = has_amount & ~np.isnan(g_std) & (g_std > 0)

    percentile = np.full(n, 0.5)
    order = np.lexsort((line, np.where(has_amount, amount, np.inf), ~has_amount, group))
    rank = np.empty(n)
    rank[order] = np.arange(n) - np.flatnonzero(starts)[group[order]]
    many = amounts[group] > 1
    with np.errstate(divide="ignore", invalid="ignore"):
        percentile[many] = rank[many] / (amounts[group][many] - 1)

    country = table.column(S.MERCHANT_COUNTRY)
    foreign = pc.fill_null(pc.not_equal(country, "BR"), False).to_numpy(zero_copy_only=False)
    foreign_share = np.bincount(group, weights=foreign.astype(np.float64), minlength=n_groups)

    city = pc.dictionary_encode(table.column(S.MERCHANT_CITY)).combine_chunks()
    city_code = pc.fill_null(city.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    # Day codes from 1 (0 = no date, its own group and first in time as Spark sorts nulls).
    first_day = day[has_day].min() if has_day.any() else 0.0
    day_code = np.where(has_day, day - first_day + 1, 0).astype(np.int64)

    by_time = np.lexsort((line, day_code, group))
    previous = np.full(n, -1)
    same_file = np.zeros(n, dtype=bool)
    same_file[1:] = group[by_time][1:] == group[by_time][:-1]
    previous[by_time[1:][same_file[1:]]] = by_time[:-1][same_file[1:]]
    has_previous = (previous >= 0) & has_day & has_day[np.maximum(previous, 0)]
    since_previous = day - day[np.maximum(previous, 0)]

    return {
        "file_row_count": _doubles(rows[group]),
        "file_amount_mean": _doubles(g_mean, amounts[group] > 0),
        "file_amount_std": _doubles(g_std, ~np.isnan(g_std)),
        "file_amount_median": _doubles(median[group], amounts[group] > 0),
        "amount_zscore": _doubles(zscore, zscore_valid),
        "amount_percentile": _doubles(percentile, has_amount),
        "file_foreign_share": _doubles((foreign_share / rows)[group]),
        "merchant_city_count_in_file": _doubles(_count_by(group, city_code + 1)),
        "days_since_previous": _doubles(since_previous, has_previous),
        "transactions_same_day": _doubles(_count_by(group, day_code)),
    }


def _floats(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 (NaN where null) and the mask of non-null values."""
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    return np.where(valid, values, np.nan), valid


def _doubles(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(values, dtype=np.float64)
    if valid is None:
        return pa.array(values, type=pa.float64())
    return pa.array(np.where(valid, values, 0.0), type=pa.float64(), mask=~valid)


def _count_by(group: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Rows sharing (file, code) with each row."""
    key = group.astype(np.int64) * (int(code.max(initial=0)) + 1) + code
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return counts[inverse].astype(np.float64)


def _running_std(
    group: np.ndarray, amount: np.ndarray, valid: np.ndarray, n_groups: int
) -> np.ndarray:
    """Sample standard deviation per file, updated row by row in row order as Spark does.

    Vectorised across files: step k adds every file's k-th known amount.
    """
    g, x = group[valid], amount[valid]
    std = np.full(n_groups, np.nan)
    if len(g) == 0:
        return std
    first = np.ones(len(g), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    position = np.arange(len(g)) - np.flatnonzero(first)[np.cumsum(first) - 1]
    count = np.zeros(n_groups)
    avg = np.zeros(n_groups)
    m2 = np.zeros(n_groups)
    by_step = np.argsort(position, kind="stable")
    steps = np.bincount(position)
    start = 0
    for size in steps:
        rows = by_step[start : start + size]
        start += size
        files, values = g[rows], x[rows]
        count[files] += 1.0
        delta = values - avg[files]
        delta_n = delta / count[files]
        avg[files] += delta_n
        m2[files] += delta * (delta - delta_n)
    many = count > 1
    std[many] = np.sqrt(m2[many] / (count[many] - 1.0))
    return std


def _median(group: np.ndarray, amount: np.ndarray, valid: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-file median with Spark's `percentile` interpolation; NaN for a file with no amount."""
    g, x = group[valid], amount[valid]
    median = np.full(n_groups, np.nan)
    if len(g) == 0:
        return median
    order = np.lexsort((x, g))
    g, x = g[order], x[order]
    counts = np.bincount(g, minlength=n_groups)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    position = (counts[has] - 1) * 0.5
    lower, higher = np.floor(position), np.ceil(position)
    low = x[first[has] + lower.astype(np.int64)]
    high = x[first[has] + higher.astype(np.int64)]
    median[has] = np.where(
        (higher == lower) | (low == high),
        low,
        (higher - position) * low + (position - lower) * high,
    )
    return median
