"""Latency and throughput of `txcat serve`; writes docs/benchmarks-serve.json.

python scripts/bench_serve.py [--requests 400] [--workers 2] [--model URI] [--work data/bench-serve]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from txcat import exits
from txcat.benchmark import serve
from txcat.session import configure_logging


def main(argv: list[str]) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per case")
    parser.add_argument("--model", default=None, help="model URI (default: one fitted here)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (one per core)")
    parser.add_argument("--work", type=Path, default=Path("data/bench-serve"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks-serve.json"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    figures = serve.run(args.work, args.out, args.requests, args.model, args.workers)
    print(json.dumps(figures["cases"], indent=2))
    print(f"written: {args.out}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
