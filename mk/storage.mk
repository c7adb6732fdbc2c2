# Storage stage: what the S3 / Redshift / validation tests need on a fresh machine.
#   make storage-deps   jars for s3a, PostgreSQL server + JDBC driver (the Python packages come
#                       with the venv)
# The integration tests (pytest -m integration) start and stop moto and PostgreSQL themselves.

STORAGE_JARS     ?= $(VENV)/jars
SAGEMAKER_SDIST  := sagemaker_pyspark-1.4.5.tar.gz
STORAGE_JAR_NAMES := hadoop-aws-3.3.1.jar aws-java-sdk-bundle-1.11.901.jar
PG_BINDIR_STAMP  := $(STORAGE_JARS)/.postgresql

.PHONY: storage-deps storage-jars storage-postgres storage-python storage-test storage-bench bench-s3

storage-deps: storage-jars storage-postgres storage-python ## Install what the storage tests need

storage-jars: $(addprefix $(STORAGE_JARS)/,$(STORAGE_JAR_NAMES)) ## hadoop-aws + AWS SDK jars for s3a

# The jars ship inside the PyPI sdist of sagemaker-pyspark (Maven is out of reach). The package is
# only downloaded and unpacked, never installed: it pins an old pyspark.
$(STORAGE_JARS)/$(SAGEMAKER_SDIST): | venv
	mkdir -p $(STORAGE_JARS)
	$(BIN)/pip download --quiet --no-deps --no-binary :all: --dest $(STORAGE_JARS) \
		sagemaker-pyspark==1.4.5

$(addprefix $(STORAGE_JARS)/,$(STORAGE_JAR_NAMES)): $(STORAGE_JARS)/$(SAGEMAKER_SDIST)
	tar -xzf $< -C $(STORAGE_JARS) --strip-components=3 \
		sagemaker_pyspark-1.4.5/deps/jars/$(notdir $@)
	touch $@

storage-postgres: $(PG_BINDIR_STAMP) ## Debian PostgreSQL server and JDBC driver

$(PG_BINDIR_STAMP):
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		&& [ -f /usr/share/java/postgresql.jar ]; then :; else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			postgresql libpostgresql-jdbc-java; fi
	mkdir -p $(STORAGE_JARS) && touch $@

# boto3, Great Expectations, psycopg (the `job` extra) and the moto server (`dev`) come with the
# job's venv (requirements/dev.txt).
storage-python: venv

storage-test: storage-deps ## Run the storage tests (starts moto and PostgreSQL)
	$(BIN)/python -m pytest -q tests/storage

STORAGE_S3_PORT  ?= 5055
# Objects of the manifest-reader benchmark (apart from bench.mk's BENCH_FILES, the job benchmark's).
BENCH_S3_MANIFEST_FILES ?= 2000
# s3a against the local S3 server: settings for spark-submit, not for the code.
S3A_LOCAL_CONF := --jars $(STORAGE_JARS)/hadoop-aws-3.3.1.jar,$(STORAGE_JARS)/aws-java-sdk-bundle-1.11.901.jar \
	--conf spark.hadoop.fs.s3a.endpoint=http://127.0.0.1:$(STORAGE_S3_PORT) \
	--conf spark.hadoop.fs.s3a.path.style.access=true \
	--conf spark.hadoop.fs.s3a.connection.ssl.enabled=false \
	--conf spark.hadoop.fs.s3a.aws.credentials.provider=com.amazonaws.auth.EnvironmentVariableCredentialsProvider \
	--conf spark.hadoop.fs.s3a.change.detection.mode=none \
	--conf spark.hadoop.fs.s3.impl=org.apache.hadoop.fs.s3a.S3AFileSystem

storage-bench: storage-deps ## Spark binaryFile vs boto3 manifest reader on small S3 objects (BENCH_S3_MANIFEST_FILES=N)
	AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1 \
	AWS_ENDPOINT_URL=http://127.0.0.1:$(STORAGE_S3_PORT) \
	$(SPARK_SUBMIT) $(S3A_LOCAL_CONF) scripts/bench_manifest_read.py \
		--files $(BENCH_S3_MANIFEST_FILES) --port $(STORAGE_S3_PORT)

BENCH_S3_FILES ?= 2000
BENCH_S3_LATENCIES ?= 0 20

bench-s3: storage-deps ## Readers of small S3 objects at 0 and 20 ms per request -> docs/benchmarks-s3.*
	AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1 \
	AWS_ENDPOINT_URL=http://127.0.0.1:$(STORAGE_S3_PORT) \
	$(SPARK_SUBMIT) $(S3A_LOCAL_CONF) scripts/bench_manifest_read.py \
		--files $(BENCH_S3_FILES) --port $(STORAGE_S3_PORT) --latency-ms $(BENCH_S3_LATENCIES) \
		--out docs
