"""Running a suite with Great Expectations 1.x, and saving the result.

A suite runs on a Spark DataFrame (GX's Spark engine: a Spark job or more per metric) or on a
pandas DataFrame (GX's pandas engine, in this process): the daily run collects its bounded
samples to the driver with one Spark job and checks them there (`validate.stage`). Each run
uses an ephemeral Data Context (nothing is written by GX itself); the result is saved with the
run as JSON and as an HTML Data Docs page next to the run summary.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

# GX sends usage statistics unless told not to; a batch job on a bank's cluster must not.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from txcat import storage
from txcat.validate.offline import offline_page
from txcat.validate.suites import SuiteSpec

log = logging.getLogger(__name__)
# GX logs its own set-up at INFO on every context; the job logs each suite's outcome instead.
logging.getLogger("great_expectations").setLevel(logging.WARNING)


@dataclass
class SuiteOutcome:
    """What one suite found: the summary kept in summary.json and the full GX result."""

    suite: str
    success: bool
    critical_failures: list[str]
    warnings: list[str]
    evaluated: int
    result: Any = field(repr=False, default=None)
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def failed_critical(self) -> bool:
        return bool(self.critical_failures)

    def summary(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "expectations": self.evaluated,
            "critical_failures": self.critical_failures,
            "warnings": self.warnings,
            **({"results": self.paths} if self.paths else {}),
        }


def _describe(outcome: Any) -> str:
    config = outcome.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k in ("column", "column_A", "column_B")}
    where = ",".join(str(v) for v in kwargs.values())
    result = outcome.result or {}
    detail = ""
    if "unexpected_percent" in result and result["unexpected_percent"] is not None:
        detail = f" ({result['unexpected_percent']:.3f}% unexpected)"
    elif "observed_value" in result:
        detail = f" (observed {result['observed_value']!r})"
    if outcome.exception_info and outcome.exception_info.get("raised_exception"):
        detail = f" (error: {outcome.exception_info.get('exception_message')})"
    return f"{config.type}{f'[{where}]' if where else ''}{detail}"


def run_suite(frame: DataFrame | pd.DataFrame, spec: SuiteSpec) -> SuiteOutcome:
    """Validates `frame` (Spark or pandas) against the suite `spec` describes, inside an
    ephemeral GX context. Both engines give the same verdicts and unexpected shares
    (tests/storage/test_validate.py runs every case on both)."""
    context = gx.get_context(mode="ephemeral")
    _quiet(context)
    source: Any
    if isinstance(frame, pd.DataFrame):
        source = context.data_sources.add_pandas(name="txcat")
    else:
        # Not GX's persist: a large frame comes cached by its caller, which releases it (GX
        # would ask to cache it again and never release it).
        source = context.data_sources.add_spark(name="txcat", persist=False)
    batch = source.add_dataframe_asset(name=spec.name).add_batch_definition_whole_dataframe("run")
    suite = context.suites.add(gx.ExpectationSuite(name=spec.name))
    for expectation in spec.expectations:
        suite.add_expectation(expectation.copy())
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    critical: list[str] = []
    warnings: list[str] = []
    for outcome in result.results:
        if outcome.success:
            continue
        severity = str(getattr(outcome.expectation_config, "severity", "critical")).lower()
        (critical if "critical" in severity else warnings).append(_describe(outcome))
    log.info(
        "suite %s: %d expectations, %d critical failures, %d warnings",
        suite.name,
        len(result.results),
        len(critical),
        len(warnings),
    )
    return SuiteOutcome(
        suite=suite.name,
        success=bool(result.success),
        critical_failures=critical,
        warnings=warnings,
        evaluated=len(result.results),
        result=result,
    )


def save_outcome(spark: SparkSession, outcome: SuiteOutcome, folder: str) -> SuiteOutcome:
    """Writes `<suite>.json` (the GX result) and `<suite>.html` (Data Docs) under `folder`."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    json_path = storage.join(folder, f"{outcome.suite}.json")
    body = json.dumps(outcome.result.to_json_dict(), indent=2, sort_keys=True, default=str)
    storage.write_bytes(spark, json_path, (body + "\n").encode("utf-8"))
    html_path = storage.join(folder, f"{outcome.suite}.html")
    # Offline: GE's template loads its styles and scripts from public CDNs (validate.offline).
    html = offline_page(
        DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(outcome.result))
    )
    storage.write_bytes(spark, html_path, html.encode("utf-8"))
    outcome.paths = {"json": json_path, "html": html_path}
    return outcome


def _quiet(context: Any) -> None:
    """No progress bars in batch logs."""
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):  # pragma: no cover - older layouts
        log.debug("cannot turn GX progress bars off")
