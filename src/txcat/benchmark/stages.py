"""What the benchmark times: the I/O floor, feature rows, and four ways to score them.

Each function does one measurable piece of work on a SparkSession and returns the number of
rows it processed; the runner (`txcat.benchmark.runner`) times them side by side.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import read, sources
from txcat import schema as S
from txcat.config import Config
from txcat.features import FEATURE_COLUMNS, memory_of
from txcat.model import ModelArtifact, booster_from_bytes
from txcat.score import predict_frame, with_predictions

#: The raw file read as plain strings, the way a reader with no cleaning would.
RAW_STRING_SCHEMA = T.StructType([T.StructField(c, T.StringType()) for c in S.RAW_COLUMNS])


def io_floor(spark: SparkSession, input_path: str, output_path: str, run_date: dt.date) -> int:
    """Spark's CSV reader -> Parquet by run date: no cleaning, features or scoring."""
    raw = (
        spark.read.option("sep", ";")
        .option("header", "true")
        .option("encoding", "ISO-8859-1")
        .schema(RAW_STRING_SCHEMA)
        .csv(input_path)
        .withColumn(S.SOURCE_FILE, F.input_file_name())
        .withColumn(S.RUN_DATE, F.lit(run_date))
    )
    raw.write.mode("overwrite").partitionBy(S.RUN_DATE).parquet(output_path)
    return spark.read.parquet(output_path).count()


def read_stage(spark: SparkSession, cfg: Config, input_path: str, run_date: dt.date) -> DataFrame:
    """The read and clean stages alone, every column computed (no output written).

    Returns the records, for counting them after the timed part.
    """
    records = sources.cleaned(cfg, read.read_files(spark, input_path), run_date)
    records.write.format("noop").mode("overwrite").save()
    return records


def write_feature_rows(
    spark: SparkSession,
    cfg: Config,
    input_path: str,
    output_path: str,
    run_date: dt.date,
    artifact: ModelArtifact,
) -> int:
    """Materialises the model's input rows once, so every scorer reads the same rows."""
    source = sources.Source.folder(input_path)
    prepared = sources.prepare(spark, cfg, source, run_date, memory=memory_of(artifact))
    features = prepared.features.select(S.ROW_ID, *FEATURE_COLUMNS)
    features.write.mode("overwrite").parquet(output_path)
    return spark.read.parquet(output_path).count()


def score_txcat_udf(spark: SparkSession, features: DataFrame, artifact: ModelArtifact) -> int:
    """The job's own scorer: iterator pandas UDF over the broadcast booster."""
    scored = with_predictions(features, spark, artifact).select(
        S.ROW_ID, S.PREDICTED_CATEGORY, S.PREDICTED_PROBABILITY, S.TOP3
    )
    scored.write.format("noop").mode("overwrite").save()
    return features.count()


def score_xgboost_spark(spark: SparkSession, features: DataFrame, artifact: ModelArtifact) -> int:  # noqa: ARG001 - one signature for every scorer
    """The library's distributed predict: `SparkXGBClassifierModel.transform`."""
    from xgboost.spark import SparkXGBClassifier

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.ubj"
        path.write_bytes(artifact.model_bytes)
        classifier = xgb.XGBClassifier()
        classifier.load_model(path)
    # Built the way SparkXGBClassifier.fit builds its model, from our booster.
    estimator = SparkXGBClassifier(features_col=list(artifact.feature_names))
    # Private API; a loaded booster has no training summary.
    model = estimator._copyValues(estimator._create_pyspark_model(classifier, None))  # type: ignore[arg-type]
    cast = features.select(
        S.ROW_ID, *[F.col(c).cast("float").alias(c) for c in artifact.feature_names]
    )
    scored = model.transform(cast).select(S.ROW_ID, "prediction", "probability")
    scored.write.format("noop").mode("overwrite").save()
    return features.count()


def score_row_udf(spark: SparkSession, features: DataFrame, artifact: ModelArtifact) -> int:
    """A row-at-a-time Python UDF: one booster call per row (the pattern to avoid)."""
    model_bytes = spark.sparkContext.broadcast(artifact.model_bytes)
    categories = list(artifact.categories)
    cache: dict[str, xgb.Booster] = {}

    def score_one(*values: float | None) -> str:
        booster = cache.get("b")
        if booster is None:
            booster = booster_from_bytes(model_bytes.value, nthread=1)
            cache["b"] = booster
        row = np.array([[np.nan if v is None else v for v in values]], dtype=np.float32)
        return categories[int(booster.inplace_predict(row)[0].argmax())]

    udf = F.udf(score_one, T.StringType())
    scored = features.select(S.ROW_ID, udf(*[F.col(c) for c in artifact.feature_names]))
    scored.write.format("noop").mode("overwrite").save()
    return features.count()


def score_pandas_single_process(feature_path: str, artifact: ModelArtifact) -> int:
    """No Spark: pandas + Booster.predict on one thread, the per-core compute floor."""
    frame = pd.read_parquet(feature_path, columns=list(artifact.feature_names))
    booster = artifact.booster(nthread=1)
    rows = 0
    for batch in _batches(frame, 10_000):
        predict_frame(booster, batch, artifact.categories)
        rows += len(batch)
    return rows


def _batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]
