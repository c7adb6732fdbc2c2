"""`txcat feedback import`: check a file of user corrections and add it to the feedback store.

Every record ends up accepted (`STORE/corrections/`) or refused with a reason
(`STORE/quarantine/`); the summary (`STORE/batches/<sha256>.json`, written last) reconciles
them: records_read = accepted + rejected. Exit codes: 0; 2 when the input, the store or the
predictions cannot be used, or the file as a whole is refused; 4 when the share of refused
records is above `--max-reject-share` (everything is written first); 5 if the counts do not
reconcile. A file imported before is not imported again: its recorded summary and exit code
are returned.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from txcat import exits
from txcat.deploy.store import ObjectStore
from txcat.feedback import records as R
from txcat.feedback import store as FS

log = logging.getLogger(__name__)

#: Above this share of refused records the import exits QUARANTINE_THRESHOLD.
DEFAULT_MAX_REJECT_SHARE = 0.5
IMPORTED = "imported"
REFUSED = "refused"


@dataclass(frozen=True)
class ImportParams:
    input: str
    store: str
    predictions: str | None = None
    received_on: dt.date | None = None
    format: str | None = None
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE


def _s3_client() -> Any:
    import boto3  # only for s3:// locations

    return boto3.client("s3")


def _local(location: str) -> str:
    """`ObjectStore` takes local paths and s3:// URIs: a file:// URI becomes its path."""
    return location.removeprefix("file://")


def import_feedback(
    params: ImportParams, objects: ObjectStore, now: dt.datetime | None = None
) -> tuple[dict[str, Any], int]:
    """Checks and stores one feedback file; returns its summary and the exit code.

    Args:
        params: What to import, where, and how strictly.
        objects: Reads the input and writes the store (local or S3).
        now: The import's time (UTC); defaults to the clock.
    """
    now = now or dt.datetime.now(dt.UTC)
    received_on = params.received_on or now.date()
    store = _local(params.store)
    if received_on > now.date():
        return _error(f"--received-on {received_on} is after today ({now.date()})")
    if not 0.0 <= params.max_reject_share <= 1.0:
        return _error(f"--max-reject-share must be within 0..1, got {params.max_reject_share}")
    try:
        data = objects.read_bytes(_local(params.input))
    except Exception as exc:  # noqa: BLE001 - missing, a folder, denied, S3 errors: all unusable
        return _error(f"cannot read {params.input}: {type(exc).__name__}: {exc}")
    sha256 = hashlib.sha256(data).hexdigest()
    batch = FS.batch_uri(store, sha256)
    try:
        previous = objects.read_if_exists(batch)
    except Exception as exc:  # noqa: BLE001
        return _error(f"cannot use the store {params.store}: {type(exc).__name__}: {exc}")
    if previous is not None:
        summary: dict[str, Any] = json.loads(previous)
        log.info("%s was imported before (%s): nothing to do", params.input, batch)
        return summary | {"already_imported": True, "summary": batch}, int(summary["exit_code"])

    end_of_day = dt.datetime.combine(received_on, dt.time.max, dt.UTC)
    lookup: R.RowIdLookup | None = None
    if params.predictions:
        predictions = params.predictions

        def lookup(ids: set[str]) -> set[str]:
            return FS.known_row_ids(predictions, ids)

    else:
        log.warning("no --predictions: row ids are not checked against the predictions")
    try:
        checked = R.check(data, params.input, min(now, end_of_day), lookup, params.format)
    except (OSError, pa.ArrowException) as exc:
        return _error(f"cannot read the predictions {params.predictions}: {exc}")

    rejected = len(checked.rejections) if checked.refused is None else checked.records_read
    accepted = len(checked.corrections)
    share = rejected / checked.records_read if checked.records_read else 0.0
    code = exits.OK
    if checked.refused is not None:
        code = exits.BAD_INPUT
    elif accepted + rejected != checked.records_read:
        code = exits.RECONCILIATION
    elif share > params.max_reject_share:
        code = exits.QUARANTINE_THRESHOLD
    imported_at = now
    refused = [checked.refused] if checked.refused is not None else checked.rejections
    corrections_uri = FS.part_uri(store, FS.CORRECTIONS, received_on, sha256)
    quarantine_uri = FS.part_uri(store, FS.QUARANTINE, received_on, sha256)
    summary = {
        "input": params.input,
        "sha256": sha256,
        "format": checked.format,
        "received_on": received_on.isoformat(),
        "imported_at": imported_at.isoformat(),
        "status": REFUSED if checked.refused is not None else IMPORTED,
        "records_read": checked.records_read,
        "accepted": accepted,
        "rejected": rejected,
        "rejected_by_reason": checked.rejected_by_reason(),
        "reject_share": round(share, 6),
        "max_reject_share": params.max_reject_share,
        "row_ids_checked": lookup is not None,
        "predictions": params.predictions,
        "corrections": corrections_uri if accepted else None,
        "quarantine": quarantine_uri if refused else None,
        "exit_code": code,
    }
    if checked.refused is not None:
        summary["problems"] = [f"{checked.refused.reason}: {checked.refused.detail}"]
    try:
        if refused:
            table = FS.quarantine_table(refused, params.input, sha256, imported_at)
            objects.write_bytes(quarantine_uri, FS.parquet_bytes(table))
        if accepted:
            table = FS.corrections_table(checked.corrections, sha256, imported_at)
            objects.write_bytes(corrections_uri, FS.parquet_bytes(table))
        # Last: a batch with a summary is complete, and is never imported again.
        objects.write_bytes(batch, FS.summary_bytes(summary))
    except Exception as exc:  # noqa: BLE001 - an unwritable store
        return _error(f"cannot write to the store {params.store}: {type(exc).__name__}: {exc}")
    return summary | {"summary": batch}, code


