# Benchmarks: figures into docs/benchmarks.md and docs/benchmarks.json.
BENCH_FILES ?= 20000
BENCH_REPEATS ?= 3

.PHONY: bench
bench: venv ## Benchmark the job against the I/O floor and other scorers (BENCH_FILES=N)
	$(BIN)/python scripts/benchmark.py --files $(BENCH_FILES) --repeats $(BENCH_REPEATS) --tuning
