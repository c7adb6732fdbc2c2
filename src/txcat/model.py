"""The model artifact: the contract between training and every scorer.

A folder holding
- `model.ubj`: the booster in XGBoost's native UBJSON format (never pickle);
- `model.json`: version, sha256 of `model.ubj`, ordered feature names, category list,
  training parameters and metrics, library versions;
- `training_files.txt`: the files the model was trained on, one per line;
- `memory.parquet` (models with label-memory features): the label memory the features look up
  (`txcat.features.memory`), its sha256 and smoothing constants in `model.json`'s `memory`;
- `profile.json` (models trained with monitoring): the reference profile the daily monitor
  compares each day with (`txcat.monitor.profile`), its sha256 in `model.json`'s `profile`.

A scorer loads the folder, checks the metadata's types, recomputes the checksums (model and
memory table), loads the booster once and checks it against the metadata (class count, feature
count, feature names), then compares the feature list with the features it computes; any
mismatch refuses the model.
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

from txcat.engine import ENGINES, XGBOOST, Predictor, predictor

MODEL_FILE = "model.ubj"
METADATA_FILE = "model.json"
TRAINING_FILES = "training_files.txt"
MEMORY_FILE = "memory.parquet"
PROFILE_FILE = "profile.json"
#: Names of the features read from the label memory; a model using one needs its table.
MEMORY_FEATURE_PREFIX = "mem_"
#: The label memory's probability of category k is the feature `mem_p_<k>`.
MEMORY_P_PREFIX = f"{MEMORY_FEATURE_PREFIX}p_"
FORMAT_VERSION = 1
#: The objective every scorer relies on: one probability per category.
SOFTPROB = "multi:softprob"


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
    #: The label memory table (Parquet bytes, checked against `metadata["memory"]["sha256"]`);
    #: None for a model without memory features.
    memory_table: bytes | None = field(default=None, repr=False)
    #: The monitoring reference profile (JSON bytes, checked against
    #: `metadata["profile"]["sha256"]`); None for a model trained without one.
    profile: bytes | None = field(default=None, repr=False)

    @property
    def memory_smoothing(self) -> tuple[float, ...]:
        """The smoothing constant of each memory level the model was trained with."""
        return tuple(float(m) for m in self.metadata["memory"]["smoothing"])

    @property
    def engine(self) -> str:
        """The prediction engine every scorer of this model uses (`txcat.engine`)."""
        return str(self.metadata.get("engine", XGBOOST))

    @property
    def memory_backoff(self) -> tuple[tuple[int, int], ...]:
        """(category index, `mem_p_<k>` feature column) of each category whose probability
        comes from the label memory (`txcat.engine.MemoryBackoff`); empty for most models."""
        names = (self.metadata.get("memory") or {}).get("backoff_categories") or []
        return memory_backoff(names, self.categories, self.feature_names)

    def booster(self, nthread: int = 1) -> xgb.Booster:
        return booster_from_bytes(self.model_bytes, nthread)

    def predictor(self, nthread: int = 1) -> Predictor:
        """The model's booster behind its recorded engine.

        Raises:
            EngineError: the engine cannot run here (oneDAL not installed).
        """
        return predictor(self.booster(nthread), self.engine, nthread, self.memory_backoff)


def memory_backoff(
    backoff_categories: Sequence[str], categories: Sequence[str], feature_names: Sequence[str]
) -> tuple[tuple[int, int], ...]:
    """(category index, feature column of its `mem_p_<k>`) for each named category.

    Raises:
        ModelArtifactError: a category the model does not predict, or no memory feature for it.
    """
    for name in backoff_categories:
        if name not in categories:
            raise ModelArtifactError(f"memory back-off category {name!r} is not predicted")
    return memory_columns([list(categories).index(n) for n in backoff_categories], feature_names)


def memory_columns(
    classes: Sequence[int], feature_names: Sequence[str]
) -> tuple[tuple[int, int], ...]:
    """(class, column of its `mem_p_<k>` feature) pairs for `txcat.engine.predictor`.

    Raises:
        ModelArtifactError: a class without its memory feature.
    """
    names = list(feature_names)
    pairs = []
    for k in classes:
        column = f"{MEMORY_P_PREFIX}{k}"
        if column not in names:
            raise ModelArtifactError(f"memory back-off of class {k} has no {column} feature")
        pairs.append((k, names.index(column)))
    return tuple(pairs)


def booster_from_bytes(model_bytes: bytes, nthread: int = 1) -> xgb.Booster:
    """The booster serialized in `model_bytes`; every scorer builds its booster here.

    Raises:
        ModelArtifactError: The bytes are not a booster XGBoost can load.
    """
    try:
        booster = xgb.Booster(model_file=bytearray(model_bytes))
    except xgb.core.XGBoostError as exc:
        first_line = str(exc).strip().split("\n", 1)[0]
        raise ModelArtifactError(f"model bytes are not a loadable booster: {first_line}") from exc
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
    extra: Mapping[str, Any] | None = None,
    memory: tuple[bytes, Sequence[float]] | None = None,
    profile: bytes | None = None,
    engine: str = XGBOOST,
    memory_backoff: Sequence[str] = (),
) -> ModelArtifact:
    """Writes a new artifact folder and returns it as loaded.

    `extra` adds top-level metadata entries (e.g. `fitted_on`, `evaluation`); it cannot replace
    the contract's own keys. `memory` is the label memory table (Parquet bytes) and its
    smoothing constants, required when a feature name starts with `MEMORY_FEATURE_PREFIX`.
    `profile` is the monitoring reference profile (JSON bytes). `engine` is the prediction
    engine every scorer of the model uses (`txcat.engine`). `memory_backoff` names the categories
    whose probabilities come from the label memory (`txcat.engine.MemoryBackoff`).
    """
    if memory_backoff and memory is None:
        raise ValueError("memory_backoff needs the label memory (memory=...)")
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
        "engine": engine,
        "params": dict(params),
        "metrics": dict(metrics),
        "training_files_count": len(files),
    }
    table = None
    if memory is not None:
        table, smoothing = memory
        record: dict[str, Any] = {
            "file": MEMORY_FILE,
            "sha256": sha256_hex(table),
            "smoothing": [float(m) for m in smoothing],
        }
        if memory_backoff:
            record["backoff_categories"] = list(memory_backoff)
        metadata["memory"] = record
        (out / MEMORY_FILE).write_bytes(table)
    if profile is not None:
        metadata["profile"] = {"file": PROFILE_FILE, "sha256": sha256_hex(profile)}
        (out / PROFILE_FILE).write_bytes(profile)
    metadata |= {k: v for k, v in (extra or {}).items() if k not in metadata}
    (out / MODEL_FILE).write_bytes(model_bytes)
    (out / TRAINING_FILES).write_text("".join(f"{f}\n" for f in files), encoding="utf-8")
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return parse_artifact(model_bytes, metadata, table, profile)


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
        table = None
        if isinstance(metadata, Mapping) and isinstance(metadata.get("memory"), Mapping):
            table = reader(f"{base}/{metadata['memory'].get('file', MEMORY_FILE)}")
        profile = None
        if isinstance(metadata, Mapping) and isinstance(metadata.get("profile"), Mapping):
            profile = reader(f"{base}/{metadata['profile'].get('file', PROFILE_FILE)}")
    except (OSError, ValueError) as exc:
        raise ModelArtifactError(f"cannot read model artifact {folder}: {exc}") from exc
    return parse_artifact(model_bytes, metadata, table, profile)


def parse_artifact(
    model_bytes: bytes,
    metadata: Any,
    memory_table: bytes | None = None,
    profile: bytes | None = None,
) -> ModelArtifact:
    """Checks the metadata, the checksums of the model bytes, memory table and profile, and the
    booster.

    A model whose features read the label memory is refused without its table; a model without
    memory features loads without one.
    """
    _check_metadata(metadata)
    actual = sha256_hex(model_bytes)
    if actual != metadata["sha256"]:
        raise ModelArtifactError(
            f"model checksum mismatch: metadata says {metadata['sha256']}, bytes are {actual}"
        )
    _check_memory(metadata, memory_table)
    _check_profile(metadata, profile)
    artifact = ModelArtifact(
        version=metadata["version"],
        sha256=actual,
        feature_names=tuple(metadata["feature_names"]),
        categories=tuple(metadata["categories"]),
        model_bytes=model_bytes,
        metadata=dict(metadata),
        memory_table=memory_table,
        profile=profile,
    )
    artifact.memory_backoff  # noqa: B018 - refuses back-off categories the model cannot serve
    check_booster(artifact.booster(), artifact)
    return artifact


def _check_metadata(metadata: Any) -> None:
    """Refuses metadata that is not a JSON object with the keys and types an artifact needs."""
    if not isinstance(metadata, Mapping):
        raise ModelArtifactError(
            f"model metadata must be a JSON object, got {type(metadata).__name__}"
        )
    for key in ("version", "sha256", "feature_names", "categories"):
        if key not in metadata:
            raise ModelArtifactError(f"model metadata lacks {key!r}")
    for key in ("version", "sha256"):
        if not isinstance(metadata[key], str) or not metadata[key]:
            raise ModelArtifactError(
                f"model metadata {key!r} must be a non-empty string, got {metadata[key]!r}"
            )
    if metadata.get("engine", XGBOOST) not in ENGINES:
        raise ModelArtifactError(
            f"model metadata 'engine' must be one of {', '.join(ENGINES)}, "
            f"got {metadata['engine']!r}"
        )
    for key in ("feature_names", "categories"):
        values = metadata[key]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v for v in values)
        ):
            raise ModelArtifactError(f"model metadata {key!r} must be a non-empty list of strings")
        if len(set(values)) != len(values):
            raise ModelArtifactError(f"model metadata {key!r} has repeated names")


def _check_memory(metadata: Mapping[str, Any], table: bytes | None) -> None:
    """Refuses a missing, malformed or altered label memory table."""
    uses_memory = any(n.startswith(MEMORY_FEATURE_PREFIX) for n in metadata["feature_names"])
    record = metadata.get("memory")
    if record is None:
        if uses_memory:
            raise ModelArtifactError(
                f"model {metadata['version']} has label-memory features but no memory table "
                f"(model.json lacks 'memory')"
            )
        return
    if (
        not isinstance(record, Mapping)
        or not isinstance(record.get("sha256"), str)
        or not isinstance(record.get("smoothing"), list)
        or not all(isinstance(m, int | float) and m > 0 for m in record["smoothing"])
    ):
        raise ModelArtifactError(
            "model metadata 'memory' must hold the table's sha256 and positive smoothing constants"
        )
    if table is None:
        raise ModelArtifactError(f"model {metadata['version']}: the memory table is missing")
    actual = sha256_hex(table)
    if actual != record["sha256"]:
        raise ModelArtifactError(
            f"memory table checksum mismatch: metadata says {record['sha256']}, bytes are {actual}"
        )


def _check_profile(metadata: Mapping[str, Any], profile: bytes | None) -> None:
    """Refuses a listed reference profile that is missing or altered (an unlisted one is absent)."""
    record = metadata.get("profile")
    if record is None:
        return
    if not isinstance(record, Mapping) or not isinstance(record.get("sha256"), str):
        raise ModelArtifactError("model metadata 'profile' must hold the profile's sha256")
    if profile is None:
        raise ModelArtifactError(f"model {metadata['version']}: the reference profile is missing")
    actual = sha256_hex(profile)
    if actual != record["sha256"]:
        raise ModelArtifactError(
            f"reference profile checksum mismatch: metadata says {record['sha256']}, "
            f"bytes are {actual}"
        )


def booster_shape(booster: xgb.Booster) -> tuple[str, int, int]:
    """The booster's own objective, class count and feature count (from its saved config)."""
    learner = json.loads(booster.save_config())["learner"]
    objective = str(learner.get("objective", {}).get("name", ""))
    num_class = int(learner.get("learner_model_param", {}).get("num_class", 0))
    return objective, num_class, booster.num_features()


