"""`txcat serve`: the real-time API under uvicorn.

The model is loaded and verified once before the server starts, so a refused or unreachable
model exits with `exits.BAD_MODEL` instead of a server that never becomes ready. Each uvicorn
worker process then loads it for itself (`create_app_from_environment`), from the settings this
command passes it through the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

from txcat import exits
from txcat.cli import add_config_options, config_from
from txcat.config import load_config
from txcat.features.enrich import ReferenceDataError
from txcat.model import ModelArtifactError

log = logging.getLogger(__name__)

_SETTINGS = "TXCAT_SERVE_SETTINGS"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve real-time categories over HTTP (FastAPI + uvicorn)",
        description="Start the real-time API: POST /v1/categorise, /healthz, /readyz, /metrics, "
        "OpenAPI at /docs. The model is reloaded when its URI points at a new version "
        "(serving.reload_interval_s).",
    )
    p.add_argument("--model", required=True, help="artifact folder or URI, or models:/NAME@ALIAS")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    add_config_options(p)
    p.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from txcat.serve.metrics import Metrics
    from txcat.serve.protocol import NoDelayH11Protocol
    from txcat.serve.service import ModelLocation, ModelService

    cfg = config_from(args)
    if args.workers < 1 or not 0 < args.port < 65536:
        log.error("--workers must be at least 1 and --port between 1 and 65535")
        return exits.BAD_INPUT
    service = ModelService(cfg, ModelLocation(args.model, cfg), Metrics())
    try:
        scorer = service.load()
    except ModelArtifactError as exc:
        log.error("model refused: %s", exc)
        return exits.BAD_MODEL
    except ReferenceDataError as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    log.info(
        "model %s verified; serving on http://%s:%d (%d worker(s))",
        scorer.model.version,
        args.host,
        args.port,
        args.workers,
    )
    os.environ[_SETTINGS] = json.dumps(
        {
            "model": args.model,
            "env": args.env,
            "conf_dir": args.conf_dir,
            "overrides": list(args.overrides),
        }
    )
    uvicorn.run(
        "txcat.serve.command:create_app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=NoDelayH11Protocol,
        log_level=logging.getLevelName(logging.getLogger().level).lower(),
        timeout_keep_alive=5,
    )
    return exits.OK


def create_app_from_environment() -> Any:
    """The app of one uvicorn worker, from the settings `txcat serve` put in the environment."""
    from txcat.serve.app import create_app
    from txcat.serve.metrics import Metrics
    from txcat.serve.service import ModelLocation, ModelService

    settings = json.loads(os.environ[_SETTINGS])
    cfg = load_config(settings["env"], settings["conf_dir"], settings["overrides"])
    metrics = Metrics()
    service = ModelService(cfg, ModelLocation(settings["model"], cfg), metrics)
    return create_app(service, metrics)
