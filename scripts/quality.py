"""Model quality on the bank's real export and on generated data: docs/quality.md and .json.

    make quality QUALITY_DATA=../shared/data/mibolsillo-train.csv

For each dataset: cut every account at a date (earlier rows to train, later rows to evaluate),
train with `jobs/train.py` and the configuration's defaults, evaluate with `txcat evaluate`
on the later rows, and score the majority class and logistic regression on the same rows.
The real export is optional: without it only the generated section is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from txcat import exits
from txcat import schema as S
from txcat.config import load_config
from txcat.features import FEATURE_COLUMNS, memory_of
from txcat.generate import reference as ref
from txcat.lifecycle import candidates as C
from txcat.lifecycle import gate as G
from txcat.lifecycle import quality as Q
from txcat.lifecycle import workflow
from txcat.model import load_artifact
from txcat.session import build_session, configure_logging, release_session

log = logging.getLogger("txcat.quality")
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--export", default="", help="the bank's labelled export (optional)")
    p.add_argument("--cutoff", type=dt.date.fromisoformat, default=dt.date(2019, 12, 1))
    p.add_argument("--work", type=Path, default=Path("data/quality"), help="scratch folder")
    p.add_argument("--docs", type=Path, default=Path("docs"))
    p.add_argument("--generated-accounts", type=int, default=600)
    p.add_argument("--generated-seed", type=int, default=3, help="the generator's seed")
    p.add_argument("--generated-cutoff", type=dt.date.fromisoformat, default=dt.date(2026, 10, 1))
    p.add_argument(
        "--datasets", default="real,generated", help="which sections to write (comma-separated)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="configuration override for training and evaluation (both datasets)",
    )
    return p.parse_args(argv)


def _run(command: list[str], shown: list[str]) -> None:
    """Runs a project command, recording it (with the scratch folder made relative) for the page."""
    shown.append(shlex.join(command).replace(str(BIN) + "/", ".venv/bin/"))
    env = os.environ | {
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    subprocess.run(command, check=True, cwd=ROOT, env=env)


def _reference(folder: Path, first: dt.date, last: dt.date) -> list[str]:
    """Holidays and countries from their packages; no bureau snapshot (none exists here)."""
    folder.mkdir(parents=True, exist_ok=True)
    ref.write_holidays(folder / ref.HOLIDAYS_FILE, first, last)
    ref.write_countries(folder / ref.COUNTRIES_FILE)
    ref.write_bureau(folder / ref.BUREAU_FILE, [])
    return [
        f"reference.holidays={folder / ref.HOLIDAYS_FILE}",
        f"reference.countries={folder / ref.COUNTRIES_FILE}",
        f"reference.bureau={folder / ref.BUREAU_FILE}",
    ]


def _sets(values: list[str]) -> list[str]:
    return [a for v in values for a in ("--set", v)]


def evaluate_dataset(
    work: Path,
    split: Q.SplitSummary,
    overrides: list[str],
    description: str,
) -> dict[str, Any]:
    """Trains on work/training, evaluates on work/evaluation; returns the page's section."""
    commands: list[str] = []
    model, report = work / "model", work / "report"
    shutil.rmtree(model, ignore_errors=True)
    shutil.rmtree(report, ignore_errors=True)
    train_as_of = split.cutoff - dt.timedelta(days=1)
    assert split.last_date is not None
    _run(
        [
            str(BIN / "spark-submit"),
            "--master",
            "local[*]",
            "--driver-memory",
            "4g",
            "jobs/train.py",
            "--input",
            str(work / Q.TRAINING),
            "--model-out",
            str(model),
            "--env",
            "local",
            "--as-of",
            train_as_of.isoformat(),
            *_sets(overrides),
        ],
        commands,
    )
    _run(
        [
            str(BIN / "txcat"),
            "evaluate",
            "--model",
            str(model),
            "--input",
            str(work / Q.EVALUATION),
            "--out",
            str(report),
            "--as-of",
            split.last_date.isoformat(),
            *_sets(overrides),
        ],
        commands,
    )
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))["metrics"]
    cfg = load_config("local", overrides=overrides)
    spark = build_session("txcat-quality", cfg.spark)
    try:
        # The baselines see the model's features: out-of-fold label memory on the training
        # rows, the model's shipped memory on the evaluation rows.
        # The merchant city and amount come along for the account-habit statistics.
        kept = (S.MERCHANT_CITY, S.AMOUNT)
        train = workflow.collect_labelled(
            spark, cfg, str(work / Q.TRAINING), train_as_of, also=kept
        )
        evaluation = workflow.collect_labelled(
            spark,
            cfg,
            str(work / Q.EVALUATION),
            split.last_date,
            memory_of(load_artifact(str(model))),
            also=kept,
        )
    finally:
        release_session(spark)
    base = Q.baselines(
        train, evaluation, FEATURE_COLUMNS, cfg.training.class_weight_power, cfg.training.seed
    )
    trained = json.loads((model / "evaluation.json").read_text(encoding="utf-8"))
    verdict = G.evaluate_gate(trained, cfg.quality_gate)
    models = {
        "txcat model (XGBoost)": Q.headline(metrics),
        "logistic regression": Q.headline(base[C.LOGISTIC]),
        "majority class": Q.headline(base[C.MAJORITY]),
    }
    return {
        "description": description,
        "split": split.to_record() | {"evaluation_rows_scored": int(metrics["rows"])},
        "models": models,
        "per_class_recall": Q.per_class_recall(metrics),
        "training_holdout": {name: Q.headline(m) for name, m in trained.get("holdout", {}).items()},
        "quality_gate": {"passed": verdict.passed, "checks": verdict.lines()},
        "holdout_leads": trained.get("holdout_leads", {}),
        "chosen_params": trained.get("chosen_params", {}),
        "selection": trained.get("selection", {}),
        "habits": Q.habits(train, evaluation),
        "commands": [c.replace(str(work), "$WORK") for c in commands],
    }


