"""`txcat feedback import`: every bad record kind has a reason, re-import is idempotent, the
latest correction of a row wins, and the summary reconciles. Local folders, no Spark."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from txcat import cli, exits, reasons
from txcat.deploy.store import ObjectStore
from txcat.feedback import store as FS
from txcat.feedback.commands import ImportParams, import_feedback

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
KNOWN = ("r1", "r2", "r3", "r4")
HEADER = "row_id,category,corrected_at,account_id,source\n"
REPO = Path(__file__).resolve().parents[2]


def _no_s3() -> Any:
    raise AssertionError("local paths only: no S3 client")


OBJECTS = ObjectStore(_no_s3)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A job output whose predictions (two days) hold the row ids in KNOWN."""
    root = tmp_path / "out"
    for day, ids in (("2026-11-28", KNOWN[:2]), ("2026-11-29", KNOWN[2:])):
        folder = root / "predictions" / f"run_date={day}"
        folder.mkdir(parents=True)
        table = pa.table({"row_id": list(ids), "predicted_category": ["VAREJO"] * len(ids)})
        pq.write_table(table, folder / "part-00000.parquet")
    return root


def _import(
    tmp_path: Path,
    out: Path | None,
    name: str,
    content: str | bytes,
    now: dt.datetime = NOW,
    **options: Any,
) -> tuple[dict[str, Any], int]:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    params = ImportParams(str(path), str(tmp_path / "store"), str(out) if out else None, **options)
    return import_feedback(params, OBJECTS, now=now)


def _quarantine(tmp_path: Path) -> list[dict[str, Any]]:
    table = pq.read_table(tmp_path / "store" / FS.QUARANTINE)
    rows = table.to_pylist()
    return sorted(rows, key=lambda r: r["line_number"] or 0)


def _reasons_by_line(tmp_path: Path) -> dict[int, str]:
    return {r["line_number"]: r["reason"] for r in _quarantine(tmp_path)}


def _store_files(tmp_path: Path) -> dict[str, bytes]:
    root = tmp_path / "store"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --- every bad record kind, CSV ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("r1,PADARIA,2026-11-29T10:00:00Z,,", reasons.UNKNOWN_CATEGORY),
        ("r9,VAREJO,2026-11-29T10:00:00Z,,", reasons.UNKNOWN_ROW_ID),
        ("r1,VAREJO,29/11/2026 10:00,,", reasons.BAD_TIMESTAMP),
        ("r1,VAREJO,2026-11-29,,", reasons.BAD_TIMESTAMP),
        ("r1,VAREJO,2026-12-01T10:00:00Z,,", reasons.FUTURE_TIMESTAMP),
        ("r1,VAREJO,2026-11-29T10:00:00Z", reasons.FIELD_COUNT),
        ("r1,VAREJO,2026-11-29T10:00:00Z,,,x", reasons.FIELD_COUNT),
        (",VAREJO,2026-11-29T10:00:00Z,,", reasons.MISSING_COLUMNS),
        ("   ", reasons.BLANK_LINE),
    ],
)
def test_a_bad_csv_record_is_quarantined_with_its_reason(tmp_path, out, line, reason):
    content = HEADER + "r2,VAREJO,2026-11-29T09:00:00Z,acc1,app\n" + line + "\n"

    summary, code = _import(tmp_path, out, "fb.csv", content)

    assert code == exits.OK  # one of two refused: at the default limit 0.5, not above
    assert _reasons_by_line(tmp_path) == {3: reason}
    assert (summary["records_read"], summary["accepted"], summary["rejected"]) == (2, 1, 1)
    assert summary["rejected_by_reason"] == {reason: 1}
    quarantined = _quarantine(tmp_path)[0]
    assert quarantined["level"] == "row"
    assert quarantined["raw_line"] == line
    assert quarantined["detail"]


