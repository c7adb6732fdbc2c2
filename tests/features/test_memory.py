"""Label memory: back-off values, no own-label leakage, training/scoring parity, the artifact."""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from sklearn.metrics import f1_score

from txcat import schema as S
from txcat.features import memory as MEM
from txcat.score import with_memory_features

D = dt.date
K = len(S.CATEGORIES)
SERVICO, RESTAURANTE, JOALHERIA = 0, 1, S.CATEGORIES.index("JOALHERIA")
SMOOTHING = (20.0, 5.0, 3.0, 1.0)


def _rows(spark, rows):
    """rows: (account, line, date, amount, merchant_city, label)."""
    full = [
        (
            f"{a}.csv",
            a,
            line,
            f"{a}:{line}",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            day,
            amount,
            label,
            city,
            "BR",
        )
        for a, line, day, amount, city, label in rows
    ]
    return spark.createDataFrame(full, S.TRANSACTION_SCHEMA)


def _features(frame, key=S.ROW_ID):
    cols = list(MEM.MEMORY_FEATURES)
    return {r[key]: np.array([r[c] for c in cols]) for r in frame.select(key, *cols).collect()}


def _p(features, i):
    return features[len(MEM.LEVELS) + i]


LABELLED = [
    ("a", 2, D(2020, 1, 1), 10.0, "X", "SERVICO"),
    ("a", 3, D(2020, 1, 2), 10.0, "X", "SERVICO"),
    ("a", 4, D(2020, 1, 3), 5.0, "Y", "RESTAURANTE"),
    ("b", 2, D(2020, 1, 4), 7.0, "X", "RESTAURANTE"),
]


def _shipped(table) -> MEM.ShippedMemory:
    """A Spark memory table as a model ships it."""
    return MEM.ShippedMemory(MEM.table_to_parquet(table.toPandas()), SMOOTHING)


@pytest.mark.parametrize("shipped", [False, True], ids=["spark_table", "shipped"])
def test_back_off_values_by_hand(spark, shipped):
    table = MEM.build_memory(_rows(spark, LABELLED))
    memory = _shipped(table) if shipped else MEM.LabelMemory(table, SMOOTHING)
    queries = _rows(
        spark,
        [
            ("a", 9, D(2020, 2, 1), 10.0, "X", None),  # every level known
            ("b", 9, D(2020, 2, 1), 3.0, "Y", None),  # account and city known, the pair not
            ("c", 9, D(2020, 2, 1), 1.0, "Z", None),  # nothing known: the prior
        ],
    )
    out = _features(MEM.with_label_memory(queries, memory))

    prior = [3 / 26, 3 / 26] + [1 / 26] * (K - 2)  # (N_c + 1) / (N + K), N = 4
    # a, X, 10.00: city X has 2 SERVICO + 1 RESTAURANTE, account a the same, a x X 2 SERVICO,
    # a x X x 10.00 2 SERVICO.
    city = [(2 + 20 * prior[0]) / 23, (1 + 20 * prior[1]) / 23]
    account = [(2 + 5 * city[0]) / 8, (1 + 5 * city[1]) / 8]
    pair = [(2 + 3 * account[0]) / 5, (0 + 3 * account[1]) / 5]
    repeat = [(2 + 1 * pair[0]) / 3, (0 + 1 * pair[1]) / 3]
    a = out["a:9"]
    assert _p(a, SERVICO) == pytest.approx(repeat[0], rel=1e-12)
    assert _p(a, RESTAURANTE) == pytest.approx(repeat[1], rel=1e-12)
    assert a[:4] == pytest.approx([math.log1p(3), math.log1p(3), math.log1p(2), math.log1p(2)])
    assert sum(a[4:]) == pytest.approx(1.0)

    # b, Y: city Y has 1 RESTAURANTE, account b 1 RESTAURANTE; b x Y unknown: stays there.
    city_y = [(0 + 20 * prior[0]) / 21, (1 + 20 * prior[1]) / 21]
    account_b = [(0 + 5 * city_y[0]) / 6, (1 + 5 * city_y[1]) / 6]
    b = out["b:9"]
    assert [_p(b, SERVICO), _p(b, RESTAURANTE)] == pytest.approx(account_b, rel=1e-12)
    assert b[:4] == pytest.approx([math.log1p(1), math.log1p(1), 0.0, 0.0])

    c = out["c:9"]
    assert list(c[4:]) == pytest.approx(prior, rel=1e-12)
    assert list(c[:4]) == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.slow  # a memory built and joined again; one row per input is also held by
