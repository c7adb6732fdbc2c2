"""Scoring one account file in process: cleaned records -> features -> the batch job's booster call.

`Scorer` holds what a request needs and nothing it must reload per request: the verified model
artifact, its booster (deserialized once), its label memory as dictionaries, and the reference
tables as of a day. Predictions come from `score.predict_frame`, the function the batch job's
UDF calls on every Arrow batch, so both runtimes make the same `Booster.inplace_predict` call on
the same float32 matrix.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from txcat import schema as S
from txcat.config import Config
from txcat.engine import EngineError, Predictor, feature_matrix
from txcat.features import FEATURE_COLUMNS
from txcat.features.memory import MemoryIndex
from txcat.model import ModelArtifact, ModelArtifactError, check_compatible, load_artifact
from txcat.score import TOP_K, predict_frame
from txcat.serve.features import ReferenceTables, feature_frame, load_reference_tables
from txcat.serve.rows import CleaningRules, FileRecords, cleaning_rules, read_file

log = logging.getLogger(__name__)

#: Feature contributions returned per prediction with `explain`.
EXPLAIN_TOP = 5
BIAS = "bias"


def read_uri(uri: str) -> bytes:
    """One object's bytes: a local path, `file:` URI or `s3://` / `s3a://` object (boto3)."""
    if uri.startswith(("s3://", "s3a://")):
        import boto3  # the job extra's; only an S3 location needs it

        bucket, _, key = uri.split("://", 1)[1].partition("/")
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        return bytes(body.read())
    path = uri.removeprefix("file://")
    path = path.removeprefix("file:")
    return Path(path).read_bytes()


def uri_exists(uri: str) -> bool:
    """Whether `read_uri` would find an object there."""
    if uri.startswith(("s3://", "s3a://")):
        import boto3
        from botocore.exceptions import ClientError

        bucket, _, key = uri.split("://", 1)[1].partition("/")
        try:
            boto3.client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError:
            return False
        return True
    path = uri.removeprefix("file://")
    path = path.removeprefix("file:")
    return Path(path).exists()


@dataclass(frozen=True)
class LoadedModel:
    """A verified artifact with its predictor (booster and engine) and label memory, ready to
    score."""

    artifact: ModelArtifact
    predictor: Predictor = field(repr=False)
    memory: MemoryIndex = field(repr=False)
    #: What identifies this version where it came from (registry version, or sha256).
    source_version: str = ""

    @property
    def booster(self) -> xgb.Booster:
        """The XGBoost booster: its contributions explain the predictions, whatever the engine."""
        return self.predictor.booster

    @property
    def version(self) -> str:
        return self.artifact.version


def load_model(
    folder: str, nthread: int = 1, read: Callable[[str], bytes] = read_uri, source_version: str = ""
) -> LoadedModel:
    """Loads and verifies an artifact folder as the batch job does (`pipeline.load_model`).

    Raises:
        ModelArtifactError: the artifact is refused (checksum, booster, features, categories).
    """
    return loaded_model(load_artifact(folder, read=read), nthread, source_version)


def loaded_model(
    artifact: ModelArtifact, nthread: int = 1, source_version: str = ""
) -> LoadedModel:
    """A loaded artifact (`txcat.model_uri.load_verified`) checked and made ready to serve.

    Raises:
        ModelArtifactError: the artifact is refused (booster, features, categories, memory, an
            engine that cannot run here).
    """
    check_compatible(artifact, FEATURE_COLUMNS, S.CATEGORIES)
    if artifact.memory_table is None:
        raise ModelArtifactError(f"model {artifact.version} has no label memory table")
    try:
        memory = MemoryIndex.from_parquet(artifact.memory_table, artifact.memory_smoothing)
    except (ValueError, OSError) as exc:
        raise ModelArtifactError(f"model {artifact.version}: bad memory table: {exc}") from exc
    try:
        scorer = artifact.predictor(nthread)
    except EngineError as exc:
        raise ModelArtifactError(f"model {artifact.version}: {exc}") from exc
    return LoadedModel(artifact, scorer, memory, source_version or artifact.sha256)


