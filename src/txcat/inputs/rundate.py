"""The run dates a scoring run accepts: from `quality.earliest_transaction_date` to tomorrow (UTC).

Light on purpose (no pandas, no XGBoost): the job's entry point refuses a wrong date with it
before Spark starts.
"""

from __future__ import annotations

import datetime as dt

from txcat.config import Config
from txcat.inputs import InputError

#: A run date may be at most this many days after today (UTC): a scheduler ahead of UTC may
#: start the next day's run early; a later date is a typo that would quarantine nothing as
#: future-dated and look up reference snapshots that do not exist yet.
MAX_RUN_DATE_DAYS_AHEAD = 1


def utc_today() -> dt.date:
    """Today's date in UTC: the clock of the run-date check."""
    return dt.datetime.now(dt.UTC).date()


def check_run_date(run_date: dt.date, cfg: Config, today: dt.date | None = None) -> None:
    """Refuses a run date before `quality.earliest_transaction_date` or after tomorrow (UTC).

    Raises:
        InputError: Naming the date and the allowed range.
    """
    today = today or utc_today()
    earliest = cfg.quality.earliest_transaction_date
    latest = today + dt.timedelta(days=MAX_RUN_DATE_DAYS_AHEAD)
    if not earliest <= run_date <= latest:
        raise InputError(
            f"run date {run_date.isoformat()} outside {earliest.isoformat()} "
            f"(quality.earliest_transaction_date) .. {latest.isoformat()} (today UTC + "
            f"{MAX_RUN_DATE_DAYS_AHEAD} day)"
        )