# test_features.test_build_features_produces_every_model_column_one_row_per_input
def test_every_row_kept_once(spark):
    memory = MEM.LabelMemory(MEM.build_memory(_rows(spark, LABELLED)), SMOOTHING)
    queries = _rows(
        spark, [(a, line, day, amt, None, None) for a, line, day, amt, _, _ in LABELLED]
    )
    out = MEM.with_label_memory(queries, memory)
    assert sorted(r[S.ROW_ID] for r in out.collect()) == sorted(f"{r[0]}:{r[1]}" for r in LABELLED)


def _history(seed: int, accounts: int = 8, days: int = 60, shuffled: bool = False):
    """Accounts with habits: each (account, city) pair has its own category."""
    rng = random.Random(seed)
    rows = []
    for a in range(accounts):
        habits = {city: rng.randrange(K) for city in ("X", "Y", "Z")}
        for line in range(2, 2 + days):
            city = rng.choice("XYZ")
            amount = float(rng.randrange(1, 100_000)) / 100  # unique-ish amounts
            day = D(2020, 1, 1) + dt.timedelta(days=line - 2)
            rows.append([f"acc{a}", line, day, amount, city, S.CATEGORIES[habits[city]]])
    if shuffled:
        labels = [r[5] for r in rows]
        rng.shuffle(labels)
        for r, label in zip(rows, labels, strict=True):
            r[5] = label
    return [tuple(r) for r in rows]


def _training_features(spark, rows):
    frame = _rows(spark, rows)
    memory = MEM.training_memory(frame, F.lit(True), SMOOTHING, 5)
    out = MEM.with_label_memory(frame, memory)
    cols = [f"mem_p_{i}" for i in range(K)]
    got = out.select(S.ROW_ID, MEM.FOLD, S.LABEL, *cols).toPandas().set_index(S.ROW_ID)
    return got.sort_index()


@pytest.mark.slow  # two out-of-fold training memories over a generated history
def test_own_label_never_feeds_a_training_row(spark):
    rows = _history(1)
    planted = 37  # one row of the middle of the history gets a label no other row has
    changed = list(rows)
    changed[planted] = (*rows[planted][:5], "JOALHERIA")
    before = _training_features(spark, rows)
    after = _training_features(spark, changed)
    row_id = f"{rows[planted][0]}:{rows[planted][1]}"
    fold = after.loc[row_id, MEM.FOLD]
    same_block = after[MEM.FOLD] == fold
    cols = [f"mem_p_{i}" for i in range(K)]
    # Neither the planted row nor any row of its time block sees the planted label...
    assert np.array_equal(before.loc[same_block, cols], after.loc[same_block, cols])
    # ...whose probability there is what no JOALHERIA at all gives; other blocks do see it.
    others = after.loc[~same_block, f"mem_p_{JOALHERIA}"]
    assert (others > before.loc[~same_block, f"mem_p_{JOALHERIA}"]).any()
    assert set(after[MEM.FOLD]) == {0, 1, 2, 3, 4}


