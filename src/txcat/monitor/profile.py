"""Histograms on fixed bins: the reference profile of a model and the day's feature histogram.

At training time the reference profile (`profile.json`, shipped in the model artifact and
listed with its sha256 in `model.json`) records:

- from the rows the shipped model is fitted on (every labelled row, whole files, by default):
  per numeric feature, bin edges at fixed quantiles (deciles by default, from Spark's
  `approxQuantile`: no row leaves the executors) and the row count of each bin, plus the
  missing values; per categorical column (`monitoring.categorical_columns`), the frequency of
  its most common values;
- from the candidate's hold-out predictions: the predicted-category mix and the
  top-probability distribution, and the hold-out figures (accuracy, macro-F1, per-category
  recall and support) that feedback is compared with.

The scoring job bins the day's features on the same edges and writes the counts beside the run
summary (`runs/run_date=D/feature_histogram.json`), so the monitor never recomputes features.
The job counts them in its scoring UDF (`BatchHistogram`): every scored row, binned batch by
batch with numpy while it is scored, the counts added up on the driver by a Spark accumulator,
so the features are computed once. Should those counts not match the rows written (a stage
re-run), the job recounts a sample of whole files in one Spark aggregation (`day_histogram`):
each row contributes one (feature, bin) pair per feature, grouped and counted; the profile at
training time is counted the same way.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.accumulators import Accumulator, AccumulatorParam
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from txcat import schema as S
from txcat import storage, write
from txcat.config import Config, MonitoringConfig
from txcat.model import ModelArtifact

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
PROFILE_FILE = "profile.json"
DAY_HISTOGRAM_FILE = "feature_histogram.json"
#: Top-probability bins: 20 equal-width bins on [0, 1].
CONFIDENCE_EDGES: tuple[float, ...] = tuple(round(i / 20, 2) for i in range(1, 20))
#: The bucket of categorical values outside the reference's most common ones.
OTHER = "__other__"
# The most value names a categorical column's profile keeps to tell known values from new ones.
MAX_SEEN = 5000
#: Relative error of `approxQuantile` (Greenwald-Khanna): 0.1 % of the rank.
QUANTILE_ERROR = 0.001

_NAME, _BIN, _VALUE = "_feature", "_bin", "_value"
#: Edges up to which `count_batch` bins by comparisons rather than a binary search.
_COMPARED_EDGES = 32


def quantile_edges(
    frame: DataFrame, columns: Sequence[str], quantiles: int
) -> dict[str, list[float]]:
    """Bin edges per numeric column: its distinct `1/q .. (q-1)/q` quantiles (one Spark pass).

    A column with no value gets no edge (every row falls in the one bin, or is missing).
    """
    probs = [i / quantiles for i in range(1, quantiles)]
    found = frame.approxQuantile(list(columns), probs, QUANTILE_ERROR)
    return {
        name: sorted({float(v) for v in values})
        for name, values in zip(columns, found, strict=True)
    }


def bin_index(value: Column, edges: Sequence[float]) -> Column:
    """The bin of `value`: how many edges lie strictly below it (0..len(edges)); -1 when null.

    Bins are (-inf, e1], (e1, e2], ..., (ek, +inf): the same rule as `numpy.searchsorted(edges,
    value, side="left")`.
    """
    # One compact expression per feature (a literal array filtered), not one comparison per
    # edge: 70 features x 9 edges of comparisons outgrow the JVM's 64 KB method limit.
    cuts = F.array(*[F.lit(float(e)) for e in edges]) if edges else F.array().cast("array<double>")
    index = F.size(F.filter(cuts, lambda e: e < value))
    return F.when(value.isNull() | F.isnan(value), F.lit(-1)).otherwise(index)


def histograms(
    frame: DataFrame,
    edges: Mapping[str, Sequence[float]],
    categorical: Sequence[str],
) -> dict[str, Any]:
    """Counts of every numeric feature's bins and every categorical column's values.

    One Spark job: each row becomes one (feature, bin, value) triple per profiled column,
    grouped and counted; only the counts reach the driver.

    Returns:
        `{"rows": n, "numeric": {name: {"edges", "counts", "missing"}},
        "categorical": {name: {"counts": {value: n}, "missing": n}}}`.
    """
    triples = [
        F.struct(
            F.lit(name).alias(_NAME),
            bin_index(F.col(name).cast("double"), cuts).alias(_BIN),
            F.lit(None).cast("string").alias(_VALUE),
        )
        for name, cuts in edges.items()
    ] + [
        F.struct(
            F.lit(name).alias(_NAME),
            F.lit(0).alias(_BIN),
            F.col(name).cast("string").alias(_VALUE),
        )
        for name in categorical
    ]
    rows = frame.select(F.explode(F.array(*triples)).alias("t")).select("t.*")
    counted = rows.groupBy(_NAME, _BIN, _VALUE).count().collect()
    result = empty_histogram(edges, categorical)
    numeric, values = result["numeric"], result["categorical"]
    total = 0
    first = next(iter(edges), None) or (categorical[0] if categorical else None)
    for row in counted:
        name, index, value, n = row[_NAME], int(row[_BIN]), row[_VALUE], int(row["count"])
        if name == first:
            total += n
        if name in numeric:
            if index < 0:
                numeric[name]["missing"] += n
            else:
                numeric[name]["counts"][index] += n
        elif value is None:
            values[name]["missing"] += n
        else:
            values[name]["counts"][value] = values[name]["counts"].get(value, 0) + n
    result["rows"] = total
    return result


def empty_histogram(
    edges: Mapping[str, Sequence[float]], categorical: Sequence[str]
) -> dict[str, Any]:
    """`histograms`' result for no row."""
    return {
        "rows": 0,
        "numeric": {
            name: {"edges": list(cuts), "counts": [0] * (len(cuts) + 1), "missing": 0}
            for name, cuts in edges.items()
        },
        "categorical": {name: {"counts": {}, "missing": 0} for name in categorical},
    }


