"""Validate stage: Great Expectations suites on the run's input and output DataFrames."""

from txcat.validate.runner import SuiteOutcome, run_suite, save_outcome
from txcat.validate.suites import input_frame, input_suite, output_frame, output_suite

__all__ = [
    "SuiteOutcome",
    "input_frame",
    "input_suite",
    "output_frame",
    "output_suite",
    "run_suite",
    "save_outcome",
]
