"""DAG settings from TXCAT_* variables: defaults, derived URIs, and every refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from txcat import model_uri
from txcat.config import load_config
from txcat.deploy.dag_config import DEFAULT_MODEL_URI, DagConfigError, load_settings, run_date

README = Path(__file__).resolve().parents[2] / "README.md"

EMR = {
    "TXCAT_RUNNER": "emr",
    "TXCAT_LANDING_URI": "s3://landing/daily/",
    "TXCAT_OUTPUT_URI": "s3://out/daily",
    "TXCAT_MODEL_URI": "s3://models/champion",
    "TXCAT_NOTIFY_TARGET": "https://hooks.example.test/txcat",
    "TXCAT_EMR_PACKAGE_PREFIX": "s3://deploy/txcat/0.1.0",
    "TXCAT_EMR_CLUSTER_ID": "j-1K48XXXXXXHCB",
}
LOCAL = {
    **{k: v for k, v in EMR.items() if not k.startswith("TXCAT_EMR")},
    "TXCAT_RUNNER": "local",
    "TXCAT_JOB_SCRIPT": "/repo/jobs/score_daily.py",
    "TXCAT_JOB_PYTHON": "/repo/.venv/bin/python",
}


def test_the_default_model_is_the_champion_promote_publishes_with_the_emr_configuration():
    """The DAG, conf/emr.yaml and `txcat promote` agree on one location (and the README too)."""
    lifecycle = load_config("emr").lifecycle
    assert lifecycle.publish_uri is not None
    published = model_uri.pointer_uri(lifecycle.publish_uri, lifecycle.serving_alias)
    s = load_settings({k: v for k, v in EMR.items() if k != "TXCAT_MODEL_URI"})
    assert s.model_uri == DEFAULT_MODEL_URI
    assert s.model_uri + model_uri.POINTER_FILE == published
    assert s.params()["model_uri"]["default"] == DEFAULT_MODEL_URI
    assert f"--model {DEFAULT_MODEL_URI}" in README.read_text()


def test_emr_defaults():
    s = load_settings(EMR)
    assert s.runner == "emr"
    assert s.sinks == ("parquet", "redshift") and s.loads_redshift
    assert s.pass_manifest is True
    assert s.job_env == "emr" and s.job_conf_dir == "conf"
    assert s.scoring_timeout_minutes == 30
    assert s.retries == 2 and s.retry_delay_minutes == 2
    assert s.landing_marker == "_SUCCESS"
    assert s.poke_seconds == 60 and s.sensor_timeout_minutes == 180
    assert s.notify_kind == "webhook"
    assert s.local is None and s.emr_package is not None
    assert s.day_uri("2026-11-25") == "s3://landing/daily/2026-11-25"
    assert s.marker_uri("{{ ds }}") == "s3://landing/daily/{{ ds }}/_SUCCESS"
    assert s.manifest_uri("2026-11-25") == (
        "s3://out/daily/manifests/run_date=2026-11-25/manifest.json"
    )
    assert s.summary_uri("2026-11-25") == "s3://out/daily/runs/run_date=2026-11-25/summary.json"


def test_local_runner_defaults_to_the_repository_conf():
    s = load_settings({**LOCAL, "TXCAT_SPARK_CONF": json.dumps({"spark.x": 1, "spark.y": True})})
    assert s.job_env == "local"
    assert s.job_conf_dir == "/repo/conf"
    assert s.local.master == "local[*]"
    assert s.local.conf == {"spark.x": "1", "spark.y": "true"}
    job = s.job_args("2026-11-25", "r1")
    assert job.conf_dir == "/repo/conf"
    assert job.manifest.endswith("run_date=2026-11-25/manifest.json")


def test_sns_target_and_job_overrides():
    s = load_settings({
        **EMR,
        "TXCAT_NOTIFY_TARGET": "arn:aws:sns:sa-east-1:123456789012:txcat-daily",
        "TXCAT_JOB_SET": json.dumps(["quality.max_row_quarantine_share=0.2"]),
        "TXCAT_SINKS": "parquet",
        "TXCAT_PASS_MANIFEST": "false",
    })  # fmt: skip
    assert s.notify_kind == "sns"
    assert s.job_overrides == ("quality.max_row_quarantine_share=0.2",)
    assert not s.loads_redshift
    assert s.job_args("2026-11-25", "r").manifest is None


def test_sinks_are_read_as_the_job_reads_its_sink_option():
    s = load_settings({**EMR, "TXCAT_SINKS": " Redshift,parquet "})
    assert s.sinks == ("parquet", "redshift")
    assert s.job_args("2026-11-25", "r").sinks == ("parquet", "redshift")


def test_transient_runner_needs_the_cluster_request():
    settings = {**EMR, "TXCAT_RUNNER": "emr_transient"}
    with pytest.raises(DagConfigError, match="EMR_JOB_FLOW_OVERRIDES"):
        load_settings(settings)
    request = {"Name": "txcat", "ReleaseLabel": "emr-7.5.0"}
    s = load_settings({**settings, "TXCAT_EMR_JOB_FLOW_OVERRIDES": json.dumps(request)})
    assert s.emr_job_flow_overrides == {
        **request,
        "BootstrapActions": [
            {
                "Name": "txcat python3.11",
                "ScriptBootstrapAction": {
                    "Path": "s3://deploy/txcat/0.1.0/bootstrap-python311.sh",
                    "Args": [],
                },
            }
        ],
    }
    assert s.emr_cluster_id is None


def test_the_bootstrap_action_is_added_once_after_the_requests_own():
    package = load_settings(EMR).emr_package
    assert package is not None
    theirs = {"Name": "agent", "ScriptBootstrapAction": {"Path": "s3://b/agent.sh"}}
    request = package.job_flow_request({"Name": "t", "BootstrapActions": [theirs]})
    assert request["ReleaseLabel"] == "emr-7.5.0"
    assert request["BootstrapActions"] == [theirs, package.bootstrap_action()]
    assert package.job_flow_request(request) == request


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TXCAT_RUNNER": "k8s"}, "TXCAT_RUNNER must be one of"),
        ({"TXCAT_OUTPUT_URI": " "}, "TXCAT_OUTPUT_URI is not set"),
        ({"TXCAT_NOTIFY_TARGET": "ftp://x"}, "webhook URL or an SNS topic ARN"),
        ({"TXCAT_NOTIFY_TARGET": "arn:aws:sns:us-east-1:12:t"}, "SNS topic ARN"),
        ({"TXCAT_SINKS": "parquet,kafka"}, "TXCAT_SINKS"),
        ({"TXCAT_SINKS": "parquet,"}, "TXCAT_SINKS: sinks must be"),
        ({"TXCAT_EMR_CLUSTER_ID": "my-cluster"}, "TXCAT_EMR_CLUSTER_ID"),
        ({"TXCAT_EMR_CLUSTER_ID": ""}, "TXCAT_EMR_CLUSTER_ID is not set"),
        ({"TXCAT_EMR_PACKAGE_PREFIX": "dist"}, "s3:// URI"),
        ({"TXCAT_RETRIES": "-1"}, "at least 0"),
        ({"TXCAT_SCORING_TIMEOUT_MINUTES": "0"}, "must be a positive number"),
        ({"TXCAT_SCORING_TIMEOUT_MINUTES": "nan"}, "must be a positive number"),
        ({"TXCAT_SCORING_TIMEOUT_MINUTES": "soon"}, "must be a number"),
        ({"TXCAT_PASS_MANIFEST": "maybe"}, "true or false"),
        ({"TXCAT_JOB_SET": '"a.b=1"'}, "JSON list of strings"),
        ({"TXCAT_JOB_SET": '["no_section=1"]'}, "section.key=value"),
        ({"TXCAT_SPARK_CONF": "[1]"}, "JSON object"),
        ({"TXCAT_LANDING_MARKER": "READY"}, "starting with '_' or '.'"),
    ],
)
def test_refusals_name_the_variable(change, message):
    with pytest.raises(DagConfigError, match=message):
        load_settings({**EMR, **change})


def test_local_paths_must_be_absolute():
    with pytest.raises(DagConfigError, match="TXCAT_JOB_SCRIPT must be an absolute path"):
        load_settings({**LOCAL, "TXCAT_JOB_SCRIPT": "jobs/score_daily.py"})
    with pytest.raises(DagConfigError, match="TXCAT_JOB_PYTHON is not set"):
        load_settings({k: v for k, v in LOCAL.items() if k != "TXCAT_JOB_PYTHON"})


def test_modules_the_dag_imports_import_nothing_outside_the_standard_library():
    """The DAG imports these at parse time in an environment without Spark or PyYAML."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import txcat.deploy.dag_config, txcat.deploy.submit, txcat.deploy.package\n"
        "import txcat.deploy.checks, txcat.deploy.notify, txcat.deploy.store, txcat.uris\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pyspark', 'pandas', 'numpy', 'yaml', 'xgboost', 'pyarrow', 'boto3'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == ""


