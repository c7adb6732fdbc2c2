"""Parity: one account file through the real-time path and through the Spark job.

Same records (file and row reasons, details, line numbers, row ids), the same feature frame
column by column, the same categories and probabilities, on generated files holding every bad
input the generator injects, hand-made files of the odd kinds it does not write (encodings,
quoting, odd values), and per-account files of the bank's real export. One Spark run over all
of them keeps the test to one pass of the job.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import local_config
from tests.serve.helpers import train_tiny_model
from txcat import schema as S
from txcat import sources
from txcat.features import FEATURE_COLUMNS, memory_of
from txcat.generate import generate
from txcat.generate.bad import BAD_KINDS
from txcat.lifecycle.quality import SplitSummary, split_lines
from txcat.model import load_artifact
from txcat.score import with_predictions
from txcat.serve import rows
from txcat.serve.scorer import build_scorer, load_model

GENERATED_RUN_DATE = dt.date(2026, 11, 25)
SLICE = Path(__file__).parents[1] / "data" / "mibolsillo-slice.csv"
EXPORT = Path(__file__).parents[3] / "shared" / "data" / "mibolsillo-train.csv"
#: Features and probabilities are compared to the last bit: the real-time path computes the
#: batch job's values (Java's logarithm included, `txcat.strictmath`), not approximations of them.
PROBABILITY_TOLERANCE = 0.0
FEATURE_RTOL = 0.0


@pytest.fixture(autouse=True)
def compiled_projections(spark):
    """The job's setting for its wide cleaning projection (conf/base.yaml): far faster here."""
    key = "spark.sql.codegen.hugeMethodLimit"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "8000")
    yield
    if before is None:
        spark.conf.unset(key)
    else:
        spark.conf.set(key, before)


def _real_accounts(export: Path, out: Path) -> Path:
    """The export cut into one file per account (every row kept, bytes untouched)."""
    summary = SplitSummary(dt.date(2100, 1, 1))
    split_lines(export.read_bytes(), str(export), out, summary, account=None)
    return out / "training"


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory):
    """Generated files with every bad kind, and a model trained on them (used for all files)."""
    root = tmp_path_factory.mktemp("parity")
    report = generate(
        root / "landing",
        len(BAD_KINDS) + 6,
        "2026-09-01",
        GENERATED_RUN_DATE,
        seed=11,
        bad_share=len(BAD_KINDS) / (len(BAD_KINDS) + 6),
        reference_out=root / "ref",
        rows_per_account=25,
    )
    cfg = local_config(root / "ref")
    train_tiny_model(spark, cfg, root / "landing", GENERATED_RUN_DATE, root / "model")
    return root, report


def _spark_side(spark, cfg, landing: Path, run_date: dt.date, artifact):
    prepared = sources.prepare(
        spark,
        cfg,
        sources.Source.folder(str(landing)),
        run_date,
        memory=memory_of(artifact),
    )
    records = prepared.records.select(
        S.SOURCE_FILE, S.LEVEL, S.REASON, S.DETAIL, S.LINE_NUMBER, S.ROW_ID
    ).toPandas()
    scored = with_predictions(prepared.features, spark, artifact).select(
        S.SOURCE_FILE,
        S.LINE_NUMBER,
        S.ROW_ID,
        S.IS_REPEATED_LINE,
        *FEATURE_COLUMNS,
        S.PREDICTED_CATEGORY,
        S.PREDICTED_PROBABILITY,
        f"{S.TOP3}.category",
        f"{S.TOP3}.probability",
    )
    return records, scored.toPandas()


def _local_path(source_file: str) -> Path:
    return Path(source_file.removeprefix("file://").removeprefix("file:"))


