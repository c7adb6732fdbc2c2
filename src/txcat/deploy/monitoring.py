"""What the `daily_monitoring` DAG decides without Airflow: which day to monitor, where its
metrics are, and the message its alerts send.

Standard library only: the DAG imports this module at parse time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

#: Folder of the monitor's output under the job's output root (`txcat.monitor.run.MONITORING`).
MONITORING_DIR = "monitoring"
METRICS_FILE = "metrics.json"


class MonitoringRunError(ValueError):
    """The DAG run does not say which day to monitor."""


def run_date_from(conf: Mapping[str, Any] | None, extras: Iterable[Mapping[str, Any]]) -> str:
    """The run date to monitor: `run_date` of a manual run's conf, else of the newest predictions
    asset event that triggered the run (its `extra`, set by `daily_predictions`' notify task).

    Raises:
        MonitoringRunError: neither names a valid date.
    """
    candidates = [str((conf or {}).get("run_date") or "")]
    candidates += [str(e.get("run_date") or "") for e in reversed(list(extras))]
    for value in candidates:
        if not value:
            continue
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise MonitoringRunError(f"run_date {value!r} is not YYYY-MM-DD") from exc
    raise MonitoringRunError(
        "no run date: trigger with conf {'run_date': 'YYYY-MM-DD'} or from the predictions asset"
    )


def metrics_uri(output_uri: str, run_date: str) -> str:
    """The monitor's `metrics.json` of one day under the job's output root."""
    return f"{output_uri.rstrip('/')}/{MONITORING_DIR}/run_date={run_date}/{METRICS_FILE}"