def test_params_of_a_manual_run_default_to_the_settings():
    s = load_settings({**EMR, "TXCAT_SINKS": "parquet"})
    params = s.params()
    assert {name: spec["default"] for name, spec in params.items()} == {
        "run_date": None,
        "model_uri": "s3://models/champion",
        "sinks": "parquet",
    }
    assert params["run_date"]["format"] == "date"
    assert params["sinks"]["enum"] == ["parquet", "redshift", "parquet,redshift"]


def test_the_dags_job_arguments_come_from_the_params():
    job = load_settings(EMR).templated_job_args()
    assert job.run_date == "{{ params.run_date or ds }}"
    assert job.model == "{{ params.model_uri }}"
    assert job.sinks == ("{{ params.sinks }}",)
    assert job.manifest == (
        "s3://out/daily/manifests/run_date={{ params.run_date or ds }}/manifest.json"
    )


def test_run_date_is_the_param_else_the_logical_date():
    assert run_date({"run_date": "2026-11-20"}, "2026-11-25") == "2026-11-20"
    assert run_date({"run_date": None}, "2026-11-25") == "2026-11-25"
    assert run_date({}, None) is None


def test_reference_settings():
    from txcat.deploy.dag_config import load_reference_settings

    s = load_reference_settings({"TXCAT_NOTIFY_TARGET": "https://hooks.example.test/t"})
    assert (s.reference_uri, s.aws_conn_id, s.retries) == ("s3://txcat-reference", "aws_default", 2)
    s = load_reference_settings(
        {"TXCAT_NOTIFY_TARGET": EMR["TXCAT_NOTIFY_TARGET"], "TXCAT_REFERENCE_URI": "s3://r/v2"}
    )
    assert s.reference_uri == "s3://r/v2"
    with pytest.raises(DagConfigError, match="TXCAT_NOTIFY_TARGET must be"):
        load_reference_settings({"TXCAT_NOTIFY_TARGET": "ftp://x"})


def test_the_dag_reads_the_summary_and_refusal_where_the_job_writes_them():
    import datetime as dt

    from txcat import write

    s = load_settings(EMR)
    day = dt.date(2026, 11, 25)
    assert s.summary_uri("2026-11-25") == write.summary_path("s3://out/daily", day)
    assert s.refusal_uri("2026-11-25") == write.refusal_path("s3://out/daily", day)
