# txcat — daily transaction categorisation on Spark.
# `make demo` and `make test` set everything up on a fresh machine (Python 3.11 + Java 17).

PYTHON      ?= python3.11
VENV        ?= .venv
BIN         := $(VENV)/bin
DEMO        ?= data/demo
DEMO_DATE   ?= 2026-11-25
DEMO_ACCOUNTS ?= 2000
SPARK_SUBMIT := PYSPARK_PYTHON=$(abspath $(BIN)/python) PYSPARK_DRIVER_PYTHON=$(abspath $(BIN)/python) \
	SPARK_LOCAL_IP=127.0.0.1 $(BIN)/spark-submit --master 'local[*]' --driver-memory 4g \
	--driver-java-options '-Dlog4j.configurationFile=conf/log4j2.properties'

export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export SPARK_LOCAL_IP := 127.0.0.1

.DEFAULT_GOAL := help
.PHONY: help venv lock demo demo-data demo-train demo-score test test-job test-fast lint clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

# Dependencies are declared once, in pyproject.toml (extras per deployable: job, lifecycle, dev,
# airflow); each environment installs from its lock file, every package pinned:
#   requirements/dev.txt        .venv: the job, storage, lifecycle, tests and lint
#   requirements/job.txt        the EMR executors and driver (`make package`, minus pyspark/py4j)
#   requirements/lifecycle.txt  a training / registry host (job + lifecycle)
#   requirements/serve.txt      the real-time API host (job + serve)
#   constraints-airflow.txt     .venv-airflow (mk/airflow.mk)
$(BIN)/.installed: requirements/dev.txt pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed ## Create the virtual environment from the lock (requirements/dev.txt)

# uv keeps every pin it can (the current lock is its preference); the job and lifecycle locks
# are constrained by the dev lock, so one package has one version everywhere. Upgrade one
# package with LOCK_FLAGS=--upgrade-package=NAME, all with LOCK_FLAGS=--upgrade.
LOCK_FLAGS ?=
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command 'make lock'

lock: venv ## Re-resolve the lock files requirements/*.txt from pyproject.toml (PyPI)
	$(LOCK) $(LOCK_FLAGS) --extra dev -o requirements/dev.txt
	$(LOCK) --extra job -c requirements/dev.txt -o requirements/job.txt
	$(LOCK) --extra lifecycle -c requirements/dev.txt -o requirements/lifecycle.txt
	$(LOCK) --extra serve -c requirements/dev.txt -o requirements/serve.txt

demo: demo-data demo-lifecycle demo-monitor ## Generate a day; train, gate, register, promote a model; score the day with it; monitor it
	@echo "predictions: $(DEMO)/output/predictions/run_date=$(DEMO_DATE)/"
	@echo "quarantine:  $(DEMO)/output/quarantine/run_date=$(DEMO_DATE)/"
	@echo "run summary: $(DEMO)/output/runs/run_date=$(DEMO_DATE)/summary.json"
	@cat $(DEMO)/output/runs/run_date=$(DEMO_DATE)/summary.json
	@echo "monitoring report: $(DEMO)/output/monitoring/run_date=$(DEMO_DATE)/report.html"

demo-data: venv ## Generate labelled training files, the day to score, and reference data
	rm -rf $(DEMO)/training $(DEMO)/landing
	$(BIN)/python scripts/generate_data.py --out $(DEMO)/training --accounts $(DEMO_ACCOUNTS) \
		--start-date 2026-05-01 --end-date 2026-10-31 --seed 1 --reference-out $(DEMO)/reference
	$(BIN)/python scripts/generate_data.py --out $(DEMO)/landing --accounts $(DEMO_ACCOUNTS) \
		--start-date 2026-08-26 --end-date $(DEMO_DATE) --seed 1 --no-labels --bad-share 0.01

demo-train: demo-data ## Minimal path, no registry: train an artifact folder on the labelled files
	rm -rf $(DEMO)/model
	$(SPARK_SUBMIT) jobs/train.py --input $(DEMO)/training --model-out $(DEMO)/model \
		--env local --as-of $(DEMO_DATE)

demo-score: demo-train ## Minimal path, no registry: score the demo day with that folder
	$(SPARK_SUBMIT) jobs/score_daily.py --run-date $(DEMO_DATE) --input $(DEMO)/landing \
		--output $(DEMO)/output --model $(DEMO)/model --env local

# The job's suite on two pytest workers (pytest-xdist; each module on one worker, so its module
# fixtures are built once; tests/conftest.py starts the longest modules first), then the DAG
# suite. TEST_WORKERS= runs the job's suite in one process; `make test-job` runs it alone.
TEST_WORKERS ?= -n 2 --dist loadfile

test: venv storage-deps airflow-venv ## Run the whole suite: job, storage (starts its servers), lifecycle, DAG
	$(MAKE) --no-print-directory test-job
	$(MAKE) --no-print-directory dag-test

test-job: venv storage-deps ## Run the job's suite (everything but the DAG tests)
	$(BIN)/python -m pytest -q $(TEST_WORKERS) tests --ignore=tests/dags

# The inner loop: no servers, no spark-submit, no Airflow, no whole-pipeline or training runs
# (markers integration, e2e, slow in pyproject.toml).
test-fast: venv ## Run the unit tests only (not integration, e2e, slow or DAG tests)
	$(BIN)/python -m pytest -q tests --ignore=tests/dags -m "not integration and not e2e and not slow"

LINT_PATHS := src jobs scripts tests dags

lint: venv ## Lint (ruff, rules in pyproject.toml), check formatting, type-check src and dags (mypy)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

clean: ## Remove generated data and the virtual environment
	rm -rf $(DEMO) $(VENV) spark-warehouse

# Targets of the other stages (model lifecycle, storage, orchestration, benchmarks).
-include mk/*.mk