def count_batch(
    batch: pd.DataFrame, edges: Mapping[str, Sequence[float]], categorical: Sequence[str]
) -> dict[str, Any]:
    """`histograms` of a pandas batch, by the same rules (`_bin_counts` applies `bin_index`'s;
    a value is counted as Spark's string cast writes it)."""
    counted = empty_histogram(edges, categorical)
    counted["rows"] = len(batch)
    for name, cuts in edges.items():
        record = counted["numeric"][name]
        record["counts"], record["missing"] = _bin_counts(
            _as_float64(batch[name]), np.asarray(cuts, dtype=np.float64)
        )
    for name in categorical:
        column = batch[name]
        present = column.notna()
        record = counted["categorical"][name]
        record["missing"] = int((~present).sum())
        record["counts"] = {
            _as_spark_string(value): int(n)
            for value, n in column[present].value_counts(sort=False).items()
        }
    return counted


def _as_float64(column: pd.Series) -> np.ndarray:
    """The column's values as doubles, NaN for a missing or non-numeric one (no copy when the
    column already holds doubles: the scoring UDF's features do)."""
    if column.dtype == np.float64:
        return column.to_numpy()
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _bin_counts(values: np.ndarray, cuts: np.ndarray) -> tuple[list[int], int]:
    """Per-bin counts of the non-missing `values` (`bin_index`'s bins) and the missing count.

    Up to `_COMPARED_EDGES` edges, `bin_index`'s rule itself, one comparison per edge (about 3
    times faster than numpy's binary search for deciles): a NaN value, or edge, compares false,
    so a missing value lands in the first bin and is taken back out of it. With more edges,
    `numpy.searchsorted`, which orders NaN after every number, on the non-missing values.
    """
    missing = np.isnan(values)
    n_missing = int(np.count_nonzero(missing))
    if len(cuts) <= _COMPARED_EDGES:
        index = np.zeros(len(values), dtype=np.uint8)
        for cut in cuts:
            index += values > cut
        counts = np.bincount(index, minlength=len(cuts) + 1)
        counts[0] -= n_missing
    else:
        found = np.searchsorted(cuts, values[~missing], "left")
        counts = np.bincount(found, minlength=len(cuts) + 1)
    return counts.tolist(), n_missing


