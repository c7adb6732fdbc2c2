"""Users' corrections for a generated day, as `txcat feedback import` takes them.

Users correct what they see wrong: a share of the day's scored rows is drawn, each row the
model got wrong `wrong_weight` times as likely to be drawn as a right one, and written with its
true category (`data.true_categories`). The result is a CSV: row_id, category, corrected_at,
account_id, source.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from txcat import schema
from txcat.generate import bankformat as bf
from txcat.generate.data import true_categories

#: A row the model got wrong is this many times as likely to be corrected as a right one.
WRONG_WEIGHT = 10.0
SOURCE = "generated"
COLUMNS = ("row_id", "category", "corrected_at", "account_id", "source")
_STREAM_FEEDBACK = 11
_LABEL_COLUMN = "grupo_estabelecimento"
_TRUTH = ("file", "line_number", "category")
_PREDICTED = ["row_id", "account_id", "source_file", "line_number", "predicted_category"]


def day_predictions(predictions_output: str | os.PathLike[str], run_date: dt.date) -> pd.DataFrame:
    """The job's predictions of one run date (`OUT/predictions/run_date=D/`)."""
    folder = Path(predictions_output) / "predictions" / f"run_date={run_date.isoformat()}"
    if not folder.is_dir():
        raise FileNotFoundError(f"no predictions of {run_date} under {predictions_output}")
    return ds.dataset(folder, format="parquet").to_table(columns=_PREDICTED).to_pandas()


def written_categories(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """file, line_number, category of every labelled data line of the folder's bank files, as
    their label column holds it (line 1 is the header)."""
    rows: list[tuple[str, int, str]] = []
    for path in sorted(Path(folder).glob("*.csv")):
        lines = path.read_bytes().decode(bf.ENCODING).split("\r\n")
        column = lines[0].split(schema.RAW_SEPARATOR).index(_LABEL_COLUMN)
        for number, line in enumerate(lines[1:], start=2):
            fields = line.split(schema.RAW_SEPARATOR)
            if len(fields) > column and fields[column]:
                rows.append((path.name, number, bf.LABEL_CATEGORIES[fields[column]]))
    return pd.DataFrame(rows, columns=list(_TRUTH))


def draw_feedback(
    generated: str | os.PathLike[str],
    predictions: pd.DataFrame,
    share: float,
    seed: int,
    corrected_at: dt.datetime,
    wrong_weight: float = WRONG_WEIGHT,
    truth: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Corrections for `share` of the predicted rows of the generated folder.

    Args:
        generated: The folder the day's files were generated in.
        predictions: That day's predictions (`day_predictions`).
        share: Share of the folder's scored rows to correct (0..1).
        seed: Seed of the draw.
        corrected_at: The corrections' time (UTC).
        wrong_weight: How much likelier a wrongly predicted row is to be corrected.
        truth: file, line_number, category of the folder's rows; default: drawn again from
            the folder's generation record (`data.true_categories`). `written_categories`
            gives it for labelled files cut out of a larger generated folder.

    Returns:
        COLUMNS, one row per drawn row, ordered by row_id; `category` is the true category.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"feedback share must be within [0, 1], got {share}")
    if truth is None:
        truth = pd.DataFrame(true_categories(generated), columns=list(_TRUTH))
    rows = predictions.assign(file=predictions["source_file"].map(lambda p: p.rsplit("/", 1)[-1]))
    # Drawn in (file name, line) order: the same corrections wherever the folder lives (row ids
    # hash the full path).
    rows = rows.merge(truth, on=["file", "line_number"], how="inner")
    rows = rows.sort_values(["file", "line_number"]).reset_index(drop=True)
    count = round(share * len(rows))
    if count == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    weights = np.where(rows["predicted_category"] != rows["category"], wrong_weight, 1.0)
    rng = np.random.default_rng([seed, _STREAM_FEEDBACK])
    drawn = np.sort(rng.choice(len(rows), size=count, replace=False, p=weights / weights.sum()))
    picked = rows.iloc[drawn].sort_values("row_id")
    stamp = corrected_at.astimezone(dt.UTC).replace(microsecond=0).isoformat()
    return pd.DataFrame(
        {
            "row_id": picked["row_id"].to_numpy(),
            "category": picked["category"].to_numpy(),
            "corrected_at": stamp,
            "account_id": picked["account_id"].to_numpy(),
            "source": SOURCE,
        }
    ).reset_index(drop=True)


def write_feedback(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Writes the corrections as a UTF-8 CSV with a header; returns its path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(frame[list(COLUMNS)].itertuples(index=False, name=None))
    return out
