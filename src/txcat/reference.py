"""Reference tables from maintained packages, built as dated versions: `txcat reference build`.

The enrichment (`txcat.features.enrich`) joins two tables that do not depend on the bank's data:
Brazilian national and state holidays (from the `holidays` package) and ISO 3166 countries (from
`pycountry`). Production builds them once a day (the `reference_data` DAG, before scoring) into
one folder per date, so a day is always scored with the tables of its own date and a rerun of an
old day reads what that day read:

    <out>/holidays/as_of=<D>/holidays.csv      date, scope (BR or a state code), name
    <out>/countries/as_of=<D>/countries.csv    alpha2, alpha3, numeric, name
    <out>/_builds/as_of=<D>.json               package versions, rows and sha256 of each table

`conf/emr.yaml` points `reference.holidays` / `reference.countries` at
`.../as_of={run_date}/...`. The build record is written last: its presence means the version
is complete. The same date and package versions give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from typing import Any

from txcat import exits
from txcat.deploy.store import ObjectStore

log = logging.getLogger(__name__)

HOLIDAYS = "holidays"
COUNTRIES = "countries"
HOLIDAYS_FILE = "holidays.csv"
COUNTRIES_FILE = "countries.csv"
HOLIDAYS_HEADER = ("date", "scope", "name")
COUNTRIES_HEADER = ("alpha2", "alpha3", "numeric", "name")
NATIONAL_SCOPE = "BR"
#: Fixed so names do not follow the machine's locale (the package localises by default).
HOLIDAY_LANGUAGE = "en_US"
#: A version built on D covers these many calendar years before D's (the history in a day's
#: files), and the year after D.
YEARS_BACK = 5
BUILDS = "_builds"


def holiday_years(start: dt.date, end: dt.date) -> range:
    """Calendar years covering [start - 1 year, end + 1 year]."""
    return range(start.year - 1, end.year + 2)


def build_holidays(years: Iterable[int]) -> list[tuple[str, str, str]]:
    """Brazilian holidays, one row per (date, scope).

    National holidays get scope "BR"; each state's own holidays (those not already
    national on that date) get the state's code.

    Args:
        years: Calendar years to cover.

    Returns:
        (ISO date, scope, name) rows sorted by date, national first, then state code.
    """
    import holidays  # the builders' dependency only: the job reads the tables

    years = sorted(set(years))
    national = holidays.country_holidays("BR", years=years, language=HOLIDAY_LANGUAGE)
    rows = [(d.isoformat(), NATIONAL_SCOPE, name) for d, name in national.items()]
    for uf in states():
        state = holidays.country_holidays("BR", subdiv=uf, years=years, language=HOLIDAY_LANGUAGE)
        # A state holiday falling on a national one is already covered by the BR row.
        rows.extend((d.isoformat(), uf, name) for d, name in state.items() if d not in national)
    rows.sort(key=lambda r: (r[0], r[1] != NATIONAL_SCOPE, r[1]))
    return rows


def states() -> list[str]:
    """Brazil's 27 federative units as the `holidays` package knows them (two-letter codes).

    The package also has a city subdivision ("Sao Paulo Capital"), which is not a state. A test
    holds these equal to `txcat.schema.BR_STATES`, the states cleaning accepts; this module
    does not import the schema module, which needs Spark (the Airflow workers have none).
    """
    import holidays

    return sorted(s for s in holidays.country_holidays("BR").subdivisions if len(s) == 2)


def build_countries() -> list[tuple[str, str, str, str]]:
    """ISO 3166 countries from pycountry as (alpha2, alpha3, numeric, name), by alpha2."""
    import pycountry

    rows = [(c.alpha_2, c.alpha_3, c.numeric, c.name) for c in pycountry.countries]
    return sorted(rows)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """A UTF-8, comma-separated table with LF line ends (quoting where needed)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def table_uri(out: str, table: str, as_of: dt.date | str) -> str:
    """Where the version of `as_of` of `table` (`holidays`, `countries`) lives under `out`."""
    day = as_of.isoformat() if isinstance(as_of, dt.date) else as_of
    name = {HOLIDAYS: HOLIDAYS_FILE, COUNTRIES: COUNTRIES_FILE}[table]
    return f"{out.rstrip('/')}/{table}/as_of={day}/{name}"


def build_uri(out: str, as_of: dt.date) -> str:
    return f"{out.rstrip('/')}/{BUILDS}/as_of={as_of.isoformat()}.json"


def build(out: str, as_of: dt.date, store: ObjectStore, years_back: int = YEARS_BACK) -> dict:
    """Writes the holidays and countries version of `as_of` under `out`; returns its record.

    Args:
        out: Root folder or `s3://` URI of the reference tables.
        as_of: The version's date.
        store: Writes the objects (local folders or S3).
        years_back: Calendar years of holidays before `as_of`'s year.
    """
    tables = {
        HOLIDAYS: csv_bytes(
            HOLIDAYS_HEADER, build_holidays(range(as_of.year - years_back, as_of.year + 2))
        ),
        COUNTRIES: csv_bytes(COUNTRIES_HEADER, build_countries()),
    }
    record: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "packages": {name: metadata.version(name) for name in ("holidays", "pycountry")},
        "tables": {},
    }
    for table, data in tables.items():
        uri = table_uri(out, table, as_of)
        store.write_bytes(uri, data)
        record["tables"][table] = {
            "uri": uri,
            "rows": data.count(b"\n") - 1,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        log.info("wrote %s (%d rows)", uri, record["tables"][table]["rows"])
    store.write_bytes(build_uri(out, as_of), json.dumps(record, indent=1).encode("utf-8"))
    return record


def _s3_client() -> Any:
    import boto3  # the job environment's (`job` extra); only for s3:// outputs

    return boto3.client("s3")


def register(sub: Any) -> None:
    """Adds `txcat reference build` to the command line."""
    parser = sub.add_parser(
        "reference",
        help="build the dated holidays and countries tables the job reads",
        description="Reference tables from the holidays and pycountry packages.",
    )
    actions = parser.add_subparsers(dest="reference_command", required=True, metavar="ACTION")
    build_parser = actions.add_parser(
        "build",
        help="write <out>/{holidays,countries}/as_of=<D>/ and <out>/_builds/as_of=<D>.json",
    )
    build_parser.add_argument("--out", required=True, help="root folder or s3:// URI")
    build_parser.add_argument(
        "--as-of", required=True, type=dt.date.fromisoformat, help="version date YYYY-MM-DD"
    )
    build_parser.add_argument(
        "--years-back",
        type=int,
        default=YEARS_BACK,
        help=f"years of holidays before the version's year (default {YEARS_BACK})",
    )
    build_parser.set_defaults(handler=main)


def main(args: argparse.Namespace, s3_client: Callable[[], Any] = _s3_client) -> int:
    if args.years_back < 0:
        log.error("--years-back must be 0 or more, got %d", args.years_back)
        return exits.BAD_INPUT
    log.info("reference build: writing the %s version under %s", args.as_of, args.out)
    record = build(args.out, args.as_of, ObjectStore(s3_client), args.years_back)
    for table, info in record["tables"].items():
        print(f"{table}: {info['uri']} ({info['rows']} rows)")  # the command's output
    print(f"build record: {build_uri(args.out, args.as_of)}")
    return exits.OK
