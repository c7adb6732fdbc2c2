"""The generator's files: exact bank layout, learnable signal, determinism, manifest."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from txcat import schema
from txcat.generate import BAD_KINDS, MANIFEST_NAME, GenerationReport, generate

START, END = dt.date(2019, 11, 1), dt.date(2020, 2, 29)
HEADER = schema.RAW_HEADER.encode("latin-1") + b"\r\n"
AMOUNT = re.compile(r"^-?(0|[1-9]\d{0,2}(\.\d{3})*)(,\d?[1-9])?$")
DATE = re.compile(r"^([1-9]|[12]\d|3[01])\.(0[1-9]|1[0-2])\.(\d{4})$")
MISSING = " -   "
FILE_LABELS = {
    c.replace("SERVICO", "SERVI\x82O").replace("AUTO PECAS", "AUTO PE\x82AS"): c
    for c in schema.CATEGORIES
}
COL = {name: i for i, name in enumerate(schema.RAW_COLUMNS)}
REPO = Path(__file__).resolve().parents[2]


def gen(path: Path, **kwargs: object) -> GenerationReport:
    args: dict[str, object] = {
        "accounts": 150,
        "start_date": START,
        "end_date": END,
        "seed": 11,
        "rows_per_account": 20,
    }
    args.update(kwargs)
    return generate(path, **args)  # type: ignore[arg-type]


def manifest(report: GenerationReport) -> dict:
    return json.loads(report.manifest.read_text(encoding="utf-8"))


def good_files(report: GenerationReport) -> list[Path]:
    bad = {b.file for b in report.bad_file_details}
    dropped = set(manifest(report)["label_column_dropped"])
    return sorted(
        p
        for p in report.out_dir.iterdir()
        if p.name.endswith(".csv") and p.name not in bad and p.name not in dropped
    )


def rows_of(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("latin-1")
    return [line.split(";") for line in text.split("\r\n")[1:-1]]


def parse_date(text: str) -> dt.date:
    d, m, y = text.split(".")
    return dt.date(int(y), int(m), int(d))


def cents(text: str) -> int:
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(",")
    value = int(whole.replace(".", "")) * 100 + int((frac + "00")[:2])
    return -value if negative else value


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    return gen(tmp_path_factory.mktemp("labelled"), bad_share=0.2)


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    return gen(tmp_path_factory.mktemp("unlabelled"), accounts=300, labels=False, bad_share=0.1)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    """Enough rows for distribution checks (about 60k)."""
    return gen(tmp_path_factory.mktemp("big"), accounts=2000, rows_per_account=30, seed=3)


@pytest.fixture(scope="module")
def big_rows(big: GenerationReport) -> list[tuple[str, list[str]]]:
    return [(p.name, r) for p in good_files(big) for r in rows_of(p)]


# --- Determinism ------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_output(tmp_path: Path) -> None:
    kwargs = {"accounts": 80, "bad_share": 0.3, "labels": True}
    a = gen(tmp_path / "a", reference_out=tmp_path / "ra", **kwargs)
    b = gen(tmp_path / "b", reference_out=tmp_path / "rb", **kwargs)
    assert _snapshot(a.out_dir) == _snapshot(b.out_dir)
    assert _snapshot(tmp_path / "ra") == _snapshot(tmp_path / "rb")
    c = gen(tmp_path / "c", seed=12, **kwargs)
    assert sorted(_snapshot(c.out_dir)) != sorted(_snapshot(a.out_dir))


def test_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "old.csv").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        gen(tmp_path, accounts=2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_date": END, "end_date": START},
        {"accounts": 0},
        {"bad_share": 1.5},
        {"seed": -1},
        {"rows_per_account": 0},
    ],
)
def test_rejects_invalid_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        gen(tmp_path, **kwargs)


# --- The bank's layout ----------------------------------------------------------------------


def test_one_file_per_account_named_by_its_id(labelled: GenerationReport) -> None:
    names = [p.name for p in labelled.out_dir.iterdir() if not p.name.startswith(("_", "."))]
    ids = [re.match(r"^(\d{11,12})(\.csv|\.csv\.gz|_notes\.txt)$", n) for n in names]
    assert all(ids), names
    assert len({m.group(1) for m in ids if m}) == labelled.files == 150


def test_header_and_crlf_line_ends(labelled: GenerationReport) -> None:
    files = good_files(labelled)
    assert len(files) == 150 - len(labelled.bad_files)
    for path in files:
        data = path.read_bytes()
        assert data.startswith(HEADER)
        assert data.endswith(b"\r\n")
        assert data.count(b"\n") == data.count(b"\r\n")
        assert data.count(b"\r") == data.count(b"\r\n")


def test_fields_follow_the_bank_formats(big: GenerationReport) -> None:
    accented = 0
    files = good_files(big)
    for path in files:
        rows = rows_of(path)
        assert rows, path
        account = path.name.removesuffix(".csv")
        for r in rows:
            assert len(r) == 13
            assert r[COL["valor"]] == MISSING or AMOUNT.match(r[COL["valor"]]), r
            m = DATE.match(r[COL["data"]])
            assert m, r
            assert START <= parse_date(r[COL["data"]]) <= END
            assert r[COL["grupo_estabelecimento"]] in FILE_LABELS
            assert len(r[COL["cidade_estabelecimento"]]) <= 13
            assert re.match(r"^([A-Z]{2})?$", r[COL["pais_estabelecimento"]])
            assert r[COL["limite_disp"]].isdigit()
        # The account profile is one account's: constant within the file.
        profiles = {tuple(r[:7]) for r in rows}
        assert len(profiles) == 1
        idf, safra, city, state, age, sex, limit = profiles.pop()
        mangled = f"{account[0]},{account[1:3]}E+{len(account) - 1}"
        assert idf in (account, mangled)
        assert re.match(r"^20(1\d|20)(0[1-9]|1[0-2])$", safra) and safra <= "201911"
        assert len(city) == 22 and city == city.rstrip().ljust(22)
        assert state[:2] in schema.BR_STATES and state[2] == " " and len(state) == 3
        assert 18 <= int(age) <= 85 and sex in ("F", "M") and limit.isdigit()
        accented += any(ord(ch) > 127 for ch in city)
    plain_ids = sum(rows_of(p)[0][0].isdigit() for p in files)
    assert 0.15 < plain_ids / len(files) < 0.25
    assert 0.02 < accented / len(files) < 0.08


def test_amount_styles_and_refunds(big_rows: list[tuple[str, list[str]]]) -> None:
    amounts = [r[COL["valor"]] for _, r in big_rows]
    assert any(re.match(r"^\d+$", a) for a in amounts)  # whole: no decimals
    assert any(re.match(r"^\d+,\d$", a) for a in amounts)  # trailing zero dropped
    assert any(re.match(r"^\d{1,3}(\.\d{3})+,\d\d$", a) for a in amounts)  # thousands dot
    refunds = sum(a.startswith("-") for a in amounts)
    assert 0.002 < refunds / len(amounts) < 0.01


def test_refunds_reverse_an_earlier_purchase(big: GenerationReport) -> None:
    checked = 0
    for path in good_files(big):
        earlier: set[tuple[int, str]] = set()
        for r in rows_of(path):
            value = r[COL["valor"]]
            if value == MISSING:
                continue
            if value.startswith("-"):
                assert (-cents(value), r[COL["cidade_estabelecimento"]]) in earlier
                checked += 1
            else:
                earlier.add((cents(value), r[COL["cidade_estabelecimento"]]))
    assert checked > 50


def test_missing_amounts_are_transfers_without_merchant(
    big_rows: list[tuple[str, list[str]]],
) -> None:
    missing = [r for _, r in big_rows if r[COL["valor"]] == MISSING]
    assert missing
    for r in missing:
        assert r[COL["grupo_estabelecimento"]] == "TRANS FINANC"
        assert r[COL["cidade_estabelecimento"]] == "" and r[COL["pais_estabelecimento"]] == ""


def test_cedilla_labels_use_byte_0x82(big: GenerationReport) -> None:
    data = b"".join(p.read_bytes() for p in good_files(big))
    assert data.count(b";SERVI\x82O;") > 1000
    assert b";AUTO PE\x82AS;" in data
    assert b"SERVICO" not in data and "SERVIÇO".encode("latin-1") not in data
    assert "Ç".encode() not in data


def test_label_frequencies_follow_the_prior(big_rows: list[tuple[str, list[str]]]) -> None:
    counts = collections.Counter(FILE_LABELS[r[COL["grupo_estabelecimento"]]] for _, r in big_rows)
    total_prior = sum(schema.CATEGORY_COUNTS.values())
    for category, n in schema.CATEGORY_COUNTS.items():
        prior = n / total_prior
        if prior >= 0.02:
            # Accounts are specialised (Dirichlet concentration 3, a few regular merchants
            # each), so 2,000 accounts pin the population mix down to about +-10% only.
            assert counts[category] / len(big_rows) == pytest.approx(prior, rel=0.3), category
    assert set(counts) >= {c for c, n in schema.CATEGORY_COUNTS.items() if n >= 10}


def test_rows_per_account_mean(big: GenerationReport) -> None:
    per_file = [len(rows_of(p)) for p in good_files(big)]
    assert min(per_file) >= 1
    assert statistics.mean(per_file) == pytest.approx(30, rel=0.1)
    assert big.rows == sum(per_file) == manifest(big)["counts"]["rows"]


# --- Learnable, but not trivially --------------------------------------------------------------


def test_categories_shape_amounts_places_and_days(big_rows: list[tuple[str, list[str]]]) -> None:
    by: dict[str, list[list[str]]] = collections.defaultdict(list)
    for _, r in big_rows:
        by[FILE_LABELS[r[COL["grupo_estabelecimento"]]]].append(r)

    def median_amount(c: str) -> float:
        return statistics.median(
            abs(cents(r[COL["valor"]])) for r in by[c] if r[COL["valor"]] != MISSING
        )

    def share(c: str, test) -> float:
        return sum(1 for r in by[c] if test(r)) / len(by[c])

    def foreign(r: list[str]) -> bool:
        return r[COL["pais_estabelecimento"]] not in ("BR", "")

    def card_not_present(r: list[str]) -> bool:
        return bool(re.search(r"\.|^\d[\d-]+$", r[COL["cidade_estabelecimento"]]))

    def weekend(r: list[str]) -> bool:
        return parse_date(r[COL["data"]]).weekday() >= 5

    def local(r: list[str]) -> bool:
        return r[COL["cidade_estabelecimento"]] == r[COL["cidade"]].strip()[:13]

    def round_reais(r: list[str]) -> bool:
        return re.match(r"^\d+0$", r[COL["valor"]]) is not None

    # Calibrated to the bank's export: amounts overlap widely (log spread ~1), few card-not-
    # present or foreign rows, fuel and clinics in round reais.
    assert median_amount("CIA AEREAS") > 5 * median_amount("RESTAURANTE")
    assert median_amount("AGENCIA DE TUR") > 5 * median_amount("FARMACIAS")
    assert share("POSTO DE GAS", round_reais) > 3 * share("SUPERMERCADOS", round_reais)
    assert share("M.O.T.O.", card_not_present) > 3 * share("SUPERMERCADOS", card_not_present)
    assert share("M.O.T.O.", card_not_present) < 0.2
    assert share("M.O.T.O.", foreign) > 0.04
    assert share("FARMACIAS", foreign) < 0.02
    assert share("SUPERMERCADOS", weekend) > 1.5 * share("SERVICO", weekend)
    assert share("FARMACIAS", local) > 2 * share("CIA AEREAS", local)
    # ...but no single column gives the answer away: the cheap local categories overlap.
    assert (
        median_amount("RESTAURANTE") < median_amount("FARMACIAS") < 2 * median_amount("RESTAURANTE")
    )


def test_age_tilts_category_preferences(big_rows: list[tuple[str, list[str]]]) -> None:
    def mean_age(category: str) -> float:
        return statistics.mean(
            int(r[COL["idade"]]) for _, r in big_rows
            if FILE_LABELS[r[COL["grupo_estabelecimento"]]] == category
        )  # fmt: skip

    assert mean_age("FARMACIAS") > mean_age("M.O.T.O.") + 2


def test_accounts_differ_mostly_in_their_servico_share(
    big_rows: list[tuple[str, list[str]]],
) -> None:
    """The bank's accounts: the SERVICO share varies widely, the other categories' less."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for name, r in big_rows:
        counts[name][FILE_LABELS[r[COL["grupo_estabelecimento"]]]] += 1

    def spread(category: str) -> float:
        return statistics.stdev(c[category] / c.total() for c in counts.values())

    assert spread("SERVICO") > 1.5 * spread("RESTAURANTE")
    assert spread("SERVICO") > 2 * spread("VAREJO")