@dataclass(frozen=True)
class Scorer:
    """A loaded model, the reference tables and the cleaning rules of one day."""

    model: LoadedModel
    refs: ReferenceTables
    rules: CleaningRules

    def features(self, records: FileRecords) -> pd.DataFrame:
        """The feature frame of a file's scorable records (the parity test compares it)."""
        return feature_frame(
            records.source_file,
            records.account_id,
            records.scorable,
            self.refs,
            self.model.memory,
        )

    def categorise(
        self,
        records: FileRecords,
        explain: bool | Collection[int] = False,
        with_row_id: bool = True,
    ) -> dict[str, Any]:
        """The answer for one file's records: predictions, and the rejected rows with reasons.

        `explain` adds contributions to every prediction (True) or to those of the given line
        numbers. `records` must not be a rejected file (`file_reason` set): the caller answers
        that.
        """
        scorable = records.scorable
        frame = self.features(records)
        predictions: list[dict[str, Any]] = []
        if scorable:
            matrix = frame[list(self.model.artifact.feature_names)]
            scores = predict_frame(self.model.predictor, matrix, self.model.artifact.categories)
            explained = [
                i
                for i, r in enumerate(scorable)
                if explain is True or (explain and r.line_number in explain)
            ]
            explanations: dict[int, list[dict[str, Any]]] = {}
            if explained:
                found = self.explain(matrix.iloc[explained], scores.iloc[explained])
                explanations = dict(zip(explained, found, strict=True))
            for i, (record, category, probability, top, top_p) in enumerate(
                zip(
                    scorable,
                    scores[S.PREDICTED_CATEGORY].tolist(),
                    scores[S.PREDICTED_PROBABILITY].tolist(),
                    scores["top_categories"],
                    scores["top_probabilities"],
                    strict=True,
                )
            ):
                prediction: dict[str, Any] = {
                    S.LINE_NUMBER: record.line_number,
                    S.ROW_ID: record.row_id if with_row_id else None,
                    S.IS_REPEATED_LINE: record.is_repeated_line,
                    S.PREDICTED_CATEGORY: category,
                    S.PREDICTED_PROBABILITY: probability,
                    S.TOP3: [
                        {"category": c, "probability": float(p)}
                        for c, p in zip(top[:TOP_K], top_p[:TOP_K], strict=True)
                    ],
                }
                if i in explanations:
                    prediction["explanation"] = explanations[i]
                predictions.append(prediction)
        rejected = [
            {
                S.LINE_NUMBER: r.line_number,
                S.ROW_ID: r.row_id if with_row_id else None,
                S.REASON: r.reason,
                S.DETAIL: r.detail,
            }
            for r in records.rejected
        ]
        return {
            S.MODEL_VERSION: self.model.version,
            S.ACCOUNT_ID: records.account_id,
            "predictions": predictions,
            "rejected": rejected,
        }

    def explain(self, matrix: pd.DataFrame, scores: pd.DataFrame) -> list[list[dict[str, Any]]]:
        """XGBoost's exact contributions (SHAP values) to the predicted category's margin.

        The top `EXPLAIN_TOP` features by absolute contribution, each with its value; the bias
        (the margin before any feature) is left out.
        """
        names = list(self.model.artifact.feature_names)
        values = feature_matrix(matrix)
        contribs = np.asarray(
            self.model.booster.predict(
                # One thread, as the booster's: DMatrix's default (every core) costs more than
                # the prediction itself on a busy host.
                xgb.DMatrix(values, missing=np.nan, feature_names=names, nthread=1),
                pred_contribs=True,
            )
        ).reshape(len(matrix), len(self.model.artifact.categories), len(names) + 1)
        index = {c: i for i, c in enumerate(self.model.artifact.categories)}
        out: list[list[dict[str, Any]]] = []
        for row, category in enumerate(scores[S.PREDICTED_CATEGORY]):
            contribution = contribs[row, index[category], :-1]
            top = np.argsort(-np.abs(contribution), kind="stable")[:EXPLAIN_TOP]
            out.append(
                [
                    {
                        "feature": names[j],
                        "value": _json_number(values[row, j]),
                        "contribution": float(contribution[j]),
                    }
                    for j in top
                ]
            )
        return out

    def warm_up(self) -> float:
        """Answers one made-up account file (one row of the run date, explained), so the first
        request pays no set-up cost on any stage; returns the seconds it took.

        Raises:
            ModelArtifactError: the made-up row was not scored.
        """
        started = time.perf_counter()
        day = self.rules.run_date
        date = f"{day.day}.{day.month:02d}.{day.year}"
        row = f"1;201405;SAO PAULO;SP;40;F;5000;2500;{date};10,00;;SAO PAULO;BR"
        content = f"{S.RAW_HEADER}\r\n{row}\r\n".encode("latin-1")
        answer = self.categorise(read_file("warm-up.csv", content, self.rules), explain=True)
        if len(answer["predictions"]) != 1:
            raise ModelArtifactError(f"warm-up row not scored: {answer['rejected']}")
        return time.perf_counter() - started


def _json_number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def build_scorer(cfg: Config, model: LoadedModel, run_date: dt.date) -> Scorer:
    """A scorer for `run_date`: its reference tables (bureau as of that day) and rules."""
    refs = load_reference_tables(cfg.reference, run_date, read_uri)
    for warning in refs.warnings:
        log.warning("%s; every transaction gets its no-reference-row feature value", warning)
    return Scorer(model, refs, cleaning_rules(cfg, run_date))