def test_time_blocks_cut_the_distinct_days_into_contiguous_blocks(spark):
    # 7 distinct days (one of them twice, out of order) in 3 blocks: i * 3 // 7 for i = 0..6.
    days = [D(2026, 1, d) for d in (9, 2, 5, 5, 30, 12, 20, 3)]
    rows = _rows(spark, [("a", i + 2, d, 10.0, "X", "SERVICO") for i, d in enumerate(days)])
    blocks = MEM.time_blocks(rows, 3).toPandas()
    got = dict(zip(blocks[S.TRANSACTION_DATE], blocks[MEM.FOLD], strict=True))
    assert got == {
        D(2026, 1, 2): 0,
        D(2026, 1, 3): 0,
        D(2026, 1, 5): 0,
        D(2026, 1, 9): 1,
        D(2026, 1, 12): 1,
        D(2026, 1, 20): 2,
        D(2026, 1, 30): 2,
    }
    # Fewer days than blocks: each day is its own block, some blocks stay empty.
    two = MEM.time_blocks(rows.where(F.col(S.TRANSACTION_DATE) < D(2026, 1, 3)), 5).collect()
    assert [tuple(r) for r in two] == [(D(2026, 1, 2), 0)]


@pytest.mark.slow  # two out-of-fold training memories over a generated history
def test_shuffled_labels_leave_nothing_to_learn(spark):
    def memory_macro_f1(rows):
        got = _training_features(spark, rows)
        predicted = got[[f"mem_p_{i}" for i in range(K)]].to_numpy().argmax(axis=1)
        truth = got[S.LABEL].map(S.CATEGORIES.index).to_numpy()
        return f1_score(truth, predicted, average="macro")

    # Each row's amount is unique, so a memory leaking its own label would score high even
    # on shuffled labels; out of fold, shuffled labels fall to chance.
    assert memory_macro_f1(_history(2)) > 0.8
    assert memory_macro_f1(_history(2, shuffled=True)) < 0.15


@pytest.mark.slow  # a training memory and the shipped table over a generated history
def test_hold_out_rows_read_the_shipped_table(spark):
    rows = _history(3)
    frame = _rows(spark, rows).withColumn("side", F.when(F.col(S.LINE_NUMBER) < 45, "train"))
    learning = F.coalesce(F.col("side") == "train", F.lit(False))
    memory = MEM.training_memory(frame, learning, SMOOTHING, 5)
    training = _features(MEM.with_label_memory(frame, memory).where(~learning))
    shipped = MEM.table_from_parquet(
        MEM.table_to_parquet(MEM.build_memory(frame.where(learning)).toPandas())
    )
    scoring = frame.where(~learning)
    joined = _features(
        MEM.with_label_memory(
            scoring, MEM.LabelMemory(spark.createDataFrame(shipped, MEM.TABLE_SCHEMA), SMOOTHING)
        )
    )
    # What the daily job does with a model's table: a pandas lookup, no join.
    scored = _features(
        MEM.with_label_memory(scoring, MEM.ShippedMemory(MEM.table_to_parquet(shipped), SMOOTHING))
    )
    assert training.keys() == scored.keys() == joined.keys() and len(scored) == 8 * 17
    for row_id, values in scored.items():
        assert np.array_equal(values, training[row_id]), row_id
        assert np.array_equal(values, joined[row_id]), row_id


def test_a_shipped_memory_reads_like_its_spark_table_to_the_last_bit(spark):
    labelled = _rows(
        spark,
        [
            *LABELLED,
            ("a", 5, D(2020, 1, 5), None, None, "SERVICO"),  # no amount, no city
            ("b", 3, D(2020, 1, 6), 1e19, "X", "JOALHERIA"),  # beyond decimal(20,2)
            ("c", 2, D(2020, 1, 7), 0.005, "Z", "RESTAURANTE"),  # rounds to 0.01
            ("c", 3, D(2020, 1, 8), -54.4, "Z", "SERVICO"),
        ],
    )
    table = MEM.build_memory(labelled)
    queries = _rows(
        spark,
        [
            ("a", 9, D(2020, 2, 1), 10.0, "X", None),
            ("a", 10, D(2020, 2, 1), None, None, None),
            ("b", 9, D(2020, 2, 1), 2e19, "X", None),
            ("c", 9, D(2020, 2, 1), 0.01, "Z", None),
            ("c", 10, D(2020, 2, 1), -54.40, "Z", None),
            ("d", 9, D(2020, 2, 1), 1.0, "NEW CITY", None),
        ],
    )
    joined = _features(MEM.with_label_memory(queries, MEM.LabelMemory(table, SMOOTHING)))
    looked_up = MEM.with_label_memory(queries, _shipped(table))
    assert looked_up.columns == [*queries.columns, *MEM.MEMORY_FEATURES]
    scored = _features(looked_up)
    assert scored.keys() == joined.keys() and len(scored) == 6
    for row_id, values in scored.items():
        assert np.array_equal(values, joined[row_id]), row_id
    # The keys reached every level: known rows differ from the prior.
    assert scored["c:10"][2] == math.log1p(2)  # c x Z: the two labelled rows of c
    assert scored["c:10"][3] == math.log1p(1)  # c x Z x -54.40
    assert list(scored["d:9"][:4]) == [0.0, 0.0, 0.0, 0.0]


