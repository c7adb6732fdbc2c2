"""The DAG's messages and their channels, without Airflow: a loopback webhook, a fake SNS hook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from txcat.deploy import notify


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append(  # type: ignore[attr-defined]
            (self.headers["Content-Type"], json.loads(self.rfile.read(length)))
        )
        self.send_response(self.server.answer)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    server.answer = 204  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class _Hook:
    """Stands in for the amazon provider's SnsHook."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish_to_target(self, target_arn: str, message: str, subject: str | None = None):  # type: ignore[no-untyped-def]
        self.published.append({"target_arn": target_arn, "message": message, "subject": subject})
        return "message-id"


ARN = "arn:aws:sns:us-east-1:123456789012:txcat-daily"


def test_success_message_carries_the_run_and_its_figures():
    message = notify.success_message(
        "daily_predictions", "scheduled__2026-11-25", "2026-11-25", {"rows_scored": 7}
    )
    assert message == {
        "event": "daily_predictions.succeeded",
        "status": "succeeded",
        "dag_id": "daily_predictions",
        "run_id": "scheduled__2026-11-25",
        "run_date": "2026-11-25",
        "rows_scored": 7,
    }


def test_webhook_posts_the_message_as_json(receiver):
    url = f"http://127.0.0.1:{receiver.server_port}/hooks/txcat"
    channel = notify.channel(url, sns_publisher=_Hook)
    assert isinstance(channel, notify.Webhook)
    channel.send({"status": "succeeded", "run_date": "2026-11-25"})
    assert receiver.received == [
        ("application/json", {"status": "succeeded", "run_date": "2026-11-25"})
    ]


def test_webhook_refusal_is_an_error(receiver):
    receiver.answer = 500
    with pytest.raises(OSError, match="500"):
        notify.Webhook(f"http://127.0.0.1:{receiver.server_port}/").send({"status": "failed"})
    # Nothing listens on the discard port: the message is not sent, and that is an error.
    with pytest.raises(OSError):
        notify.Webhook("http://127.0.0.1:9/closed", timeout_seconds=5).send({"status": "failed"})


def test_sns_topic_publishes_json_with_a_subject():
    hook = _Hook()
    channel = notify.channel(ARN, sns_publisher=lambda: hook)
    message = {"dag_id": "daily_predictions", "status": "failed", "run_date": "2026-11-25", "n": 1}
    channel.send(message)
    assert hook.published == [
        {
            "target_arn": ARN,
            "message": json.dumps(message, sort_keys=True),
            "subject": "daily_predictions failed 2026-11-25",
        }
    ]
    assert len(notify.subject({"dag_id": "x" * 200})) == notify.SUBJECT_LIMIT


def _context(exception: BaseException | None) -> dict:
    ti = SimpleNamespace(task_id="validate_inputs", try_number=2)
    return {"ti": ti, "run_id": "manual__1", "ds": "2026-11-23", "exception": exception}


def test_failure_callback_names_the_task_the_day_and_the_error():
    hook = _Hook()
    callback = notify.failure_callback("daily_predictions", notify.SnsTopic(ARN, lambda: hook))
    assert callback.__name__ == "notify_failure"

    callback(_context(ValueError("1 files, at least 2 expected" + "!" * 3000)))

    sent = json.loads(hook.published[0]["message"])
    assert {k: v for k, v in sent.items() if k != "error"} == {
        "event": "daily_predictions.failed",
        "status": "failed",
        "dag_id": "daily_predictions",
        "run_id": "manual__1",
        "run_date": "2026-11-23",
        "task_id": "validate_inputs",
        "try_number": 2,
    }
    assert sent["error"].startswith("ValueError: 1 files, at least 2 expected!")
    assert len(sent["error"]) == notify.ERROR_LIMIT
    assert notify.failure_message("d", _context(None))["error"] == "unknown"


def test_failure_message_carries_the_run_summary_and_the_param_run_date():
    hook = _Hook()
    asked = []
    summary = {
        "run_date": "2026-11-20", "run_id": "manual__1", "status": "failed", "exit_code": 6,
        "problems": ["expectation amount_not_null failed"], "rows_read": 5, "rows_scored": 5,
        "rows_quarantined": 0, "files_read": 1, "files_quarantined": 0, "model_version": "v3",
        "duration_s": 12.5,
    }  # fmt: skip

    def summary_of(run_date: str, run_id: str) -> dict:
        asked.append((run_date, run_id))
        return summary

    callback = notify.failure_callback("d", notify.SnsTopic(ARN, lambda: hook), summary_of)
    context = {**_context(RuntimeError("exit code 6")), "params": {"run_date": "2026-11-20"}}
    callback(context)

    assert asked == [("2026-11-20", "manual__1")]
    sent = json.loads(hook.published[0]["message"])
    assert sent["run_date"] == "2026-11-20"
    assert sent["summary"] == {
        "status": "failed", "exit_code": 6, "problems": ["expectation amount_not_null failed"],
        "rows_read": 5, "rows_scored": 5, "rows_quarantined": 0, "files_read": 1,
        "files_quarantined": 0, "model_version": "v3",
    }  # fmt: skip


def test_an_unreadable_summary_does_not_stop_the_failure_message(caplog):
    hook = _Hook()

    def summary_of(run_date: str, run_id: str) -> dict:
        raise OSError("S3 unreachable")

    callback = notify.failure_callback("d", notify.SnsTopic(ARN, lambda: hook), summary_of)
    callback(_context(RuntimeError("boom")))
    sent = json.loads(hook.published[0]["message"])
    assert "summary" not in sent and sent["task_id"] == "validate_inputs"
    assert "could not read the run summary of 2026-11-23" in caplog.text


def test_a_refused_failure_message_does_not_hide_the_failure(caplog):
    callback = notify.failure_callback("daily_predictions", notify.Webhook("http://127.0.0.1:9/"))
    callback(_context(RuntimeError("boom")))  # does not raise
    assert "could not publish the failure of validate_inputs" in caplog.text
