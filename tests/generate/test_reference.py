"""Reference tables: holidays, countries and the bureau snapshot the enrichment joins."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import itertools
import json
import statistics
from pathlib import Path

import pytest

from txcat import schema
from txcat.config import load_config
from txcat.generate import GenerationReport, generate
from txcat.generate import reference as ref

START, END = dt.date(2020, 1, 1), dt.date(2020, 1, 31)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationReport, Path]:
    root = tmp_path_factory.mktemp("ref")
    report = generate(
        root / "raw", 3000, START, END, seed=21, rows_per_account=3, reference_out=root / "ref"
    )
    return report, root / "ref"


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_reference_files_are_written(run: tuple[GenerationReport, Path]) -> None:
    report, folder = run
    assert sorted(p.name for p in report.reference_files) == [
        "bureau.jsonl", "countries.csv", "holidays.csv",
    ]  # fmt: skip
    assert all(p.parent == folder for p in report.reference_files)


def test_overrides_point_the_configuration_at_the_written_tables(
    run: tuple[GenerationReport, Path],
) -> None:
    report, folder = run
    cfg = load_config("local", overrides=ref.reference_overrides(folder))
    tables = (cfg.reference.holidays, cfg.reference.countries, cfg.reference.bureau)
    assert sorted(tables) == sorted(str(p) for p in report.reference_files)


def test_score_bands_are_the_schema_s(run: tuple[GenerationReport, Path]) -> None:
    lines = (run[1] / "bureau.jsonl").read_text().splitlines()
    assert {json.loads(line)["score_band"] for line in lines} == set(schema.SCORE_BANDS)


def test_holidays_table(run: tuple[GenerationReport, Path]) -> None:
    rows = read_csv(run[1] / "holidays.csv")
    assert rows[0] == ["date", "scope", "name"]
    body = [tuple(r) for r in rows[1:]]
    keys = [(d, s) for d, s, _ in body]
    assert len(keys) == len(set(keys))
    assert ("2020-09-07", "BR", "Independence Day") in body
    assert ("2020-07-09", "SP", "Constitutionalist Revolution") in body
    # A year either side of the generated range.
    years = {d[:4] for d, _, _ in body}
    assert years == {"2019", "2020", "2021"}
    assert {s for _, s in keys} <= {"BR", *schema.BR_STATES}
    national = {d for d, s in keys if s == "BR"}
    assert not any(d in national for d, s in keys if s != "BR")
    assert keys == sorted(keys, key=lambda k: (k[0], k[1] != "BR", k[1]))


def test_holidays_build_without_accounts() -> None:
    rows = ref.build_holidays([2021])
    assert ("2021-04-21", "BR", "Tiradentes' Day") in rows
    assert all(d.startswith("2021-") for d, _, _ in rows)


def test_countries_table(run: tuple[GenerationReport, Path]) -> None:
    rows = read_csv(run[1] / "countries.csv")
    assert rows[0] == ["alpha2", "alpha3", "numeric", "name"]
    alpha2 = [r[0] for r in rows[1:]]
    assert alpha2 == sorted(alpha2) and len(alpha2) == len(set(alpha2)) > 240
    assert ["BR", "BRA", "076", "Brazil"] in rows
    assert "SP" not in alpha2 and "OH" not in alpha2  # the invalid codes the files contain
    assert ref.build_countries() == [tuple(r) for r in rows[1:]]


def test_bureau_snapshot(run: tuple[GenerationReport, Path]) -> None:
    report, folder = run
    records = [json.loads(line) for line in (folder / "bureau.jsonl").read_text().splitlines()]
    files = {p.name.split(".")[0].split("_")[0] for p in report.out_dir.iterdir()}
    files -= {"", "_generation", "_SUCCESS"}
    ids = [r["account_id"] for r in records]
    assert set(ids) <= files
    assert 0.87 < len(set(ids)) / report.files < 0.93
    for r in records:
        assert list(r) == ["account_id", "score_band", "n_cards", "delinquent", "snapshot_date"]
        assert r["score_band"] in "ABCDE" and len(r["score_band"]) == 1
        assert isinstance(r["n_cards"], int) and r["n_cards"] >= 1
        assert isinstance(r["delinquent"], bool)
        assert dt.date.fromisoformat(r["snapshot_date"]) <= END


def test_the_bureau_has_a_snapshot_of_every_day_of_the_range(
    run: tuple[GenerationReport, Path],
) -> None:
    """A monthly history: a training run's as-of date early in the range finds each covered
    account's snapshot of that time, as the day scored at the end of it does."""
    records = [json.loads(line) for line in (run[1] / "bureau.jsonl").read_text().splitlines()]
    by_account = collections.defaultdict(list)
    for r in records:
        by_account[r["account_id"]].append(r)
    moved = unordered = 0
    for chain in by_account.values():
        days = [dt.date.fromisoformat(r["snapshot_date"]) for r in chain]
        assert min(days) <= START and END - dt.timedelta(days=45) <= max(days) <= END
        ordered = sorted(zip(days, (r["score_band"] for r in chain), strict=True))
        gaps = {(b[0] - a[0]).days for a, b in itertools.pairwise(ordered)}
        assert gaps <= {ref.BUREAU_REFRESH_DAYS}
        moved += len({band for _, band in ordered}) > 1
        unordered += days != sorted(days)
    # The band moves now and then; some accounts are written newest first.
    assert 0 < moved < 0.2 * len(by_account)
    assert 0.3 < unordered / sum(len(c) > 1 for c in by_account.values()) < 0.7


def test_bureau_band_follows_the_profile(run: tuple[GenerationReport, Path]) -> None:
    report, folder = run
    limit = {}
    for path in report.out_dir.glob("*.csv"):
        first = path.read_bytes().decode("latin-1").split("\r\n")[1].split(";")
        limit[path.name[:-4]] = int(first[schema.RAW_COLUMNS.index("limite_total")])
    band_limits = collections.defaultdict(list)
    delinquent = collections.defaultdict(list)
    for line in (folder / "bureau.jsonl").read_text().splitlines():
        r = json.loads(line)
        band_limits[r["score_band"]].append(limit[r["account_id"]])
        delinquent[r["score_band"]].append(r["delinquent"])
    assert statistics.median(band_limits["A"]) > statistics.median(band_limits["E"])
    assert statistics.mean(delinquent["E"]) > statistics.mean(delinquent["A"])
