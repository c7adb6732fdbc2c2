"""Three landed days scored by the daily run with a small model, for retro-scoring and compare.

Day 1 is read from a folder, day 2 from a manifest; day 3's summary records a folder that is
gone; day 4 has no daily run.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.helpers import local_config
from tests.serve.conftest import save_model
from txcat import pipeline, write
from txcat.generate import generate
from txcat.generate.reference import reference_overrides

DAYS = [dt.date(2026, 11, 23), dt.date(2026, 11, 24), dt.date(2026, 11, 25)]
NO_RUN_DAY = dt.date(2026, 11, 26)


@pytest.fixture(scope="session")
def landed(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("retro")
    ref = root / "reference"
    for i, day in enumerate(DAYS[:2]):
        generate(
            root / "landing" / day.isoformat(),
            3,
            "2026-10-01",
            day,
            seed=40 + i,
            reference_out=ref if i == 0 else None,
            rows_per_account=6,
        )
    cfg = local_config(ref)
    champion = save_model(root / "champion", seed=1)
    challenger = save_model(root / "challenger", seed=2)
    manifest = root / "manifest-2026-11-24.json"
    day2 = sorted((root / "landing" / DAYS[1].isoformat()).glob("*.csv"))
    manifest.write_text(
        json.dumps({"files": [{"uri": str(p), "size": p.stat().st_size} for p in day2]})
    )
    results = {}
    for day in DAYS[:2]:
        folder = root / "landing" / day.isoformat()
        params = pipeline.RunParams(
            day,
            "" if day == DAYS[1] else str(folder),
            str(root / "out"),
            str(root / "champion"),
            f"daily-{day:%Y%m%d}",
            manifest=str(manifest) if day == DAYS[1] else "",
        )
        results[day] = pipeline.run(spark, cfg, params)
    gone = {"run_date": DAYS[2].isoformat(), "input": str(root / "landing" / "gone")}
    write.write_summary(spark, str(root / "out"), DAYS[2], gone)
    return {
        "root": root,
        "cfg": cfg,
        "overrides": reference_overrides(ref),
        "out": root / "out",
        "champion": root / "champion",
        "challenger": root / "challenger",
        "champion_version": champion,
        "challenger_version": challenger,
        "daily": results,
    }
