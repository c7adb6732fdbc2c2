"""The scoring job's cost per row in two versions of txcat, side by side on the same files.

`make bench-versions BENCH_BASE=REF` exports the commit REF (`git archive`) next to the
workspace, trains one model per version with that version's own `jobs/train.py` and defaults
(no search) on the same labelled files, and runs each version's `jobs/score_daily.py` on the
same generated day, the versions taking turns, the order reversed every round (base, current,
current, base, ...) so that a noisy machine weighs on both alike and a steady drift drops out
of the step (`drift_free_ratios`). Each run is timed from outside (wall clock, start-up
included) and from inside (the summary's `duration_s`: listing to summary, start-up excluded).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shlex
import statistics
import subprocess
import tarfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

from txcat.benchmark.runner import RUN_DATE, Bench, drift_free_step, repository, run_measured

log = logging.getLogger(__name__)

CURRENT = "current"
BASE = "base"


@dataclass(frozen=True)
class Version:
    """One version of the code: its source tree and a label."""

    label: str
    root: Path
    commit: str


def export_commit(ref: str, into: Path) -> Version:
    """The tree of commit `ref` of the repository, extracted under `into/<commit>`."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=repository(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    root = into / commit[:12]
    if not (root / "pyproject.toml").exists():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit],
            cwd=repository(),
            check=True,
            capture_output=True,
        ).stdout
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(root, filter="data")
    return Version(BASE, root, commit)


