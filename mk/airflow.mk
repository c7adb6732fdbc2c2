# Orchestration: the Airflow environment, the DAG tests, and the EMR package / deployment.
# Airflow lives in its own virtual environment (.venv-airflow): it pins many packages and must not
# share them with the job's environment (.venv). txcat goes in with --no-deps, for the
# standard-library-only txcat.deploy modules the DAG imports.

AIRFLOW_VENV   ?= .venv-airflow
AIRFLOW_BIN    := $(AIRFLOW_VENV)/bin
DIST           ?= dist
# s3:// prefix that `make deploy` uploads one version to (a folder per version below it).
DEPLOY_PREFIX  ?=
# Python prefix of the EMR nodes: the packed venv's interpreter links are rewritten to it.
EMR_PYTHON_PREFIX ?= /usr
# Runtime pins packed for the executors (pyspark/py4j always left out: the cluster has them):
# the job's stack and the storage stage's runtime (manifest reader, Redshift Data API,
# validation). Add requirements-lifecycle.txt when the job resolves models:/ URIs on EMR.
PACKAGE_REQUIREMENTS ?= requirements.txt requirements-storage.txt

.PHONY: airflow-venv dag-test airflow-constraints package deploy

$(AIRFLOW_BIN)/.installed: requirements-airflow.txt constraints-airflow.txt setup.py
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_BIN)/pip install --quiet --upgrade pip
	$(AIRFLOW_BIN)/pip install --quiet -r requirements-airflow.txt -c constraints-airflow.txt
	$(AIRFLOW_BIN)/pip install --quiet --no-deps -e .
	touch $@

airflow-venv: $(AIRFLOW_BIN)/.installed ## Create the Airflow 3 environment (.venv-airflow)

# The local DAG run loads the day into PostgreSQL through the job's warehouse sink: it needs the
# storage stage's server binaries and client packages in the job environment.
dag-test: venv airflow-venv storage-postgres storage-python ## Run the DAG tests with a real Airflow (local Spark run included)
	$(AIRFLOW_BIN)/python -m pytest -q --confcutdir=tests/dags -p no:cacheprovider tests/dags

airflow-constraints: ## Re-lock constraints-airflow.txt after changing requirements-airflow.txt
	rm -rf /tmp/txcat-airflow-lock
	$(PYTHON) -m venv /tmp/txcat-airflow-lock
	/tmp/txcat-airflow-lock/bin/pip install --quiet --upgrade pip
	/tmp/txcat-airflow-lock/bin/pip install --quiet -r requirements-airflow.txt
	{ sed -n '1,3p' constraints-airflow.txt; /tmp/txcat-airflow-lock/bin/pip freeze; } \
		> constraints-airflow.txt.new && mv constraints-airflow.txt.new constraints-airflow.txt
	rm -rf /tmp/txcat-airflow-lock

package: airflow-venv ## Build dist/: txcat wheel, packed executor venv (no pyspark), jobs, conf
	$(AIRFLOW_BIN)/python -m txcat.deploy.package --repo . --out $(DIST) \
		--python $(PYTHON) --python-prefix $(EMR_PYTHON_PREFIX) \
		$(addprefix --requirements ,$(PACKAGE_REQUIREMENTS))

deploy: package ## Upload dist/ to $(DEPLOY_PREFIX)/<version>/ with boto3 (AWS credentials from the environment)
	@test -n "$(DEPLOY_PREFIX)" || { echo "set DEPLOY_PREFIX=s3://bucket/prefix"; exit 2; }
	$(AIRFLOW_BIN)/python scripts/deploy_emr.py --dist $(DIST) --prefix $(DEPLOY_PREFIX)
