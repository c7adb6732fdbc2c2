"""Generated drift: each kind changes what it says, and only that."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from txcat import schema as S
from txcat.generate import bankformat as bf
from txcat.generate import drift, generate

HEADER = [t.strip().lower() for t in S.RAW_HEADER.split(";")]


def _rows(folder: Path) -> dict[str, list[list[str]]]:
    out = {}
    for path in sorted(folder.glob("*.csv")):
        lines = path.read_bytes().decode(bf.ENCODING).split(bf.EOL)[1:]
        out[path.name] = [line.split(";") for line in lines if line]
    return out


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("drift")
    folders = {}
    for kind in ("normal", *drift.DRIFT_KINDS):
        folder = root / kind
        generate(folder, 30, "2026-10-01", "2026-11-25", seed=4, rows_per_account=30)
        if kind != "normal":
            drift.apply_drift(folder, kind, seed=1, labels=False)
        folders[kind] = folder
    return folders


def _column(rows: dict[str, list[list[str]]], name: str) -> list[str]:
    i = HEADER.index(name)
    return [r[i] for file_rows in rows.values() for r in file_rows]


def _amount(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


def test_amount_shift_scales_every_amount(days) -> None:
    before = _column(_rows(days["normal"]), "valor")
    after = _column(_rows(days["amount_shift"]), "valor")
    pairs = [(b, a) for b, a in zip(before, after, strict=True) if b != bf.MISSING_AMOUNT]
    assert pairs
    assert all(_amount(a) == pytest.approx(_amount(b) * drift.AMOUNT_FACTOR) for b, a in pairs)


def test_category_mix_removes_most_rows_of_its_categories_and_labels(days) -> None:
    before = _column(_rows(days["normal"]), "grupo_estabelecimento")
    after_rows = _rows(days["category_mix"])
    kept = sum(before.count(bf.file_label(c)) for c in drift.KEPT_CATEGORIES)
    removed = len(before) - kept
    assert len(before) - len(_column(after_rows, "valor")) == pytest.approx(
        drift.DROPPED_SHARE * removed, rel=0.15
    )
    assert set(_column(after_rows, "grupo_estabelecimento")) == {""}


def test_new_countries_and_missing_column(days) -> None:
    countries = _column(_rows(days["new_countries"]), "pais_estabelecimento")
    share = sum(c in drift.NEW_COUNTRY_CODES for c in countries) / len(countries)
    assert share == pytest.approx(drift.NEW_COUNTRY_SHARE, abs=0.05)
    assert set(_column(_rows(days["missing_column"]), drift.EMPTIED_COLUMN)) == {""}


def test_volume_drop_keeps_a_share_of_the_files(days) -> None:
    kept = len(list(days["volume_drop"].glob("*.csv")))
    assert kept < len(list(days["normal"].glob("*.csv"))) * 0.6
    record = json.loads((days["volume_drop"] / "_generation.json").read_text())["drift"]
    assert record["kind"] == "volume_drop" and record["files_removed"] == 30 - kept


def test_unknown_kind_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown drift"):
        drift.apply_drift(tmp_path, "sunspots", seed=1)
