"""The sinks a run can write to, and the parser of `--sink` / `TXCAT_SINKS`.

Standard library only: the DAG's settings (`txcat.deploy.dag_config`) parse the same value at
DAG-parse time, in an environment without Spark.
"""

from __future__ import annotations

PARQUET = "parquet"
REDSHIFT = "redshift"
#: Every sink, in the order a run writes them.
SINKS = (PARQUET, REDSHIFT)


def parse_sinks(value: str) -> tuple[str, ...]:
    """`parquet`, `redshift` or `parquet,redshift` -> a tuple of sink names, in `SINKS` order.

    Names are trimmed and lower-cased.

    Raises:
        ValueError: An unknown, repeated or empty sink name.
    """
    names = [v.strip().lower() for v in value.split(",")]
    unknown = [n for n in names if n not in SINKS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"sinks must be parquet, redshift or parquet,redshift (got {value!r})")
    return tuple(n for n in SINKS if n in names)