def assert_parity(spark, cfg, landing: Path, run_date: dt.date, model_folder: Path) -> dict:
    """Compares every file of `landing`; returns what was compared (for the callers' checks)."""
    artifact = load_artifact(str(model_folder))
    records, scored = _spark_side(spark, cfg, landing, run_date, artifact)
    scorer = build_scorer(cfg, load_model(str(model_folder)), run_date)
    seen: dict = {
        "file_reasons": set(),
        "row_reasons": set(),
        "scored": 0,
        "by_folder": {},
        "scored_by_folder": {},
    }
    for source_file, spark_records in records.groupby(S.SOURCE_FILE):
        folder = _local_path(source_file).relative_to(landing).parts[0]
        seen["by_folder"][folder] = seen["by_folder"].get(folder, 0) + 1
        mine = rows.read_file(source_file, _local_path(source_file).read_bytes(), scorer.rules)
        spark_files = spark_records[spark_records[S.LEVEL] == S.LEVEL_FILE]
        if mine.file_reason is not None or len(spark_files):
            assert [(mine.file_reason, mine.file_detail)] == [
                (r[S.REASON], r[S.DETAIL]) for _, r in spark_files.iterrows()
            ], source_file
            seen["file_reasons"].add(mine.file_reason)
            continue
        spark_rejected = sorted(
            (int(r[S.LINE_NUMBER]), r[S.ROW_ID], r[S.REASON], r[S.DETAIL])
            for _, r in spark_records[spark_records[S.LEVEL] == S.LEVEL_ROW].iterrows()
        )
        assert (
            sorted((r.line_number, r.row_id, r.reason, r.detail) for r in mine.rejected)
            == spark_rejected
        ), source_file
        seen["row_reasons"] |= {r.reason for r in mine.rejected}

        spark_rows = (
            scored[scored[S.SOURCE_FILE] == source_file]
            .sort_values(S.LINE_NUMBER)
            .reset_index(drop=True)
        )
        features = scorer.features(mine)
        assert list(features[S.LINE_NUMBER]) == list(spark_rows[S.LINE_NUMBER]), source_file
        assert [r.row_id for r in mine.scorable] == list(spark_rows[S.ROW_ID])
        repeated = [r.is_repeated_line for r in mine.scorable]
        assert repeated == list(spark_rows[S.IS_REPEATED_LINE]), source_file
        seen["repeated"] = seen.get("repeated", 0) + sum(repeated)
        differ = [
            name
            for name in FEATURE_COLUMNS
            if not np.allclose(
                features[name].to_numpy(dtype=float),
                spark_rows[name].to_numpy(dtype=float, na_value=np.nan),
                rtol=FEATURE_RTOL,
                atol=0.0,
                equal_nan=True,
            )
        ]
        assert not differ, (source_file, differ, _first_difference(features, spark_rows, differ))

        answer = scorer.categorise(mine)
        mine_scores = pd.DataFrame(answer["predictions"])
        assert list(mine_scores[S.PREDICTED_CATEGORY]) == list(spark_rows[S.PREDICTED_CATEGORY])
        np.testing.assert_allclose(
            mine_scores[S.PREDICTED_PROBABILITY],
            spark_rows[S.PREDICTED_PROBABILITY],
            rtol=0,
            atol=PROBABILITY_TOLERANCE,
        )
        for top3, categories, probabilities in zip(
            mine_scores[S.TOP3], spark_rows["category"], spark_rows["probability"], strict=True
        ):
            assert [t["category"] for t in top3] == list(categories)
            np.testing.assert_allclose(
                [t["probability"] for t in top3], list(probabilities), atol=PROBABILITY_TOLERANCE
            )
        seen["scored"] += len(mine_scores)
        seen["scored_by_folder"][folder] = seen["scored_by_folder"].get(folder, 0) + len(
            mine_scores
        )
    assert seen["scored"] == len(scored)
    return seen


def _first_difference(mine: pd.DataFrame, spark_rows: pd.DataFrame, names: list[str]) -> dict:
    name = names[0]
    a = mine[name].to_numpy(dtype=float)
    b = spark_rows[name].to_numpy(dtype=float, na_value=np.nan)
    at = int(np.flatnonzero(~np.isclose(a, b, rtol=FEATURE_RTOL, atol=0, equal_nan=True))[0])
    return {"column": name, "line": int(mine[S.LINE_NUMBER][at]), "mine": a[at], "spark": b[at]}