# --- Labels ---------------------------------------------------------------------------------------


def test_no_labels_leaves_the_label_empty_or_absent(unlabelled: GenerationReport) -> None:
    doc = manifest(unlabelled)
    dropped = set(doc["label_column_dropped"])
    assert 10 <= len(dropped) <= 50  # ~10% of 300
    header_without = (
        ";".join(h for h in schema.RAW_HEADER.split(";") if h != "grupo_estabelecimento").encode()
        + b"\r\n"
    )
    bad = {b.file for b in unlabelled.bad_file_details}
    for path in sorted(unlabelled.out_dir.glob("*.csv")):
        if path.name in bad:
            continue
        rows = rows_of(path)
        if path.name in dropped:
            assert path.read_bytes().startswith(header_without)
            assert all(len(r) == 12 for r in rows)
        else:
            assert path.read_bytes().startswith(HEADER)
            assert all(len(r) == 13 and r[COL["grupo_estabelecimento"]] == "" for r in rows)
    assert not dropped & bad


# --- Bad files --------------------------------------------------------------------------------


def test_every_bad_kind_is_written_and_recorded(labelled: GenerationReport) -> None:
    doc = manifest(labelled)
    kinds = [b["kind"] for b in doc["bad_files"]]
    assert set(kinds) == set(BAD_KINDS)
    assert len(kinds) == round(0.2 * 150) == len(labelled.bad_files)
    assert doc["counts"]["bad_files_by_kind"] == dict(collections.Counter(kinds))
    assert dict(labelled.bad_files_by_kind) == dict(collections.Counter(kinds))
    for b in doc["bad_files"]:
        assert (labelled.out_dir / b["file"]).is_file()
        assert b["file"].startswith(b["account_id"])
    assert doc["seed"] == 11 and doc["args"]["bad_share"] == 0.2
    assert doc["side_files"] == ["_SUCCESS", ".DS_Store"]
    assert (labelled.out_dir / "_SUCCESS").read_bytes() == b""
    assert b"\x00" in (labelled.out_dir / ".DS_Store").read_bytes()