def test_a_line_that_is_not_utf8_is_quarantined(tmp_path, out):
    content = (
        HEADER.encode() + b"r1,SERVI\x82O,2026-11-29T10:00:00Z,,\nr2,VAREJO,2026-11-29T10:00\n"
    )

    summary, _ = _import(tmp_path, out, "fb.csv", content)

    assert _reasons_by_line(tmp_path) == {2: reasons.UNSUPPORTED_ENCODING, 3: reasons.FIELD_COUNT}
    assert _quarantine(tmp_path)[0]["raw_line"] == "r1,SERVI\\x82O,2026-11-29T10:00:00Z,,"
    assert summary["rejected"] == 2


def test_a_repeated_correction_in_one_file_is_quarantined_first_kept(tmp_path, out):
    content = (
        HEADER
        + "r1,VAREJO,2026-11-29T10:00:00Z,,\n"
        + "r1,VAREJO,2026-11-29T07:00:00-03:00,,\n"  # the same instant, another offset
        + "r1,HOTEIS,2026-11-29T10:00:00Z,,\n"
    )

    summary, _ = _import(tmp_path, out, "fb.csv", content)

    rows = _quarantine(tmp_path)
    assert [(r["line_number"], r["reason"]) for r in rows] == [
        (3, reasons.DUPLICATE_FEEDBACK),
        (4, reasons.DUPLICATE_FEEDBACK),
    ]
    assert "line 2" in rows[0]["detail"]
    assert "another category" in rows[1]["detail"]
    assert FS.latest_corrections(str(tmp_path / "store"))["category"].tolist() == ["VAREJO"]
    assert summary["accepted"] == 1


# --- JSON lines -----------------------------------------------------------------------------


def _json(**fields: Any) -> str:
    return json.dumps(fields)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"row_id": "r1", "category": ', reasons.MALFORMED_RECORD),
        ('["r1", "VAREJO"]', reasons.MALFORMED_RECORD),
        (_json(row_id=1, category="VAREJO", corrected_at="2026-11-29T10:00:00Z"), "malformed"),
        (_json(row_id="r1", category="VAREJO"), reasons.MISSING_COLUMNS),
        (
            _json(row_id="r1", category="VAREJO", corrected_at="2026-11-29T10:00Z", user="u"),
            reasons.EXTRA_COLUMNS,
        ),
        (_json(row_id="r1", category="X", corrected_at="2026-11-29T10:00Z"), "unknown_category"),
        (_json(row_id="r1", category="VAREJO", corrected_at="yesterday"), reasons.BAD_TIMESTAMP),
    ],
)
def test_a_bad_json_record_is_quarantined_with_its_reason(tmp_path, out, line, reason):
    good = _json(row_id="r2", category="hotéis", corrected_at="2026-11-29T10:00:00+00:00")

    summary, code = _import(tmp_path, out, "fb.jsonl", good + "\n" + line + "\n")

    expected = reason if reason in reasons.FEEDBACK_ROW_REASONS else reason + "_record"
    assert _reasons_by_line(tmp_path) == {2: expected}
    assert summary["format"] == "jsonl"
    assert (summary["records_read"], summary["accepted"], summary["rejected"]) == (2, 1, 1)
    # Categories are compared as the job compares labels: upper case, accents out.
    assert FS.latest_corrections(str(tmp_path / "store"))["category"].tolist() == ["HOTEIS"]
    assert code == exits.OK


# --- the file as a whole ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("row_id,category\nr1,VAREJO\n", reasons.MISSING_COLUMNS),
        ("row_id,category,corrected_at,user\nr1,VAREJO,2026-11-29T10:00Z,u\n", "extra_columns"),
        (b"row_id,category,corrected_at\nr1\x00,VAREJO,2026-11-29T10:00Z\n", "binary_content"),
        (
            b"row_id,cat\xe9gorie,corrected_at\nr1,VAREJO,2026-11-29T10:00Z\n",
            "unsupported_encoding",
        ),
        ("row_id,category,corrected_at\n".encode("utf-16"), reasons.UNSUPPORTED_ENCODING),
    ],
)
def test_an_unusable_file_is_one_file_record_and_exits_bad_input(tmp_path, out, content, reason):
    summary, code = _import(tmp_path, out, "fb.csv", content)

    assert code == exits.BAD_INPUT
    assert summary["status"] == "refused"
    rows = _quarantine(tmp_path)
    assert [(r["level"], r["reason"]) for r in rows] == [("file", reason)]
    assert summary["rejected_by_reason"] == ({reason: 1} if summary["records_read"] else {})
    assert summary["records_read"] == summary["accepted"] + summary["rejected"]
    assert not (tmp_path / "store" / FS.CORRECTIONS).exists()


