"""spark-submit entry point: monitor one scored day (drift, data quality, degradation).

    spark-submit --master 'local[*]' jobs/monitor.py --run-date 2026-11-25 \
        --output data/demo/output --env local [--model URI] [--feedback DIR]

Writes OUTPUT/monitoring/run_date=D/ (metrics.json, report.html, charts); exit 8 on an alert.
"""

from __future__ import annotations

import argparse
import sys

from txcat.monitor.commands import add_monitor_arguments, run_monitor
from txcat.session import configure_logging


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_monitor_arguments(parser)
    return run_monitor(parser.parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
