"""Sinks beyond the run's own Parquet: the Redshift table of predictions.

`names` (the sink names and their parser) is standard-library only; `stage`, `redshift` and
`warehouses` need Spark or a warehouse client. Import the module you need.
"""
