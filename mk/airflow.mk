# Orchestration: the Airflow environment, the DAG tests, and the EMR package / deployment.
# Airflow lives in its own virtual environment (.venv-airflow): it pins many packages and must not
# share them with the job's environment (.venv). Its lock is constraints-airflow.txt (Airflow's
# constraints approach: a full pip freeze), resolved from the `airflow` extra of pyproject.toml.
# txcat goes in with --no-deps, for the standard-library-only txcat.deploy modules the DAG imports.

AIRFLOW_VENV   ?= .venv-airflow
AIRFLOW_BIN    := $(AIRFLOW_VENV)/bin
DIST           ?= dist
# s3:// prefix that `make deploy` uploads one version to (a folder per version below it).
DEPLOY_PREFIX  ?=
# Python prefix of the EMR nodes: the packed venv's interpreter links are rewritten to it.
EMR_PYTHON_PREFIX ?= /usr
# Lock of the packed executor environment (pyspark/py4j always left out: the cluster has them):
# the `job` extra, i.e. the runtime stack and the storage stage's runtime (manifest reader,
# Redshift Data API, validation). Use requirements/lifecycle.txt when the job resolves models:/
# URIs on EMR.
PACKAGE_LOCK ?= requirements/job.txt

.PHONY: airflow-venv dag-test airflow-constraints package deploy

$(AIRFLOW_BIN)/.installed: constraints-airflow.txt pyproject.toml setup.py
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_BIN)/pip install --quiet --upgrade pip
	$(AIRFLOW_BIN)/pip install --quiet -r constraints-airflow.txt
	$(AIRFLOW_BIN)/pip install --quiet --no-deps -e .
	touch $@

airflow-venv: $(AIRFLOW_BIN)/.installed ## Create the Airflow 3 environment (.venv-airflow)

# The local DAG run reads the published champion from the S3 protocol server through s3a (the
# jars) and loads the day into PostgreSQL through the job's warehouse sink: it needs the
# storage stage's server binaries and client packages in the job environment.
dag-test: venv airflow-venv storage-jars storage-postgres storage-python ## Run the DAG tests with a real Airflow (local Spark run included)
	$(AIRFLOW_BIN)/python -m pytest -q --confcutdir=tests/dags -p no:cacheprovider tests/dags

airflow-constraints: ## Re-lock constraints-airflow.txt after changing the `airflow` extra
	rm -rf /tmp/txcat-airflow-lock
	$(PYTHON) -m venv /tmp/txcat-airflow-lock
	/tmp/txcat-airflow-lock/bin/pip install --quiet --upgrade pip
	$(PYTHON) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))\
		['project']['optional-dependencies']['airflow']))" > /tmp/txcat-airflow-lock/airflow.txt
	/tmp/txcat-airflow-lock/bin/pip install --quiet -r /tmp/txcat-airflow-lock/airflow.txt
	{ sed -n '1,3p' constraints-airflow.txt; /tmp/txcat-airflow-lock/bin/pip freeze; } \
		> constraints-airflow.txt.new && mv constraints-airflow.txt.new constraints-airflow.txt
	rm -rf /tmp/txcat-airflow-lock

package: airflow-venv ## Build dist/: txcat wheel, packed executor venv (no pyspark), jobs, conf
	$(AIRFLOW_BIN)/python -m txcat.deploy.package --repo . --out $(DIST) \
		--python $(PYTHON) --python-prefix $(EMR_PYTHON_PREFIX) \
		--lock $(PACKAGE_LOCK)

deploy: package ## Upload dist/ to $(DEPLOY_PREFIX)/<version>/ with boto3 (AWS credentials from the environment)
	@test -n "$(DEPLOY_PREFIX)" || { echo "set DEPLOY_PREFIX=s3://bucket/prefix"; exit 2; }
	$(AIRFLOW_BIN)/python scripts/deploy_emr.py --dist $(DIST) --prefix $(DEPLOY_PREFIX)
