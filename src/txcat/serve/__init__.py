"""Real-time categories: the batch job's cleaning, features and booster for one account file.

`rows` reads and cleans one file (or JSON transactions) as `read` and `clean` do, `features`
builds the model's features as `txcat.features` does, `scorer` scores them with the batch job's
prediction function, `app` is the HTTP API (FastAPI) and `command` the `txcat serve` command.
"""