def check_booster(booster: xgb.Booster, artifact: ModelArtifact) -> None:
    """Refuses a booster that does not produce what the metadata promises.

    The scorer reads one probability per listed category from a `multi:softprob` booster fed
    the listed features in order: another objective, class count, feature count or stored
    feature names would silently score with a wrong mapping, or fail after the input is read.
    """
    objective, num_class, num_features = booster_shape(booster)
    if objective != SOFTPROB:
        raise ModelArtifactError(
            f"model {artifact.version}: booster objective is {objective!r}, expected {SOFTPROB!r}"
        )
    if num_class != len(artifact.categories):
        raise ModelArtifactError(
            f"model {artifact.version}: booster has {num_class} classes, "
            f"model.json lists {len(artifact.categories)} categories"
        )
    if num_features != len(artifact.feature_names):
        raise ModelArtifactError(
            f"model {artifact.version}: booster takes {num_features} features, "
            f"model.json lists {len(artifact.feature_names)}"
        )
    stored = booster.feature_names
    if stored is not None and tuple(stored) != artifact.feature_names:
        differ = [
            f"{i}: {b!r} != {m!r}"
            for i, (b, m) in enumerate(zip(stored, artifact.feature_names, strict=True))
            if b != m
        ]
        raise ModelArtifactError(
            f"model {artifact.version}: booster feature names differ from model.json "
            f"at position {', '.join(differ[:3])}"
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
