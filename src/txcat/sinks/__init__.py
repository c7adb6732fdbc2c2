"""Sinks beyond the run's own Parquet: the Redshift table of predictions."""

from txcat.sinks.redshift import (
    REDSHIFT_COLUMNS,
    DayLoad,
    SinkError,
    Warehouse,
    load_day,
    to_redshift_rows,
)

__all__ = [
    "REDSHIFT_COLUMNS",
    "DayLoad",
    "SinkError",
    "Warehouse",
    "load_day",
    "to_redshift_rows",
]
