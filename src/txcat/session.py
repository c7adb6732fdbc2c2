"""SparkSession construction and logging set-up for the entry points."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from txcat import resources

#: Libraries whose INFO lines are their own bookkeeping, not the run's: kept to warnings
#: (Great Expectations logs about 80 "Skipping registering function" lines as it imports).
QUIET_LOGGERS = ("great_expectations",)
#: JVM loggers turned off in every session txcat starts, whatever log4j configuration the
#: launcher gave (`conf/log4j2.properties` turns it off too). The code generator's "grows beyond
#: 64 KB" error prints a stack trace of thousands of lines, then Spark runs the plan without
#: whole-stage codegen and says so in a WARN of its own.
QUIET_JVM_LOGGERS = ("org.apache.spark.sql.catalyst.expressions.codegen.CodeGenerator",)
#: The driver's log4j configuration of sessions started in process, as `spark-submit` runs get
#: it from `--driver-java-options -Dlog4j.configurationFile=conf/log4j2.properties`.
LOG4J_FILE = "log4j2.properties"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


#: Sessions an entry point found already running (a test's, a notebook's): not theirs to stop.
_BORROWED: set[int] = set()


def build_session(app_name: str, settings: Mapping[str, str]) -> SparkSession:
    """Creates (or gets) the session; spark-submit's --conf values win over `settings`.

    Python workers must run the interpreter that has txcat and its dependencies; unless the
    launcher already chose one, use the driver's own.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    already_running = SparkSession.getActiveSession()
    # spark-submit starts the JVM first and hands its port over; otherwise the JVM starts here.
    in_process = SparkContext._gateway is None and "PYSPARK_GATEWAY_PORT" not in os.environ
    # spark-submit hands its --conf values to the JVM; SparkConf() sees them only once the
    # gateway is up (before that it is an empty Python-side conf and every setting would win).
    SparkContext._ensure_initialized()
    given = SparkConf()
    builder = SparkSession.builder.appName(app_name)
    for key, value in settings.items():
        if not given.contains(key):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if already_running is not None:
        _BORROWED.add(id(spark))
        return spark
    if in_process:
        log_like_spark_submit(spark)
    spark.sparkContext.setLogLevel("WARN")
    quiet_jvm_loggers(spark)
    return spark


def log_like_spark_submit(spark: SparkSession) -> None:
    """Loads the shipped `conf/log4j2.properties` into the driver's log4j.

    A session started in process (`txcat evaluate`, the dashboard) then logs as the
    spark-submit entry points do, e.g. one line instead of a whole plan when Spark runs a plan
    without whole-stage codegen. Not for spark-submit runs: their launcher chose the logging
    (EMR writes the containers' logs through its own configuration).
    """
    path = resources.conf_dir() / LOG4J_FILE
    if not path.is_file():  # a configuration folder without it: Spark's defaults stay
        return
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jvm.org.apache.logging.log4j.core.config.Configurator.reconfigure(
        jvm.java.net.URI(path.as_uri())
    )


def quiet_jvm_loggers(spark: SparkSession) -> None:
    """Turns the `QUIET_JVM_LOGGERS` off in the driver's log4j."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    log4j = jvm.org.apache.logging.log4j
    for name in QUIET_JVM_LOGGERS:
        log4j.core.config.Configurator.setLevel(name, log4j.Level.OFF)


def release_session(spark: SparkSession) -> None:
    """Stops the session an entry point created; leaves one it found running alone."""
    if id(spark) in _BORROWED:
        _BORROWED.discard(id(spark))
        return
    spark.stop()