def _as_spark_string(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def merge_histograms(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Adds the counts of `other` to `into` (same edges and columns) and returns `into`."""
    into["rows"] += other["rows"]
    for name, record in other["numeric"].items():
        target = into["numeric"][name]
        target["counts"] = [a + b for a, b in zip(target["counts"], record["counts"], strict=True)]
        target["missing"] += record["missing"]
    for name, record in other["categorical"].items():
        target = into["categorical"][name]
        for value, n in record["counts"].items():
            target["counts"][value] = target["counts"].get(value, 0) + n
        target["missing"] += record["missing"]
    return into


class _HistogramSum(AccumulatorParam[dict[str, Any]]):
    """Spark accumulator arithmetic of `histograms` results."""

    def zero(self, value: dict[str, Any]) -> dict[str, Any]:
        edges = {name: record["edges"] for name, record in value["numeric"].items()}
        return empty_histogram(edges, list(value["categorical"]))

    def addInPlace(  # noqa: N802 (Spark's name)
        self, value1: dict[str, Any], value2: dict[str, Any]
    ) -> dict[str, Any]:
        return merge_histograms(value1, value2)


@dataclass(frozen=True)
class BatchHistogram:
    """The day's histogram counted inside the scoring UDF (`score.with_predictions`'s `tap`).

    Each Arrow batch is binned with `count_batch` on the executor; a Spark accumulator adds the
    batches' counts on the driver. The write is the action: a task's update counts once, but a
    re-run of the stage could count its rows again, so the caller compares `rows` with the rows
    written before trusting the counts.

    Attributes:
        columns: The input columns the UDF must pass in (features and categorical columns).
    """

    edges: dict[str, list[float]]
    categorical: tuple[str, ...]
    accumulator: Accumulator[dict[str, Any]]

    @classmethod
    def start(
        cls, spark: SparkSession, profile: Mapping[str, Any], mc: MonitoringConfig
    ) -> BatchHistogram:
        edges, categorical = edges_of(profile), tuple(mc.categorical_columns)
        empty = empty_histogram(edges, categorical)
        return cls(edges, categorical, spark.sparkContext.accumulator(empty, _HistogramSum()))

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.edges, *self.categorical)

    def add(self, batch: pd.DataFrame) -> None:
        """Counts one batch (on the executor)."""
        self.accumulator.add(count_batch(batch, self.edges, self.categorical))

    @property
    def rows(self) -> int:
        return int(self.accumulator.value["rows"])

    def document(self) -> dict[str, Any]:
        """The day histogram document of every row counted (on the driver, after the write)."""
        return {"format_version": FORMAT_VERSION, "file_share": 1.0} | copy.deepcopy(
            self.accumulator.value
        )


def keep_top(categorical: Mapping[str, Any], top: int) -> dict[str, Any]:
    """Each column's `top` most frequent values; the rest summed under `OTHER`.

    `seen` keeps every value's name (up to `MAX_SEEN`), so a value folded into `OTHER` is still
    known: only a value absent from training counts as new.
    """
    kept: dict[str, Any] = {}
    for name, record in categorical.items():
        ranked = sorted(record["counts"].items(), key=lambda kv: (-kv[1], kv[0]))
        counts = dict(ranked[:top])
        rest = sum(n for _, n in ranked[top:])
        if rest:
            counts[OTHER] = rest
        seen = sorted(value for value, _ in ranked if value != OTHER)[:MAX_SEEN]
        kept[name] = {"counts": counts, "missing": record["missing"], "seen": seen}
    return kept


def confidence_counts(top_probability: np.ndarray) -> list[int]:
    """Counts of top probabilities in the `CONFIDENCE_EDGES` bins (same rule as `bin_index`)."""
    index = np.searchsorted(np.asarray(CONFIDENCE_EDGES), top_probability, side="left")
    return [int(n) for n in np.bincount(index, minlength=len(CONFIDENCE_EDGES) + 1)]


def prediction_profile(
    proba: np.ndarray, categories: Sequence[str], low_confidence: float
) -> dict[str, Any]:
    """The predicted-category mix and top-probability distribution of hold-out predictions."""
    top = proba.max(axis=1)
    picked = proba.argmax(axis=1)
    counts = np.bincount(picked, minlength=len(categories))
    return {
        "rows": len(top),
        "mix": {c: int(n) for c, n in zip(categories, counts, strict=True)},
        "confidence_edges": list(CONFIDENCE_EDGES),
        "confidence_counts": confidence_counts(top),
        "mean_top_probability": float(top.mean()) if len(top) else 0.0,
        "low_confidence": low_confidence,
        "low_confidence_share": float(np.mean(top < low_confidence)) if len(top) else 0.0,
    }


def holdout_figures(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-category recall and support of a `metrics.evaluate` result."""
    return {
        "rows": int(evaluation["rows"]),
        "accuracy": float(evaluation["accuracy"]),
        "macro_f1": float(evaluation["macro_f1"]),
        "per_category": {
            c: {"recall": float(v["recall"]), "support": int(v["support"])}
            for c, v in evaluation["per_class"].items()
        },
    }


def reference_profile(
    features: Mapping[str, Any],
    predictions: Mapping[str, Any],
    holdout: Mapping[str, Any],
    source: str,
) -> dict[str, Any]:
    """The profile document shipped with a model."""
    return {
        "format_version": FORMAT_VERSION,
        "source": source,
        "features": dict(features),
        "predictions": dict(predictions),
        "holdout": dict(holdout),
    }


def to_bytes(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("utf-8")


def from_bytes(data: bytes) -> dict[str, Any]:
    """Parses a profile or day histogram document.

    Raises:
        ValueError: not a JSON object of a known format version.
    """
    document = json.loads(data.decode("utf-8"))
    if not isinstance(document, dict) or document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not a txcat profile of format {FORMAT_VERSION}")
    return document


def edges_of(profile: Mapping[str, Any]) -> dict[str, list[float]]:
    """The numeric features' bin edges of a reference profile."""
    return {name: list(r["edges"]) for name, r in profile["features"]["numeric"].items()}


def feature_profile(
    frame: DataFrame, numeric: Sequence[str], mc: MonitoringConfig
) -> dict[str, Any]:
    """Edges and counts of `numeric` columns, and the top values of the categorical ones.

    Two Spark passes over `frame` (quantiles, then counts); persist it first when it is costly.
    """
    edges = quantile_edges(frame, numeric, mc.quantiles)
    counted = histograms(frame, edges, mc.categorical_columns)
    counted["categorical"] = keep_top(counted["categorical"], mc.top_categories)
    return counted


def sample_share(mc: MonitoringConfig, rows_to_score: int) -> float:
    """The share of the day's files whose features the job bins (every file on a small day)."""
    if rows_to_score <= mc.feature_sample_min_rows:
        return 1.0
    return max(mc.feature_sample_share, mc.feature_sample_min_rows / rows_to_score)


def whole_files(rows: DataFrame, share: float) -> DataFrame:
    """The rows of about `share` of the files, chosen by a hash of the file name.

    Whole files, so the per-file aggregates of the kept rows are those the job scored with.
    """
    if share >= 1.0:
        return rows
    buckets = 10_000
    bucket = F.pmod(F.xxhash64(F.col(S.SOURCE_FILE)), F.lit(buckets))
    return rows.where(bucket < F.lit(max(1, round(share * buckets))))


def day_histogram(
    scorable: DataFrame,
    featurize: Callable[[DataFrame], DataFrame],
    profile: Mapping[str, Any],
    mc: MonitoringConfig,
    rows_to_score: int,
) -> dict[str, Any]:
    """The day's features binned on the reference profile's edges (a sample of whole files).

    Args:
        scorable: The day's rows to score (parsed columns).
        featurize: Adds the model's feature columns (the job's `build_features` call).
        profile: The model's reference profile.
        rows_to_score: The day's row count, which sets the sample (`sample_share`).
    """
    share = sample_share(mc, rows_to_score)
    featured = featurize(whole_files(scorable, share))
    counted = histograms(featured, edges_of(profile), mc.categorical_columns)
    return {"format_version": FORMAT_VERSION, "file_share": share} | counted


def day_histogram_path(output: str, run_date: dt.date) -> str:
    return storage.join(
        write.partition_path(storage.join(output, write.RUNS), run_date), DAY_HISTOGRAM_FILE
    )


def batch_histogram(
    spark: SparkSession, cfg: Config, artifact: ModelArtifact
) -> BatchHistogram | None:
    """The counter the scoring UDF fills; None for a model without a reference profile."""
    if artifact.profile is None:
        return None
    return BatchHistogram.start(spark, from_bytes(artifact.profile), cfg.monitoring)


def write_day_histogram(
    spark: SparkSession,
    cfg: Config,
    artifact: ModelArtifact,
    scorable: DataFrame,
    featurize: Callable[[DataFrame], DataFrame],
    output: str,
    run_date: dt.date,
    rows_to_score: int,
    counted: BatchHistogram | None = None,
    rows_scored: int | None = None,
) -> str | None:
    """Writes the day's feature histogram beside the run summary; None for a model without a
    reference profile (nothing to bin against).

    `counted` holds what the scoring UDF counted: its counts are written when they cover the
    `rows_scored` rows written, exactly. Otherwise (none given, or a re-run stage counted some
    rows twice) a sample of whole files is featurized again and counted (`day_histogram`).
    """
    if artifact.profile is None:
        log.info("model %s has no reference profile: no feature histogram", artifact.version)
        return None
    if counted is not None and counted.rows == rows_scored:
        document = counted.document()
    else:
        if counted is not None:
            log.warning(
                "the scoring UDF binned %d rows for %s written: counting a sample again",
                counted.rows,
                rows_scored,
            )
        document = day_histogram(
            scorable, featurize, from_bytes(artifact.profile), cfg.monitoring, rows_to_score
        )
    document["model_version"] = artifact.version
    path = day_histogram_path(output, run_date)
    storage.write_bytes(spark, path, to_bytes(document))
    log.info(
        "feature histogram of %d rows (%.0f%% of the files): %s",
        document["rows"],
        100 * document["file_share"],
        path,
    )
    return path
