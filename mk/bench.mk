# Benchmarks: figures into docs/benchmarks.md and docs/benchmarks.json.
BENCH_FILES ?= 20000
BENCH_REPEATS ?= 3
BENCH_LARGE_FILE_LINES ?= 1000000

.PHONY: bench
bench: venv ## Benchmark the job against the I/O floor and other scorers (BENCH_FILES=N)
	$(BIN)/python scripts/benchmark.py --files $(BENCH_FILES) --repeats $(BENCH_REPEATS) --tuning \
		--large-file-lines $(BENCH_LARGE_FILE_LINES)

# The daily job's cost per row against an earlier commit (BENCH_BASE), the same generated day.
BENCH_BASE ?= main
BENCH_VERSIONS_FILES ?= 5000

.PHONY: bench-versions
bench-versions: venv ## Daily job cost per row: this checkout vs commit BENCH_BASE, same day, runs interleaved
	$(BIN)/python scripts/benchmark.py --versions-base $(BENCH_BASE) --files $(BENCH_VERSIONS_FILES) \
		--repeats $(BENCH_REPEATS)

.PHONY: bench-large-file
bench-large-file: venv ## Read stage rows/s: one large account file vs the same lines in many files (BENCH_LARGE_FILE_LINES=N)
	$(BIN)/python scripts/benchmark.py --large-file-only --large-file-lines $(BENCH_LARGE_FILE_LINES)

BENCH_SERVE_REQUESTS ?= 400
.PHONY: bench-serve
bench-serve: venv ## Real-time API latency p50/p99 and throughput, into docs/benchmarks-serve.json (BENCH_SERVE_REQUESTS=N per case)
	$(BIN)/python scripts/bench_serve.py --requests $(BENCH_SERVE_REQUESTS)
