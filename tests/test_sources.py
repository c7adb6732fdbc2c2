"""The feature wiring: every kind of source gives the same cleaned records and featured rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from tests.helpers import bank_file, bank_row, empty_memory, local_config
from txcat import reasons, sources
from txcat import schema as S
from txcat.features import FEATURE_COLUMNS, build_features
from txcat.features.aggregates import AGGREGATE_FEATURES
from txcat.generate import generate
from txcat.inputs import InputError

RUN_DATE = dt.date(2026, 11, 25)
FILES = {
    "acc1.csv": bank_file(
        [bank_row("1.11.2026", "10,00"), bank_row("2.11.2026", "20,50"), bank_row("31.02.2026")]
    ),
    "acc2.csv": bank_file([bank_row("3.11.2026", "1.784,13", country="AR")]),
    "acc3.csv": b"id,data,valor\r\n1,1.11.2026,3\r\n",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    generate(root / "unused", 2, "2026-11-01", RUN_DATE, seed=3, reference_out=root / "ref")
    landing = root / "landing"
    landing.mkdir()
    for name, body in FILES.items():
        (landing / name).write_bytes(body)
    return {"root": root, "landing": landing, "cfg": local_config(root / "ref")}


def _rows(frame, *columns):
    return sorted(tuple(r) for r in frame.select(*columns).collect())


@pytest.mark.slow  # a generated folder through the whole preparation
def test_a_folder_gives_the_quarantine_side_and_featured_rows(spark, world):
    prepared = sources.prepare(
        spark,
        world["cfg"],
        sources.Source.folder(str(world["landing"])),
        RUN_DATE,
        memory=empty_memory(spark),
    )
    assert prepared.listed == 3
    assert prepared.aggregates == world["cfg"].features.aggregates
    quarantined = _rows(prepared.quarantine, S.ACCOUNT_ID, S.LEVEL, S.REASON)
    assert quarantined == [
        ("acc1", S.LEVEL_ROW, reasons.BAD_DATE),
        ("acc3", S.LEVEL_FILE, reasons.WRONG_SEPARATOR),
    ]
    features = prepared.features
    assert set(FEATURE_COLUMNS) <= set(features.columns)
    assert _rows(features, S.ACCOUNT_ID, S.AMOUNT, "file_row_count") == [
        ("acc1", 10.0, 2),
        ("acc1", 20.5, 2),
        ("acc2", 1784.13, 1),
    ]


def test_cached_records_read_the_same_and_are_released_after_the_block(spark, world):
    source = sources.Source.folder(str(world["landing"]))
    prepared = sources.prepare(spark, world["cfg"], source, RUN_DATE, memory=empty_memory(spark))
    columns = (S.SOURCE_FILE, S.LEVEL, S.REASON, S.AMOUNT)
    plain = prepared.records.select(*columns).collect()
    with sources.cached(prepared) as held:
        assert held.records.is_cached and held.inputs == prepared.inputs
        assert sorted(held.records.select(*columns).collect(), key=str) == sorted(plain, key=str)
        assert _rows(held.scorable, S.ROW_ID) == _rows(prepared.scorable, S.ROW_ID)
    assert not held.records.is_cached
    with pytest.raises(RuntimeError), sources.cached(prepared) as held:
        raise RuntimeError("a reader failed")
    assert not held.records.is_cached


@pytest.mark.slow  # a generated folder through the whole preparation
def test_files_in_memory_are_wired_exactly_like_a_folder(spark, world):
    cfg = world["cfg"]
    labels = empty_memory(spark)
    folder = sources.prepare(
        spark, cfg, sources.Source.folder(str(world["landing"])), RUN_DATE, memory=labels
    )
    names = {f"file:{world['landing'] / n}": body for n, body in FILES.items()}
    memory = sources.prepare(
        spark,
        cfg,
        sources.Source.files(sources.files_in_memory(spark, names)),
        RUN_DATE,
        memory=labels,
    )
    assert memory.listed is None
    columns = [S.ROW_ID, S.ACCOUNT_ID, S.LINE_NUMBER, *FEATURE_COLUMNS]
    assert_df_equality(
        memory.features.select(*columns),
        folder.features.select(*columns),
        ignore_row_order=True,
    )
    assert_df_equality(
        memory.quarantine.select(S.ROW_ID, S.LEVEL, S.REASON, S.DETAIL),
        folder.quarantine.select(S.ROW_ID, S.LEVEL, S.REASON, S.DETAIL),
        ignore_row_order=True,
    )


def test_features_of_a_selection_see_only_the_selected_rows(spark, world):
    prepared = sources.prepare(
        spark, world["cfg"], sources.Source.folder(str(world["landing"])), RUN_DATE
    )
    first_only = prepared.scorable.where(f"{S.TRANSACTION_DATE} = date'2026-11-01'")
    featured = prepared.featured(first_only, empty_memory(spark))
    assert _rows(featured, S.ACCOUNT_ID, "file_row_count") == [("acc1", 1)]
    with pytest.raises(ValueError, match="label memory"):
        prepared.featured(first_only)


def test_only_the_partition_aggregates_are_left_to_the_scorer(spark, world):
    prepared = sources.prepare(
        spark, world["cfg"], sources.Source.folder(str(world["landing"])), RUN_DATE
    )
    assert prepared.aggregates == "partition" and prepared.aggregates_in_scorer
    left = prepared.featured(prepared.scorable, empty_memory(spark), aggregates_in_scorer=True)
    assert not set(AGGREGATE_FEATURES) & set(left.columns)
    windowed = replace(prepared, aggregates="window")
    assert not windowed.aggregates_in_scorer
    with pytest.raises(ValueError, match="only the 'partition' aggregates"):
        windowed.featured(prepared.scorable, empty_memory(spark), aggregates_in_scorer=True)


def test_the_stamp_is_on_every_record(spark, world):
    prepared = sources.prepare(
        spark,
        world["cfg"],
        sources.Source.folder(str(world["landing"])),
        RUN_DATE,
        stamp={S.RUN_ID: F.lit("r1")},
    )
    assert _rows(prepared.records, S.RUN_ID) == [("r1",)] * 5


def test_a_missing_folder_is_an_input_error(spark, world):
    with pytest.raises(InputError, match="cannot read input"):
        sources.prepare(
            spark, world["cfg"], sources.Source.folder(str(Path(world["root"]) / "nope")), RUN_DATE
        )


#: One account file whose second line repeats its first exactly.
REPEATS = bank_file(
    [bank_row("1.11.2026", "10,00"), bank_row("1.11.2026", "10,00"), bank_row("2.11.2026", "20,50")]
)


@pytest.mark.slow  # two preparations of a folder, features included
@pytest.mark.parametrize(
    ("quarantine", "expected"),
    [
        ("false", [(2, False, 3), (3, True, 3), (4, False, 3)]),
        ("true", [(2, False, 2), (4, False, 2)]),
    ],
)
def test_training_and_scoring_build_the_same_features_for_repeated_lines(
    spark, world, tmp_path, quarantine, expected
):
    (tmp_path / "acc9.csv").write_bytes(REPEATS)
    cfg = local_config(world["root"] / "ref", f"quality.quarantine_duplicate_rows={quarantine}")
    memory = empty_memory(spark)
    # Training's wiring (lifecycle.train): the prepared source's scorable rows, featured.
    prepared = sources.prepare(spark, cfg, sources.Source.folder(str(tmp_path)), RUN_DATE)
    training = prepared.featured(prepared.scorable, memory)
    # The daily job's wiring (pipeline.run): the model's memory given to prepare, its features.
    job = sources.prepare(
        spark, cfg, sources.Source.folder(str(tmp_path)), RUN_DATE, memory=memory
    ).features
    # The steps prepare chains, composed by hand: read, scorable rows, build_features.
    records, _ = sources.read_records(spark, cfg, str(tmp_path), RUN_DATE)
    scoring = sources.scorable(records).transform(
        build_features, prepared.refs, cfg.features.aggregates, memory
    )
    columns = [S.ROW_ID, S.LINE_NUMBER, S.IS_REPEATED_LINE, *FEATURE_COLUMNS]
    assert_df_equality(training.select(*columns), scoring.select(*columns), ignore_row_order=True)
    assert_df_equality(training.select(*columns), job.select(*columns), ignore_row_order=True)
    assert _rows(training, S.LINE_NUMBER, S.IS_REPEATED_LINE, "file_row_count") == expected
