"""The HTTP API: `POST /v1/categorise`, `/healthz`, `/readyz`, `/metrics`, OpenAPI at `/docs`.

A request holds one account's transactions, as JSON or as the account's file (`text/csv`, the
bytes the batch job reads). Rows the batch job would quarantine come back under `rejected` with
the job's reason codes; a request that cannot be used at all gets a 4xx with a message:

- 400: the JSON body is not JSON (or not UTF-8);
- 408: the body did not arrive within `serving.read_timeout_s`;
- 413: the body is larger than `serving.max_body_bytes` (inflated, for gzip) or holds more
  than `serving.max_rows` rows;
- 415: the content type is neither `application/json` nor `text/csv`;
- 422: a wrong shape (missing or mistyped fields, a transaction without a required column), or
  a file the batch job would reject whole (its file-level reason code is in `reason`);
- 503: no model is loaded yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from txcat import __version__, read
from txcat import schema as S
from txcat.serve.metrics import Metrics
from txcat.serve.rows import FileRecords, read_file, read_transactions
from txcat.serve.service import ModelService

log = logging.getLogger(__name__)

CATEGORISE = "/v1/categorise"
JSON = "application/json"
CSV = "text/csv"
_KNOWN_PATHS = frozenset({CATEGORISE, "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"})


class CategoriseRequest(BaseModel):
    """One account's transactions: each one the bank file's columns by header name, as text."""

    model_config = ConfigDict(extra="forbid", strict=True)

    account_id: str = Field(
        min_length=1,
        max_length=256,
        pattern=r"^[^/\\\x00-\x1f]+$",
        description="the account (a file's name without extension in the batch job)",
    )
    transactions: list[dict[str, str]] = Field(
        min_length=1,
        description="header name -> field text exactly as in the bank's file; the account's "
        "recent rows may be included so that per-account features mean what they mean in the "
        "daily file",
    )
    explain: bool | list[Annotated[int, Field(ge=1)]] = Field(
        False,
        description="add the top 5 feature contributions: true for every transaction, or the "
        "positions (from 1) of the transactions to explain, e.g. [51] for the newest of 51",
    )


class ProblemError(Exception):
    """A request the API refuses: its status code, message and extra fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _openapi_body() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": CategoriseRequest.model_json_schema()},
                CSV: {
                    "schema": {"type": "string", "format": "binary"},
                    "example": S.RAW_HEADER + "\r\n",
                },
            },
        }
    }


