"""Daily monitoring: feature and prediction drift, data quality and degradation on feedback.

`profile` builds the histograms on fixed bins (at training time and in the scoring job);
`checks` turns the day's figures into metrics and alerts; `run` is the monitor job; `report`
renders the page people read.
"""
