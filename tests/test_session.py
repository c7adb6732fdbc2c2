"""The entry points' logging: the run's lines, not the libraries' bookkeeping."""

from __future__ import annotations

import logging

from txcat.session import (
    QUIET_JVM_LOGGERS,
    configure_logging,
    log_like_spark_submit,
    quiet_jvm_loggers,
)

WHOLE_STAGE = "org.apache.spark.sql.execution.WholeStageCodegenExec"


def test_great_expectations_info_lines_are_kept_out_of_the_run_log():
    root = logging.getLogger()
    before = root.level
    try:
        root.setLevel(logging.INFO)  # as an entry point's log is, once configured
        configure_logging("INFO")
        gx = logging.getLogger("great_expectations._docs_decorators")
        assert not gx.isEnabledFor(logging.INFO)
        assert gx.isEnabledFor(logging.WARNING)
        assert logging.getLogger("txcat.pipeline").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(before)


def test_a_session_started_in_process_keeps_the_code_generator_stack_traces_out(spark):
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j
    # Spark's other loggers (e.g. the one saying a plan runs without whole-stage codegen) keep
    # their level.
    stage = log4j.LogManager.getLogger(WHOLE_STAGE)
    before = stage.getLevel().toString()
    quiet_jvm_loggers(spark)
    for name in QUIET_JVM_LOGGERS:
        assert log4j.LogManager.getLogger(name).getLevel().toString() == "OFF"
    assert stage.getLevel().toString() == before != "OFF"


def test_a_session_started_in_process_logs_a_codegen_fallback_in_one_line(spark):
    jvm = spark.sparkContext._jvm
    log4j = jvm.org.apache.logging.log4j
    try:
        log_like_spark_submit(spark)  # as build_session does when it starts the JVM itself
        config = log4j.LogManager.getContext(False).getConfiguration()
        stage = config.getLoggerConfig(WHOLE_STAGE)
        assert stage.getName() == WHOLE_STAGE and not stage.isAdditive()
        for name in QUIET_JVM_LOGGERS:
            assert config.getLoggerConfig(name).getLevel().toString() == "OFF"
        (appender,) = list(stage.getAppenders().values())
        message = "Whole-stage codegen disabled for plan (id=3):\n *(3) Project [a#1]\r\n+- Filter"
        event = (
            log4j.core.impl.Log4jLogEvent.newBuilder()
            .setLoggerName(WHOLE_STAGE)
            .setLevel(log4j.Level.WARN)
            .setMessage(log4j.message.SimpleMessage(message))
            .build()
        )
        line = appender.getLayout().toSerializable(event)
        assert line.endswith(
            " WARN WholeStageCodegenExec: Whole-stage codegen disabled for plan (id=3):"
            " (plan not shown)\n"
        )
        assert line.count("\n") == 1
    finally:
        spark.sparkContext.setLogLevel("ERROR")  # the test session's level
