"""Generated feedback: true categories of a generated folder, drawn towards wrong predictions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from txcat import schema as S
from txcat.generate import feedback as fb
from txcat.generate import generate
from txcat.generate.data import true_categories

AT = dt.datetime(2026, 10, 11, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("feedback") / "day"
    generate(folder, 6, "2026-10-01", "2026-10-10", seed=3, labels=False, rows_per_account=20)
    return folder


def _labelled_twin(tmp_path: Path) -> Path:
    """The `day` folder generated again with labels written."""
    twin = tmp_path / "twin"
    generate(twin, 6, "2026-10-01", "2026-10-10", seed=3, labels=True, rows_per_account=20)
    return twin


def _predictions(day: Path, wrong_files: set[str]) -> pd.DataFrame:
    """Predictions of every line: right, except in `wrong_files` (INEXISTENTE there)."""
    rows = []
    for name, line, category in true_categories(day):
        predicted = "INEXISTENTE" if name in wrong_files and category != "INEXISTENTE" else category
        rows.append((f"{name}:{line}", name[:-4], f"file:{day / name}", line, predicted))
    return pd.DataFrame(rows, columns=fb._PREDICTED)


def test_true_categories_are_the_labels_a_labelled_generation_writes(day, tmp_path):
    written = fb.written_categories(_labelled_twin(tmp_path))
    assert len(written) > 50 and set(written["category"]) <= set(S.CATEGORIES)
    assert list(written.itertuples(index=False, name=None)) == true_categories(day)


def test_feedback_drawn_from_written_labels_equals_feedback_drawn_from_the_generation(
    day, tmp_path
):
    predictions = _predictions(day, {min(p.name for p in day.glob("*.csv"))})
    written = fb.written_categories(_labelled_twin(tmp_path))
    assert fb.draw_feedback(day, predictions, 0.3, seed=4, corrected_at=AT, truth=written).equals(
        fb.draw_feedback(day, predictions, 0.3, seed=4, corrected_at=AT)
    )


def test_feedback_gives_true_categories_mostly_of_wrong_predictions(day):
    wrong = {min(p.name for p in day.glob("*.csv"))}
    predictions = _predictions(day, wrong)
    wrong_rows = predictions[predictions["source_file"].str.endswith(next(iter(wrong)))]
    frame = fb.draw_feedback(day, predictions, 0.1, seed=1, corrected_at=AT)
    assert len(frame) == round(0.1 * len(predictions))
    truth = {f"{n}:{line}": c for n, line, c in true_categories(day)}
    assert all(truth[r] == c for r, c in zip(frame["row_id"], frame["category"], strict=True))
    drawn_wrong = frame["row_id"].isin(wrong_rows["row_id"]).mean()
    assert drawn_wrong > 2 * len(wrong_rows) / len(predictions)
    assert set(frame["corrected_at"]) == {"2026-10-11T09:00:00+00:00"}
    assert fb.draw_feedback(day, predictions, 0.1, seed=1, corrected_at=AT).equals(frame)


def test_the_draw_does_not_depend_on_where_the_folder_lives(day):
    predictions = _predictions(day, {min(p.name for p in day.glob("*.csv"))})
    moved = predictions.assign(
        source_file=predictions["source_file"].str.replace(str(day), "/elsewhere/day")
    )
    moved["row_id"] = [f"{i:032x}" for i in range(len(moved))][::-1]

    def picked(frame: pd.DataFrame, drawn: pd.DataFrame) -> list[tuple[str, int]]:
        lines = frame.set_index("row_id")[["source_file", "line_number"]]
        located = lines.loc[drawn["row_id"]]
        names = located["source_file"].str.rsplit("/", n=1).str[-1]
        return sorted(zip(names, located["line_number"], strict=True))

    here = fb.draw_feedback(day, predictions, 0.3, seed=4, corrected_at=AT)
    there = fb.draw_feedback(day, moved, 0.3, seed=4, corrected_at=AT)
    assert picked(predictions, here) == picked(moved, there)
    assert list(there["row_id"]) == sorted(there["row_id"])


def test_the_feedback_file_is_what_feedback_import_reads(day, tmp_path):
    frame = fb.draw_feedback(day, _predictions(day, set()), 0.2, seed=2, corrected_at=AT)
    path = fb.write_feedback(frame, tmp_path / "f.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "row_id,category,corrected_at,account_id,source"
    assert len(lines) == len(frame) + 1
