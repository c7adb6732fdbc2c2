"""The offline side: model selection, evaluation, quality gate, registry, report, dashboard.

Stages, one module each: `splits` (hold-out and grouped folds) -> `candidates` (baselines and
XGBoost search) -> `metrics` -> `report` -> `registry` (MLflow tracking and model registry) ->
`gate` (is it time for production?). `workflow` chains them for the command line.
"""
