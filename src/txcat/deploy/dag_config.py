"""Settings of the `daily_predictions` DAG, read once from `TXCAT_*` environment variables.

The DAG's structure depends on some of them (which runner builds the scoring tasks), so they
are read when the DAG file is parsed; the environment is the cheapest source that needs no
database access at parse time (unlike Airflow Variables). Every value is validated here and a
bad one fails the DAG import with a message naming the variable, which the DagBag shows.

Standard library only: imported by the DAG at parse time.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from txcat.deploy.submit import (
    CONF_ALIAS,
    EmrPackage,
    JobArgs,
    LocalSubmit,
    SubmitError,
)
from txcat.sinks.names import parse_sinks

#: The default of `json_object`, returned as given when the variable is unset.
_D = TypeVar("_D")

PREFIX = "TXCAT_"
RUNNERS = ("local", "emr", "emr_transient")

#: The day a task works on: the `run_date` param of a manual run, else the logical date.
RUN_DATE = "{{ params.run_date or ds }}"
RUN_ID = "{{ run_id }}"
#: The job's `--model` and `--sink` come from the run's params (defaults: the settings).
MODEL_PARAM = "{{ params.model_uri }}"
SINKS_PARAM = "{{ params.sinks }}"
SINK_CHOICES = ("parquet", "redshift", "parquet,redshift")
#: Root of the dated reference tables that conf/emr.yaml reads.
DEFAULT_REFERENCE_URI = "s3://txcat-reference"
#: The job's `--model` by default: the champion `txcat promote` / `txcat rollback` publish with
#: conf/emr.yaml's `lifecycle.publish_uri` (`<publish_uri>/champion/`, its `pointer.json`),
#: read without MLflow. A test holds the two together.
DEFAULT_MODEL_URI = "s3://txcat-models/txcat-categoriser/champion/"


def run_date(params: Mapping[str, Any], ds: str | None) -> str | None:
    """What `RUN_DATE` renders to, for Python tasks: the param if given, else `ds`."""
    return params.get("run_date") or ds


_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$")
_CLUSTER_ID = re.compile(r"^(j-[A-Z0-9]+|\{\{.*\}\})$")


class DagConfigError(ValueError):
    """A `TXCAT_*` setting of the DAG is missing or invalid."""


@dataclasses.dataclass(frozen=True)
class DagSettings:
    """Everything the DAG needs to know about its environment.

    Attributes:
        runner: `local` (SparkSubmitOperator), `emr` (steps on an existing cluster) or
            `emr_transient` (a cluster created for the run and always terminated).
        landing_uri: Root of the landing area; the day's files are under `<root>/<YYYY-MM-DD>/`.
        landing_marker: Object the sender writes last in the day's folder.
        output_uri: Output root of the job (predictions, quarantine, runs, manifests).
        model_uri: Model the job scores with: by default the published champion
            (`DEFAULT_MODEL_URI`), which each run follows afresh.
        job_env: Configuration overlay the job loads (`conf/<env>.yaml`).
        job_overrides: `section.key=value` settings for the job.
        pass_manifest: Give the job `--manifest` (the file list built by the DAG).
        sinks: Sinks for `--sink`; empty passes no `--sink` (the job writes Parquet).
        notify_target: Webhook URL (`http(s)://...`) or SNS topic ARN.
        aws_conn_id: Airflow connection for S3, SNS and EMR.
        min_input_files: Fewer files than this in the day's manifest fails the run.
        scoring_timeout_minutes: Deadline of the scoring part, in minutes (fractions allowed);
            past it the task fails.
        retries: Retries of every task.
        retry_delay_minutes: First retry delay; later ones back off exponentially.
        sensor_timeout_minutes: How long to wait for the landing marker.
        poke_seconds: Interval between two checks of a sensor (landing marker, EMR step).
        job_conf_dir: `--conf-dir` of the job: the repository's `conf/` locally, the shipped
            archive `conf` on EMR.
        local: spark-submit settings of the local runner.
        spark_submit: spark-submit executable of the local runner.
        spark_conn_id: Spark connection (master `local[*]`) of the local runner.
        emr_package: Deployed package of the EMR runners.
        emr_cluster_id: Existing cluster of the `emr` runner (a `j-...` id).
        emr_job_flow_overrides: `RunJobFlow` request of the `emr_transient` runner, with the
            package's bootstrap action (Python 3.11 on stock EMR 7.x images) added.
    """

    runner: str
    landing_uri: str
    landing_marker: str
    output_uri: str
    model_uri: str
    job_env: str
    job_overrides: tuple[str, ...]
    pass_manifest: bool
    sinks: tuple[str, ...]
    notify_target: str
    aws_conn_id: str
    min_input_files: int
    scoring_timeout_minutes: float
    job_conf_dir: str
    retries: int
    retry_delay_minutes: int
    sensor_timeout_minutes: int
    poke_seconds: int
    local: LocalSubmit | None
    spark_submit: str
    spark_conn_id: str
    emr_package: EmrPackage | None
    emr_cluster_id: str | None
    emr_job_flow_overrides: Mapping[str, object] | None

    @property
    def loads_redshift(self) -> bool:
        return "redshift" in self.sinks

    @property
    def notify_kind(self) -> str:
        return "sns" if self.notify_target.startswith("arn:") else "webhook"

    def day_uri(self, run_date: str) -> str:
        """The landing folder of one run date (`{{ ds }}` works as the date)."""
        return f"{self.landing_uri.rstrip('/')}/{run_date}"

    def marker_uri(self, run_date: str) -> str:
        return f"{self.day_uri(run_date)}/{self.landing_marker}"

    def manifest_uri(self, run_date: str) -> str:
        """Where the DAG writes the day's manifest: kept with the run's output."""
        return f"{self.output_uri.rstrip('/')}/manifests/run_date={run_date}/manifest.json"

    def summary_uri(self, run_date: str) -> str:
        return f"{self.output_uri.rstrip('/')}/runs/run_date={run_date}/summary.json"

    def refusal_uri(self, run_date: str) -> str:
        """Why a run stopped before writing (exit 2, 3): `txcat.write.record_refusal`."""
        return f"{self.output_uri.rstrip('/')}/runs/run_date={run_date}/_refused.json"

    def predictions_uri(self) -> str:
        return f"{self.output_uri.rstrip('/')}/predictions"

    def job_args(
        self,
        run_date: str,
        run_id: str,
        model: str | None = None,
        sinks: tuple[str, ...] | None = None,
    ) -> JobArgs:
        """Arguments of the scoring job for one run; templates allowed.

        `model` and `sinks` default to the settings' `model_uri` and `sinks`.
        """
        return JobArgs(
            run_date=run_date,
            input=self.day_uri(run_date),
            output=self.output_uri,
            model=model or self.model_uri,
            env=self.job_env,
            run_id=run_id,
            conf_dir=self.job_conf_dir,
            manifest=self.manifest_uri(run_date) if self.pass_manifest else None,
            sinks=self.sinks if sinks is None else sinks,
            overrides=self.job_overrides,
        )

    def templated_job_args(self) -> JobArgs:
        """The DAG's job arguments: day, model and sinks rendered from each run's params."""
        return self.job_args(RUN_DATE, RUN_ID, model=MODEL_PARAM, sinks=(SINKS_PARAM,))

    def params(self) -> dict[str, dict[str, Any]]:
        """The DAG's params (keyword arguments of Airflow's `Param`), for manual runs.

        A manual run may score another day, with another model or other sinks; a scheduled
        run uses these defaults: its logical date, `TXCAT_MODEL_URI` and `TXCAT_SINKS`.
        """
        return {
            "run_date": {
                "default": None,
                "type": ["null", "string"],
                "format": "date",
                "description": "YYYY-MM-DD to score instead of the run's logical date",
            },
            "model_uri": {
                "default": self.model_uri,
                "type": "string",
                "minLength": 1,
                "description": "the job's --model: the published alias folder "
                "(<lifecycle.publish_uri>/champion/), a folder, or models:/NAME@ALIAS",
            },
            "sinks": {
                "default": ",".join(self.sinks) or "parquet",
                "type": "string",
                "enum": list(SINK_CHOICES),
                "description": "the job's --sink",
            },
        }


def load_settings(environ: Mapping[str, str]) -> DagSettings:
    """Builds and validates the DAG settings from `TXCAT_*` variables.

    Raises:
        DagConfigError: A required variable is missing or a value is invalid.
    """
    env = _Env(environ)
    runner = env.choice("RUNNER", RUNNERS, "emr")
    notify = _notify_target(env)
    try:
        sinks = parse_sinks(env.get("SINKS", "parquet,redshift"))
    except ValueError as exc:
        raise DagConfigError(f"{PREFIX}SINKS: {exc}") from exc
    local = None
    package = None
    conf_dir = CONF_ALIAS
    cluster_id = None
    overrides_flow = None
    if runner == "local":
        local = LocalSubmit(
            application=env.required("JOB_SCRIPT"),
            python=env.required("JOB_PYTHON"),
            master=env.get("SPARK_MASTER", "local[*]"),
            driver_memory=env.get("DRIVER_MEMORY", "2g"),
            conf=_strings(env.json_object("SPARK_CONF", {})),
        )
        for name, path in (("JOB_SCRIPT", local.application), ("JOB_PYTHON", local.python)):
            if not Path(path).is_absolute():
                raise DagConfigError(f"{PREFIX}{name} must be an absolute path, got {path!r}")
        default_conf = str(Path(local.application).parent.parent / "conf")
        conf_dir = env.get("JOB_CONF_DIR", default_conf)
    else:
        try:
            package = EmrPackage(
                prefix=env.required("EMR_PACKAGE_PREFIX"),
                conf=_strings(env.json_object("SPARK_CONF", {})),
                driver_memory=env.get("DRIVER_MEMORY", "4g"),
                executor_memory=env.get("EXECUTOR_MEMORY", "8g"),
                executor_cores=env.integer("EXECUTOR_CORES", 4, minimum=1),
            )
        except SubmitError as exc:
            raise DagConfigError(f"{PREFIX}EMR_PACKAGE_PREFIX: {exc}") from exc
        if runner == "emr":
            cluster_id = env.required("EMR_CLUSTER_ID")
            if not _CLUSTER_ID.match(cluster_id):
                raise DagConfigError(
                    f"{PREFIX}EMR_CLUSTER_ID must be a cluster id like j-ABC123, got {cluster_id!r}"
                )
        else:
            overrides_flow = env.json_object("EMR_JOB_FLOW_OVERRIDES", None)
            if not overrides_flow:
                raise DagConfigError(
                    f"{PREFIX}EMR_JOB_FLOW_OVERRIDES (the RunJobFlow request as JSON) is required "
                    "with the emr_transient runner"
                )
            # Stock EMR images: the package's bootstrap action installs the job's Python.
            overrides_flow = package.job_flow_request(overrides_flow)
    settings = DagSettings(
        runner=runner,
        landing_uri=env.required("LANDING_URI"),
        landing_marker=env.get("LANDING_MARKER", "_SUCCESS"),
        output_uri=env.required("OUTPUT_URI"),
        model_uri=env.get("MODEL_URI", DEFAULT_MODEL_URI),
        job_env=env.get("JOB_ENV", "local" if runner == "local" else "emr"),
        job_overrides=env.string_list("JOB_SET"),
        pass_manifest=env.boolean("PASS_MANIFEST", True),
        sinks=sinks,
        notify_target=notify,
        aws_conn_id=env.get("AWS_CONN_ID", "aws_default"),
        min_input_files=env.integer("MIN_INPUT_FILES", 1, minimum=1),
        scoring_timeout_minutes=env.positive_number("SCORING_TIMEOUT_MINUTES", 30.0),
        retries=env.integer("RETRIES", 2, minimum=0),
        retry_delay_minutes=env.integer("RETRY_DELAY_MINUTES", 2, minimum=0),
        sensor_timeout_minutes=env.integer("SENSOR_TIMEOUT_MINUTES", 180, minimum=1),
        poke_seconds=env.integer("POKE_SECONDS", 60, minimum=1),
        job_conf_dir=conf_dir,
        local=local,
        spark_submit=env.get("SPARK_SUBMIT", "spark-submit"),
        spark_conn_id=env.get("SPARK_CONN_ID", "spark_default"),
        emr_package=package,
        emr_cluster_id=cluster_id,
        emr_job_flow_overrides=overrides_flow,
    )
    if "/" in settings.landing_marker or not settings.landing_marker.startswith(("_", ".")):
        # Spark skips names starting with _ or . when it lists the day's folder.
        raise DagConfigError(
            f"{PREFIX}LANDING_MARKER must be a file name starting with '_' or '.', "
            f"got {settings.landing_marker!r}"
        )
    try:  # fail now, not at the first run, if the job arguments cannot be built
        settings.templated_job_args()
    except SubmitError as exc:
        raise DagConfigError(str(exc)) from exc
    return settings


@dataclasses.dataclass(frozen=True)
class ReferenceSettings:
    """What the `reference_data` DAG needs to know about its environment.

    Attributes:
        reference_uri: Root of the dated reference tables (`txcat.reference`); the job's
            `reference.holidays` / `reference.countries` (conf/emr.yaml) must point below it.
        notify_target: Webhook URL or SNS topic ARN for the failure message.
        aws_conn_id: Airflow connection for S3 and SNS.
        retries: Retries of the build (a failed write to S3 may succeed later).
        retry_delay_minutes: First retry delay.
    """

    reference_uri: str
    notify_target: str
    aws_conn_id: str
    retries: int
    retry_delay_minutes: int


def load_reference_settings(environ: Mapping[str, str]) -> ReferenceSettings:
    """The `reference_data` DAG's settings from `TXCAT_*` variables (shared with the other DAG).

    Raises:
        DagConfigError: A required variable is missing or a value is invalid.
    """
    env = _Env(environ)
    return ReferenceSettings(
        reference_uri=env.get("REFERENCE_URI", DEFAULT_REFERENCE_URI),
        notify_target=_notify_target(env),
        aws_conn_id=env.get("AWS_CONN_ID", "aws_default"),
        retries=env.integer("RETRIES", 2, minimum=0),
        retry_delay_minutes=env.integer("RETRY_DELAY_MINUTES", 2, minimum=0),
    )


def _notify_target(env: _Env) -> str:
    target = env.required("NOTIFY_TARGET")
    if not (target.startswith(("http://", "https://")) or _SNS_ARN.match(target)):
        raise DagConfigError(
            f"{PREFIX}NOTIFY_TARGET must be an http(s) webhook URL or an SNS topic ARN, "
            f"got {target!r}"
        )
    return target


def _strings(values: Mapping[str, object]) -> dict[str, str]:
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items()}


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str, default: str) -> str:
        value = self._environ.get(PREFIX + name, "").strip()
        return value or default

    def required(self, name: str) -> str:
        value = self._environ.get(PREFIX + name, "").strip()
        if not value:
            raise DagConfigError(f"{PREFIX}{name} is not set")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(name, default)
        if value not in choices:
            raise DagConfigError(f"{PREFIX}{name} must be one of {choices}, got {value!r}")
        return value

    def integer(self, name: str, default: int, minimum: int) -> int:
        raw = self.get(name, str(default))
        try:
            value = int(raw)
        except ValueError as exc:
            raise DagConfigError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from exc
        if value < minimum:
            raise DagConfigError(f"{PREFIX}{name} must be at least {minimum}, got {value}")
        return value

    def positive_number(self, name: str, default: float) -> float:
        raw = self.get(name, str(default))
        try:
            value = float(raw)
        except ValueError as exc:
            raise DagConfigError(f"{PREFIX}{name} must be a number, got {raw!r}") from exc
        if not value > 0 or value == float("inf"):
            raise DagConfigError(f"{PREFIX}{name} must be a positive number, got {raw!r}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.get(name, "true" if default else "false").lower()
        if raw not in ("true", "false", "1", "0", "yes", "no"):
            raise DagConfigError(f"{PREFIX}{name} must be true or false, got {raw!r}")
        return raw in ("true", "1", "yes")

    def json_object(self, name: str, default: _D) -> dict[str, Any] | _D:
        raw = self._environ.get(PREFIX + name, "").strip()
        if not raw:
            return default
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DagConfigError(f"{PREFIX}{name} is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise DagConfigError(f"{PREFIX}{name} must be a JSON object")
        return value

    def string_list(self, name: str) -> tuple[str, ...]:
        """A JSON list of strings (values may contain commas and spaces)."""
        raw = self._environ.get(PREFIX + name, "").strip()
        if not raw:
            return ()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DagConfigError(f"{PREFIX}{name} must be a JSON list of strings: {exc}") from exc
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DagConfigError(f"{PREFIX}{name} must be a JSON list of strings")
        return tuple(value)


@dataclasses.dataclass(frozen=True)
class RetrainSettings:
    """What the `retrain` and `promote_model` DAGs need to know about their environment.

    The commands run on the Airflow worker with the job environment's executables (the local
    runner's layout: `txcat` and `spark-submit` of the job's virtual environment).

    Attributes:
        feedback_inbox: Folder where users' correction files arrive (CSV or JSON lines).
        feedback_store: The store of `txcat feedback import`.
        output_uri: The daily job's output root (predictions, runs): read, never written.
        retro_uri: Root of the retro-scoring output (`RETRO/retro/model_version=V/`).
        reports_uri: Root of the comparison reports (`<root>/<run date>/compare.html`).
        champion_uri: The serving model (`TXCAT_MODEL_URI`, as the daily DAG scores with).
        challenger_uri: What `txcat retrain --register` sets when the gate passes.
        txcat: The `txcat` executable of the job environment.
        python: The job environment's interpreter (Spark's driver and workers).
        spark_submit: spark-submit executable.
        retro_script: Path of `jobs/retro_score.py`.
        retro_days: Days retro-scored and compared, ending on the run date.
        job_env: Configuration overlay the commands load (`conf/<env>.yaml`).
        job_overrides: `section.key=value` settings for every command.
        job_conf_dir: `--conf-dir` of the commands (empty: the package's).
        notify_target: Webhook URL or SNS topic ARN (verdict and failures).
        aws_conn_id: Airflow connection for S3 and SNS.
        retries: Retries of every task (only exits 1 and 10 are retried).
        retry_delay_minutes: First retry delay.
    """

    feedback_inbox: str
    feedback_store: str
    output_uri: str
    retro_uri: str
    reports_uri: str
    champion_uri: str
    challenger_uri: str
    txcat: str
    python: str
    spark_submit: str
    retro_script: str
    retro_days: int
    job_env: str
    job_overrides: tuple[str, ...]
    job_conf_dir: str
    notify_target: str
    aws_conn_id: str
    retries: int
    retry_delay_minutes: int


#: The alias `txcat retrain --register` gives a version that passes the gate.
CHALLENGER_ALIAS = "challenger"
DEFAULT_REGISTERED_MODEL = "txcat-categoriser"


def load_retrain_settings(environ: Mapping[str, str]) -> RetrainSettings:
    """The `retrain` DAG's settings from `TXCAT_*` variables (shared with the daily DAG).

    Raises:
        DagConfigError: A required variable is missing or a value is invalid.
    """
    env = _Env(environ)
    python = env.get("JOB_PYTHON", "python")
    bin_dir = str(Path(python).parent) if "/" in python else ""
    model_name = env.get("REGISTERED_MODEL", DEFAULT_REGISTERED_MODEL)
    return RetrainSettings(
        feedback_inbox=env.required("FEEDBACK_INBOX"),
        feedback_store=env.required("FEEDBACK_STORE"),
        output_uri=env.required("OUTPUT_URI"),
        retro_uri=env.required("RETRO_URI"),
        reports_uri=env.required("REPORTS_URI"),
        champion_uri=env.get("MODEL_URI", DEFAULT_MODEL_URI),
        challenger_uri=env.get("CHALLENGER_URI", f"models:/{model_name}@{CHALLENGER_ALIAS}"),
        txcat=env.get("CLI", f"{bin_dir}/txcat" if bin_dir else "txcat"),
        python=python,
        spark_submit=env.get("SPARK_SUBMIT", "spark-submit"),
        retro_script=env.get("RETRO_SCRIPT", "jobs/retro_score.py"),
        retro_days=env.integer("RETRO_DAYS", 7, minimum=1),
        job_env=env.get("JOB_ENV", "local"),
        job_overrides=env.string_list("JOB_SET"),
        job_conf_dir=env.get("JOB_CONF_DIR", ""),
        notify_target=_notify_target(env),
        aws_conn_id=env.get("AWS_CONN_ID", "aws_default"),
        retries=env.integer("RETRIES", 2, minimum=0),
        retry_delay_minutes=env.integer("RETRY_DELAY_MINUTES", 2, minimum=0),
    )
