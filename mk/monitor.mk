# Monitoring of the demo day (docs/monitoring.md): drift against the model's reference profile,
# volume, quarantine and expectation trends. Exit 8 (an alert) is a finding, not a failed demo.

.PHONY: demo-monitor

demo-monitor: lifecycle-venv ## After demo-lifecycle: monitor the demo day; prints where the report is
	$(SPARK_SUBMIT) jobs/monitor.py --run-date $(DEMO_DATE) --output $(DEMO)/output \
		--env local $(LIFECYCLE_SET) || test $$? -eq 8
	@echo "monitoring report: $(DEMO)/output/monitoring/run_date=$(DEMO_DATE)/report.html"
