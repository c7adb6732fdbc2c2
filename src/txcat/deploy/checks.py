"""The checks the `daily_predictions` DAG makes around the scoring job, on plain data.

Each function returns the problems it finds as sentences (empty: all is well); the DAG's task
fails with them. Standard library only: the DAG imports this module at parse time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from txcat.inputs.manifest import Manifest, ManifestEntry


def input_problems(
    recorded: Manifest, run_date: str, current: Sequence[ManifestEntry], min_files: int
) -> list[str]:
    """Why the day's manifest must not be scored: incomplete, or the landing folder has moved on.

    Args:
        recorded: The manifest the DAG wrote for the day.
        run_date: The run's date.
        current: The landing folder's files as they are now.
        min_files: Fewest files a complete day has.
    """
    problems = []
    if recorded.run_date != run_date:
        problems.append(f"manifest is for {recorded.run_date}, run is for {run_date}")
    if len(recorded.entries) < min_files:
        problems.append(f"{len(recorded.entries)} files, at least {min_files} expected")
    if recorded.total_bytes == 0:
        problems.append("every file is empty")
    now = {e.uri: e.version for e in current}
    then = {e.uri: e.version for e in recorded.entries}
    if now != then:
        added = sorted(set(now) - set(then))
        removed = sorted(set(then) - set(now))
        changed = sorted(u for u in set(now) & set(then) if now[u] != then[u])
        problems.append(
            f"landing folder changed since the manifest: {len(added)} added, {len(removed)} "
            f"removed, {len(changed)} changed (e.g. {(added + removed + changed)[:3]})"
        )
    return problems


def redshift_problems(summary: Mapping[str, Any], run_date: str) -> list[str]:
    """Why the job's run summary does not show the day loaded into Redshift."""
    report = (summary.get("sinks") or {}).get("redshift")
    if not isinstance(report, dict):
        return [
            "the job was run with --sink including redshift but its summary has no "
            f"sinks.redshift block (sinks: {summary.get('sinks')})"
        ]
    if report.get("status") != "loaded":
        return [f"Redshift load for {run_date} did not happen: {report}"]
    if report.get("run_date") != run_date or report.get("rows_staged") != summary["rows_scored"]:
        return [
            f"Redshift load reports {report.get('rows_staged')} rows for "
            f"{report.get('run_date')}, the job scored {summary['rows_scored']} for {run_date}"
        ]
    return []


def output_problems(
    summary: Mapping[str, Any],
    run_date: str,
    run_id: str | None,
    manifest_files: int,
    has_parquet: bool,
    partition: str,
) -> list[str]:
    """Why the job's run summary and output do not account for this run's day.

    Args:
        summary: The job's run summary (`runs/run_date=<day>/summary.json`).
        run_date: The run's date.
        run_id: The run's id, which the job stamps on its summary.
        manifest_files: Number of files in the day's manifest.
        has_parquet: Whether the predictions partition holds a Parquet file.
        partition: The predictions partition (for the message).
    """
    problems = []
    if summary.get("run_date") != run_date:
        problems.append(f"summary is for {summary.get('run_date')}, run is for {run_date}")
    if summary.get("run_id") != run_id:
        problems.append(f"summary belongs to run {summary.get('run_id')!r}, not {run_id!r}")
    if summary.get("status") != "succeeded":
        problems.append(f"job status {summary.get('status')!r}: {summary.get('problems')}")
    accounted = summary.get("rows_scored", 0) + summary.get("rows_quarantined", 0)
    if summary.get("rows_read") != accounted:
        problems.append("rows_read != rows_scored + rows_quarantined")
    if not summary.get("rows_scored"):
        problems.append("no row was scored")
    if summary.get("files_read") != manifest_files:
        problems.append(
            f"job read {summary.get('files_read')} files, the manifest lists {manifest_files}"
        )
    if not has_parquet:
        problems.append(f"no Parquet file under {partition}")
    return problems


def run_result(
    summary: Mapping[str, Any],
    partition: str,
    redshift: Mapping[str, Any] | None,
    sinks: Sequence[str],
) -> dict[str, Any]:
    """What the success message says about the run: counts, model, where the rows are.

    Args:
        summary: The job's run summary.
        partition: The predictions partition.
        redshift: What the Redshift load check returned; None when the load was skipped.
        sinks: The sinks the job was given (named in the message of a skipped load).
    """
    return {
        "rows_read": summary["rows_read"],
        "rows_scored": summary["rows_scored"],
        "rows_quarantined": summary["rows_quarantined"],
        "files_read": summary["files_read"],
        "files_quarantined": summary["files_quarantined"],
        "model_version": summary.get("model_version"),
        "predictions": partition,
        "redshift": dict(redshift) if redshift else {"status": "skipped", "sinks": list(sinks)},
    }
