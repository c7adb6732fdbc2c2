"""Label memory: what the labelled history says about a row's merchant city and account.

A back-off chain of class frequencies, each level smoothed towards the one before:

    prior -> merchant city (directory) -> account -> account x city -> account x city x amount

`prior_c = (N_c + 1) / (N + K)` (add-one) over the labelled rows the table was built from; then
for each level `p_c = (n_c + m * p_prev_c) / (n + m)`, where `n_c` counts the labelled rows of
class c sharing the row's key at that level and `m` is the level's smoothing constant
(`features.memory_smoothing`). An unknown key has n = 0 and keeps the previous level's
probabilities: a new city falls back to the prior, a new account to the city directory.

The table holds one row per (level, key) with per-class counts; the prior is the level `prior`
with the empty key. It is computed with a Spark `groupBy` (`build_memory`) and shipped with the
model (`model.ModelArtifact.memory_table`). `with_label_memory` reads it two ways, every row
kept and the same values either way (`tests/features/test_memory.py`):
- a `LabelMemory` (a Spark table: training's own, folded or not) by one broadcast left join per
  level;
- a `ShippedMemory` (a model's table as its Parquet bytes: scoring) by `MemoryIndex`, a
  vectorized pandas lookup run in a pandas UDF. The real-time API calls the same `MemoryIndex`,
  so batch and API read a model's memory with one piece of code.

Training rows never see their own label: `time_blocks` cuts the labelled days into contiguous
blocks and `build_out_of_fold_memory` gives each block the counts of the other blocks (totals
minus the block's own counts, the prior included); `training_memory` wires both.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import schema as S
from txcat.model import MEMORY_FEATURE_PREFIX, MEMORY_P_PREFIX
from txcat.strictmath import log1p_array

PRIOR = "prior"
#: Back-off levels, from the broadest to the most specific (the smoothing constants' order).
LEVELS: tuple[str, ...] = ("city", "account", "account_city", "account_city_amount")
#: Columns of the memory table.
LEVEL = "level"
KEY = "key"
N = "n"
COUNTS: tuple[str, ...] = tuple(f"count_{i}" for i in range(len(S.CATEGORIES)))
#: A row's time block (`time_blocks`); a folded table carries it too.
FOLD = "memory_fold"
#: The `FOLD` of rows that read the whole table (e.g. hold-out rows during training).
WHOLE = -1

MEMORY_FEATURES: tuple[str, ...] = tuple(
    f"{MEMORY_FEATURE_PREFIX}{level}_n_log" for level in LEVELS
) + tuple(f"{MEMORY_P_PREFIX}{i}" for i in range(len(S.CATEGORIES)))

TABLE_SCHEMA = T.StructType(
    [
        T.StructField(LEVEL, T.StringType(), False),
        T.StructField(KEY, T.StringType(), False),
        T.StructField(N, T.LongType(), False),
        *[T.StructField(c, T.LongType(), False) for c in COUNTS],
    ]
)
_SEP = "\x1f"  # between the parts of a compound key: never in a parsed field
_EMPTY = "<EMPTY>"
_LOOKUP = "_mem_lookup"
#: What `MemoryIndex.looked_up` gives per row: the labelled rows at each level and the
#: probabilities (`MEMORY_FEATURES` without the logarithms).
LOOKED_UP: tuple[str, ...] = tuple(f"_mem_{level}_n" for level in LEVELS) + tuple(
    f"{MEMORY_P_PREFIX}{i}" for i in range(len(S.CATEGORIES))
)
_LOOKED_UP_TYPE = T.StructType([T.StructField(c, T.DoubleType()) for c in LOOKED_UP])
#: Each level's key as a column (`with_memory_keys`): what a scorer that looks a shipped memory
#: up in its own UDF reads instead of `MEMORY_FEATURES`.
MEMORY_KEY_COLUMNS: tuple[str, ...] = tuple(f"_memory_key_{level}" for level in LEVELS)


def _checked_smoothing(smoothing: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(m) for m in smoothing)
    if len(values) != len(LEVELS) or any(m <= 0 for m in values):
        raise ValueError(
            f"label memory needs one positive smoothing constant per level {LEVELS}, "
            f"got {tuple(smoothing)}"
        )
    return values


@dataclass(frozen=True)
class LabelMemory:
    """A memory table (Spark) and the smoothing constant of each level (`LEVELS` order).

    A folded memory (training's, `training_memory`) has a `FOLD` column in its table and the
    time blocks of the learning rows (`blocks`: day -> `FOLD`): a row where `learning` holds
    reads the counts of its block's `FOLD` value, any other row the `WHOLE` counts.
    """

    table: DataFrame
    smoothing: tuple[float, ...]
    blocks: DataFrame | None = None
    learning: Column | None = None

    def __post_init__(self) -> None:
        _checked_smoothing(self.smoothing)


@dataclass(frozen=True)
class ShippedMemory:
    """A model's label memory as it ships: the table's Parquet bytes (`table_to_parquet`) and
    the smoothing constant of each level. `with_label_memory` looks it up with `MemoryIndex` in
    a pandas UDF (no Spark table, no join); check the bytes with `table_from_parquet` first."""

    table: bytes
    smoothing: tuple[float, ...]

    def __post_init__(self) -> None:
        _checked_smoothing(self.smoothing)


#: What the `mem_*` features read: training's table, or a model's shipped one.
Memory: TypeAlias = LabelMemory | ShippedMemory


# --- keys ---------------------------------------------------------------------------------------


def memory_keys() -> dict[str, Column]:
    """The key of each level for a row of scorable transactions (the prior's key is empty).

    The account is the file's account (`account_id`), never the bank's `id` column.
    """
    city = F.coalesce(F.col(S.MERCHANT_CITY), F.lit(_EMPTY))
    account = F.col(S.ACCOUNT_ID)
    # A decimal keeps the text free of locale and float formatting: 54.40 -> "54.40".
    amount = F.coalesce(
        F.round(F.col(S.AMOUNT), 2).cast("decimal(20,2)").cast("string"), F.lit("NULL")
    )
    return {
        PRIOR: F.lit(""),
        "city": city,
        "account": account,
        "account_city": F.concat_ws(_SEP, account, city),
        "account_city_amount": F.concat_ws(_SEP, account, city, amount),
    }


# --- building the table -------------------------------------------------------------------------


def build_memory(labelled: DataFrame, by: Sequence[str] = ()) -> DataFrame:
    """Per-class counts per (level, key) of labelled rows (one Spark aggregation).

    Rows whose label is not one of `schema.CATEGORIES` are not counted. `by` adds grouping
    columns in front (the time block for out-of-fold tables).
    """
    label = F.col(S.LABEL)
    keys = F.array(
        *[
            F.struct(F.lit(level).alias(LEVEL), key.alias(KEY))
            for level, key in memory_keys().items()
        ]
    )
    exploded = labelled.where(label.isin(*S.CATEGORIES)).select(*by, label, F.inline(keys))
    counts = [
        F.sum((label == category).cast("long")).alias(name)
        for category, name in zip(S.CATEGORIES, COUNTS, strict=True)
    ]
    return exploded.groupBy(*by, LEVEL, KEY).agg(F.count(F.lit(1)).alias(N), *counts)


def time_blocks(rows: DataFrame, folds: int) -> DataFrame:
    """Day -> `FOLD`: `folds` contiguous blocks of the rows' distinct days.

    Of `n` distinct days, the i-th (from 0, in date order) is in block `i * folds // n`. The
    days (one per labelled day: a few hundred) are numbered on the driver and come back as a
    local table, so the blocks are computed once, not by every plan that joins them (as a
    window over one partition would be, with Spark's warning each time).
    """
    day = S.TRANSACTION_DATE
    days = sorted(r[0] for r in rows.select(day).distinct().collect() if r[0] is not None)
    schema = T.StructType(
        [T.StructField(day, T.DateType()), T.StructField(FOLD, T.IntegerType(), nullable=False)]
    )
    blocks = [(d, i * folds // len(days)) for i, d in enumerate(days)]
    return rows.sparkSession.createDataFrame(blocks, schema)


def with_fold(rows: DataFrame, memory: LabelMemory) -> DataFrame:
    """Adds `FOLD` for a folded memory (the learning rows' block, else `WHOLE`)."""
    if memory.blocks is None or memory.learning is None:
        raise ValueError("not a folded label memory")
    fold = F.when(memory.learning, F.col(FOLD)).otherwise(F.lit(WHOLE))
    joined = rows.join(F.broadcast(memory.blocks), S.TRANSACTION_DATE, "left")
    return joined.withColumn(FOLD, fold)


def build_out_of_fold_memory(folded: DataFrame) -> DataFrame:
    """Counts per (`FOLD`, level, key): every block's totals minus its own rows' counts.

    `folded` are labelled rows with `FOLD` (`time_blocks`). Only the keys a block's own
    rows carry are listed for that block, which are the keys its rows look up.
    """
    own = build_memory(folded, by=(FOLD,))
    totals = own.groupBy(LEVEL, KEY).agg(*[F.sum(c).alias(f"_total_{c}") for c in (N, *COUNTS)])
    return own.join(totals, [LEVEL, KEY]).select(
        FOLD, LEVEL, KEY, *[(F.col(f"_total_{c}") - F.col(c)).alias(c) for c in (N, *COUNTS)]
    )


def training_memory(
    rows: DataFrame, learning: Column, smoothing: Sequence[float], folds: int
) -> LabelMemory:
    """Training's label memory for `rows`: folded, out of fold by time.

    The `learning` rows (labelled rows a model is fitted on) read the counts of the other
    `folds` time blocks of the `learning` rows (`build_out_of_fold_memory`); the other rows (the
    hold-out) read the counts of every `learning` row, as a scorer reads the shipped table.
    """
    learned = rows.where(learning)
    blocks = time_blocks(learned, folds)
    in_blocks = learned.join(F.broadcast(blocks), S.TRANSACTION_DATE)
    table = build_out_of_fold_memory(in_blocks).unionByName(
        build_memory(learned).withColumn(FOLD, F.lit(WHOLE))
    )
    return LabelMemory(table, tuple(float(m) for m in smoothing), blocks, learning)


# --- features -----------------------------------------------------------------------------------


def with_label_memory(rows: DataFrame, memory: Memory) -> DataFrame:
    """Adds `MEMORY_FEATURES` (every row kept, one row out per row in).

    A `LabelMemory` is read by one broadcast left join per level; a folded one also adds
    `FOLD`. Joins reorder rows: this runs after the per-file aggregates (see
    `build_features`). A `ShippedMemory` is read by `MemoryIndex` in a pandas UDF.
    """
    if isinstance(memory, ShippedMemory):
        return _with_shipped_memory(rows, memory)
    folded = memory.blocks is not None
    by = [FOLD] if folded else []
    keys = memory_keys()
    out = rows.transform(with_fold, memory) if folded else rows
    names: list[str] = []
    for level, key in keys.items():
        key_col, n_col = f"_mem_key_{level}", f"_mem_n_{level}"
        counts = [f"_mem_{level}_{c}" for c in COUNTS]
        part = memory.table.where(F.col(LEVEL) == level).select(
            *by,
            F.col(KEY).alias(key_col),
            F.col(N).alias(n_col),
            *[F.col(c).alias(name) for c, name in zip(COUNTS, counts, strict=True)],
        )
        out = out.withColumn(key_col, key).join(F.broadcast(part), [*by, key_col], "left")
        names += [key_col, n_col, *counts]

    def n_of(level: str) -> Column:
        return F.coalesce(F.col(f"_mem_n_{level}"), F.lit(0)).cast("double")

    def count_of(level: str, i: int) -> Column:
        return F.coalesce(F.col(f"_mem_{level}_{COUNTS[i]}"), F.lit(0)).cast("double")

    classes = range(len(S.CATEGORIES))
    p = [(count_of(PRIOR, i) + 1.0) / (n_of(PRIOR) + float(len(classes))) for i in classes]
    for level, m in zip(LEVELS, memory.smoothing, strict=True):
        p = [(count_of(level, i) + m * p[i]) / (n_of(level) + m) for i in classes]
    features = [
        F.log1p(n_of(level)).alias(f"{MEMORY_FEATURE_PREFIX}{level}_n_log") for level in LEVELS
    ]
    features += [p[i].alias(f"{MEMORY_P_PREFIX}{i}") for i in classes]
    return out.select(*[c for c in out.columns if c not in names], *features)


def with_memory_keys(rows: DataFrame) -> DataFrame:
    """Adds `MEMORY_KEY_COLUMNS`, each level's key (`memory_keys`, computed by Spark as when the
    table was built), in place of `MEMORY_FEATURES`: for a scorer that looks a `ShippedMemory`
    up itself (`score.with_predictions`' `memory`), one Python round trip instead of two."""
    keys = memory_keys()
    return rows.select(
        "*", *[keys[level].alias(c) for level, c in zip(LEVELS, MEMORY_KEY_COLUMNS, strict=True)]
    )


def broadcast_index(spark: SparkSession, memory: ShippedMemory) -> Callable[[], MemoryIndex]:
    """A function for Python workers that gives the memory's `MemoryIndex`: its table is
    broadcast once, and indexed once per Python worker (`_index_of`), not once per task."""
    shipped = spark.sparkContext.broadcast(memory.table)
    digest = hashlib.sha256(memory.table).hexdigest()
    smoothing = memory.smoothing

    def index() -> MemoryIndex:
        return _index_of(digest, smoothing, lambda: shipped.value)

    return index


def _with_shipped_memory(rows: DataFrame, memory: ShippedMemory) -> DataFrame:
    """`with_label_memory` for a model's table: each level's key (`memory_keys`, computed by
    Spark as when the table was built) goes to `MemoryIndex.looked_up` in a pandas UDF."""
    index_of = broadcast_index(rows.sparkSession, memory)

    @F.pandas_udf(_LOOKED_UP_TYPE)  # type: ignore[call-overload]
    def lookup(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        index = index_of()
        for keys in batches:
            yield pd.DataFrame(index.looked_up(keys, len(keys)), columns=list(LOOKED_UP))

    keys = memory_keys()
    found = F.col(_LOOKUP)
    # The logarithms are Spark's, as the joins' are.
    features = [
        F.log1p(found[f"_mem_{level}_n"]).alias(f"{MEMORY_FEATURE_PREFIX}{level}_n_log")
        for level in LEVELS
    ]
    features += [found[c].alias(c) for c in LOOKED_UP[len(LEVELS) :]]
    looked_up = rows.withColumn(
        _LOOKUP, lookup(F.struct(*[keys[level].alias(level) for level in LEVELS]))
    )
    return looked_up.select(*[F.col(c) for c in rows.columns], *features)


class MemoryIndex:
    """A memory table indexed for vectorized lookups: per level, its keys (a pandas `Index`)
    and an integer array of `[n, count_0, ..., count_K-1]` per key, one column per key (each
    class's counts contiguous) and a last column of zeros that an unknown key reads.

    `looked_up` computes `with_label_memory`'s counts and probabilities with the same
    arithmetic, in the same order, as the Spark expressions: equal to the last bit. Used by the
    batch job (`with_label_memory` of a `ShippedMemory`, Spark taking the logarithms), the
    real-time API and the champion comparison (`features`, with the JVM's logarithms).
    """

    def __init__(self, table: pd.DataFrame | pa.Table, smoothing: Sequence[float]) -> None:
        """Indexes `table`, a memory table (`TABLE_SCHEMA`'s columns), pandas or Arrow.

        The counts are held as integers (int32 when they fit): a worker holds one index per
        process, and Python workers are many.

        Raises:
            ValueError: the table is not a memory table (`checked_table`), or the smoothing is
                not one positive constant per level.
        """
        self.smoothing = _checked_smoothing(smoothing)
        if isinstance(table, pd.DataFrame):
            columns = [f.name for f in TABLE_SCHEMA.fields]
            table = pa.Table.from_pandas(table[columns], preserve_index=False)
        arrow = checked_table(table)
        levels = arrow.column(LEVEL)
        self._levels: dict[str, tuple[pd.Index, np.ndarray]] = {}
        for level in (PRIOR, *LEVELS):
            part = arrow.filter(pc.equal(levels, level))
            values = np.zeros((1 + len(COUNTS), part.num_rows + 1), dtype=np.int64)
            for row, c in enumerate((N, *COUNTS)):
                values[row, :-1] = part.column(c).to_numpy()
            if values.max() < 2**31:
                values = values.astype(np.int32)
            keys = part.column(KEY).to_numpy(zero_copy_only=False)
            self._levels[level] = (pd.Index(keys, dtype=object), values)

    @classmethod
    def from_parquet(cls, data: bytes, smoothing: Sequence[float]) -> MemoryIndex:
        """The index of a table written by `table_to_parquet`, read through Arrow (no pandas
        frame of the whole table), checked as `__init__` checks.

        Raises:
            ValueError: as `__init__`, or the bytes are not Parquet.
        """
        arrow = _read_parquet(data)
        index = cls(arrow, smoothing)
        # Arrow's pool keeps freed buffers, and the decoded table is about the index's size
        # again: given back, a worker holds 55 MB for the benchmark's 197,724 keys, not 190.
        del arrow
        pa.default_memory_pool().release_unused()
        return index

    def _found(self, level: str, keys: Sequence[str] | pd.Series) -> np.ndarray:
        """`[n, counts...]` of each key at `level`, one column per key (integers); zeros for a
        key the table does not list."""
        index, values = self._levels[level]
        at = index.get_indexer(pd.Index(keys, dtype=object))
        at[at < 0] = values.shape[1] - 1
        return values.take(at, axis=1)

    def looked_up(
        self, keys: Mapping[str, Sequence[str]] | pd.DataFrame, rows: int
    ) -> dict[str, np.ndarray]:
        """`LOOKED_UP` of `rows` rows given by their key at each level of `LEVELS`
        (`memory_keys`' values; the prior's key is the same for every row)."""
        # Class-major arrays (one row per class): each output column is contiguous. The same
        # float64 operations per element as the Spark expressions, so the same bits.
        classes = len(COUNTS)
        prior = self._found(PRIOR, [""])[:, 0].astype(np.float64)
        p = np.broadcast_to(
            ((prior[1:] + 1.0) / (prior[0] + float(classes)))[:, None], (classes, rows)
        )
        out: dict[str, np.ndarray] = {}
        for level, m in zip(LEVELS, self.smoothing, strict=True):
            found = self._found(level, keys[level])
            n = found[0].astype(np.float64)
            p = (found[1:] + m * p) / (n + m)
            out[f"_mem_{level}_n"] = n
        for i in range(classes):
            out[f"{MEMORY_P_PREFIX}{i}"] = p[i]
        return out

    def features(
        self, keys: Mapping[str, Sequence[str]] | pd.DataFrame, rows: int
    ) -> dict[str, np.ndarray]:
        """`MEMORY_FEATURES` of `rows` rows (`looked_up`'s keys), the logarithms Spark's
        (`strictmath.log1p`)."""
        found = self.looked_up(keys, rows)
        out = {
            f"{MEMORY_FEATURE_PREFIX}{level}_n_log": log1p_array(found[f"_mem_{level}_n"])
            for level in LEVELS
        }
        return out | {c: found[c] for c in LOOKED_UP[len(LEVELS) :]}

    def features_of_keys(self, keys: pd.DataFrame) -> dict[str, np.ndarray]:
        """`features` of rows given by their `MEMORY_KEY_COLUMNS` (`with_memory_keys`)."""
        by_level = {level: keys[c] for level, c in zip(LEVELS, MEMORY_KEY_COLUMNS, strict=True)}
        return self.features(by_level, len(keys))


#: The last index built in this Python process: (table digest, smoothing) -> index. One slot:
#: a worker scores with one model at a time.
_INDEXES: dict[tuple[str, tuple[float, ...]], MemoryIndex] = {}


def _index_of(digest: str, smoothing: tuple[float, ...], table: Callable[[], bytes]) -> MemoryIndex:
    """The `MemoryIndex` of the table with this digest, built once per Python worker process
    (Spark reuses workers across tasks, and a day has many tasks)."""
    key = (digest, smoothing)
    index = _INDEXES.get(key)
    if index is None:
        index = MemoryIndex.from_parquet(table(), smoothing)
        _INDEXES.clear()
        _INDEXES[key] = index
    return index


# --- the shipped table --------------------------------------------------------------------------


def table_to_parquet(table: pd.DataFrame) -> bytes:
    """The table as Parquet bytes, rows in (level, key) order so equal tables give equal bytes."""
    ordered = table[[f.name for f in TABLE_SCHEMA.fields]].sort_values([LEVEL, KEY])
    arrow = pa.Table.from_pandas(ordered.reset_index(drop=True), preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)
    return buffer.getvalue()


def checked_table(table: pa.Table) -> pa.Table:
    """`table` if it is a memory table: `TABLE_SCHEMA`'s columns, counts adding up to n, each
    (level, key) once. The level and key columns come back as strings (an empty table's may
    be null-typed).

    Raises:
        ValueError: it is not (columns, counts that do not add up, or a (level, key) listed
            twice).
    """
    expected = [f.name for f in TABLE_SCHEMA.fields]
    if table.column_names != expected:
        raise ValueError(f"memory table columns are {table.column_names}, expected {expected}")
    for i, name in enumerate((LEVEL, KEY)):
        table = table.set_column(i, name, table.column(name).cast(pa.string()))
    counts = np.column_stack([table.column(c).to_numpy().astype(np.int64) for c in COUNTS]).reshape(
        table.num_rows, len(COUNTS)
    )
    if (counts.sum(axis=1) != table.column(N).to_numpy().astype(np.int64)).any():
        raise ValueError("memory table counts do not add up to n")
    pairs = table.group_by([LEVEL, KEY]).aggregate([([], "count_all")])
    if pairs.num_rows != table.num_rows:
        raise ValueError("memory table lists a (level, key) twice")
    return table


def _read_parquet(data: bytes) -> pa.Table:
    try:
        return pq.read_table(io.BytesIO(data))
    except pa.ArrowInvalid as exc:
        raise ValueError(f"not a Parquet memory table: {exc}") from exc


def table_from_parquet(data: bytes) -> pd.DataFrame:
    """The table written by `table_to_parquet`, checked (`checked_table`).

    Raises:
        ValueError: the bytes are not such a table.
    """
    frame: pd.DataFrame = checked_table(_read_parquet(data)).to_pandas()
    return frame


def collected(memory: LabelMemory) -> LabelMemory:
    """The same memory with its small tables collected once and held on the driver.

    For job code (training, evaluation): every level's lookup then broadcasts a local table
    instead of recomputing the counts' lineage. The table has one row per (block, level, key).
    """
    spark = memory.table.sparkSession
    table = spark.createDataFrame(memory.table.toPandas(), memory.table.schema)
    blocks = memory.blocks
    if blocks is not None:
        blocks = spark.createDataFrame(blocks.toPandas(), blocks.schema)
    return replace(memory, table=table, blocks=blocks)
