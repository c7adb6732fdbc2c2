"""Synthetic bank files for development and tests: the data generator.

`generate` writes one CSV per credit-card account in the bank's exact layout (quirks
included), optionally with injected bad files and the reference tables the enrichment
joins. See `txcat.generate.data` for the row model and `txcat.generate.bad` for the
defects.
"""

from __future__ import annotations

from txcat.generate.bad import BAD_KINDS, FILE_LEVEL_KINDS, ROW_LEVEL_KINDS
from txcat.generate.data import MANIFEST_NAME, BadFile, GenerationReport, generate

__all__ = [
    "BAD_KINDS",
    "FILE_LEVEL_KINDS",
    "MANIFEST_NAME",
    "ROW_LEVEL_KINDS",
    "BadFile",
    "GenerationReport",
    "generate",
]