def test_one_of_each_kind_even_with_a_small_share(tmp_path: Path) -> None:
    report = gen(tmp_path, accounts=40, bad_share=0.01)
    assert sorted(report.bad_files_by_kind) == sorted(BAD_KINDS)


def _is_valid_row(r: list[str], end: dt.date = END) -> bool:
    if len(r) != 13 or not DATE.match(r[COL["data"]]):
        return False
    value = r[COL["valor"]]
    ok_amount = (value == MISSING and r[COL["grupo_estabelecimento"]] == "TRANS FINANC") or (
        AMOUNT.match(value) is not None
    )
    return ok_amount and START <= parse_date(r[COL["data"]]) <= end


def _row_defect(kind: str, r: list[str], previous: list[str], others: list[list[str]]) -> bool:
    value = r[COL["valor"]] if len(r) == 13 else None
    if kind == "amount_missing":
        return (
            value == MISSING
            and r[COL["grupo_estabelecimento"]] != "TRANS FINANC"
            and r[COL["cidade_estabelecimento"]] != ""
            and r[COL["pais_estabelecimento"]] != ""
        )
    if kind == "amount_abc":
        return value == "abc"
    if kind == "amount_dot_decimal":
        return value is not None and re.match(r"^\d+\.\d{1,2}$", value) is not None
    if kind == "negative_amount":
        other = {abs(cents(o[COL["valor"]])) for o in others if o[COL["valor"]] != MISSING}
        return value is not None and value.startswith("-") and -cents(value) not in other
    if kind == "date_invalid":
        m = DATE.match(r[COL["data"]])
        if not m:
            return False
        try:
            parse_date(r[COL["data"]])
        except ValueError:
            return True
        return False
    if kind == "date_other_format":
        return re.match(r"^\d{4}-\d{2}-\d{2}$", r[COL["data"]]) is not None
    if kind == "future_date":
        return DATE.match(r[COL["data"]]) is not None and parse_date(r[COL["data"]]) > END
    if kind == "fewer_fields":
        return len(r) == 12
    if kind == "more_fields":
        return len(r) == 14
    if kind == "quoted_semicolon":
        return len(r) == 14 and re.search(r';"[^";]+;[^";]+";', ";".join(r)) is not None
    if kind == "duplicate_row":
        return r == previous
    raise AssertionError(kind)


