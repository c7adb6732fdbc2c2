"""`txcat reference build`: the dated holidays and countries tables, from holidays and pycountry."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from txcat import cli, exits, reference, schema
from txcat.deploy.store import ObjectStore
from txcat.generate import reference as generated

AS_OF = dt.date(2026, 11, 25)


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _no_s3() -> None:
    raise AssertionError("a local build must not ask for an S3 client")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("reference")
    record = reference.build(str(root), AS_OF, ObjectStore(_no_s3))
    return root, record


def test_a_version_is_written_under_its_date(built):
    root, record = built
    holidays = root / "holidays" / "as_of=2026-11-25" / "holidays.csv"
    countries = root / "countries" / "as_of=2026-11-25" / "countries.csv"
    build_record = json.loads((root / "_builds" / "as_of=2026-11-25.json").read_text())
    assert build_record == record
    assert record["as_of"] == "2026-11-25"
    assert set(record["packages"]) == {"holidays", "pycountry"}
    for table, path in (("holidays", holidays), ("countries", countries)):
        info = record["tables"][table]
        assert info["uri"] == str(path)
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert info["rows"] == len(_rows(path)) - 1


def test_holidays_cover_the_years_before_and_after_the_date(built):
    rows = _rows(built[0] / "holidays" / "as_of=2026-11-25" / "holidays.csv")
    assert rows[0] == ["date", "scope", "name"]
    years = {int(r[0][:4]) for r in rows[1:]}
    assert years == set(range(2026 - reference.YEARS_BACK, 2028))
    assert ["2026-12-25", "BR", "Christmas Day"] in rows
    assert {r[1] for r in rows[1:]} <= {"BR", *schema.BR_STATES}
    # SP's own holiday (Constitutionalist Revolution, 9 July) is a state row.
    assert any(r[0] == "2026-07-09" and r[1] == "SP" for r in rows)


def test_countries_are_iso_3166(built):
    rows = _rows(built[0] / "countries" / "as_of=2026-11-25" / "countries.csv")
    assert rows[0] == ["alpha2", "alpha3", "numeric", "name"]
    assert ["BR", "BRA", "076", "Brazil"] in rows
    assert len(rows) - 1 == 249


def test_the_states_are_the_ones_cleaning_accepts():
    assert reference.states() == sorted(schema.BR_STATES)


def test_the_same_date_builds_the_same_bytes(built, tmp_path):
    again = reference.build(str(tmp_path), AS_OF, ObjectStore(_no_s3))
    assert {t: i["sha256"] for t, i in again["tables"].items()} == {
        t: i["sha256"] for t, i in built[1]["tables"].items()
    }


def test_the_generator_writes_the_production_tables(built, tmp_path):
    """Demo data and production share the builders: the demo's countries are the same bytes."""
    path = generated.write_countries(tmp_path / generated.COUNTRIES_FILE)
    produced = built[0] / "countries" / "as_of=2026-11-25" / "countries.csv"
    assert path.read_bytes() == produced.read_bytes()


def test_the_command_builds_on_s3(capsys):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="txcat-reference")
        args = cli.build_parser().parse_args(
            ["reference", "build", "--out", "s3://txcat-reference/", "--as-of", "2026-11-25"]
        )
        assert reference.main(args, s3_client=lambda: client) == exits.OK
        listed = client.list_objects_v2(Bucket="txcat-reference")["Contents"]
        keys = sorted(o["Key"] for o in listed)
        body = client.get_object(
            Bucket="txcat-reference", Key="countries/as_of=2026-11-25/countries.csv"
        )["Body"].read()
    assert keys == [
        "_builds/as_of=2026-11-25.json",
        "countries/as_of=2026-11-25/countries.csv",
        "holidays/as_of=2026-11-25/holidays.csv",
    ]
    assert ["BR", "BRA", "076", "Brazil"] in list(csv.reader(io.StringIO(body.decode())))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("holidays: s3://txcat-reference/holidays/as_of=2026-11-25/")
    assert out[-1] == "build record: s3://txcat-reference/_builds/as_of=2026-11-25.json"


def test_a_bad_date_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["reference", "build", "--out", "x", "--as-of", "25.11.2026"])
    assert exit_info.value.code == exits.BAD_INPUT
    assert "--as-of" in capsys.readouterr().err
