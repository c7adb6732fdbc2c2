# Model lifecycle: train + register, quality gate + promotion, evaluation report, dashboard.
# The demo keeps its MLflow store (SQLite + artifacts) under $(DEMO)/mlflow, so `make clean`
# removes it; LIFECYCLE_SET points every txcat command and job at it. Promotion publishes the
# champion to $(DEMO)/mlflow/published (lifecycle.publish_uri) and the demo day is scored from
# there, as production reads it (no registry access from the job).

TXCAT            := $(BIN)/txcat
LIFECYCLE_STORE  ?= $(abspath $(DEMO))/mlflow
LIFECYCLE_SET    ?= --set lifecycle.tracking_uri=sqlite:///$(LIFECYCLE_STORE)/mlflow.db \
	--set lifecycle.artifact_root=$(LIFECYCLE_STORE)/artifacts \
	--set lifecycle.publish_uri=$(LIFECYCLE_STORE)/published
LIFECYCLE_MODEL  ?= txcat-categoriser
LIFECYCLE_ALIAS  ?= champion
EVAL_ACCOUNTS    ?= 300
# On the generated demo data XGBoost leads logistic regression, but not by the production margins
# (hold-out macro-F1 0.433 vs 0.414, accuracy 0.564 vs 0.558: docs/lifecycle.md), so the
# production gate of conf/base.yaml rejects it (see `make demo-gate-fail`). The demo promotes under these looser,
# explicit margins: macro-F1 and accuracy at least the best baseline's. Every other check is
# the production gate's.
DEMO_GATE_SET    ?= --set quality_gate.min_macro_f1_margin=0.0 \
	--set quality_gate.min_accuracy_margin=0.0
# A smaller search than conf/base.yaml's, so the demo trains in minutes on a laptop.
DEMO_TRAIN_SET   ?= --set lifecycle.cv_folds=3 --set lifecycle.search_budget=3 \
	--set lifecycle.search_max_rows=15000
DASHBOARD_PORT   ?= 8501

.PHONY: lifecycle-venv demo-lifecycle demo-eval-data demo-gate-fail dashboard lifecycle-test

# MLflow, scikit-learn, matplotlib and Streamlit (the `lifecycle` extra) come with the job's venv
# (requirements/dev.txt locks every extra).
lifecycle-venv: venv

demo-eval-data: lifecycle-venv ## Generate a labelled evaluation set (later dates, other accounts)
	rm -rf $(DEMO)/evaluation
	$(BIN)/python scripts/generate_data.py --out $(DEMO)/evaluation --accounts $(EVAL_ACCOUNTS) \
		--start-date 2026-10-01 --end-date $(DEMO_DATE) --seed 2

demo-lifecycle: lifecycle-venv demo-eval-data ## After demo-data: train, register, gate, promote + publish, evaluate, score the published champion
	@test -d $(DEMO)/training && test -d $(DEMO)/landing || \
		{ echo "no demo data under $(DEMO): run 'make demo-data' first"; exit 2; }
	rm -rf $(DEMO)/model $(DEMO)/reports
	$(SPARK_SUBMIT) jobs/train.py --input $(DEMO)/training --model-out $(DEMO)/model \
		--env local --as-of $(DEMO_DATE) --register $(DEMO_TRAIN_SET) $(LIFECYCLE_SET)
	$(TXCAT) promote --version $$($(BIN)/python -c "import json; \
		print(json.load(open('$(DEMO)/model/registration.json'))['version'])") \
		$(DEMO_GATE_SET) $(LIFECYCLE_SET)
	version=$$($(BIN)/python -c "import json; \
		print(json.load(open('$(DEMO)/model/registration.json'))['version'])") && \
	$(TXCAT) evaluate --model @$(LIFECYCLE_ALIAS) --input $(DEMO)/evaluation \
		--out $(DEMO)/reports/$(LIFECYCLE_MODEL)-v$$version --as-of $(DEMO_DATE) $(LIFECYCLE_SET)
	$(SPARK_SUBMIT) jobs/score_daily.py --run-date $(DEMO_DATE) --input $(DEMO)/landing \
		--output $(DEMO)/output --model $(LIFECYCLE_STORE)/published/$(LIFECYCLE_ALIAS)/ \
		--env local $(LIFECYCLE_SET)
	@echo "reports: $$(ls -d $(DEMO)/reports/*)/report.html"

demo-gate-fail: lifecycle-venv ## Show the production gate (conf/base.yaml) refusing the newest demo version
	-$(TXCAT) promote --version latest $(LIFECYCLE_SET)

dashboard: lifecycle-venv ## Streamlit app comparing the registered versions (DASHBOARD_PORT=8501)
	$(TXCAT) dashboard --port $(DASHBOARD_PORT) $(LIFECYCLE_SET)

lifecycle-test: lifecycle-venv ## Run the model lifecycle tests only
	$(BIN)/python -m pytest -q tests/lifecycle

# Model quality on the bank's real export (when it is there) and on generated data.
QUALITY_DATA     ?= $(wildcard ../shared/data/mibolsillo-train.csv)
QUALITY_WORK     ?= data/quality

.PHONY: quality
quality: lifecycle-venv ## Train + evaluate on the real export's time split and generated data -> docs/quality.{md,json}
	$(BIN)/python scripts/quality.py --export "$(QUALITY_DATA)" --work $(QUALITY_WORK) --docs docs