def test_row_level_line_numbers_point_at_the_altered_line(labelled: GenerationReport) -> None:
    doc = manifest(labelled)
    row_level = [b for b in doc["bad_files"] if b["line"] is not None]
    assert {b["kind"] for b in row_level} == {
        "amount_missing", "amount_abc", "amount_dot_decimal", "negative_amount",
        "date_invalid", "date_other_format", "future_date", "fewer_fields", "more_fields",
        "quoted_semicolon", "duplicate_row",
    }  # fmt: skip
    for b in row_level:
        data = (labelled.out_dir / b["file"]).read_bytes()
        assert data.startswith(HEADER) and data.endswith(b"\r\n")
        lines = data.decode("latin-1").split("\r\n")[:-1]
        fields = [line.split(";") for line in lines]
        i = b["line"] - 1
        others = [f for j, f in enumerate(fields[1:], start=1) if j != i]
        assert _row_defect(b["kind"], fields[i], fields[i - 1], others), b
        # Every other line is clean: the number points at the one defect.
        for j, f in enumerate(fields[1:], start=2):
            if j != b["line"]:
                assert _is_valid_row(f), (b, j)


def test_file_level_kinds(labelled: GenerationReport) -> None:
    import gzip

    files = {b.kind: labelled.out_dir / b.file for b in labelled.bad_file_details}
    read = {kind: path.read_bytes() for kind, path in files.items()}
    assert read["empty_file"] == b""
    assert read["header_only"] == HEADER
    missing = read["missing_column"].split(b"\r\n")
    assert b" valor " not in missing[0] and all(line.count(b";") == 11 for line in missing[:-1])
    extra = read["extra_column"].split(b"\r\n")
    assert extra[0] == HEADER[:-2] + b";extra" and all(
        line.count(b";") == 13 for line in extra[:-1]
    )
    reordered = read["reordered_columns"].decode("latin-1").split("\r\n")[:-1]
    header = reordered[0].split(";")
    assert header != list(schema.RAW_HEADER.split(";"))
    assert sorted(header) == sorted(schema.RAW_HEADER.split(";"))
    for line in reordered[1:]:
        assert DATE.match(line.split(";")[header.index("data")])
    comma = read["wrong_separator"].split(b"\r\n")
    assert comma[0] == schema.RAW_HEADER.replace(";", ",").encode()
    assert all(b";" not in line for line in comma) and b'"' in read["wrong_separator"]
    bom = read["utf8_bom"]
    assert bom.startswith(b"\xef\xbb\xbf" + HEADER)
    assert any(ord(ch) > 127 for ch in bom.decode("utf-8"))
    assert b"\x82" not in bom
    utf8 = read["utf8"]
    assert utf8.startswith(HEADER) and any(ord(ch) > 127 for ch in utf8.decode("utf-8"))
    assert b"\x82" not in utf8
    assert b"\r" not in read["lf_line_ends"] and read["lf_line_ends"].endswith(b"\n")
    no_eol = read["no_final_newline"]
    assert no_eol.startswith(HEADER) and not no_eol.endswith(b"\n")
    assert b"\x00" in read["binary_garbage"]
    assert files["gzip"].name.endswith(".csv.gz")
    assert gzip.decompress(read["gzip"]).startswith(HEADER)
    assert not files["non_csv_file"].name.endswith((".csv", ".gz"))
    assert b";" not in read["non_csv_file"]


