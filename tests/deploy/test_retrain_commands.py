"""The retrain and promote_model DAGs' commands, checked against the real command lines."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from txcat import cli, exits
from txcat.deploy import retrain
from txcat.deploy.dag_config import DagConfigError, load_retrain_settings

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "TXCAT_FEEDBACK_INBOX": "s3://feedback/inbox",
    "TXCAT_FEEDBACK_STORE": "s3://feedback/store",
    "TXCAT_OUTPUT_URI": "s3://out/daily",
    "TXCAT_RETRO_URI": "s3://out/retro",
    "TXCAT_REPORTS_URI": "s3://out/reports/",
    "TXCAT_MODEL_URI": "s3://models/champion/",
    "TXCAT_NOTIFY_TARGET": "https://hooks.example.test/txcat",
    "TXCAT_JOB_PYTHON": "/repo/.venv/bin/python",
    "TXCAT_JOB_SET": '["reference.bureau=s3://ref/bureau.jsonl"]',
}
SETTINGS = load_retrain_settings(ENV)


def _retro_parser():
    spec = importlib.util.spec_from_file_location("retro_score", ROOT / "jobs" / "retro_score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_args


def test_settings_defaults_and_refusals():
    assert SETTINGS.txcat == "/repo/.venv/bin/txcat"
    assert SETTINGS.challenger_uri == "models:/txcat-categoriser@challenger"
    assert SETTINGS.retro_days == 7 and SETTINGS.job_env == "local"
    with pytest.raises(DagConfigError, match="TXCAT_FEEDBACK_STORE"):
        load_retrain_settings({k: v for k, v in ENV.items() if k != "TXCAT_FEEDBACK_STORE"})


def test_the_window_ends_on_the_run_date():
    assert retrain.retro_window("2026-11-30", 7) == ("2026-11-24", "2026-11-30")
    assert retrain.retro_window("2026-03-01", 1) == ("2026-03-01", "2026-03-01")


def test_each_command_parses_with_the_real_command_line():
    parser = cli.build_parser()
    imported = parser.parse_args(retrain.import_command(SETTINGS, "s3://feedback/inbox/a.csv")[1:])
    assert (imported.input, imported.store, imported.predictions) == (
        "s3://feedback/inbox/a.csv",
        "s3://feedback/store",
        "s3://out/daily",
    )
    compared = parser.parse_args(retrain.compare_command(SETTINGS, "2026-11-30")[1:])
    assert (compared.champion, compared.challenger) == (
        "s3://models/champion/",
        "models:/txcat-categoriser@challenger",
    )
    assert (str(compared.first), str(compared.last)) == ("2026-11-24", "2026-11-30")
    assert (compared.predictions, compared.retro, compared.feedback) == (
        "s3://out/daily",
        "s3://out/retro",
        "s3://feedback/store",
    )
    assert compared.output == "s3://out/reports/2026-11-30"
    assert compared.overrides == ["reference.bureau=s3://ref/bureau.jsonl"]
    promoted = parser.parse_args(retrain.promote_command(SETTINGS, "7")[1:])
    assert promoted.version == "7"
    retro = retrain.retro_command(SETTINGS, "2026-11-30")
    args = _retro_parser()(retro[retro.index("jobs/retro_score.py") + 1 :])
    assert (args.model, str(args.first), str(args.last)) == (
        "models:/txcat-categoriser@challenger",
        "2026-11-24",
        "2026-11-30",
    )
    assert (args.runs, args.output) == ("s3://out/daily", "s3://out/retro")


def test_the_retrain_command_follows_its_contract():
    command = retrain.retrain_command(SETTINGS, "2026-11-30", "2026-11-01")
    assert command[:8] == [
        "/repo/.venv/bin/txcat", "retrain", "--feedback", "s3://feedback/store",
        "--predictions", "s3://out/daily", "--as-of", "2026-11-30",
    ]  # fmt: skip
    assert command[8:11] == ["--since", "2026-11-01", "--register"]
    assert "--since" not in retrain.retrain_command(SETTINGS, "2026-11-30", None)
    sub = cli.build_parser()._subparsers._group_actions[0].choices
    if "retrain" not in sub:
        pytest.skip("txcat retrain is not in this tree yet: its contract is checked above")
    parsed = cli.build_parser().parse_args(command[1:])
    assert (parsed.feedback, parsed.predictions, parsed.register) == (
        "s3://feedback/store",
        "s3://out/daily",
        True,
    )
    assert str(parsed.since) == "2026-11-01" and str(parsed.as_of) == "2026-11-30"


def test_run_keeps_the_exit_code_and_tells_a_retry_from_a_verdict():
    locked = retrain.run(
        [sys.executable, "-c", f"print('held'); raise SystemExit({exits.RUN_LOCKED})"], {}
    )
    assert locked.exit_code == exits.RUN_LOCKED and locked.retryable
    assert "held" in locked.output
    refused = retrain.run([sys.executable, "-c", f"raise SystemExit({exits.GATE_REFUSED})"], {})
    assert not refused.retryable
    assert "exited 9 (the quality gate refused the model version)" in refused.describe()


def test_the_verdict_message_names_the_report():
    report = {
        "verdict": "challenger better on feedback rows: +0.04 macro-F1 over 312 corrected rows",
        "champion": {"model_version": "v6"},
        "challenger": {"model_version": "v7"},
        "feedback": {"rows": 312},
        "changed": {"share": 0.071},
        "report": {"html": "s3://out/reports/2026-11-30/compare.html", "json": "x.json"},
    }
    message = retrain.verdict_message("retrain", "run-1", "2026-11-30", report)
    assert message["verdict"] == report["verdict"]
    assert message["report"] == "s3://out/reports/2026-11-30/compare.html"
    assert (message["champion"], message["challenger"], message["feedback_rows"]) == (
        "v6",
        "v7",
        312,
    )
    assert message["status"] == "succeeded" and message["event"] == "retrain.verdict"


def test_inbox_files_are_the_feedback_files():
    names = ["s3://i/b.jsonl", "s3://i/a.csv", "s3://i/_SUCCESS", "s3://i/.tmp.csv", "s3://i/x.txt"]
    assert retrain.inbox_files(names) == ["s3://i/a.csv", "s3://i/b.jsonl"]
