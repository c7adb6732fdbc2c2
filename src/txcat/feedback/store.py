"""The feedback store: accepted corrections and the feedback quarantine, by day received.

    STORE/corrections/received_on=D/part-<hash>.parquet   accepted corrections of one file
    STORE/quarantine/received_on=D/part-<hash>.parquet    its refused records (level, reason)
    STORE/batches/<sha256>.json                           its summary, written last

`<sha256>` is the content hash of the imported file (`<hash>` its first 16 digits): a file
whose summary exists has been imported, and importing it again changes nothing. A correction
is one row per (row_id, category, corrected_at); `latest_corrections` keeps the latest per row.
STORE and the predictions folder are local paths or `s3://` URIs (pyarrow's S3 client, with
the usual AWS_* environment, `AWS_ENDPOINT_URL` included).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from txcat import storage
from txcat.feedback import records as R
from txcat.uris import S3_SCHEMES

CORRECTIONS = "corrections"
QUARANTINE = "quarantine"
BATCHES = "batches"
RECEIVED_ON = "received_on"
BATCH_SHA256 = "batch_sha256"
IMPORTED_AT = "imported_at"
LINE_NUMBER = "line_number"

_UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

#: One accepted correction (the partition column `received_on` is in the path).
CORRECTION_SCHEMA = pa.schema(
    [
        pa.field(R.ROW_ID, pa.string(), nullable=False),
        pa.field(R.CATEGORY, pa.string(), nullable=False),
        pa.field(R.CORRECTED_AT, _UTC_TIMESTAMP, nullable=False),
        pa.field(R.ACCOUNT_ID, pa.string()),
        pa.field(R.SOURCE, pa.string()),
        pa.field(LINE_NUMBER, pa.int32(), nullable=False),
        pa.field(BATCH_SHA256, pa.string(), nullable=False),
        pa.field(IMPORTED_AT, _UTC_TIMESTAMP, nullable=False),
    ]
)

#: One refused record, or the whole file (level `file`), as the job's quarantine says it.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("level", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field(LINE_NUMBER, pa.int32()),
        pa.field(R.ROW_ID, pa.string()),
        pa.field("raw_line", pa.string()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field(BATCH_SHA256, pa.string(), nullable=False),
        pa.field(IMPORTED_AT, _UTC_TIMESTAMP, nullable=False),
    ]
)

_PARTITIONING = ds.partitioning(pa.schema([(RECEIVED_ON, pa.string())]), flavor="hive")


def batch_uri(store: str, sha256: str) -> str:
    return storage.join(store, BATCHES, f"{sha256}.json")


def part_uri(store: str, dataset: str, received_on: dt.date, sha256: str) -> str:
    day = f"{RECEIVED_ON}={received_on.isoformat()}"
    return storage.join(store, dataset, day, f"part-{sha256[:16]}.parquet")


def corrections_table(
    corrections: list[R.Correction], sha256: str, imported_at: dt.datetime
) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                R.ROW_ID: c.row_id,
                R.CATEGORY: c.category,
                R.CORRECTED_AT: c.corrected_at,
                R.ACCOUNT_ID: c.account_id,
                R.SOURCE: c.source,
                LINE_NUMBER: c.line_number,
                BATCH_SHA256: sha256,
                IMPORTED_AT: imported_at,
            }
            for c in corrections
        ],
        schema=CORRECTION_SCHEMA,
    )


def quarantine_table(
    rejections: list[R.Rejection], source_file: str, sha256: str, imported_at: dt.datetime
) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "level": r.level,
                "reason": r.reason,
                "detail": r.detail,
                LINE_NUMBER: r.line_number,
                R.ROW_ID: r.row_id,
                "raw_line": r.raw_line,
                "source_file": source_file,
                BATCH_SHA256: sha256,
                IMPORTED_AT: imported_at,
            }
            for r in rejections
        ],
        schema=QUARANTINE_SCHEMA,
    )


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def summary_bytes(summary: dict[str, Any]) -> bytes:
    return (json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem of a local path, `file://` or `s3://` (s3a, s3n) URI, and the path."""
    scheme, sep, rest = location.partition("://")
    if not sep:
        return pafs.LocalFileSystem(), location
    if scheme in S3_SCHEMES:
        location = f"s3://{rest}"
    fs, path = pafs.FileSystem.from_uri(location)
    return fs, path


def _dataset(location: str) -> ds.Dataset | None:
    """The Parquet dataset under `location`; None when there is no such folder."""
    fs, path = filesystem(location)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return None
    return ds.dataset(path, format="parquet", filesystem=fs, partitioning=_PARTITIONING)


def known_row_ids(predictions_output: str, row_ids: set[str]) -> set[str]:
    """Which of `row_ids` the job's predictions (`OUT/predictions/run_date=*/`) hold.

    Reads the `row_id` column only, filtered to the given ids.

    Raises:
        FileNotFoundError: There is no `OUT/predictions` folder.
    """
    location = storage.join(predictions_output, "predictions")
    fs, path = filesystem(location)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        raise FileNotFoundError(f"no predictions folder {location}")
    dataset = ds.dataset(path, format="parquet", filesystem=fs, partitioning="hive")
    wanted = pa.array(sorted(row_ids), pa.string())
    found = dataset.to_table(columns=[R.ROW_ID], filter=pc.field(R.ROW_ID).isin(wanted))
    return {str(v) for v in found.column(R.ROW_ID).to_pylist()}


def read_corrections(store: str) -> pd.DataFrame:
    """Every stored correction, with its `received_on` (a string, `YYYY-MM-DD`)."""
    columns = [*CORRECTION_SCHEMA.names, RECEIVED_ON]
    dataset = _dataset(storage.join(store, CORRECTIONS))
    if dataset is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return dataset.to_table(columns=columns).to_pandas()


def latest_corrections(store: str) -> pd.DataFrame:
    """The label of each corrected row: its latest correction.

    The same correction imported from two files counts once. Latest means the greatest
    `corrected_at`; between equal ones the later `received_on`, then `imported_at`.

    Returns:
        One row per `row_id`: row_id, category, corrected_at, account_id, source, line_number,
        batch_sha256, imported_at, received_on; sorted by row_id.
    """
    frame = read_corrections(store)
    if frame.empty:
        return frame
    frame = frame.sort_values(
        [R.ROW_ID, R.CORRECTED_AT, RECEIVED_ON, IMPORTED_AT, BATCH_SHA256, LINE_NUMBER],
        kind="stable",
    )
    latest = frame.drop_duplicates(subset=[R.ROW_ID], keep="last")
    return latest.reset_index(drop=True)