def test_report_matches_the_folder(labelled: GenerationReport) -> None:
    assert labelled.manifest == labelled.out_dir / MANIFEST_NAME
    assert set(labelled.bad_files) == {labelled.out_dir / b.file for b in labelled.bad_file_details}
    csv_like = [
        p for p in labelled.out_dir.iterdir()
        if re.match(r"^\d+(\.csv|\.csv\.gz|_notes\.txt)$", p.name)
    ]  # fmt: skip
    assert len(csv_like) == labelled.files


# --- Command line -----------------------------------------------------------------------------


def test_cli_writes_files_and_logs_a_summary(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    out = tmp_path / "raw"
    result = subprocess.run(
        [
            sys.executable, str(REPO / "scripts" / "generate_data.py"),
            "--out", str(out), "--accounts", "30", "--start-date", "2020-01-01",
            "--end-date", "2020-01-31", "--seed", "4", "--no-labels", "--bad-share", "0.5",
            "--reference-out", str(tmp_path / "ref"), "--rows-per-account", "5",
        ],
        capture_output=True, text=True, env=env, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"files=30 rows=\d+ bad_files=24 seconds=", result.stderr)
    doc = json.loads((out / MANIFEST_NAME).read_text())
    assert doc["args"]["labels"] is False and doc["args"]["rows_per_account"] == 5
    assert {p.name for p in (tmp_path / "ref").iterdir()} == {
        "holidays.csv", "countries.csv", "bureau.jsonl",
    }  # fmt: skip


def test_cli_rejects_a_bad_date(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    result = subprocess.run(
        [
            sys.executable, str(REPO / "scripts" / "generate_data.py"), "--out",
            str(tmp_path), "--accounts", "3", "--start-date", "2020-13-01", "--end-date",
            "2020-01-31", "--seed", "4",
        ],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr


def test_account_ids_depend_only_on_seed_and_count(tmp_path: Path) -> None:
    # A later scoring run with the training run's seed sees the same accounts (and so
    # the bureau snapshot written with the training data still matches them).
    a = gen(tmp_path / "a", accounts=30)
    b = gen(
        tmp_path / "b", accounts=30, start_date=dt.date(2021, 3, 1),
        end_date=dt.date(2021, 3, 2), labels=False,
    )  # fmt: skip
    assert sorted(p.name for p in a.out_dir.glob("*.csv")) == sorted(
        p.name for p in b.out_dir.glob("*.csv")
    )
