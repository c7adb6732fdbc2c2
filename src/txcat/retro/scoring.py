"""Retro-scoring: past days scored again with any model version, apart from the champion's.

Each day is read exactly as the daily run of that day read it: the manifest stored with its run
(`OUT/runs/run_date=D/manifest.json`), else the input its summary records; `input_template`
(`s3://landing/{run_date}/`) overrides both. Each day goes through `pipeline.run` (the daily
job's own reading, features, scoring, reconciliation and verdict) with its predictions in
`RETRO/retro/model_version=V/` and its run records (summary, quarantine, stored manifest, lock)
in `RETRO/retro_runs/model_version=V/`: the champion's predictions are never touched. A rerun
replaces the day's partition (dynamic partition overwrite, as the daily job). A day whose input
is gone is reported in the range summary and the range's exit code, and the others still run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from pyspark.sql import SparkSession

from txcat import exits, pipeline, storage, write
from txcat.config import Config
from txcat.features.enrich import ReferenceDataError
from txcat.inputs import InputError
from txcat.model_uri import MODELS_SCHEME, ModelSource, resolve
from txcat.runlock import RunLockedError

log = logging.getLogger(__name__)

RETRO = "retro"
RETRO_RUNS = "retro_runs"
RANGES = "ranges"
MODEL_VERSION_KEY = "model_version"
RUN_DATE_TEMPLATE_KEY = "run_date"

#: Where a day's input came from.
FROM_STORED_MANIFEST = "stored_manifest"
FROM_SUMMARY_MANIFEST = "summary_manifest"
FROM_SUMMARY_INPUT = "summary_input"
FROM_TEMPLATE = "template"

#: A day's outcome in the range summary.
SUCCEEDED = "succeeded"
FAILED = "failed"
INPUT_MISSING = "input_missing"
LOCKED = "locked"


def predictions_path(retro: str, model_version: str) -> str:
    """`RETRO/retro/model_version=V`: one version's predictions, partitioned by run date."""
    return storage.join(retro, RETRO, f"{MODEL_VERSION_KEY}={model_version}")


def records_path(retro: str, model_version: str) -> str:
    """`RETRO/retro_runs/model_version=V`: the output root of one version's day runs."""
    return storage.join(retro, RETRO_RUNS, f"{MODEL_VERSION_KEY}={model_version}")


def range_summary_path(retro: str, model_version: str, first: dt.date, last: dt.date) -> str:
    return storage.join(
        records_path(retro, model_version),
        RANGES,
        f"{first.isoformat()}_{last.isoformat()}.json",
    )


def days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """Every date from `first` to `last`, both included."""
    for offset in range((last - first).days + 1):
        yield first + dt.timedelta(days=offset)


@dataclass(frozen=True)
class DayInput:
    """What one day's daily run read: a folder (`input`) or a manifest, and how it is known.

    `problem` says why nothing can be read (no run record and no template).
    """

    run_date: dt.date
    input: str = ""
    manifest: str = ""
    origin: str = ""
    problem: str = ""


def day_input(
    run_date: dt.date,
    runs_output: str,
    input_template: str,
    read_summary: Callable[[dt.date], dict[str, Any] | None],
    exists: Callable[[str], bool],
) -> DayInput:
    """The input the daily run of `run_date` read, as recorded under `runs_output`.

    `input_template` (with `{run_date}`) wins when given; then the manifest stored with the
    day's run; then the manifest URI or the input its summary records.
    """
    if input_template:
        folder = input_template.format(**{RUN_DATE_TEMPLATE_KEY: run_date.isoformat()})
        return DayInput(run_date, input=folder, origin=FROM_TEMPLATE)
    runs_day = write.partition_path(storage.join(runs_output, write.RUNS), run_date)
    stored = storage.join(runs_day, pipeline.MANIFEST_FILE)
    if exists(stored):
        return DayInput(run_date, manifest=stored, origin=FROM_STORED_MANIFEST)
    summary = read_summary(run_date)
    if summary is None:
        return DayInput(
            run_date,
            problem=f"no run summary in {runs_day} (and no --input-template): "
            "nothing records what the day read",
        )
    if summary.get("manifest_uri"):
        return DayInput(run_date, manifest=summary["manifest_uri"], origin=FROM_SUMMARY_MANIFEST)
    if summary.get("input"):
        return DayInput(run_date, input=summary["input"], origin=FROM_SUMMARY_INPUT)
    return DayInput(run_date, problem=f"the summary in {runs_day} records no input")


@dataclass(frozen=True)
class RangeParams:
    model: str
    first: dt.date
    last: dt.date
    runs_output: str
    retro: str
    input_template: str = ""


@dataclass(frozen=True)
class RangeResult:
    exit_code: int
    summary: dict[str, Any]
    summary_path: str


def pinned_model(spark: SparkSession, cfg: Config, uri: str, source: ModelSource) -> str:
    """The URI naming exactly the version `uri` resolves to now, so that an alias moving while
    the range runs changes nothing: `models:/NAME@ALIAS` becomes `models:/NAME/N`, a published
    alias folder the version folder its pointer names; a folder is already one version."""
    if uri.startswith(MODELS_SCHEME):
        if source.name and source.version:
            return f"{MODELS_SCHEME}{source.name}/{source.version}"
        return uri
    folder, _ = resolve(
        uri,
        cfg,
        read=lambda u: storage.read_bytes(spark, u),
        exists=lambda u: storage.exists(spark, u),
    )
    return folder