def test_semicolons_a_byte_order_mark_and_crlf_are_read(tmp_path, out):
    content = "\ufeffROW_ID;Category;corrected_at\r\nr1;Posto de gás;2026-11-29 10:00:00\r\n"

    summary, code = _import(tmp_path, out, "export.txt", content)

    assert (code, summary["format"], summary["accepted"]) == (exits.OK, "csv", 1)
    latest = FS.latest_corrections(str(tmp_path / "store"))
    assert latest["category"].tolist() == ["POSTO DE GAS"]
    assert latest["corrected_at"].tolist() == [dt.datetime(2026, 11, 29, 10, tzinfo=dt.UTC)]


# --- summary, store, idempotence, latest wins -------------------------------------------------


def test_the_summary_reconciles_and_is_written_beside_the_batch(tmp_path, out):
    content = (
        HEADER
        + "r1,VAREJO,2026-11-29T10:00:00Z,acc1,app\n"
        + "r2,NOPE,2026-11-29T10:00:00Z,,\n"
        + "r3,HOTEIS,2026-11-29T11:00:00Z,,\n"
        + "r9,HOTEIS,2026-11-29T11:00:00Z,,\n"
        + "r4,HOTEIS,2027-01-01T00:00:00Z,,\n"
    )

    summary, code = _import(tmp_path, out, "fb.csv", content, received_on=dt.date(2026, 11, 29))

    assert code == exits.QUARANTINE_THRESHOLD  # 3 of 5 refused, above 0.5 (written anyway)
    assert summary["records_read"] == 5
    assert summary["accepted"] == 2
    assert summary["rejected_by_reason"] == {
        "future_timestamp": 1,
        "unknown_category": 1,
        "unknown_row_id": 1,
    }
    assert summary["rejected"] == sum(summary["rejected_by_reason"].values()) == 3
    written = json.loads(Path(summary["summary"]).read_text())
    assert written["exit_code"] == exits.QUARANTINE_THRESHOLD
    assert written["accepted"] == 2
    assert summary["summary"] == str(tmp_path / "store" / "batches" / f"{summary['sha256']}.json")
    day = tmp_path / "store" / "corrections" / "received_on=2026-11-29"
    stored = pq.read_table(next(day.glob("*.parquet"))).to_pylist()
    assert [(r["row_id"], r["category"], r["account_id"], r["source"]) for r in stored] == [
        ("r1", "VAREJO", "acc1", "app"),
        ("r3", "HOTEIS", None, None),
    ]
    assert len(_quarantine(tmp_path)) == 3


def test_a_correction_after_the_day_received_is_in_the_future(tmp_path, out):
    content = HEADER + "r1,VAREJO,2026-11-29T10:00:00Z,,\n"

    summary, _ = _import(tmp_path, out, "fb.csv", content, received_on=dt.date(2026, 11, 28))

    assert summary["rejected_by_reason"] == {"future_timestamp": 1}


def test_importing_the_same_file_twice_changes_nothing(tmp_path, out):
    content = HEADER + "r1,VAREJO,2026-11-29T10:00:00Z,,\nr2,NOPE,2026-11-29T10:00:00Z,,\n"
    first, first_code = _import(tmp_path, out, "fb.csv", content)
    before = _store_files(tmp_path)

    later = NOW + dt.timedelta(days=1)
    again, again_code = _import(tmp_path, out, "copy.csv", content, now=later)

    assert _store_files(tmp_path) == before
    assert again["already_imported"] is True
    assert again_code == first_code == exits.OK
    assert (again["accepted"], again["rejected"]) == (first["accepted"], first["rejected"])
    assert len(FS.read_corrections(str(tmp_path / "store"))) == 1


