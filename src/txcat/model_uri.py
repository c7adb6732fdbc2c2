"""Model registry URIs: `models:/NAME@ALIAS` or `models:/NAME/VERSION` to a local artifact folder.

What the scoring job needs from the MLflow registry, and nothing else: parse the URI, find the
version, download its artifact folder and check it against the registry's sha256 tag. Training
runs, registration and promotion live in `txcat.lifecycle.registry`, which builds on this.

Only the driver talks to MLflow: `resolve_model_uri` downloads the artifact folder, the scoring
job loads its bytes, verifies the checksum and broadcasts them. Executors never import MLflow.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from txcat.config import Config
from txcat.model import ModelArtifact, ModelArtifactError, load_artifact

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

MODELS_SCHEME = "models:/"
TAG_SHA256 = "txcat.sha256"
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")
_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class RegistryError(ModelArtifactError):
    """A registered model, version or alias does not exist, or its download is wrong.

    A `ModelArtifactError`: for the scoring job, an unresolvable model is a refused model.
    """


@dataclass(frozen=True)
class ModelRef:
    name: str
    alias: str | None = None
    version: str | None = None


def parse_models_uri(uri: str) -> ModelRef:
    """`models:/<name>@<alias>` or `models:/<name>/<version>`.

    Raises:
        RegistryError: any other form (e.g. `models:/name/latest`, which the job must not use).
    """
    match = _URI.match(uri)
    if not match:
        raise RegistryError(f"{uri!r} is not models:/<name>@<alias> or models:/<name>/<version>")
    return ModelRef(match["name"], match["alias"], match["version"])


def tracking_uri(cfg: Config) -> str:
    """The configured store; a local SQLite file's folder is created."""
    uri = cfg.lifecycle.tracking_uri
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return uri


def client(cfg: Config) -> MlflowClient:
    """An MlflowClient on the configured store (tracking and registry)."""
    from mlflow import MlflowClient

    uri = tracking_uri(cfg)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def get_version(cfg: Config, ref: ModelRef) -> Any:
    """The ModelVersion an alias or version number points at."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(cfg)
    try:
        if ref.alias is not None:
            return mlflow_client.get_model_version_by_alias(ref.name, ref.alias)
        return mlflow_client.get_model_version(ref.name, str(ref.version))
    except MlflowException as exc:
        what = f"alias {ref.alias!r}" if ref.alias is not None else f"version {ref.version}"
        raise RegistryError(
            f"registered model {ref.name!r} has no {what} in {cfg.lifecycle.tracking_uri}: "
            f"{exc.message if hasattr(exc, 'message') else exc}"
        ) from exc


@contextmanager
def _no_progress_bar() -> Iterator[None]:
    """Downloads run in batch jobs: no terminal progress bars in their logs.

    MLflow reads the switch from the environment only; it is set for the download alone.
    """
    before = os.environ.get(_PROGRESS_BAR)
    if before is None:
        os.environ[_PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_PROGRESS_BAR, None)


def download_version(
    cfg: Config, version: Any, destination: str | Path | None = None, subpath: str = ""
) -> Path:
    """Downloads a version's artifact folder (or one of its subfolders) to a local folder."""
    import mlflow.artifacts

    if destination is None:
        destination = (
            Path(tempfile.gettempdir()) / "txcat-models" / version.name / str(version.version)
        )
    target = Path(destination)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    source = version.source.rstrip("/") + (f"/{subpath}" if subpath else "")
    with _no_progress_bar():
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(target), tracking_uri=tracking_uri(cfg)
        )
    return Path(local)


def fetch_version(
    cfg: Config, ref: ModelRef, destination: str | Path | None = None
) -> tuple[Any, Path, ModelArtifact]:
    """Downloads and verifies a version: checksum of the bytes, and the registry's sha256 tag."""
    version = get_version(cfg, ref)
    folder = download_version(cfg, version, destination)
    try:
        artifact = load_artifact(str(folder))
    except ModelArtifactError as exc:
        raise RegistryError(f"{ref.name} version {version.version}: {exc}") from exc
    expected = (version.tags or {}).get(TAG_SHA256)
    if expected and expected != artifact.sha256:
        raise RegistryError(
            f"{ref.name} version {version.version}: registry says sha256 {expected}, "
            f"the downloaded model is {artifact.sha256}"
        )
    return version, folder, artifact


def resolve_model_uri(uri: str, cfg: Config | None) -> str:
    """A local artifact folder for `models:/<name>@<alias>` or `models:/<name>/<version>`.

    Any other URI or path is returned unchanged (the scoring job reads it itself). The download
    happens on the driver; the caller still loads the folder with `model.load_artifact`.

    Raises:
        RegistryError: malformed URI, unknown model/alias/version, or a checksum mismatch.
    """
    if not uri.startswith(MODELS_SCHEME):
        return uri
    if cfg is None:
        raise RegistryError(f"{uri}: resolving a registry URI needs the lifecycle configuration")
    ref = parse_models_uri(uri)
    version, folder, artifact = fetch_version(cfg, ref)
    log.info(
        "%s resolved to version %s (%s, sha256 %s) in %s",
        uri,
        version.version,
        artifact.version,
        artifact.sha256,
        folder,
    )
    return str(folder)
