"""The checks the `daily_predictions` DAG makes around the scoring job, on plain data.

Each function returns the problems it finds as sentences (empty: all is well); the DAG's task
fails with them. Standard library only: the DAG imports this module at parse time.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from txcat import exits
from txcat.inputs.manifest import Manifest, ManifestEntry

#: What SparkSubmitHook says when spark-submit exits non-zero.
_SUBMIT_EXIT = re.compile(r"Error code is: (\d+)")
#: The run summary's fields a failure message carries.
SUMMARY_FIELDS = (
    "status",
    "exit_code",
    "problems",
    "rows_read",
    "rows_scored",
    "rows_quarantined",
    "files_read",
    "files_quarantined",
    "model_version",
)


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


def summary_of_run(raw: bytes | None, run_date: str, run_id: str | None) -> dict[str, Any] | None:
    """The run summary `raw` if it was written by this run of this day, else None.

    The summary of the day may be an earlier run's (this one failed before writing its own):
    that one says nothing about this run.
    """
    if raw is None:
        return None
    try:
        summary = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(summary, dict):
        return None
    if summary.get("run_date") != run_date or summary.get("run_id") != run_id:
        return None
    return summary


def summary_figures(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a run summary a message carries: status, exit code, problems and counts."""
    return {key: summary.get(key) for key in SUMMARY_FIELDS}


def submit_exit_code(error: str) -> int | None:
    """spark-submit's exit code in the error SparkSubmitHook raises; None if it names none."""
    match = _SUBMIT_EXIT.search(error)
    return int(match.group(1)) if match else None


@dataclasses.dataclass(frozen=True)
class JobFailure:
    """Why the scoring job failed, and whether running it again can change that.

    Attributes:
        exit_code: The job's exit code (`txcat.exits`); None when nothing says (a lost
            container, a cluster that went away).
        retry: True for infrastructure failures and `exits.RETRYABLE` codes; False for a
            verdict on data, configuration or the model, which a rerun repeats.
        message: One paragraph for the task log and the failure message.
    """

    exit_code: int | None
    retry: bool
    message: str


def job_failure(summary: Mapping[str, Any] | None, exit_code: int | None, error: str) -> JobFailure:
    """The verdict on a failed scoring try.

    Args:
        summary: This run's summary (`summary_of_run`), or None when it wrote none.
        exit_code: The job process's exit code when the runner knows it (local spark-submit);
            None on EMR, where the step only says it failed.
        error: What the runner reported (the operator's error, the step's failure details).
    """
    code = exit_code
    if summary is not None and summary.get("status") == "failed":
        # The job's own verdict wins over the process's code (spark-submit on YARN exits 1).
        code = summary.get("exit_code", code)
    if code is None:
        cause = f"no exit code ({error})"
    else:
        cause = f"exit code {code}: {exits.MEANINGS.get(code, 'unknown code')}"
    parts = [f"scoring job failed, {cause}"]
    if summary is not None:
        figures = summary_figures(summary)
        problems = figures.pop("problems") or []
        parts.append(
            "summary " + ", ".join(f"{k}={v}" for k, v in figures.items() if k != "exit_code")
        )
        parts.extend(f"problem: {p}" for p in problems)
    retry = code is None or code in exits.RETRYABLE
    parts.append(
        "retrying (infrastructure or a lock)" if retry else "not retried: a rerun repeats it"
    )
    return JobFailure(exit_code=code, retry=retry, message="; ".join(parts))