def real_section(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    split = Q.split_export(Path(args.export), work, args.cutoff)
    assert split.first_date is not None and split.last_date is not None
    overrides = _reference(work / "reference", split.first_date, split.last_date) + args.overrides
    section = evaluate_dataset(
        work,
        split,
        overrides,
        f"The bank's real export `{Path(args.export).name}`, cut per account (`id`) at "
        f"{args.cutoff}: training rows before it, evaluation rows from it on "
        "(later days of the same accounts, as the daily job scores them).",
    )
    public = {k: round(v, 4) for k, v in Q.PUBLIC_BASELINE.items()}
    section["models"]["public notebook baseline (reported)"] = public
    return section


def generated_section(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    _run(
        [
            sys.executable,
            "scripts/generate_data.py",
            "--out",
            str(work / "all"),
            "--accounts",
            str(args.generated_accounts),
            "--start-date",
            "2026-05-01",
            "--end-date",
            "2026-11-25",
            "--seed",
            str(args.generated_seed),
            "--reference-out",
            str(work / "reference"),
        ],
        [],
    )
    split = Q.split_folder(work / "all", work, args.generated_cutoff)
    overrides = [
        f"reference.holidays={work / 'reference' / ref.HOLIDAYS_FILE}",
        f"reference.countries={work / 'reference' / ref.COUNTRIES_FILE}",
        f"reference.bureau={work / 'reference' / ref.BUREAU_FILE}",
        *args.overrides,
    ]
    return evaluate_dataset(
        work,
        split,
        overrides,
        f"{args.generated_accounts} generated accounts (`scripts/generate_data.py`, seed "
        f"{args.generated_seed}), "
        f"cut at {args.generated_cutoff} the same way.",
    )


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    work = args.work.resolve()
    results: dict[str, Any] = {}
    wanted = set(args.datasets.split(","))
    if "real" in wanted and args.export and Path(args.export).is_file():
        results["Real data"] = real_section(args, work / "real")
    elif "real" in wanted:
        log.warning("no export at %r: the real-data section is left out", args.export)
    if "generated" in wanted:
        results["Generated data"] = generated_section(args, work / "generated")
    json_path, md_path = Q.write_docs(results, args.docs)
    for name, section in results.items():
        for model, m in section["models"].items():
            print(f"{name:15s} {model:38s} " + " ".join(f"{k} {v:.3f}" for k, v in m.items()))
    print(f"wrote {md_path} and {json_path}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