async def _body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body, refused (413) as soon as it passes `limit`, or (408) too slow."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, f"body of {int(declared)} bytes is above the limit of {limit}")

    async def collect() -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ProblemError(413, f"body is above the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(collect(), timeout)
    except TimeoutError as exc:
        raise ProblemError(408, f"body not received within {timeout:g} s") from exc


def _records_of_json(body: bytes, service: ModelService) -> CategoriseRequest:
    try:
        payload = CategoriseRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise ProblemError(400, "body is not valid JSON (UTF-8)") from exc
        raise ProblemError(422, "wrong shape", errors=_plain(errors)) from exc
    limit = service.cfg.serving.max_rows
    if len(payload.transactions) > limit:
        raise ProblemError(
            413, f"{len(payload.transactions)} transactions, above the limit of {limit}"
        )
    for position, transaction in enumerate(payload.transactions, start=1):
        names = [name.strip(" ").lower() for name in transaction]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ProblemError(422, f"transaction {position} names {', '.join(repeated)} twice")
        missing = [c for c in S.REQUIRED_RAW_COLUMNS if c not in names]
        if missing:
            raise ProblemError(
                422,
                f"transaction {position} lacks columns: {', '.join(missing)}",
                reason="missing_columns",
            )
    return payload


def _plain(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": e["type"]}
        for e in errors[:20]
    ]


def _records_of_csv(
    body: bytes, source_file: str | None, account_id: str | None, service: ModelService
) -> FileRecords:
    scorer = service.current()
    assert scorer is not None
    if source_file is None and account_id is None:
        raise ProblemError(422, "a text/csv body needs ?source_file=NAME or ?account_id=ID")
    name = source_file or f"{account_id}.csv"
    limit = service.cfg.serving.max_body_bytes
    if body[:2] == b"\x1f\x8b":
        _, problem = read.gunzip_members(body, limit)
        if problem is not None and problem.startswith("inflates beyond"):
            raise ProblemError(413, f"gzip body inflates beyond the limit of {limit} bytes")
    records = read_file(name, body, scorer.rules)
    if account_id is not None:
        records.account_id = account_id
    if records.file_reason is not None:
        raise ProblemError(
            422,
            f"the file is rejected: {records.file_reason}"
            + (f" ({records.file_detail})" if records.file_detail else ""),
            level=S.LEVEL_FILE,
            reason=records.file_reason,
            detail=records.file_detail,
        )
    if len(records.records) > service.cfg.serving.max_rows:
        raise ProblemError(
            413,
            f"{len(records.records)} data lines, above the limit of {service.cfg.serving.max_rows}",
        )
    return records


def create_app(service: ModelService, metrics: Metrics, start: bool = True) -> FastAPI:
    """The API around a model service; `start` loads the model and polls in the background."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start:
            service.start()
        yield
        service.stop()

    app = FastAPI(
        title="txcat real-time categories",
        version=__version__,
        description=__doc__,
        lifespan=lifespan,
    )

    @app.exception_handler(ProblemError)
    async def problem(_: Request, exc: ProblemError) -> JSONResponse:
        # A body too slow or too large is not read to its end: the connection is closed
        # rather than kept to read (and throw away) the rest.
        headers = {"connection": "close"} if exc.status in (408, 413) else None
        return JSONResponse(
            {"detail": exc.message, **exc.extra}, status_code=exc.status, headers=headers
        )

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            path = request.url.path if request.url.path in _KNOWN_PATHS else "other"
            metrics.observe(request.method, path, status, time.perf_counter() - started)

    @app.get("/healthz", summary="the process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="a model is loaded and warmed up")
    def readyz() -> JSONResponse:
        status = service.status()
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post(
        CATEGORISE,
        summary="categorise one account's transactions",
        openapi_extra=_openapi_body(),
        responses={
            400: {"description": "not JSON"},
            408: {"description": "body too slow"},
            413: {"description": "body or rows above the limits"},
            415: {"description": "neither application/json nor text/csv"},
            422: {"description": "wrong shape, or a file rejected whole (reason)"},
            503: {"description": "no model loaded yet"},
        },
    )
    async def categorise(
        request: Request,
        source_file: str | None = Query(
            None,
            max_length=4096,
            description="the file's path as the batch job lists it: gives each row its row_id "
            "(and, for text/csv, its account)",
        ),
        account_id: str | None = Query(
            None, max_length=256, description="text/csv: the account, when not the file name's"
        ),
        explain: bool = Query(False, description="text/csv: add the top 5 contributions"),
    ) -> JSONResponse:
        if service.current() is None:
            return JSONResponse(
                {"detail": "no model loaded yet", "problem": service.problem},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind not in (JSON, CSV):
            raise ProblemError(415, f"content type {kind or 'none'!r}: send {JSON} or {CSV}")
        body = await _body(
            request, service.cfg.serving.max_body_bytes, service.cfg.serving.read_timeout_s
        )
        answer = await run_in_threadpool(
            _answer, service, metrics, kind, body, source_file, account_id, explain
        )
        return JSONResponse(answer)

    return app


def _answer(
    service: ModelService,
    metrics: Metrics,
    kind: str,
    body: bytes,
    source_file: str | None,
    account_id: str | None,
    explain: bool | set[int],
) -> dict[str, Any]:
    scorer = service.current()
    if scorer is None:
        raise ProblemError(503, "no model loaded yet")
    if kind == JSON:
        payload = _records_of_json(body, service)
        records = read_transactions(
            payload.account_id, payload.transactions, scorer.rules, source_file
        )
        if not explain:
            explain = set(payload.explain) if isinstance(payload.explain, list) else payload.explain
    else:
        records = _records_of_csv(body, source_file, account_id, service)
    answer = scorer.categorise(records, explain=explain, with_row_id=source_file is not None)
    metrics.count_rows(len(answer["predictions"]), len(answer["rejected"]))
    return answer
