"""The one definition of how `jobs/score_daily.py` is submitted, locally and on EMR.

The Airflow DAG, `scripts/deploy_emr.py` and the documentation all build their command lines
here, so the local `SparkSubmitOperator` run and the EMR step cannot drift apart: both get the
same job arguments from `job_arguments`, in the same order, and differ only in where Spark runs
and where the code comes from.

Target platform: EMR release `EMR_RELEASE` (Spark 3.5, Java 17) with the job's Python 3.11
environment shipped as a packed virtual environment (`--archives ...#environment`).

Run `python -m txcat.deploy.submit --help` to print either command line for a date.

This module is imported by the DAG at parse time: standard library only.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from txcat import exits
from txcat.sinks.names import SINKS, parse_sinks

#: The EMR release the package and the step are built for (Spark 3.5.2, Java 17, AL2023).
EMR_RELEASE = "emr-7.5.0"
#: Python of the packed executor environment; EMR nodes must have this interpreter.
EMR_PYTHON = "python3.11"
#: Where `--archives` unpacks the packed environment and the conf files in every container.
ENV_ALIAS = "environment"
CONF_ALIAS = "conf"
#: Names of the artifacts `make package` builds and `make deploy` uploads under one prefix.
ENV_ARCHIVE = "txcat-env.tar.gz"
CONF_ARCHIVE = "txcat-conf.tar.gz"
SCORE_SCRIPT = "score_daily.py"
MONITOR_SCRIPT = "monitor.py"
JOBS_DIR = "jobs"
#: The bootstrap action installing `EMR_PYTHON` on stock EMR 7.x nodes (Amazon Linux 2023),
#: shipped in the package from `scripts/emr/`.
BOOTSTRAP_SCRIPT = "bootstrap-python311.sh"
BOOTSTRAP_SOURCE = "scripts/emr/" + BOOTSTRAP_SCRIPT

APP_NAME = "txcat-score-daily"
MONITOR_APP_NAME = "txcat-monitor"

_TEMPLATE = re.compile(r"^\{\{.*\}\}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SubmitError(ValueError):
    """The arguments for a submission are missing or inconsistent."""


@dataclasses.dataclass(frozen=True)
class JobArgs:
    """The arguments of one `jobs/score_daily.py` run.

    `run_date` and the paths may be Airflow templates (`{{ ds }}`); they are rendered by the
    operator that receives the argument list.

    Attributes:
        run_date: `YYYY-MM-DD` or a template rendering to it.
        input: Folder or URI of the day's landed files (read whole when there is no manifest).
        output: Output root (predictions, quarantine, runs).
        model: Model artifact folder or URI.
        env: Configuration overlay (`local`, `emr`).
        run_id: Identifier stamped on every output row.
        conf_dir: Configuration folder; None lets the job use its default.
        manifest: Manifest URI listing exactly the files to read; replaces `--input`.
        sinks: Sinks for `--sink` (`parquet`, `redshift`, or one template rendering to a
            list of them); empty leaves the job's default.
        overrides: `section.key=value` settings passed as repeated `--set`.
    """

    run_date: str
    input: str
    output: str
    model: str
    env: str
    run_id: str
    conf_dir: str | None = None
    manifest: str | None = None
    sinks: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("run_date", "output", "model", "env", "run_id"):
            if not getattr(self, name):
                raise SubmitError(f"job argument {name!r} is empty")
        if not (self.input or self.manifest):
            raise SubmitError("the job needs an input folder or a manifest")
        if not (_ISO_DATE.match(self.run_date) or _TEMPLATE.match(self.run_date)):
            raise SubmitError(f"run_date must be YYYY-MM-DD or a template, got {self.run_date!r}")
        if _ISO_DATE.match(self.run_date):
            try:
                dt.date.fromisoformat(self.run_date)
            except ValueError as exc:
                raise SubmitError(f"run_date {self.run_date!r}: {exc}") from exc
        unknown = [s for s in self.sinks if s not in SINKS and not _TEMPLATE.match(s)]
        if unknown or len(set(self.sinks)) != len(self.sinks):
            raise SubmitError(f"sinks must be distinct values of {SINKS}, got {self.sinks!r}")
        for item in self.overrides:
            key, sep, _ = item.partition("=")
            if not sep or "." not in key:
                raise SubmitError(f"override {item!r} is not of the form section.key=value")


def job_arguments(job: JobArgs) -> list[str]:
    """The argument list of `jobs/score_daily.py`, identical for every way of running it."""
    # The job takes its files either from a manifest or from a folder, never both.
    source = ["--manifest", job.manifest] if job.manifest else ["--input", job.input]
    args = [
        "--run-date", job.run_date,
        *source,
        "--output", job.output,
        "--model", job.model,
        "--env", job.env,
        "--run-id", job.run_id,
    ]  # fmt: skip
    if job.conf_dir:
        args += ["--conf-dir", job.conf_dir]
    if job.sinks:
        args += ["--sink", ",".join(job.sinks)]
    for item in job.overrides:
        args += ["--set", item]
    return args


def monitor_arguments(job: JobArgs) -> list[str]:
    """The argument list of `jobs/monitor.py` after the scoring run `job`: the same day, output,
    configuration and settings; the reference is the model that scored the day (its summary)."""
    args = ["--run-date", job.run_date, "--output", job.output, "--env", job.env]
    if job.conf_dir:
        args += ["--conf-dir", job.conf_dir]
    for item in job.overrides:
        args += ["--set", item]
    return args


@dataclasses.dataclass(frozen=True)
class LocalSubmit:
    """How a development machine runs the job: `spark-submit --master local[*]`.

    Attributes:
        application: Path of `jobs/score_daily.py`.
        python: Interpreter of the job's virtual environment (driver and workers).
        master: Spark master URL.
        driver_memory: `--driver-memory` value.
        conf: Extra `--conf` settings.
    """

    application: str
    python: str
    master: str = "local[*]"
    driver_memory: str = "2g"
    conf: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def spark_conf(self) -> dict[str, str]:
        """`--conf` settings, sorted by key so every renderer emits them in one order."""
        return dict(sorted({"spark.ui.showConsoleProgress": "false", **self.conf}.items()))

    def env_vars(self) -> dict[str, str]:
        """Environment of the spark-submit process: the job venv's Python everywhere."""
        return {
            "PYSPARK_PYTHON": self.python,
            "PYSPARK_DRIVER_PYTHON": self.python,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }


