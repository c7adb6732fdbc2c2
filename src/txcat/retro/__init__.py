"""Past days scored again with any model version, and two versions compared on the same rows.

`scoring` rescores a date range exactly as the daily job read it (the day's stored manifest or
recorded input) through `pipeline.run`, into a dataset of its own per model version; `compare`
puts two versions' predictions of the same days side by side (agreement, category flows, and
accuracy on the rows users corrected) and writes an offline HTML and JSON report.
"""
