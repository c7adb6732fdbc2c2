"""The quality harness: per-account files cut at a date, bytes untouched; the report page."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import HEADER, bank_row
from txcat import schema as S
from txcat.lifecycle import quality as Q

CUTOFF = dt.date(2019, 12, 1)


def _export(path: Path, rows: list[tuple[str, str]]) -> Path:
    """An export with one line per (id, date); ids are the first field as the bank writes them."""
    lines = [HEADER]
    for account, date in rows:
        line = bank_row(date=date, merchant_city="SANTOS \x82")
        lines.append(";".join([account, *line.split(";")[1:]]))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    return path


def test_split_export_cuts_each_account_at_the_date_and_keeps_the_bytes(tmp_path: Path) -> None:
    export = _export(
        tmp_path / "export.csv",
        [
            ("4,53E+11", "30.11.2019"),
            ("4,53E+11", "1.12.2019"),
            ("4.53E+11", "2.04.2019"),
            ("94873707154", "15.01.2020"),
            ("94873707154", "31.02.2020"),  # no such day: evaluation side, for the job to refuse
        ],
    )
    summary = Q.split_export(export, tmp_path / "out", CUTOFF)

    assert summary.rows == {Q.TRAINING: 2, Q.EVALUATION: 3}
    assert summary.files == {Q.TRAINING: 2, Q.EVALUATION: 2}
    assert summary.undated_rows == 1
    assert (summary.first_date, summary.last_date) == (dt.date(2019, 4, 2), dt.date(2020, 1, 15))
    original = export.read_bytes().split(b"\r\n")
    written: list[bytes] = []
    for path in sorted((tmp_path / "out").rglob("*.csv")):
        content = path.read_bytes()
        assert content.startswith(original[0] + b"\r\n") and content.endswith(b"\r\n")
        assert b"\x82" in content  # the single-byte encoding is not touched
        written += content.split(b"\r\n")[1:-1]
    assert sorted(written) == sorted(line for line in original[1:] if line)
    names = {p.name for p in (tmp_path / "out" / Q.TRAINING).iterdir()}
    assert len(names) == 2  # 4,53E+11 and 4.53E+11 stay two accounts


def test_split_folder_cuts_per_account_files(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_bytes(
        (
            "\r\n".join([HEADER, bank_row(date="1.11.2019"), bank_row(date="2.12.2019")]) + "\r\n"
        ).encode("latin-1")
    )
    summary = Q.split_folder(folder, tmp_path / "out", CUTOFF)
    assert summary.rows == {Q.TRAINING: 1, Q.EVALUATION: 1}
    assert (tmp_path / "out" / Q.TRAINING / "a.csv").read_bytes().count(b"\r\n") == 2
    assert (tmp_path / "out" / Q.EVALUATION / "a.csv").read_bytes().count(b"\r\n") == 2


def test_split_export_refuses_an_export_without_dates(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id;valor\r\n1;2\r\n")
    with pytest.raises(Q.ExportError, match="`id` and `data`"):
        Q.split_export(path, tmp_path / "out", CUTOFF)


def test_baselines_are_scored_on_the_evaluation_rows() -> None:
    rng = np.random.default_rng(0)
    labels = ["SERVICO", "RESTAURANTE"]

    def frame(n: int) -> pd.DataFrame:
        y = rng.integers(0, 2, n)
        return pd.DataFrame({S.LABEL: [labels[i] for i in y], "x": y + rng.normal(0, 0.1, n)})

    train, evaluation = frame(200), frame(100)
    result = Q.baselines(train, evaluation, ["x"], class_weight_power=0.0, seed=1)
    majority = evaluation[S.LABEL].value_counts().get(train[S.LABEL].mode()[0], 0) / 100
    assert result["majority"]["accuracy"] == pytest.approx(majority)
    assert result["logistic_regression"]["accuracy"] > 0.95  # x separates the two classes
    assert result["logistic_regression"]["rows"] == 100


def test_write_docs_writes_the_tables(tmp_path: Path) -> None:
    section = {
        "description": "real",
        "split": {"cutoff": "2019-12-01"},
        "models": {"txcat model": {"accuracy": 0.5, "macro_f1": 0.25}, "public": {"accuracy": 0.4}},
        "per_class_recall": {"SERVICO": {"recall": 0.9, "support": 10}},
        "selection": {
            "macro_f1_tolerance": 0.005,
            "chosen_trial": 1,
            "best_macro_f1_trial": 0,
            "trials": [
                {
                    "trial": 0,
                    "macro_f1": 0.3,
                    "latency_ms_per_10k": 20.0,
                    "trees": 880,
                    "max_depth": 4,
                    "tree_levels": 3520,
                },
                {
                    "trial": 1,
                    "macro_f1": 0.298,
                    "latency_ms_per_10k": 12.5,
                    "trees": 660,
                    "max_depth": 3,
                    "tree_levels": 1980,
                },
            ],
        },
        "quality_gate": {
            "passed": False,
            "checks": [
                "FAIL macro_f1_vs_baselines: 0.2411 vs required 0.2657",
                "PASS size: 900 bytes vs max 50000000",
            ],
        },
        "holdout_leads": {
            "logistic_regression": {
                "accuracy": {"lead": 0.0458, "low": 0.0153, "high": 0.0769},
                "macro_f1": {"lead": 0.0258, "low": -0.0036, "high": 0.0645},
                "confidence": 0.95,
                "rows": 698,
            }
        },
        "commands": ["make quality"],
        "habits": {"usual_category": 0.4047, "repeat_seen": 0.1419},
    }
    generated = {"models": {}, "habits": {"usual_category": 0.5384}}
    json_path, md_path = Q.write_docs({"Real data": section, "Generated": generated}, tmp_path)
    page = md_path.read_text(encoding="utf-8")
    assert "| 1 | 0.2980 | 660 | 3 | 1,980 | 12.5 | chosen |" in page
    assert "| 0 | 0.3000 | 880 | 4 | 3,520 | 20.0 | best macro-F1 |" in page
    assert page.index("| 1 | 0.2980") < page.index("| 0 | 0.3000")
    assert "| txcat model | 0.500 | 0.250 | – | – |" in page
    assert "| public | 0.400 | – | – | – |" in page
    assert "| SERVICO | 10 | 0.900 |" in page
    assert "as `txcat promote` judges a version) **refuses it**:" in page
    assert "FAIL macro_f1_vs_baselines: 0.2411 vs required 0.2657\nPASS size" in page
    assert "with its 95% paired bootstrap interval" in page
    assert "| logistic_regression | +0.046 [+0.015, +0.077] | +0.026 [-0.004, +0.065] |" in page
    assert "| statistic | Real data | Generated |" in page
    assert "| later rows in their account's most frequent category | 0.405 | 0.538 |" in page
    assert "| later rows repeating an earlier (account, city, amount) exactly | 0.142 | – |" in page
    assert json.loads(json_path.read_text(encoding="utf-8"))["Real data"]["split"] == {
        "cutoff": "2019-12-01"
    }


def _rows(rows: list[tuple[str, str, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[S.ACCOUNT_ID, S.LABEL, S.MERCHANT_CITY, S.AMOUNT])


def test_habits_measure_what_the_history_tells_about_later_rows() -> None:
    history = _rows(
        [
            ("a", "SERVICO", "NETFLIX.COM", 39.9),
            ("a", "SERVICO", "NETFLIX.COM", 39.9),
            ("a", "RESTAURANTE", "SANTOS", 80.0),
            ("b", "VAREJO", "SANTOS", 10.0),
            ("b", "VAREJO", None, None),
        ]
    )
    later = _rows(
        [
            ("a", "SERVICO", "NETFLIX.COM", 39.9),  # usual, seen pair, exact repeat
            ("a", "SERVICO", "SANTOS", 12.0),  # usual category; the pair's usual is RESTAURANTE
            ("b", "FARMACIAS", "SANTOS", 10.0),  # exact repeat, another category
            ("b", "VAREJO", None, None),  # an empty city and no amount repeat too
            ("c", "VAREJO", "SANTOS", 10.0),  # an account without history
        ]
    )
    habits = Q.habits(history, later)
    assert habits["usual_category"] == pytest.approx(3 / 5, abs=1e-3)
    assert habits["usual_at_merchant_seen"] == pytest.approx(4 / 5, abs=1e-3)
    assert habits["usual_at_merchant"] == pytest.approx(2 / 4, abs=1e-3)
    assert habits["repeat_seen"] == pytest.approx(3 / 5, abs=1e-3)
    assert habits["repeat_usual"] == pytest.approx(2 / 3, abs=1e-3)
    # no account reaches HABIT_MIN_ROWS rows: no spread is given
    assert "head_share_sd" not in habits and "top_share" not in habits


def test_habits_spread_of_category_shares_across_accounts() -> None:
    n = Q.HABIT_MIN_ROWS
    # account a: all SERVICO; account b: half SERVICO, half RESTAURANTE
    history = _rows(
        [("a", "SERVICO", "X", 1.0)] * n
        + [("b", "SERVICO", "X", 1.0)] * (n // 2)
        + [("b", "RESTAURANTE", "Y", 2.0)] * (n // 2)
    )
    habits = Q.habits(history, _rows([("a", "SERVICO", "X", 1.0)]))
    assert habits["head_share_sd"] == pytest.approx(np.std([1.0, 0.5], ddof=1), abs=1e-3)
    assert habits["top_share"] == pytest.approx(0.75, abs=1e-3)


SLICE = Path(__file__).resolve().parents[1] / "data" / "mibolsillo-slice.csv"


@pytest.mark.slow  # a whole training run (search, refit) on the real-export slice
def test_training_on_a_real_slice_works_with_the_default_configuration(spark, tmp_path):
    """No cutoff configured: it is derived from the data; the shipped model sees every row."""
    from txcat.config import load_config
    from txcat.generate import reference as ref
    from txcat.lifecycle import train

    split = Q.split_export(SLICE, tmp_path / "files", dt.date(2100, 1, 1))
    assert split.rows[Q.EVALUATION] == 0
    refs = tmp_path / "reference"
    refs.mkdir()
    ref.write_holidays(refs / ref.HOLIDAYS_FILE, split.first_date, split.last_date)
    ref.write_countries(refs / ref.COUNTRIES_FILE)
    ref.write_bureau(refs / ref.BUREAU_FILE, [])
    cfg = load_config(
        "local",
        overrides=[
            f"reference.holidays={refs / ref.HOLIDAYS_FILE}",
            f"reference.countries={refs / ref.COUNTRIES_FILE}",
            f"reference.bureau={refs / ref.BUREAU_FILE}",
        ],
    )
    assert cfg.lifecycle.cutoff_date is None and cfg.lifecycle.holdout == "time"
    artifact = train.run(
        spark, cfg, str(tmp_path / "files" / Q.TRAINING), str(tmp_path / "model"), split.last_date
    )
    evaluation = json.loads((tmp_path / "model" / train.EVALUATION_FILE).read_text())
    assert evaluation["split"]["cutoff_derived"] is True
    cutoff = dt.date.fromisoformat(evaluation["split"]["cutoff_date"])
    assert split.first_date < cutoff <= split.last_date
    fitted = artifact.metadata["fitted_on"]
    # Every line is labelled; exact repeats of a line are quarantined by the reader.
    assert (
        fitted["rows"] == evaluation["split"]["training_rows"] + evaluation["split"]["holdout_rows"]
    )
    assert split.rows[Q.TRAINING] - 2 <= fitted["rows"] <= split.rows[Q.TRAINING]
    assert (fitted["first_date"], fitted["last_date"]) == (
        split.first_date.isoformat(),
        split.last_date.isoformat(),
    )
