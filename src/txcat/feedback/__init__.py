"""User feedback: corrections of categories, checked and stored for retraining and monitoring.

`records` parses and checks one feedback file (pure Python), `store` keeps the accepted
corrections and the feedback quarantine as Parquet by day received, `commands` is
`txcat feedback import`.
"""
