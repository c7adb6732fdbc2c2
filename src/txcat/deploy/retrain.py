"""What the `retrain` and `promote_model` DAGs run and say, decided without Airflow.

    import_feedback >> retrain >> retro_score >> compare >> notify

Each task is one command of the job environment, built here: `txcat feedback import` of every
file in the inbox, `txcat retrain --register` (a version that passes the gate gets the alias
`challenger`, never the serving one), `jobs/retro_score.py` with the challenger over the last
`retro_days` days, `txcat compare` of the champion and the challenger on those days, and the
verdict sent to the owners with the report's location. Promotion stays a person's decision:
`txcat promote --version N` by hand, or a manual run of `promote_model` with the version.

Standard library only: the DAGs import this module at parse time.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from txcat import exits
from txcat.deploy.dag_config import RetrainSettings

#: Files of the inbox that are imported (what `txcat feedback import` reads).
FEEDBACK_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")
COMPARE_JSON = "compare.json"
COMPARE_HTML = "compare.html"
#: Output kept in a failed command's error (its tail).
OUTPUT_TAIL = 4000


def retro_window(run_date: str, days: int) -> tuple[str, str]:
    """The `days` days ending on `run_date` (both included), as `--from` and `--to`."""
    last = dt.date.fromisoformat(run_date)
    return (last - dt.timedelta(days=days - 1)).isoformat(), last.isoformat()


def report_uri(settings: RetrainSettings, run_date: str) -> str:
    return f"{settings.reports_uri.rstrip('/')}/{run_date}"


def _config_args(settings: RetrainSettings) -> list[str]:
    args = ["--env", settings.job_env]
    if settings.job_conf_dir:
        args += ["--conf-dir", settings.job_conf_dir]
    for item in settings.job_overrides:
        args += ["--set", item]
    return args


def import_command(settings: RetrainSettings, feedback_file: str) -> list[str]:
    """`txcat feedback import` of one file (re-importing a file changes nothing)."""
    return [
        settings.txcat, "feedback", "import", "--input", feedback_file,
        "--store", settings.feedback_store, "--predictions", settings.output_uri,
    ]  # fmt: skip


def retrain_command(settings: RetrainSettings, as_of: str, since: str | None) -> list[str]:
    """`txcat retrain --feedback STORE --predictions OUT [--since D] --register`."""
    command = [
        settings.txcat, "retrain", "--feedback", settings.feedback_store,
        "--predictions", settings.output_uri, "--as-of", as_of,
    ]  # fmt: skip
    if since:
        command += ["--since", since]
    return [*command, "--register", *_config_args(settings)]


def retro_command(
    settings: RetrainSettings, run_date: str, challenger: str | None = None
) -> list[str]:
    """`spark-submit jobs/retro_score.py` of the challenger over the window ending on the day."""
    first, last = retro_window(run_date, settings.retro_days)
    return [
        settings.spark_submit, "--master", "local[*]", settings.retro_script,
        "--model", challenger or settings.challenger_uri, "--from", first, "--to", last,
        "--runs", settings.output_uri, "--output", settings.retro_uri, *_config_args(settings),
    ]  # fmt: skip


def compare_command(
    settings: RetrainSettings, run_date: str, challenger: str | None = None
) -> list[str]:
    """`txcat compare` of the champion (daily output) and the challenger (retro output)."""
    first, last = retro_window(run_date, settings.retro_days)
    return [
        settings.txcat, "compare", "--champion", settings.champion_uri,
        "--challenger", challenger or settings.challenger_uri, "--from", first, "--to", last,
        "--predictions", settings.output_uri, "--retro", settings.retro_uri,
        "--feedback", settings.feedback_store, "--output", report_uri(settings, run_date),
        *_config_args(settings),
    ]  # fmt: skip


def promote_command(settings: RetrainSettings, version: str) -> list[str]:
    """`txcat promote --version N`: the gate, then the serving alias (a person's decision)."""
    return [settings.txcat, "promote", "--version", version, *_config_args(settings)]


def environment(settings: RetrainSettings, base: Mapping[str, str]) -> dict[str, str]:
    """The commands' environment: the job environment's Python for Spark's driver and workers."""
    return {
        **base,
        "PYSPARK_PYTHON": settings.python,
        "PYSPARK_DRIVER_PYTHON": settings.python,
        "SPARK_LOCAL_IP": base.get("SPARK_LOCAL_IP", "127.0.0.1"),
    }


@dataclass(frozen=True)
class Outcome:
    """A finished command: its exit code and the tail of what it printed."""

    command: tuple[str, ...]
    exit_code: int
    output: str

    @property
    def retryable(self) -> bool:
        return self.exit_code in exits.RETRYABLE

    def describe(self) -> str:
        meaning = exits.MEANINGS.get(self.exit_code, "unknown exit code")
        return (
            f"{' '.join(self.command[:3])} exited {self.exit_code} ({meaning}):\n"
            f"{self.output[-OUTPUT_TAIL:]}"
        )


def run(command: Sequence[str], env: Mapping[str, str], cwd: str | None = None) -> Outcome:
    """Runs one command to its end; its output (stdout and stderr) is kept for the log."""
    done = subprocess.run(
        list(command), env=dict(env), cwd=cwd, capture_output=True, text=True, check=False
    )
    return Outcome(tuple(command), done.returncode, done.stdout + done.stderr)


def verdict_message(
    dag_id: str, run_id: str | None, run_date: str | None, report: Mapping[str, Any]
) -> dict[str, Any]:
    """The owners' message of a retraining: the comparison's verdict and where its report is.

    Args:
        report: `compare.json` of the run (`verdict`, `champion`, `challenger`, `report`).
    """
    feedback = report.get("feedback") or {}
    return {
        "event": f"{dag_id}.verdict",
        "status": "succeeded",
        "dag_id": dag_id,
        "run_id": run_id,
        "run_date": run_date,
        "verdict": report.get("verdict"),
        "champion": (report.get("champion") or {}).get("model_version"),
        "challenger": (report.get("challenger") or {}).get("model_version"),
        "feedback_rows": feedback.get("rows", 0),
        "changed_share": (report.get("changed") or {}).get("share"),
        "report": (report.get("report") or {}).get("html"),
        "report_json": (report.get("report") or {}).get("json"),
        "next_step": "promotion is a person's decision: txcat promote --version N, or a "
        "manual run of promote_model with the version",
    }


def read_report(data: bytes) -> dict[str, Any]:
    """`compare.json` as a mapping."""
    report: dict[str, Any] = json.loads(data.decode("utf-8"))
    return report


def inbox_files(names: Sequence[str]) -> list[str]:
    """The feedback files among an inbox's object names, sorted (hidden `_`/`.` names skipped)."""
    return sorted(
        n
        for n in names
        if n.lower().endswith(FEEDBACK_SUFFIXES) and not n.rsplit("/", 1)[-1].startswith(("_", "."))
    )
