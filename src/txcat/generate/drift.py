"""Drift injected into a generated day, for the monitor's tests and demos.

`apply_drift` rewrites the account files the generator wrote (in the bank's format), so a day
drifts the way real feeds do while everything else stays as generated:

- `amount_shift`: every amount multiplied by `AMOUNT_FACTOR` (a currency or scale change);
- `category_mix`: the day holds mostly RESTAURANTE, SUPERMERCADOS and POSTO DE GAS rows, 95 %
  of the others gone (an acquirer's merchants lost): the predicted mix moves;
- `new_countries`: a share of the merchant countries replaced by ones training never saw;
- `missing_column`: the customer age (`idade`) column left empty in every row (an upstream
  extract dropped its content; the header keeps it);
- `volume_drop`: most account files missing from the day.

Files the header check does not recognise (the generator's deliberately bad files) are left as
they are. What was changed is recorded under `drift` in the hidden `_generation.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from txcat import schema
from txcat.generate import bankformat as bf
from txcat.generate.data import MANIFEST_NAME

AMOUNT_SHIFT = "amount_shift"
CATEGORY_MIX = "category_mix"
NEW_COUNTRIES = "new_countries"
MISSING_COLUMN = "missing_column"
VOLUME_DROP = "volume_drop"
DRIFT_KINDS: tuple[str, ...] = (
    AMOUNT_SHIFT,
    CATEGORY_MIX,
    NEW_COUNTRIES,
    MISSING_COLUMN,
    VOLUME_DROP,
)

AMOUNT_FACTOR = 4.0
#: category_mix: this share of the rows of other categories than `KEPT_CATEGORIES` disappears.
KEPT_CATEGORIES: tuple[str, ...] = ("RESTAURANTE", "SUPERMERCADOS", "POSTO DE GAS")
DROPPED_SHARE = 0.95
#: new_countries: this share of the rows gets one of these (real, never generated) countries.
NEW_COUNTRY_CODES: tuple[str, ...] = ("KZ", "MN", "NP", "BT", "LA")
NEW_COUNTRY_SHARE = 0.3
#: missing_column: the raw column emptied, and the model feature it feeds.
EMPTIED_COLUMN = "idade"
EMPTIED_FEATURE = "age_years"
#: volume_drop: this share of the account files is kept.
KEPT_FILE_SHARE = 0.3

_HEADER = [t.strip().lower() for t in schema.RAW_HEADER.split(";")]


def apply_drift(folder: str | Path, kind: str, seed: int, labels: bool = True) -> dict[str, Any]:
    """Rewrites the generated account files under `folder` with one kind of drift.

    Args:
        folder: A folder the generator wrote (with labels: `category_mix` needs them).
        kind: One of `DRIFT_KINDS`.
        seed: Seed of the drift's random choices.
        labels: False empties the label column afterwards (an unlabelled day).

    Returns:
        What changed (also stored under `drift` in the folder's `_generation.json`).

    Raises:
        ValueError: an unknown kind.
    """
    if kind not in DRIFT_KINDS:
        raise ValueError(f"unknown drift {kind!r}; expected one of {', '.join(DRIFT_KINDS)}")
    out = Path(folder)
    rng = np.random.default_rng([seed, 0xD21F7])
    files = sorted(
        p for p in out.iterdir() if p.suffix == ".csv" and not p.name.startswith(("_", "."))
    )
    record: dict[str, Any] = {"kind": kind, "seed": seed, "files": 0, "rows_changed": 0}
    if kind == VOLUME_DROP:
        drop = rng.random(len(files)) >= KEPT_FILE_SHARE
        for path, gone in zip(files, drop, strict=True):
            if gone:
                path.unlink()
        files = [p for p, gone in zip(files, drop, strict=True) if not gone]
        record["files_removed"] = int(drop.sum())
    for path in files:
        text = path.read_bytes().decode(bf.ENCODING)
        lines = text.split(bf.EOL)
        if [t.strip().lower() for t in lines[0].split(";")] != _HEADER:
            continue
        rows, changed = _drift_rows(lines[1:], kind, rng, labels)
        path.write_bytes(bf.EOL.join([lines[0], *rows]).encode(bf.ENCODING))
        record["files"] += 1
        record["rows_changed"] += changed
    _record(out / MANIFEST_NAME, record)
    return record


def _drift_rows(
    lines: list[str], kind: str, rng: np.random.Generator, labels: bool
) -> tuple[list[str], int]:
    col = {name: i for i, name in enumerate(_HEADER)}
    kept: list[str] = []
    changed = 0
    for line in lines:
        fields = line.split(";")
        if len(fields) != len(_HEADER):
            kept.append(line)  # the final empty string after the last EOL, or a bad row
            continue
        before = list(fields)
        if kind == AMOUNT_SHIFT:
            fields[col["valor"]] = _scaled(fields[col["valor"]], AMOUNT_FACTOR)
        elif kind == CATEGORY_MIX:
            label = bf.LABEL_CATEGORIES.get(fields[col["grupo_estabelecimento"]].strip())
            if label not in KEPT_CATEGORIES and rng.random() < DROPPED_SHARE:
                changed += 1
                continue
        elif kind == NEW_COUNTRIES:
            if rng.random() < NEW_COUNTRY_SHARE:
                fields[col["pais_estabelecimento"]] = str(rng.choice(NEW_COUNTRY_CODES))
        elif kind == MISSING_COLUMN:
            fields[col[EMPTIED_COLUMN]] = ""
        changed += fields != before
        if not labels:
            fields[col["grupo_estabelecimento"]] = ""
        kept.append(";".join(fields))
    return kept, changed


def _scaled(value: str, factor: float) -> str:
    """An amount in the bank's format times `factor`; the missing mark stays missing."""
    if value == bf.MISSING_AMOUNT or not value.strip():
        return value
    try:
        number = float(value.strip().replace(".", "").replace(",", "."))
    except ValueError:
        return value
    return bf.format_amount_cents(round(number * factor * 100))


def _record(manifest: Path, record: dict[str, Any]) -> None:
    if not manifest.exists():
        return
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["drift"] = record
    manifest.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
