"""The entry points' logging: the run's lines, not the libraries' bookkeeping."""

from __future__ import annotations

import logging

from txcat.session import configure_logging


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