def local_command(
    job: JobArgs, local: LocalSubmit, spark_submit: str = "spark-submit"
) -> list[str]:
    """The full local command line (what `SparkSubmitOperator` runs for the same settings)."""
    argv = [spark_submit, "--master", local.master]
    for key, value in local.spark_conf().items():
        argv += ["--conf", f"{key}={value}"]
    # Same order as SparkSubmitHook builds it, so the two can be compared verbatim.
    argv += ["--driver-memory", local.driver_memory, "--name", APP_NAME]
    return [*argv, local.application, *job_arguments(job)]


def local_operator_kwargs(job: JobArgs, local: LocalSubmit) -> dict[str, object]:
    """Keyword arguments of `SparkSubmitOperator` that produce `local_command`.

    The operator takes the master from its connection (`spark_default` with host `local[*]`);
    everything else is passed here.
    """
    return {
        "application": local.application,
        "application_args": job_arguments(job),
        "conf": local.spark_conf(),
        "name": APP_NAME,
        "driver_memory": local.driver_memory,
        "env_vars": local.env_vars(),
    }


def local_monitor_kwargs(job: JobArgs, local: LocalSubmit) -> dict[str, object]:
    """`SparkSubmitOperator` keyword arguments of the monitor (`jobs/monitor.py` beside the
    scoring job's script)."""
    application = local.application.rsplit("/", 1)
    script = f"{application[0]}/{MONITOR_SCRIPT}" if len(application) == 2 else MONITOR_SCRIPT
    return local_operator_kwargs(job, local) | {
        "application": script,
        "application_args": monitor_arguments(job),
        "name": MONITOR_APP_NAME,
    }