def current_version() -> Version:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository(), check=True, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=repository(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Version(CURRENT, repository(), commit + ("+changes" if dirty else ""))


class VersionRunner:
    """Runs one version's jobs: its scripts, its package (PYTHONPATH) and its conf/."""

    def __init__(self, bench: Bench, version: Version):
        self.bench = bench
        self.version = version
        self.env = bench.env | {"PYTHONPATH": str(version.root / "src")}
        self.model = bench.work / f"model-{version.label}"

    def submit(self, script: str, *args: str) -> list[str]:
        return [
            self.bench.submit,
            "--master",
            f"local[{self.bench.cores}]",
            "--driver-memory",
            "6g",
            "--conf",
            "spark.ui.enabled=false",
            "--driver-java-options",
            f"-Dlog4j.configurationFile={self.version.root / 'conf' / 'log4j2.properties'}",
            str(self.version.root / script),
            *args,
        ]

    def train(self) -> None:
        if (self.model / "model.json").exists():
            return
        subprocess.run(
            self.submit(
                "jobs/train.py",
                "--input",
                str(self.bench.work / "training"),
                "--model-out",
                str(self.model),
                "--as-of",
                RUN_DATE,
                *self.bench.reference_overrides(),
                "--set",
                "lifecycle.search_budget=1",
            ),
            check=True,
            env=self.env,
            capture_output=True,
        )

    def score(self, run: int) -> dict[str, Any]:
        out = self.bench.work / f"job-{self.version.label}-out"
        command = self.submit(
            "jobs/score_daily.py",
            "--run-date",
            RUN_DATE,
            "--input",
            str(self.bench.landing),
            "--output",
            str(out),
            "--model",
            str(self.model),
            "--env",
            "local",
            "--run-id",
            f"bench-{self.version.label}-{run}",
            *self.bench.reference_overrides(),
        )
        wall, peak, _ = run_measured(command, self.env)
        summary_path = out / "runs" / f"run_date={RUN_DATE}" / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        log.info(
            "%s run %d: %.1f s (inner %.1f s)", self.version.label, run, wall, summary["duration_s"]
        )
        return {
            "wall_s": round(wall, 2),
            "inner_s": summary["duration_s"],
            "peak_rss_mb": round(peak),
            "rows_read": summary["rows_read"],
            "rows_scored": summary["rows_scored"],
            "command": shlex.join(command),
        }


def compare(
    work: Path, base_ref: str, files: int, rows_per_file: int, repeats: int, out_dir: Path
) -> dict[str, Any]:
    """Times the daily job of `base_ref` and of this checkout on one generated day."""
    bench = Bench(work, files, rows_per_file, repeats, os.cpu_count() or 1)
    bench.prepare(train=False)
    versions = [export_commit(base_ref, work.parent / "versions"), current_version()]
    runners = [VersionRunner(bench, v) for v in versions]
    for r in runners:
        r.train()
    runs: dict[str, list[dict[str, Any]]] = {v.label: [] for v in versions}
    for turn, (round_, r) in enumerate(turn_order(runners, repeats)):
        runs[r.version.label].append(r.score(round_ + 1) | {"turn": turn})
    figures = {label: _figures(rs) for label, rs in runs.items()}
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "files": files,
        "rows": runs[CURRENT][0]["rows_read"],
        "cores": bench.cores,
        "repeats": repeats,
        "base_ref": base_ref,
        "versions": {v.label: v.commit for v in versions},
        "figures": figures,
        "wall_ratio": round(figures[CURRENT]["wall_s"] / figures[BASE]["wall_s"], 3),
        "inner_ratio": round(figures[CURRENT]["inner_s"] / figures[BASE]["inner_s"], 3),
        "drift_free": drift_free_ratios(runs[BASE], runs[CURRENT]),
        "runs": runs,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "benchmarks-versions.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "benchmarks-versions.md").write_text(render_markdown(result))
    return result


T = TypeVar("T")


def turn_order(runners: list[T], repeats: int) -> list[tuple[int, T]]:
    """(round, runner) in the order they run: the order reversed every round (a, b, b, a, a,
    b, ...), so neither version always runs after the other (as `runner.taking_turns`)."""
    return [
        (round_, r)
        for round_ in range(repeats)
        for r in (runners if round_ % 2 == 0 else runners[::-1])
    ]


def drift_free_ratios(
    base: list[dict[str, Any]], current: list[dict[str, Any]]
) -> dict[str, float | None]:
    """How much longer the current version's runs took than the base's, wall and inner, a
    steady drift of the machine taken out (`runner.drift_free_step` over the runs' turns), and
    current / base from it (1 + step / the base's median). None without enough runs."""
    out: dict[str, float | None] = {}
    for key in ("wall_s", "inner_s"):
        step = drift_free_step(
            [r[key] for r in base],
            [r["turn"] for r in base if "turn" in r],
            [r[key] for r in current],
            [r["turn"] for r in current if "turn" in r],
        )
        median = statistics.median(r[key] for r in base)
        out[f"{key}_step"] = step
        out[f"{key.removesuffix('_s')}_ratio"] = (
            None if step is None else round(1 + step / median, 3)
        )
    return out


def _figures(runs: list[dict[str, Any]]) -> dict[str, float]:
    wall = statistics.median(r["wall_s"] for r in runs)
    inner = statistics.median(r["inner_s"] for r in runs)
    rows = runs[0]["rows_scored"]
    return {
        "wall_s": wall,
        "inner_s": inner,
        "rows_scored": rows,
        "wall_us_per_row": round(1e6 * wall / rows, 2),
        "inner_us_per_row": round(1e6 * inner / rows, 2),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def render_markdown(r: dict[str, Any]) -> str:
    base, current = r["figures"][BASE], r["figures"][CURRENT]
    lines = [
        "# Benchmark: the daily job in two versions",
        "",
        f"Measured {r['date']} by `make bench-versions BENCH_BASE={r['base_ref']}` on "
        f"{r['cores']} cores: {r['files']:,} generated files, {r['rows']:,} rows, each version's "
        f"`jobs/score_daily.py` with a model trained by its own `jobs/train.py` (defaults, no "
        f"search) on the same labelled files; {r['repeats']} runs each, the versions taking "
        "turns; medians. Wall includes spark-submit start-up; inner is the run's own "
        "`duration_s` (listing to summary). The machine is shared: read the ratios.",
        "",
        "| version | commit | wall (s) | inner (s) | wall µs/row | inner µs/row | peak MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, f in ((BASE, base), (CURRENT, current)):
        lines.append(
            f"| {label} | `{r['versions'][label][:12]}` | {f['wall_s']:.1f} | {f['inner_s']:.1f} "
            f"| {f['wall_us_per_row']} | {f['inner_us_per_row']} | {f['peak_rss_mb']} |"
        )
    lines += [
        "",
        f"Current / base: wall **{r['wall_ratio']}**, inner **{r['inner_ratio']}** (medians).",
    ]
    drift = r.get("drift_free") or {}
    if drift.get("inner_ratio") is not None:
        lines += [
            "",
            f"With the machine's drift taken out (a line through every run's time against its "
            f"turn, one step for the current version): wall **{drift['wall_ratio']}** "
            f"({drift['wall_s_step']:+.2f} s), inner **{drift['inner_ratio']}** "
            f"({drift['inner_s_step']:+.2f} s).",
        ]
    lines += ["", "Runs (s, wall / inner, their turn):", ""]
    for label, runs in r["runs"].items():
        lines.append(
            f"- {label}: "
            + ", ".join(
                f"{x['wall_s']:.1f} / {x['inner_s']:.1f}"
                + (f" ({x['turn']})" if "turn" in x else "")
                for x in runs
            )
        )
    return "\n".join(lines) + "\n"
