"""Deployment helpers: the spark-submit command lines and the EMR package layout.

Pure Python, no third-party imports: the Airflow DAG imports `txcat.deploy.submit` at parse
time, so this package must stay importable without Spark, pandas or PyYAML. The heavier
packaging code (`txcat.deploy.package`) uses only the standard library too, and is imported by
`scripts/deploy_emr.py` and `make package`, never by the DAG.
"""