@dataclasses.dataclass(frozen=True)
class EmrPackage:
    """Where `make deploy` put the code on S3, and the cluster-side sizing of the step.

    Attributes:
        prefix: S3 prefix of one deployed version, e.g. `s3://bucket/txcat/0.1.0`.
        conf: Extra `--conf` settings (sizing, dynamic allocation, ...).
        driver_memory: `--driver-memory`.
        executor_memory: `--executor-memory`.
        executor_cores: `--executor-cores`.
    """

    prefix: str
    conf: Mapping[str, str] = dataclasses.field(default_factory=dict)
    driver_memory: str = "4g"
    executor_memory: str = "8g"
    executor_cores: int = 4

    def __post_init__(self) -> None:
        if not self.prefix.startswith("s3://"):
            raise SubmitError(f"EMR package prefix must be an s3:// URI, got {self.prefix!r}")

    def uri(self, *parts: str) -> str:
        return "/".join([self.prefix.rstrip("/"), *parts])

    @property
    def env_archive(self) -> str:
        return self.uri(ENV_ARCHIVE)

    @property
    def conf_archive(self) -> str:
        return self.uri(CONF_ARCHIVE)

    @property
    def application(self) -> str:
        return self.uri(JOBS_DIR, SCORE_SCRIPT)

    def bootstrap_action(self) -> dict[str, Any]:
        """The `RunJobFlow` bootstrap action that installs `EMR_PYTHON` on every node."""
        return {
            "Name": f"txcat {EMR_PYTHON}",
            "ScriptBootstrapAction": {"Path": self.uri(BOOTSTRAP_SCRIPT), "Args": []},
        }

    def job_flow_request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """`request` (a `RunJobFlow` request) with the package's bootstrap action added.

        Actions already in the request run first; ours is added once (not again when the
        request names the same script). `ReleaseLabel` defaults to `EMR_RELEASE`.
        """
        actions = list(request.get("BootstrapActions") or [])
        ours = self.bootstrap_action()
        path = ours["ScriptBootstrapAction"]["Path"]
        if not any(a.get("ScriptBootstrapAction", {}).get("Path") == path for a in actions):
            actions.append(ours)
        return {"ReleaseLabel": EMR_RELEASE, **request, "BootstrapActions": actions}

    def spark_conf(self) -> dict[str, str]:
        """`--conf` settings: the packed Python for driver (cluster mode) and executors."""
        python = f"./{ENV_ALIAS}/bin/python"
        settings = {
            "spark.yarn.appMasterEnv.PYSPARK_PYTHON": python,
            "spark.executorEnv.PYSPARK_PYTHON": python,
            # One attempt: a failed run must surface to the scheduler, not silently rerun.
            "spark.yarn.maxAppAttempts": "1",
            "spark.ui.showConsoleProgress": "false",
            **self.conf,
        }
        return dict(sorted(settings.items()))


