"""The model-URI resolver: what `--model` names, to an artifact folder and its registry entry.

Three forms (`resolve`):
- `models:/NAME@ALIAS` or `models:/NAME/VERSION`: what the scoring job needs from the MLflow
  registry, and nothing else: find the version, download its artifact folder, check it against
  the registry's sha256 tag. Needs MLflow and the tracking store (driver only).
- a published alias folder (`txcat promote` with `lifecycle.publish_uri`): `<root>/champion/`
  holds `pointer.json` naming the immutable `<root>/versions/N/` folder. Needs neither MLflow
  nor the tracking store: the production path.
- an artifact folder, local or on S3/HDFS.

Training runs, registration, promotion and publication live in `txcat.lifecycle`, which builds
on this. Executors never import MLflow: the driver loads the bytes, verifies them, broadcasts.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
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
#: A registered or published version's record of its registry entry (name, version).
REGISTRATION_FILE = "registration.json"
#: Publication layout (`lifecycle.publish_uri`): `versions/<N>/` and `<alias>/pointer.json`.
POINTER_FILE = "pointer.json"
VERSIONS_FOLDER = "versions"
POINTER_KEYS = ("name", "version", "alias", "sha256", "path")
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")
_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class RegistryError(ModelArtifactError):
    """A registered model, version or alias does not exist, or its download is wrong.

    A `ModelArtifactError`: for the scoring job, an unresolvable model is a refused model.
    """


class RegistryUnavailableError(RegistryError):
    """The tracking store does not exist, or the registry cannot be reached."""


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


#: The setting naming the tracking store and registry, for error messages.
TRACKING_SETTING = "lifecycle.tracking_uri"


def local_store(uri: str) -> Path | None:
    """The file or folder of a local tracking store (`sqlite:///...`, `file:...`, a path)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :])
    if uri.startswith("file:"):
        return Path(uri[len("file:") :].removeprefix("//"))
    if "://" not in uri and ":" not in uri.split("/", 1)[0]:
        return Path(uri)
    return None


def tracking_uri(cfg: Config, create: bool = False) -> str:
    """The configured store, checked before any MLflow client can create it.

    Only training creates a store (`create=True`: a local SQLite file's folder is made); every
    other command reads an existing one, so a mistyped location is an error, not a new store.

    Raises:
        RegistryError: A local store that does not exist, naming it and its setting.
    """
    uri = cfg.lifecycle.tracking_uri
    path = local_store(uri)
    if path is None:
        return uri
    if create:
        (path.parent if uri.startswith("sqlite:") else path).mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise RegistryUnavailableError(
            f"tracking store {uri} ({TRACKING_SETTING}) does not exist: {path.resolve()} is "
            f"missing; train and register a model first, or set {TRACKING_SETTING}"
        )
    return uri


def client(cfg: Config, create: bool = False) -> MlflowClient:
    """An MlflowClient on the configured store (tracking and registry); see `tracking_uri`."""
    from mlflow import MlflowClient

    uri = tracking_uri(cfg, create)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def unreachable(cfg: Config, exc: BaseException) -> RegistryUnavailableError:
    """The error for a registry call that failed for another reason than a missing entry."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RegistryUnavailableError(
        f"model registry at {cfg.lifecycle.tracking_uri} ({TRACKING_SETTING}) failed: {first}"
    )


def get_version(cfg: Config, ref: ModelRef) -> Any:
    """The ModelVersion an alias or version number points at."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(cfg)
    try:
        if ref.alias is not None:
            return mlflow_client.get_model_version_by_alias(ref.name, ref.alias)
        return mlflow_client.get_model_version(ref.name, str(ref.version))
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise unreachable(cfg, exc) from exc
        what = f"alias {ref.alias!r}" if ref.alias is not None else f"version {ref.version}"
        raise RegistryError(
            f"registered model {ref.name!r} has no {what} in {cfg.lifecycle.tracking_uri}: "
            f"{exc.message if hasattr(exc, 'message') else exc}"
        ) from exc
    except OSError as exc:
        raise unreachable(cfg, exc) from exc


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
    from mlflow.exceptions import MlflowException

    version = get_version(cfg, ref)
    try:
        folder = download_version(cfg, version, destination)
    except (MlflowException, OSError) as exc:
        raise unreachable(cfg, exc) from exc
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
    return _resolve_registry(uri, cfg)[0]


def _resolve_registry(
    uri: str, cfg: Config | None, destination: str | Path | None = None
) -> tuple[str, ModelSource]:
    if cfg is None:
        raise RegistryError(f"{uri}: resolving a registry URI needs the lifecycle configuration")
    ref = parse_models_uri(uri)
    try:
        import mlflow  # noqa: F401  (the job's own environment may not have it)
    except ImportError as exc:
        raise RegistryUnavailableError(
            f"{uri}: a registry URI needs MLflow on the driver (the lifecycle extra) and a "
            f"tracking server ({TRACKING_SETTING}); without them give the published alias "
            f"folder, --model <lifecycle.publish_uri>/{ref.alias or 'champion'}/"
        ) from exc
    version, folder, artifact = fetch_version(cfg, ref, destination)
    log.info(
        "%s resolved to version %s (%s, sha256 %s) in %s",
        uri,
        version.version,
        artifact.version,
        artifact.sha256,
        folder,
    )
    source = ModelSource(uri, ref.name, str(version.version), ref.alias, artifact.sha256)
    return str(folder), source


