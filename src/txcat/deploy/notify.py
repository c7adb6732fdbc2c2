"""The `daily_predictions` DAG's messages to its owners, and the channel that carries them.

One channel, chosen by `TXCAT_NOTIFY_TARGET`, carries the success message (sent by the `notify`
task), the failure message (sent by every task's failure callback) and the monitoring alert
(sent by `monitoring_alerts` when the monitor found the day suspect):

- an SNS topic ARN: published through the amazon provider's `SnsHook.publish_to_target`, so
  the credentials are those of the DAG's AWS connection;
- an `http(s)://` webhook: the message POSTed as JSON.

A message is a flat JSON object with at least `event`, `status` (`succeeded` / `failed`),
`dag_id`, `run_id` and `run_date`. Standard library only: the DAG imports this module at parse
time, and the tests use it without Airflow.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from txcat.deploy.checks import summary_figures
from txcat.deploy.dag_config import run_date

log = logging.getLogger(__name__)

#: SNS refuses longer subjects.
SUBJECT_LIMIT = 100
#: The failure message keeps this much of the error text.
ERROR_LIMIT = 2000
#: A monitoring message lists at most this many alerts (the report has them all).
MAX_ALERTS = 20


class Channel(Protocol):
    """Where messages go. `send` raises when the message was not accepted."""

    def send(self, message: Mapping[str, Any]) -> None: ...


class SnsPublisher(Protocol):
    """What `SnsTopic` needs: the amazon provider's `SnsHook` has this method."""

    def publish_to_target(
        self, target_arn: str, message: str, subject: str | None = None
    ) -> Any: ...


def body(message: Mapping[str, Any]) -> str:
    """The message as it is sent: JSON, keys sorted."""
    return json.dumps(message, sort_keys=True, default=str)


def subject(message: Mapping[str, Any]) -> str:
    """`<dag_id> <status> <run_date>`, for channels with a subject line."""
    line = f"{message.get('dag_id')} {message.get('status')} {message.get('run_date')}"
    return line[:SUBJECT_LIMIT]


@dataclass(frozen=True)
class SnsTopic:
    """Publishes messages to an SNS topic.

    Attributes:
        arn: The topic.
        publisher: Returns the publisher to use, e.g. `lambda: SnsHook(aws_conn_id=...)`;
            called for each message, so nothing connects before a message is sent.
    """

    arn: str
    publisher: Callable[[], SnsPublisher]

    def send(self, message: Mapping[str, Any]) -> None:
        self.publisher().publish_to_target(
            target_arn=self.arn, message=body(message), subject=subject(message)
        )


@dataclass(frozen=True)
class Webhook:
    """POSTs messages as JSON to a URL; any answer but 2xx, or no answer, is an error."""

    url: str
    timeout_seconds: float = 30

    def send(self, message: Mapping[str, Any]) -> None:
        request = urllib.request.Request(
            self.url,
            data=body(message).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        # urlopen raises HTTPError (an OSError) for 4xx/5xx answers.
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
            if response.status >= 300:
                raise OSError(f"webhook {self.url} answered HTTP {response.status}")


def channel(target: str, sns_publisher: Callable[[], SnsPublisher]) -> Channel:
    """The channel of `TXCAT_NOTIFY_TARGET`: an SNS topic ARN (`arn:...`) or a webhook URL."""
    if target.startswith("arn:"):
        return SnsTopic(target, sns_publisher)
    return Webhook(target)


def success_message(
    dag_id: str, run_id: str | None, run_date: str | None, result: Mapping[str, Any]
) -> dict[str, Any]:
    """The message of a run whose predictions are ready; `result` adds the run's figures."""
    return {
        "event": f"{dag_id}.succeeded",
        "status": "succeeded",
        "dag_id": dag_id,
        "run_id": run_id,
        "run_date": run_date,
        **result,
    }


def monitoring_message(
    dag_id: str, run_id: str | None, run_date: str | None, metrics: Mapping[str, Any]
) -> dict[str, Any]:
    """The message of a monitored day with alerts: how many, and what each one says.

    Args:
        metrics: The monitor's `metrics.json` of the day (`alerts`, `report`).
    """
    alerts = list(metrics.get("alerts") or [])
    return {
        "event": f"{dag_id}.monitoring_alert",
        "status": "alert",
        "dag_id": dag_id,
        "run_id": run_id,
        "run_date": run_date,
        "model_version": metrics.get("model_version"),
        "alert_count": len(alerts),
        "alerts": [
            {k: a.get(k) for k in ("metric", "value", "threshold", "message")}
            for a in alerts[:MAX_ALERTS]
        ],
        "report": (metrics.get("report") or {}).get("html"),
    }


def failure_message(
    dag_id: str, context: Mapping[str, Any], summary: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The message of a failed task: which task of which day, which try, and the error.

    Args:
        dag_id: The DAG.
        context: The Airflow context the failure callback receives (`ti`, `run_id`, `ds`,
            `params`, `exception`).
        summary: The scoring job's summary of this run, when it wrote one: its status, exit
            code, problems and counts go in the message (`summary`).
    """
    ti = context["ti"]
    exception = context.get("exception")
    error = f"{type(exception).__name__}: {exception}" if exception else "unknown"
    message = {
        "event": f"{dag_id}.failed",
        "status": "failed",
        "dag_id": dag_id,
        "run_id": context.get("run_id"),
        "run_date": run_date(context.get("params") or {}, context.get("ds")),
        "task_id": ti.task_id,
        "try_number": ti.try_number,
        "error": error[:ERROR_LIMIT],
    }
    if summary is not None:
        message["summary"] = summary_figures(summary)
    return message


def failure_callback(
    dag_id: str,
    to: Channel,
    summary_of: Callable[[str, str], Mapping[str, Any] | None] | None = None,
) -> Callable[[Mapping[str, Any]], None]:
    """A task failure callback sending `failure_message` on `to`.

    Args:
        dag_id: The DAG.
        to: The channel.
        summary_of: Returns the job's summary of `(run_date, run_id)` if that run wrote one.

    Neither a summary that cannot be read nor a channel that refuses the message is raised:
    they must not hide the failure being reported; they are logged.
    """

    def notify_failure(context: Mapping[str, Any]) -> None:
        day = run_date(context.get("params") or {}, context.get("ds"))
        summary = None
        if summary_of is not None and day:
            try:
                summary = summary_of(day, str(context.get("run_id")))
            except Exception:
                log.exception("could not read the run summary of %s", day)
        message = failure_message(dag_id, context, summary)
        try:
            to.send(message)
        except Exception:
            log.exception("could not publish the failure of %s", message["task_id"])

    return notify_failure