def test_the_scorer_s_own_lookup_reads_like_the_lookup_stage_to_the_last_bit(spark):
    """`with_memory_keys` + `MemoryIndex.features_of_keys` (the scoring UDF's lookup) give the
    `with_label_memory` stage's features, logarithms included."""
    labelled = _rows(
        spark,
        [
            *LABELLED,
            ("b", 3, D(2020, 1, 6), 1e19, "X", "JOALHERIA"),
            ("c", 2, D(2020, 1, 7), -54.4, "Z", "SERVICO"),
        ],
    )
    shipped = _shipped(MEM.build_memory(labelled))
    queries = _rows(
        spark,
        [
            ("a", 9, D(2020, 2, 1), 10.0, "X", None),
            ("a", 10, D(2020, 2, 1), None, None, None),
            ("b", 9, D(2020, 2, 1), 2e19, "X", None),
            ("c", 10, D(2020, 2, 1), -54.40, "Z", None),
            ("d", 9, D(2020, 2, 1), 1.0, "NEW CITY", None),
        ]
        + [("a", 20 + n, D(2020, 2, 2), float(n), "X", None) for n in range(200)],
    )
    stage = _features(MEM.with_label_memory(queries, shipped))
    keyed = MEM.with_memory_keys(queries)
    assert keyed.columns == [*queries.columns, *MEM.MEMORY_KEY_COLUMNS]
    keys = keyed.select(S.ROW_ID, *MEM.MEMORY_KEY_COLUMNS).toPandas()
    index = MEM.MemoryIndex.from_parquet(shipped.table, SMOOTHING)
    found = index.features_of_keys(keys)
    assert list(found) == list(MEM.MEMORY_FEATURES)
    for i, row_id in enumerate(keys[S.ROW_ID]):
        values = np.array([found[c][i] for c in MEM.MEMORY_FEATURES])
        assert np.array_equal(values, stage[row_id]), row_id
    assert stage["c:10"][2] == math.log1p(1) and stage["d:9"][0] == 0.0


def test_the_scoring_udf_adds_the_memory_features_as_assign_would(spark):
    """`score.with_memory_features` (the UDF's batch): the given columns first, untouched, then
    `MEMORY_FEATURES` in order, row for row, on a batch whose index does not start at 0."""
    shipped = _shipped(MEM.build_memory(_rows(spark, LABELLED)))
    queries = _rows(
        spark,
        [("a", 9, D(2020, 2, 1), 10.0, "X", None), ("d", 9, D(2020, 2, 1), 1.0, "NEW", None)],
    )
    given = MEM.with_memory_keys(queries).toPandas()
    given.index = given.index + 5
    index = MEM.MemoryIndex.from_parquet(shipped.table, SMOOTHING)
    batch = with_memory_features(given, index)
    expected = given.assign(**index.features_of_keys(given))
    assert list(batch.columns) == [*given.columns, *MEM.MEMORY_FEATURES]
    pd.testing.assert_frame_equal(batch, expected, check_exact=True)