def _error(problem: str) -> tuple[dict[str, Any], int]:
    log.error("feedback import: %s", problem)
    return {"status": REFUSED, "problems": [problem], "exit_code": exits.BAD_INPUT}, exits.BAD_INPUT


def describe(summary: dict[str, Any]) -> str:
    """The summary as the command prints it."""
    if "records_read" not in summary:
        return "\n".join(f"refused: {p}" for p in summary.get("problems", []))
    reasons = ", ".join(f"{k} {v}" for k, v in summary["rejected_by_reason"].items())
    lines = []
    if summary.get("already_imported"):
        lines.append("already imported: nothing changed")
    lines.append(
        f"read {summary['records_read']}, accepted {summary['accepted']}, "
        f"rejected {summary['rejected']}" + (f" ({reasons})" if reasons else "")
    )
    lines.extend(f"refused: {problem}" for problem in summary.get("problems", []))
    keys = ("corrections", "quarantine", "summary")
    lines.extend(f"{key}: {summary[key]}" for key in keys if summary.get(key))
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Adds `txcat feedback import` to the command line."""
    parser = sub.add_parser(
        "feedback",
        help="take in users' category corrections",
        description="The feedback store: checked user corrections, by day received.",
    )
    actions = parser.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    imp = actions.add_parser(
        "import",
        help="check a CSV or JSON lines file of corrections and add it to the store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("--input", required=True, help="feedback file: path or s3:// URI")
    imp.add_argument("--store", required=True, help="feedback store: folder or s3:// URI")
    imp.add_argument(
        "--predictions",
        default=None,
        metavar="OUT",
        help="the job's output (OUT/predictions/): row ids must have a prediction there",
    )
    imp.add_argument(
        "--received-on",
        type=dt.date.fromisoformat,
        default=None,
        help="partition day YYYY-MM-DD (default: today, UTC)",
    )
    imp.add_argument("--format", choices=R.FORMATS, default=None, help="default: by extension")
    imp.add_argument(
        "--max-reject-share",
        type=float,
        default=DEFAULT_MAX_REJECT_SHARE,
        help=f"exit 4 above this share of refused records (default {DEFAULT_MAX_REJECT_SHARE})",
    )
    imp.set_defaults(handler=main)


def main(args: argparse.Namespace, s3_client: Callable[[], Any] = _s3_client) -> int:
    params = ImportParams(
        args.input,
        args.store,
        args.predictions,
        args.received_on,
        args.format,
        args.max_reject_share,
    )
    summary, code = import_feedback(params, ObjectStore(s3_client))
    print(describe(summary))  # the command's output
    return code