def _line(**fields: str) -> str:
    values = {
        "id": "4,53E+11",
        "safra_abertura": "201405",
        "cidade": "CAMPO LIMPO PAULISTA  ",
        "estado": "SP ",
        "idade": "37",
        "sexo": "F",
        "limite_total": "4700",
        "limite_disp": "5343",
        "data": "9.11.2026",
        "valor": "150,01",
        "grupo_estabelecimento": "FARMACIAS",
        "cidade_estabelecimento": "SANTOS",
        "pais_estabelecimento": "BR",
    } | fields
    return ";".join(values.values())


HEADER = S.RAW_HEADER
GOOD = [
    _line(),
    _line(data="10.11.2026", valor="1.784,13", cidade_estabelecimento="SAO PAULO"),
    _line(data="30.11.2026" if False else "1.11.2026", valor=" -   "),
    _line(data="29.02.2024", valor="-54,4", pais_estabelecimento="AR"),
]


def _file(lines: list[str], header: str = HEADER, eol: str = "\r\n") -> str:
    return eol.join([header, *lines]) + eol


#: Hand-made files for what the generator does not write: encodings, quoting, odd values.
EDGE_FILES: dict[str, bytes] = {
    "utf16le.csv": _file(GOOD).encode("utf-16"),
    "utf16be.csv": b"\xfe\xff" + _file(GOOD).encode("utf-16-be"),
    "utf16nobom.csv": _file(GOOD).encode("utf-16-le"),
    "truncated.csv.gz": __import__("gzip").compress(_file(GOOD).encode("latin-1"))[:-9],
    "members.csv.gz": __import__("gzip").compress(_file(GOOD[:2]).encode("latin-1"))
    + __import__("gzip").compress("\r\n".join(GOOD[2:]).encode("latin-1") + b"\r\n"),
    "trailing.csv.gz": __import__("gzip").compress(_file(GOOD).encode("latin-1")) + b"junk",
    "quoted.csv": _file(
        [
            _line(cidade_estabelecimento='"SAN;TOS"'),
            _line(cidade_estabelecimento='"LINE\r\nBREAK"', data="2.11.2026"),
            _line(cidade_estabelecimento='"SAY ""HI"""', data="3.11.2026"),
            _line(cidade_estabelecimento='"NEVER CLOSED', data="4.11.2026"),
            _line(cidade_estabelecimento='A"B', data="5.11.2026"),
            _line(valor='"12,50"', data="6.11.2026"),
        ]
    ).encode("latin-1"),
    "odd_values.csv": _file(
        [
            "",
            " \t ",
            ";;;;;;;;;;;;",
            _line(valor="1e5"),
            _line(valor="99999999999", data="2.11.2026"),
            _line(valor="9" * 400, data="3.11.2026"),
            _line(limite_total="12.000.000,00", data="4.11.2026"),
            _line(valor="12.34", data="5.11.2026"),
            _line(valor="-0,00", data="6.11.2026"),
            _line(valor="0,005", data="6.11.2026"),
            _line(valor="2,675", data="6.11.2026"),
            _line(data="31.02.2024"),
            _line(data="1.01.1999"),
            _line(data="1.1.0000"),
            _line(data="26.11.2026"),
            _line(data="2026-11-09"),
            _line(safra_abertura="000005", data="7.11.2026"),
            _line(safra_abertura="201413", data="7.11.2026"),
            _line(idade=" 37 ", sexo="f", estado="sp", data="8.11.2026"),
            _line(idade="abc", sexo="X", estado="ZZ", data="8.11.2026", valor="3"),
            _line(cidade_estabelecimento="WWW.LOJA.COM.BR", data="12.11.2026"),
            _line(cidade_estabelecimento="+55 (11) 5555-1234", data="12.11.2026"),
            _line(cidade_estabelecimento="CAMPO LIMPO PAULISTA", data="13.11.2026"),
            _line(cidade_estabelecimento="SERVI\x82O  CENTRAL\x07", data="13.11.2026"),
            _line(cidade_estabelecimento="", pais_estabelecimento="", data="14.11.2026"),
            _line(limite_total="0", limite_disp="", data="15.11.2026"),
            _line(),
            _line(),
            _line(data="31.10.2026", valor="10"),
            _line(data="30.11.2026"),
            "1;2;3",
            _line() + ";extra",
        ],
        eol="\n",
    ).encode("latin-1"),
    "utf8_accents.csv": _file(
        [
            _line(cidade="SÃO PAULO", cidade_estabelecimento="SÃO JOSÉ DOS CAMPOS"),
            _line(cidade_estabelecimento="Ñandú ß ﬁ", data="2.11.2026"),
        ]
    ).encode("utf-8"),
    "cr_only.csv": _file(GOOD, eol="\r").encode("latin-1"),
    "no_final_break.csv": _file(GOOD).encode("latin-1")[:-2],
    "reordered.csv": (
        "valor ;data;pais_estabelecimento;cidade_estabelecimento;limite_disp;limite_total;sexo;"
        "idade;estado;cidade;safra_abertura;VALOR;other\r\n"
        "10,00;9.11.2026;BR;SANTOS;100;200;M;40;RJ;RIO;201901;99;x\r\n"
    ).encode("latin-1"),
    "comma.csv": _file(GOOD, header=HEADER.replace(";", ",")).encode("latin-1"),
    "noheader.csv": _file(GOOD, header="a;b;c").encode("latin-1"),
    "nul.csv": _file(GOOD).encode("latin-1") + b"\x00",
    "only_header.csv": (HEADER + "\r\n").encode("latin-1"),
    "notes.txt": b"not an account file",
}