def score_range(spark: SparkSession, cfg: Config, params: RangeParams) -> RangeResult:
    """Scores every day from `params.first` to `params.last` with `params.model`.

    Raises:
        ModelArtifactError: The model is refused or unreachable (nothing is scored).
        InputError: The range is empty (`first` after `last`).
    """
    if params.first > params.last:
        raise InputError(f"--from {params.first} is after --to {params.last}")
    artifact, source = pipeline.load_model(spark, params.model, cfg)
    model = pinned_model(spark, cfg, params.model, source)
    version = artifact.version
    log.info("retro-scoring %s..%s with %s (%s)", params.first, params.last, model, version)
    predictions_root = predictions_path(params.retro, version)
    records_root = records_path(params.retro, version)
    outcomes = []
    for run_date in days(params.first, params.last):
        where = day_input(
            run_date,
            params.runs_output,
            params.input_template,
            lambda d: write.read_summary(spark, params.runs_output, d),
            lambda u: storage.exists(spark, u),
        )
        outcomes.append(_score_day(spark, cfg, where, model, predictions_root, records_root))
    summary = {
        "model_uri": params.model,
        "model_scored": model,
        "model_version": version,
        "model_name": source.name,
        "model_registry_version": source.version,
        "model_sha256": artifact.sha256,
        "from": params.first.isoformat(),
        "to": params.last.isoformat(),
        "runs": params.runs_output,
        "input_template": params.input_template,
        "predictions": predictions_root,
        "records": records_root,
        "days": outcomes,
        "days_succeeded": sum(o["status"] == SUCCEEDED for o in outcomes),
        "days_failed": sum(o["status"] == FAILED for o in outcomes),
        "days_input_missing": [o["run_date"] for o in outcomes if o["status"] == INPUT_MISSING],
        "days_locked": [o["run_date"] for o in outcomes if o["status"] == LOCKED],
    }
    code = range_exit_code(outcomes)
    summary["exit_code"] = code
    summary["status"] = SUCCEEDED if code == exits.OK else FAILED
    path = range_summary_path(params.retro, version, params.first, params.last)
    body = json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n"
    storage.write_bytes(spark, path, body.encode("utf-8"))
    return RangeResult(code, summary, path)


def range_exit_code(outcomes: list[dict[str, Any]]) -> int:
    """0 when every day succeeded; else the code of the earliest day whose run failed a check
    (its reconciliation, quarantine, expectations), then of the earliest day that could not run
    (its input gone: `exits.BAD_INPUT`; locked by another run: `exits.RUN_LOCKED`)."""
    for status in (FAILED, INPUT_MISSING, LOCKED):
        for outcome in outcomes:
            if outcome["status"] == status:
                return int(outcome["exit_code"])
    return exits.OK


def _score_day(
    spark: SparkSession,
    cfg: Config,
    where: DayInput,
    model: str,
    predictions_root: str,
    records_root: str,
) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        k: v for k, v in asdict(where).items() if k != "problem" and v != ""
    } | {"run_date": where.run_date.isoformat()}
    if where.problem:
        log.error("%s: %s", where.run_date, where.problem)
        return outcome | _not_run(INPUT_MISSING, exits.BAD_INPUT, where.problem)
    params = pipeline.RunParams(
        where.run_date,
        where.input,
        records_root,
        model,
        manifest=where.manifest,
        predictions_root=predictions_root,
    )
    try:
        result = pipeline.run(spark, cfg, params)
    except InputError as exc:
        log.error("%s: input gone or unreadable: %s", where.run_date, exc)
        return outcome | _not_run(INPUT_MISSING, exits.BAD_INPUT, str(exc))
    except ReferenceDataError as exc:
        log.error("%s: %s", where.run_date, exc)
        return outcome | _not_run(FAILED, exits.BAD_INPUT, str(exc))
    except RunLockedError as exc:
        log.error("%s: %s", where.run_date, exc)
        return outcome | _not_run(LOCKED, exits.RUN_LOCKED, str(exc))
    day = result.summary
    return outcome | {
        "status": SUCCEEDED if result.exit_code == exits.OK else FAILED,
        "exit_code": result.exit_code,
        "problems": day["problems"],
        "run_id": day["run_id"],
        "summary": result.summary_path,
        "rows_read": day["rows_read"],
        "rows_scored": day["rows_scored"],
        "rows_quarantined": day["rows_quarantined"],
    }


def _not_run(status: str, code: int, problem: str) -> dict[str, Any]:
    return {"status": status, "exit_code": code, "problems": [problem.splitlines()[0][:1000]]}


def describe_day(outcome: dict[str, Any]) -> str:
    """One line per day for the job's output: date, status, rows or the problem."""
    head = f"{outcome['run_date']} {outcome['status']} (exit {outcome['exit_code']})"
    if "rows_read" in outcome:
        head += (
            f": {outcome['rows_read']} rows read, {outcome['rows_scored']} scored, "
            f"{outcome['rows_quarantined']} quarantined"
        )
    problems = "; ".join(outcome.get("problems", []))
    return f"{head}; {problems}" if problems else head