def emr_command(job: JobArgs, package: EmrPackage, monitor: bool = False) -> list[str]:
    """The bootstrap-free spark-submit line of the EMR step (run by `command-runner.jar`).

    Cluster deploy mode: the driver runs in a YARN container, where `--archives` unpacks the
    packed environment as `./environment` and the conf files as `./conf`, so the job is given
    `--conf-dir conf`. PySpark itself comes from the cluster. `monitor` gives the line of the
    monitor (`jobs/monitor.py`) after that scoring run.
    """
    if job.conf_dir not in (None, CONF_ALIAS):
        raise SubmitError(f"on EMR the conf folder is the shipped archive {CONF_ALIAS!r}")
    job = dataclasses.replace(job, conf_dir=CONF_ALIAS)
    argv = ["spark-submit", "--master", "yarn", "--deploy-mode", "cluster"]
    for key, value in package.spark_conf().items():
        argv += ["--conf", f"{key}={value}"]
    argv += [
        "--name", MONITOR_APP_NAME if monitor else APP_NAME,
        "--driver-memory", package.driver_memory,
        "--executor-memory", package.executor_memory,
        "--executor-cores", str(package.executor_cores),
        "--archives",
        f"{package.env_archive}#{ENV_ALIAS},{package.conf_archive}#{CONF_ALIAS}",
    ]  # fmt: skip
    if monitor:
        return [*argv, package.uri(JOBS_DIR, MONITOR_SCRIPT), *monitor_arguments(job)]
    return [*argv, package.application, *job_arguments(job)]


def emr_step(
    job: JobArgs, package: EmrPackage, action_on_failure: str = "CONTINUE", monitor: bool = False
) -> dict[str, object]:
    """The `AddJobFlowSteps` step for one scoring run.

    `CONTINUE` keeps a long-running cluster alive when one day fails; the scheduler sees the
    failure through the step sensor.
    """
    if action_on_failure not in ("CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER"):
        raise SubmitError(f"unknown ActionOnFailure {action_on_failure!r}")
    return {
        "Name": f"{MONITOR_APP_NAME if monitor else APP_NAME} {job.run_date}",
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": emr_command(job, package, monitor),
        },
    }


def step_job_arguments(step: Mapping[str, object], application: str) -> list[str]:
    """The job arguments inside a rendered EMR step (everything after the application)."""
    args = list(step["HadoopJarStep"]["Args"])  # type: ignore[index]
    if application not in args:
        raise SubmitError(f"{application} is not in the step arguments")
    return args[args.index(application) + 1 :]


def _job_from_cli(ns: argparse.Namespace) -> JobArgs:
    return JobArgs(
        run_date=ns.run_date,
        input=ns.input,
        output=ns.output,
        model=ns.model,
        env=ns.env or ("emr" if ns.target == "emr" else "local"),
        run_id=ns.run_id,
        conf_dir=ns.conf_dir,
        manifest=ns.manifest,
        sinks=parse_sinks(ns.sink) if ns.sink else (),
        overrides=tuple(ns.overrides),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the spark-submit command line of one run (`--target local` or `emr`)."""
    parser = argparse.ArgumentParser(description="Print the spark-submit line of a scoring run.")
    parser.add_argument("--target", choices=("local", "emr"), required=True)
    parser.add_argument("--run-date", required=True)
    parser.add_argument("--input", default="", help="the day's folder (or give --manifest)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--env", default=None, help="default: local or emr, as the target")
    parser.add_argument("--run-id", default="manual")
    parser.add_argument("--conf-dir", default=None)
    parser.add_argument("--manifest", default=None)
    parser.add_argument("--sink", default="", help="parquet, redshift or parquet,redshift")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--package-prefix", help="s3:// prefix of the deployed package (emr)")
    parser.add_argument("--application", default="jobs/score_daily.py", help="local script")
    parser.add_argument("--python", default=sys.executable, help="job venv Python (local)")
    parser.add_argument("--json", action="store_true", help="print the EMR step as JSON")
    ns = parser.parse_args(argv)
    try:
        job = _job_from_cli(ns)
        if ns.target == "emr":
            if not ns.package_prefix:
                parser.error("--package-prefix is required with --target emr")
            package = EmrPackage(ns.package_prefix)
            if ns.json:
                import json

                print(json.dumps(emr_step(job, package), indent=2))
                return exits.OK
            argv_out = emr_command(job, package)
        else:
            argv_out = local_command(job, LocalSubmit(ns.application, ns.python))
    except ValueError as exc:  # SubmitError, or a bad --sink
        print(f"error: {exc}", file=sys.stderr)
        return exits.BAD_INPUT
    print(shlex.join(argv_out))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