def test_the_latest_correction_of_a_row_wins(tmp_path, out):
    store = str(tmp_path / "store")
    monday = HEADER + "r1,VAREJO,2026-11-28T10:00:00Z,,\nr2,HOTEIS,2026-11-28T10:00:00Z,,\n"
    _import(tmp_path, out, "monday.csv", monday, received_on=dt.date(2026, 11, 28))
    # Received later: r1 corrected again later (wins); r2's correction is older (loses).
    tuesday = HEADER + "r1,FARMACIAS,2026-11-29T08:00:00Z,,\nr2,JOALHERIA,2026-11-27T10:00:00Z,,\n"
    _import(tmp_path, out, "tuesday.csv", tuesday, received_on=dt.date(2026, 11, 29))
    # The same correction as Monday's in another file counts once.
    _import(tmp_path, out, "resent.csv", HEADER + "r1,VAREJO,2026-11-28T10:00:00Z,,\n")

    latest = FS.latest_corrections(store)

    assert list(zip(latest["row_id"], latest["category"], strict=True)) == [
        ("r1", "FARMACIAS"),
        ("r2", "HOTEIS"),
    ]
    assert latest["received_on"].tolist() == ["2026-11-29", "2026-11-28"]
    assert len(FS.read_corrections(store)) == 5


def test_an_empty_store_has_no_corrections(tmp_path):
    assert FS.latest_corrections(str(tmp_path / "nothing")).empty


def test_without_predictions_row_ids_are_not_checked(tmp_path):
    summary, code = _import(tmp_path, None, "fb.csv", HEADER + "r9,VAREJO,2026-11-29T10:00Z,,\n")

    assert (code, summary["accepted"], summary["row_ids_checked"]) == (exits.OK, 1, False)


@pytest.mark.parametrize(
    "options",
    [
        {"received_on": dt.date(2026, 12, 1)},
        {"max_reject_share": 1.5},
    ],
)
def test_bad_options_exit_bad_input_and_write_nothing(tmp_path, out, options):
    _, code = _import(tmp_path, out, "fb.csv", HEADER, **options)

    assert code == exits.BAD_INPUT
    assert not (tmp_path / "store").exists()


def test_a_missing_predictions_folder_or_input_exits_bad_input(tmp_path):
    _, code = _import(
        tmp_path, tmp_path / "no-out", "fb.csv", HEADER + "r1,VAREJO,2026-11-29T10:00Z,,\n"
    )
    params = ImportParams(str(tmp_path / "absent.csv"), str(tmp_path / "store"))
    _, missing_code = import_feedback(params, OBJECTS, now=NOW)

    assert (code, missing_code) == (exits.BAD_INPUT, exits.BAD_INPUT)
    assert not (tmp_path / "store").exists()


def test_the_cli_imports_and_prints_the_summary(tmp_path, out, capsys):
    path = tmp_path / "fb.csv"
    path.write_text(HEADER + "r1,VAREJO,2020-11-29T10:00:00Z,,\nr1,NOPE,2020-11-29T10:00:00Z,,\n")
    store = tmp_path / "store"

    code = cli.main(
        [
            "feedback",
            "import",
            "--input",
            str(path),
            "--store",
            str(store),
            "--predictions",
            str(out),
        ]
    )

    printed = capsys.readouterr().out
    assert code == exits.OK
    assert "read 2, accepted 1, rejected 1 (unknown_category 1)" in printed
    assert "summary: " + str(store / "batches") in printed


def test_every_feedback_reason_is_documented():
    readme = (REPO / "README.md").read_text()
    for reason in {*reasons.FEEDBACK_FILE_REASONS, *reasons.FEEDBACK_ROW_REASONS}:
        assert f"| `{reason}` |" in readme.split("### Feedback that is rejected")[1], reason
