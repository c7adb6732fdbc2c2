"""Deployment and orchestration helpers: the spark-submit command lines, the EMR package layout,
and what the `daily_predictions` DAG's tasks do (settings, store, checks, messages).

Pure Python, no third-party imports: the Airflow DAG imports `dag_config`, `submit`, `store`,
`checks` and `notify` at parse time, so this package must stay importable without Spark, pandas
or PyYAML, and is tested without Airflow. The heavier packaging code (`txcat.deploy.package`)
uses only the standard library too, and is imported by `scripts/deploy_emr.py` and
`make package`, never by the DAG.
"""
