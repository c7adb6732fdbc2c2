"""The model artifact: the contract between training and every scorer.

A folder holding
- `model.ubj`: the booster in XGBoost's native UBJSON format (never pickle);
- `model.json`: version, sha256 of `model.ubj`, ordered feature names, category list,
  training parameters and metrics, library versions;
- `training_files.txt`: the files the model was trained on, one per line.

A scorer loads the folder, recomputes the checksum and compares the feature list with the
features it computes; any mismatch refuses the model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xgboost as xgb

MODEL_FILE = "model.ubj"
METADATA_FILE = "model.json"
TRAINING_FILES = "training_files.txt"
FORMAT_VERSION = 1


class ModelArtifactError(RuntimeError):
    """The artifact is missing, corrupt, or does not fit this code's features."""


@dataclass(frozen=True)
class ModelArtifact:
    version: str
    sha256: str
    feature_names: tuple[str, ...]
    categories: tuple[str, ...]
    model_bytes: bytes = field(repr=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def booster(self, nthread: int = 1) -> xgb.Booster:
        booster = xgb.Booster(model_file=bytearray(self.model_bytes))
        booster.set_param({"nthread": nthread})
        return booster


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_artifact(
    folder: str | Path,
    booster: xgb.Booster,
    feature_names: Sequence[str],
    categories: Sequence[str],
    training_files: Iterable[str],
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
) -> ModelArtifact:
    """Writes a new artifact folder and returns it as loaded."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    model_bytes = bytes(booster.save_raw(raw_format="ubj"))
    digest = sha256_hex(model_bytes)
    created = dt.datetime.now(dt.UTC)
    version = f"{created:%Y%m%dT%H%M%SZ}-{digest[:8]}"
    files = sorted(training_files)
    metadata = {
        "format_version": FORMAT_VERSION,
        "version": version,
        "sha256": digest,
        "feature_names": list(feature_names),
        "categories": list(categories),
        "created_at": created.isoformat(),
        "xgboost_version": xgb.__version__,
        "params": dict(params),
        "metrics": dict(metrics),
        "training_files_count": len(files),
    }
    (out / MODEL_FILE).write_bytes(model_bytes)
    (out / TRAINING_FILES).write_text("".join(f"{f}\n" for f in files), encoding="utf-8")
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return parse_artifact(model_bytes, metadata)


def load_artifact(folder: str, read: Callable[[str], bytes] | None = None) -> ModelArtifact:
    """Loads and verifies an artifact folder.

    Args:
        folder: Local path or URI of the artifact folder.
        read: Reads one file by URI; defaults to the local filesystem. The scoring job passes a
            reader going through Spark's filesystem layer so S3 URIs work too.
    """
    reader = read or (lambda uri: Path(uri).read_bytes())
    base = folder.rstrip("/")
    try:
        metadata = json.loads(reader(f"{base}/{METADATA_FILE}").decode("utf-8"))
        model_bytes = reader(f"{base}/{MODEL_FILE}")
    except (OSError, ValueError) as exc:
        raise ModelArtifactError(f"cannot read model artifact {folder}: {exc}") from exc
    return parse_artifact(model_bytes, metadata)


def parse_artifact(model_bytes: bytes, metadata: Mapping[str, Any]) -> ModelArtifact:
    """Checks the metadata and the checksum of the model bytes."""
    for key in ("version", "sha256", "feature_names", "categories"):
        if key not in metadata:
            raise ModelArtifactError(f"model metadata lacks {key!r}")
    actual = sha256_hex(model_bytes)
    if actual != metadata["sha256"]:
        raise ModelArtifactError(
            f"model checksum mismatch: metadata says {metadata['sha256']}, bytes are {actual}"
        )
    return ModelArtifact(
        version=str(metadata["version"]),
        sha256=actual,
        feature_names=tuple(metadata["feature_names"]),
        categories=tuple(metadata["categories"]),
        model_bytes=model_bytes,
        metadata=dict(metadata),
    )


def check_compatible(
    artifact: ModelArtifact, feature_names: Sequence[str], categories: Sequence[str]
) -> None:
    """Refuses a model trained on other features (names or order) or other categories."""
    if tuple(artifact.feature_names) != tuple(feature_names):
        missing = sorted(set(feature_names) - set(artifact.feature_names))
        extra = sorted(set(artifact.feature_names) - set(feature_names))
        raise ModelArtifactError(
            f"model {artifact.version} was trained on other features: "
            f"missing {missing}, unexpected {extra}, or another order"
        )
    if tuple(artifact.categories) != tuple(categories):
        raise ModelArtifactError(f"model {artifact.version} predicts other categories")
