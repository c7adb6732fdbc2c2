"""The entry points' logging: the run's lines, not the libraries' bookkeeping."""

from __future__ import annotations

import logging

from txcat.session import QUIET_JVM_LOGGERS, configure_logging, quiet_jvm_loggers


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
    stage = log4j.LogManager.getLogger("org.apache.spark.sql.execution.WholeStageCodegenExec")
    before = stage.getLevel().toString()
    quiet_jvm_loggers(spark)
    for name in QUIET_JVM_LOGGERS:
        assert log4j.LogManager.getLogger(name).getLevel().toString() == "OFF"
    assert stage.getLevel().toString() == before != "OFF"
