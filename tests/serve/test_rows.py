"""The real-time cleaning's wiring to the batch job's (its results: tests/serve/test_parity.py)."""

from __future__ import annotations

from txcat import clean
from txcat.serve import rows


def test_each_column_is_parsed_by_the_python_twin_of_its_batch_parser():
    assert rows.PARSERS.keys() == clean.PARSERS.keys()
    for column, batch_parser in clean.PARSERS.items():
        assert rows.PARSERS[column].__name__ == batch_parser.__name__, column
