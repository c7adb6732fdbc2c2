"""Features: the one definition used by training, batch scoring and real-time scoring.

`build_features` turns cleaned, scorable transactions into the model's input columns;
`FEATURE_COLUMNS` is their order, recorded in every model artifact and checked on load. The
label-memory features read a table shipped with the model (`features.memory`): scorers pass the
artifact's (`memory_of`), training builds its own from the labelled rows.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from txcat.features.aggregates import AGGREGATE_FEATURES, PARTITION, with_file_aggregates
from txcat.features.enrich import ENRICHMENT_FEATURES, References, with_enrichment
from txcat.features.memory import (
    MEMORY_FEATURES,
    LabelMemory,
    Memory,
    ShippedMemory,
    table_from_parquet,
    with_label_memory,
    with_memory_keys,
)
from txcat.features.row import ROW_FEATURES, with_row_features
from txcat.model import ModelArtifact, ModelArtifactError

FEATURE_COLUMNS: tuple[str, ...] = (
    ROW_FEATURES + AGGREGATE_FEATURES + ENRICHMENT_FEATURES + MEMORY_FEATURES
)


def build_features(
    transactions: DataFrame,
    refs: References,
    aggregates: str,
    memory: Memory,
    memory_in_scorer: bool = False,
    aggregates_in_scorer: bool = False,
) -> DataFrame:
    """Adds every feature column to scorable transactions (one row in, one row out).

    `aggregates` picks how the per-file aggregates are computed: `features.aggregates` of the
    configuration, always passed. `window` is right for any DataFrame; `partition` skips the
    shuffle but needs each file's rows together in one partition, as the reader leaves them.
    `memory` is the label memory the `mem_*` features read: the model's when scoring.
    `memory_in_scorer` (a `ShippedMemory` only): the memory's keys (`with_memory_keys`) instead
    of the `mem_*` columns, which `score.with_predictions(memory=...)` computes in its UDF.
    `aggregates_in_scorer` (the `partition` method only): no aggregate columns, which
    `score.with_predictions(aggregates_in_scorer=True)` computes in its UDF, over each file's
    rows as they arrive (the row features and the broadcast joins keep them together).

    Raises:
        ValueError: `memory_in_scorer` with training's own memory, or `aggregates_in_scorer`
            with another method than `partition`.
    """
    if memory_in_scorer and not isinstance(memory, ShippedMemory):
        raise ValueError("only a model's shipped label memory can be looked up by the scorer")
    if aggregates_in_scorer and aggregates != PARTITION:
        raise ValueError(
            f"only the {PARTITION!r} aggregates can be computed by the scorer, not {aggregates!r}"
        )
    featured = transactions.transform(with_row_features)
    if not aggregates_in_scorer:
        featured = featured.transform(with_file_aggregates, aggregates)
    featured = featured.transform(with_enrichment, refs)
    if memory_in_scorer:
        return featured.transform(with_memory_keys)
    return featured.transform(with_label_memory, memory)


def memory_of(artifact: ModelArtifact) -> ShippedMemory:
    """The label memory shipped in a model artifact (its checksum was checked at load), its
    table checked here, on the driver, rather than in every task that looks it up.

    Raises:
        ModelArtifactError: the artifact has no memory table, or the table is malformed.
    """
    if artifact.memory_table is None:
        raise ModelArtifactError(f"model {artifact.version} has no label memory table")
    try:
        table_from_parquet(artifact.memory_table)
        return ShippedMemory(artifact.memory_table, artifact.memory_smoothing)
    except (ValueError, OSError) as exc:
        raise ModelArtifactError(f"model {artifact.version}: bad memory table: {exc}") from exc


__all__ = [
    "FEATURE_COLUMNS",
    "LabelMemory",
    "Memory",
    "References",
    "ShippedMemory",
    "build_features",
    "memory_of",
]