# --- Published models: what the scoring job reads without the tracking database -------------


@dataclass(frozen=True)
class ModelSource:
    """Where a scored model came from: the URI given and, when known, its registry entry.

    `sha256` is the checksum the source promises (registry tag, publication pointer); the
    loaded artifact must match it.
    """

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    sha256: str | None = None


def pointer_uri(publish_root: str, alias: str) -> str:
    """`<root>/<alias>/pointer.json`: the object a promotion replaces last."""
    return f"{publish_root.rstrip('/')}/{alias}/{POINTER_FILE}"


def version_uri(publish_root: str, version: str) -> str:
    """`<root>/versions/<N>`: a published version's artifact folder, never rewritten."""
    return f"{publish_root.rstrip('/')}/{VERSIONS_FOLDER}/{version}"


def parse_pointer(body: bytes, where: str) -> dict[str, str]:
    """A publication pointer's fields, checked.

    Raises:
        RegistryError: Not a JSON object with string `name`, `version`, `alias`, `sha256`, `path`.
    """
    try:
        pointer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RegistryError(f"model pointer {where} is not JSON: {exc}") from exc
    if not isinstance(pointer, dict) or not all(
        isinstance(pointer.get(k), str) and pointer[k] for k in POINTER_KEYS
    ):
        raise RegistryError(f"model pointer {where} lacks one of {', '.join(POINTER_KEYS)}")
    if ".." in pointer["path"].split("/") or pointer["path"].startswith("/"):
        raise RegistryError(f"model pointer {where}: path {pointer['path']!r} leaves its root")
    return {k: pointer[k] for k in POINTER_KEYS}


def resolve(
    uri: str,
    cfg: Config | None,
    read: Callable[[str], bytes],
    exists: Callable[[str], bool],
    destination: str | Path | None = None,
) -> tuple[str, ModelSource]:
    """The artifact folder to load for `--model`, and where it came from.

    - `models:/NAME@ALIAS`, `models:/NAME/VERSION`: downloaded from the registry (driver only)
      into `destination` (default: a folder per name and version under the temporary folder);
    - a published alias folder (`<root>/champion/`, holding `pointer.json`): the version
      folder it names (`<root>/versions/N/`), read through `read` (S3, HDFS, local);
    - any other folder: itself; a `registration.json` in it names its registry entry.

    Raises:
        RegistryError: unknown or malformed registry URI or pointer, an unreachable registry.
    """
    if uri.startswith(MODELS_SCHEME):
        return _resolve_registry(uri, cfg, destination)
    base = uri.rstrip("/")
    if exists(f"{base}/{POINTER_FILE}"):
        pointer = parse_pointer(read(f"{base}/{POINTER_FILE}"), f"{base}/{POINTER_FILE}")
        root = base.rsplit("/", 1)[0]
        folder = f"{root}/{pointer['path']}"
        log.info("%s points at %s version %s: %s", uri, pointer["name"], pointer["version"], folder)
        source = ModelSource(
            uri, pointer["name"], pointer["version"], pointer["alias"], pointer["sha256"]
        )
        return folder, source
    if exists(f"{base}/{REGISTRATION_FILE}"):
        try:
            record = json.loads(read(f"{base}/{REGISTRATION_FILE}").decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            record = None
        if isinstance(record, dict) and record.get("name") and record.get("version"):
            return uri, ModelSource(uri, str(record["name"]), str(record["version"]))
        log.warning("%s/%s is not a registration record: ignored", base, REGISTRATION_FILE)
    return uri, ModelSource(uri)


def load_verified(
    uri: str,
    cfg: Config | None,
    read: Callable[[str], bytes],
    exists: Callable[[str], bool],
    error: type[ModelArtifactError] = RegistryError,
    destination: str | Path | None = None,
) -> tuple[ModelArtifact, ModelSource]:
    """The one way to load a model named by a URI: resolved (`resolve`), loaded and verified.

    The scoring job, the monitor and the real-time API all load through here: `model.json`, the
    checksum of the bytes and of the tables it lists (`model.load_artifact`), and the checksum
    the source promises (registry tag, publication pointer). Whether the features and categories
    are the caller's own is the caller's check (`model.check_compatible`).

    Args:
        uri: What `--model` names (see `resolve`).
        cfg: The configuration (the tracking store, for a registry URI); None for folders.
        read: Reads one object (local, S3, HDFS).
        exists: Whether an object exists.
        error: The error raised when the artifact is not the one its source promises.
        destination: Where a registry version is downloaded (see `resolve`).

    Raises:
        ModelArtifactError: the artifact is refused or unreadable (`error` for a checksum other
            than the promised one); RegistryError: the registry or the pointer fails.
    """
    folder, source = resolve(uri, cfg, read, exists, destination)
    artifact = load_artifact(folder, read=read)
    if source.sha256 is not None and source.sha256 != artifact.sha256:
        raise error(
            f"{uri} promises sha256 {source.sha256}, the model in {folder} is {artifact.sha256}"
        )
    return artifact, source
