"""The model being served: loaded once, warmed up, reloaded beside the old one when it moves.

`ModelLocation` knows where the model comes from (`txcat.model_uri.resolve`) and how to tell
that it changed cheaply: the registry version an alias points at (`models:/NAME@ALIAS`), the
checksum a published alias folder's pointer promises, or the sha256 in a folder's `model.json`
(a local or S3 folder rewritten in place). `ModelService` holds the current
`Scorer`; a background thread polls the source every `serving.reload_interval_s` and, when it
changed, loads, verifies and warms up the new version while requests keep being answered by
the old one, then swaps the reference (one assignment: a request in flight keeps the scorer it
started with). A version that fails to load is logged and counted; the old one stays.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from txcat.config import Config
from txcat.model import METADATA_FILE, ModelArtifactError
from txcat.model_uri import (
    MODELS_SCHEME,
    get_version,
    load_verified,
    parse_models_uri,
    resolve,
)
from txcat.serve.metrics import Metrics
from txcat.serve.scorer import (
    LoadedModel,
    Scorer,
    build_scorer,
    loaded_model,
    read_uri,
    uri_exists,
)

log = logging.getLogger(__name__)


def today() -> dt.date:
    """The run date of a real-time request: today in UTC, as the daily job's run date is."""
    return dt.datetime.now(dt.UTC).date()


class ModelLocation:
    """A model URI as `txcat.model_uri.resolve` reads it: a registry URI, a published alias
    folder (`<root>/champion/`, its `pointer.json`), or an artifact folder."""

    def __init__(self, uri: str, cfg: Config) -> None:
        self.uri = uri
        self.cfg = cfg
        self._downloads: list[Path] = []

    @property
    def is_registry(self) -> bool:
        return self.uri.startswith(MODELS_SCHEME)

    def current_version(self) -> str:
        """What identifies the version the URI points at now, without downloading it: the
        registry version, else the checksum the pointer promises or the folder's `model.json`
        holds."""
        if self.is_registry:
            return str(get_version(self.cfg, parse_models_uri(self.uri)).version)
        folder, source = resolve(self.uri, self.cfg, read_uri, uri_exists)
        if source.sha256:
            return source.sha256
        try:
            metadata = json.loads(read_uri(f"{folder.rstrip('/')}/{METADATA_FILE}"))
        except (OSError, ValueError) as exc:
            raise ModelArtifactError(f"cannot read {folder}/{METADATA_FILE}: {exc}") from exc
        if not isinstance(metadata, dict):
            raise ModelArtifactError(f"{folder}/{METADATA_FILE} is not a JSON object")
        return str(metadata.get("sha256", ""))

    def load(self, nthread: int) -> LoadedModel:
        """Resolves and loads the version the URI points at now, verified as the job does.

        Raises:
            ModelArtifactError: the model is unreachable or refused.
        """
        if not self.is_registry:
            artifact, _ = load_verified(self.uri, self.cfg, read_uri, uri_exists)
            return loaded_model(artifact, nthread)
        # Each worker downloads into its own folder: two processes never share one.
        destination = Path(tempfile.mkdtemp(prefix="txcat-serve-model-"))
        try:
            artifact, source = load_verified(
                self.uri, self.cfg, read_uri, uri_exists, destination=destination / "artifact"
            )
            model = loaded_model(artifact, nthread, source_version=str(source.version))
        except BaseException:
            shutil.rmtree(destination, ignore_errors=True)
            raise
        # The bytes are in memory now; keep only the newest download on disk.
        for old in self._downloads:
            shutil.rmtree(old, ignore_errors=True)
        self._downloads = [destination]
        return model


class ModelService:
    """The scorer being served, its readiness, and the poller that reloads it."""

    def __init__(
        self,
        cfg: Config,
        source: ModelLocation,
        metrics: Metrics,
        clock: Callable[[], dt.date] = today,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.metrics = metrics
        self.clock = clock
        self.scorer: Scorer | None = None
        self.problem: str | None = "the model is loading"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.scorer is not None

    def load(self) -> Scorer:
        """Loads the current version, builds its scorer for today, warms it up, serves it."""
        model = self.source.load(self.cfg.scoring.predict_threads)
        scorer = build_scorer(self.cfg, model, self.clock())
        seconds = scorer.warm_up()
        self._serve(scorer)
        # What is loaded now lives as long as the process (or this version): keep it out of
        # the cyclic collector's full passes, which otherwise walk the ~200,000 objects of
        # the libraries and the model every few hundred requests (~90 ms of CPU each time).
        gc.freeze()
        log.info(
            "serving model %s (%s) from %s, warmed up in %.3f s",
            model.version,
            model.source_version,
            self.source.uri,
            seconds,
        )
        return scorer

    def _serve(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.problem = None
        self.metrics.model_version = scorer.model.version
        self.metrics.ready = True

    def current(self) -> Scorer | None:
        """The scorer for today: rebuilt with today's reference snapshot on a new day."""
        scorer = self.scorer
        if scorer is None:
            return None
        day = self.clock()
        if scorer.rules.run_date != day:
            with self._lock:
                scorer = self.scorer
                if scorer is not None and scorer.rules.run_date != day:
                    scorer = build_scorer(self.cfg, scorer.model, day)
                    self._serve(scorer)
        return scorer

    def check(self) -> bool:
        """Reloads when the source points at another version; True when it did."""
        with self._lock:
            scorer = self.scorer
            try:
                if scorer is not None:
                    version = self.source.current_version()
                    if version == scorer.model.source_version:
                        return False
                self.load()
            except Exception as exc:  # noqa: BLE001 - a failed reload keeps the old model
                self.problem = f"{type(exc).__name__}: {exc}"
                if scorer is not None:
                    self.metrics.count_reload("failed")
                log.error("model %s not (re)loaded: %s", self.source.uri, self.problem)
                return False
            if scorer is not None:
                self.metrics.count_reload("loaded")
            return True

    def start(self) -> None:
        """Loads in the background (the API answers /healthz meanwhile), then polls."""

        def run() -> None:
            while not self._stop.is_set():
                self.check()
                interval = (
                    self.cfg.serving.reload_interval_s
                    if self.ready
                    else min(self.cfg.serving.reload_interval_s, 5.0)
                )
                self._stop.wait(interval)

        self._thread = threading.Thread(target=run, name="txcat-model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> dict[str, Any]:
        scorer = self.scorer
        return {
            "ready": scorer is not None,
            "model_version": scorer.model.version if scorer else None,
            "model_uri": self.source.uri,
            "run_date": scorer.rules.run_date.isoformat() if scorer else None,
            "problem": self.problem,
        }
