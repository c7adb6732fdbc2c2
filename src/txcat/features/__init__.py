"""Features: the one definition used by training, batch scoring and real-time scoring.

`build_features` turns cleaned, scorable transactions into the model's input columns;
`FEATURE_COLUMNS` is their order, recorded in every model artifact and checked on load.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from txcat.features.aggregates import AGGREGATE_FEATURES, with_file_aggregates
from txcat.features.enrich import ENRICHMENT_FEATURES, References, with_enrichment
from txcat.features.row import ROW_FEATURES, with_row_features

FEATURE_COLUMNS: tuple[str, ...] = ROW_FEATURES + AGGREGATE_FEATURES + ENRICHMENT_FEATURES


def build_features(transactions: DataFrame, refs: References, aggregates: str) -> DataFrame:
    """Adds every feature column to scorable transactions (one row in, one row out).

    `aggregates` picks how the per-file aggregates are computed: `features.aggregates` of the
    configuration, always passed. `window` is right for any DataFrame; `partition` skips the
    shuffle but needs each file's rows together in one partition, as the reader leaves them.
    """
    return (
        transactions.transform(with_row_features)
        .transform(with_file_aggregates, aggregates)
        .transform(with_enrichment, refs)
    )


__all__ = ["FEATURE_COLUMNS", "References", "build_features"]