def test_an_empty_shipped_memory_gives_the_flat_prior(spark):
    empty = spark.createDataFrame([], MEM.TABLE_SCHEMA)
    queries = _rows(spark, [("a", 2, D(2020, 2, 1), 10.0, "X", None)])
    values = _features(MEM.with_label_memory(queries, _shipped(empty)))["a:2"]
    assert list(values[:4]) == [0.0] * 4
    assert list(values[4:]) == pytest.approx([1 / K] * K, rel=1e-15)


def test_memory_index_looks_up_without_spark():
    columns = [f.name for f in MEM.TABLE_SCHEMA.fields]
    counts = [0] * K
    counts[SERVICO] = 2
    table = pd.DataFrame([["prior", "", 2, *counts], ["account", "a", 2, *counts]], columns=columns)
    index = MEM.MemoryIndex(table, SMOOTHING)
    keys = {"city": ["X", "X"], "account": ["a", "b"], "account_city": ["", ""]}
    keys["account_city_amount"] = ["", ""]
    out = index.features(keys, 2)
    prior = (2 + 1) / (2 + K)
    assert list(out["mem_account_n_log"]) == [math.log1p(2), 0.0]
    assert out[f"mem_p_{SERVICO}"][1] == pytest.approx(prior, rel=1e-15)  # unknown: the prior
    assert out[f"mem_p_{SERVICO}"][0] == pytest.approx((2 + 5 * prior) / (2 + 5), rel=1e-15)
    assert sum(out[f"mem_p_{i}"][0] for i in range(K)) == pytest.approx(1.0)


def test_memory_index_reads_arrow_and_pandas_alike_and_keeps_large_counts_exact():
    columns = [f.name for f in MEM.TABLE_SCHEMA.fields]
    big = 3_000_000_001  # beyond int32: the index keeps int64 counts
    counts = [0] * K
    counts[SERVICO] = big
    table = pd.DataFrame(
        [["prior", "", big, *counts], ["city", "X", 1, *([1] + [0] * (K - 1))]], columns=columns
    )
    keys = {level: ["X", "Y"] for level in MEM.LEVELS}
    from_pandas = MEM.MemoryIndex(table, SMOOTHING).looked_up(keys, 2)
    from_parquet = MEM.MemoryIndex.from_parquet(MEM.table_to_parquet(table), SMOOTHING)
    assert from_parquet.looked_up(keys, 2).keys() == from_pandas.keys()
    for name, values in from_parquet.looked_up(keys, 2).items():
        assert np.array_equal(values, from_pandas[name]), name
    prior = (float(big) + 1.0) / (float(big) + K)
    assert from_pandas[f"mem_p_{SERVICO}"][1] == pytest.approx(prior, rel=1e-15)


def test_counts_that_do_not_add_up_are_refused_by_the_index():
    columns = [f.name for f in MEM.TABLE_SCHEMA.fields]
    table = pd.DataFrame([["city", "X", 2, 1, *([0] * (K - 1))]], columns=columns)
    with pytest.raises(ValueError, match="do not add up"):
        MEM.MemoryIndex(table, SMOOTHING)
    with pytest.raises(ValueError, match="not a Parquet"):
        MEM.MemoryIndex.from_parquet(b"not parquet", SMOOTHING)


def test_a_key_listed_twice_is_refused():
    columns = [f.name for f in MEM.TABLE_SCHEMA.fields]
    row = ["city", "X", 1, 1, *([0] * (K - 1))]
    table = pd.DataFrame([row, row], columns=columns)
    with pytest.raises(ValueError, match="twice"):
        MEM.MemoryIndex(table, SMOOTHING)
    with pytest.raises(ValueError, match="twice"):
        MEM.table_from_parquet(MEM.table_to_parquet(table))


def test_parquet_bytes_are_stable_and_checked(spark):
    table = MEM.build_memory(_rows(spark, LABELLED)).toPandas()
    data = MEM.table_to_parquet(table)
    assert MEM.table_to_parquet(table.sample(frac=1.0, random_state=3)) == data
    broken = MEM.table_from_parquet(data)
    broken.loc[0, MEM.N] += 1
    with pytest.raises(ValueError, match="do not add up"):
        MEM.table_from_parquet(MEM.table_to_parquet(broken))