@pytest.mark.slow  # one Spark run over every file (generated, hand-made, real accounts)
def test_every_file_gives_what_the_spark_job_gives(spark, generated, tmp_path):
    root, report = generated
    cfg = local_config(root / "ref")
    landing = tmp_path / "landing"
    shutil.copytree(root / "landing", landing / "generated")
    (landing / "odd").mkdir()
    for name, body in EDGE_FILES.items():
        (landing / "odd" / name).write_bytes(body)
    # The whole export when it is beside the repository, else the committed slice of it.
    export = EXPORT if EXPORT.is_file() else SLICE
    _real_accounts(export, landing / "real")
    real_rows = export.read_bytes().count(b"\r\n") - 1  # less the header
    seen = assert_parity(spark, cfg, landing, GENERATED_RUN_DATE, root / "model")

    assert set(report.bad_files_by_kind) == set(BAD_KINDS)
    assert seen["by_folder"]["generated"] == len(BAD_KINDS) + 6 - 1  # less the empty file
    assert seen["by_folder"]["odd"] == len(EDGE_FILES)
    assert seen["by_folder"]["real"] >= 7
    # Every real row is scored but the few without an amount or a date.
    assert real_rows * 0.98 <= seen["scored_by_folder"]["real"] <= real_rows
    assert seen["scored_by_folder"]["generated"] > 500
    # An empty file never reaches the records: the job counts it apart (`files_empty`).
    assert {
        "header_only",
        "missing_columns",
        "wrong_separator",
        "unsupported_encoding",
        "corrupt_gzip",
        "bad_header",
        "binary_content",
        "unsupported_file",
    } <= seen["file_reasons"]
    assert {
        "blank_line",
        "field_count",
        "bad_amount",
        "bad_date",
        "future_date",
        "date_too_old",
    } <= seen["row_reasons"]
    # Repeated lines are scored (quality.quarantine_duplicate_rows is false by default).
    assert seen["repeated"] >= 1


def test_an_empty_file_is_the_jobs_empty_file(tmp_path):
    records = rows.read_file("a.csv", b"", rows.CleaningRules(run_date=GENERATED_RUN_DATE))
    assert (records.file_reason, records.records) == ("empty_file", [])
