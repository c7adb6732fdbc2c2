"""The daily job on real storage: a manifest on the local S3 server, Parquet on it, PostgreSQL.

moto's S3 server stands in for S3 (Spark through s3a, boto3 directly) and a PostgreSQL cluster
for Redshift, with the COPY step replaced by the PostgreSQL loader.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import boto3
import psycopg
import pytest
from pyspark.sql import functions as F

from tests.helpers import local_config
from txcat import exits, pipeline, read
from txcat import schema as S
from txcat.generate import generate
from txcat.inputs import InputError, objects
from txcat.lifecycle import train
from txcat.sinks.warehouses import ENV_PG_DSN

pytestmark = pytest.mark.integration

RUN_DATE = dt.date(2026, 11, 25)
LANDING = "landing"
OUT = "txcat-out"
PREFIX = f"{RUN_DATE}/"


def _config(ref: Path, *extra: str):
    return local_config(
        ref,
        "training.num_boost_round=10",
        "quality.max_row_quarantine_share=1",
        "quality.max_file_quarantine_share=1",
        "validation.min_parse_success=0.5",
        "redshift.backend=postgres",
        *extra,
    )


@pytest.fixture(scope="module")
def world(spark, s3, postgres, tmp_path_factory):
    root = tmp_path_factory.mktemp("s3world")
    ref = root / "reference"
    generate(
        root / "training",
        60,
        "2026-07-01",
        "2026-10-31",
        seed=21,
        reference_out=ref,
        rows_per_account=30,
    )
    generate(
        root / "landing",
        24,
        "2026-09-01",
        RUN_DATE,
        seed=22,
        labels=False,
        bad_share=0.25,
        rows_per_account=20,
    )
    cfg = _config(ref)
    train.run(spark, cfg, str(root / "training"), str(root / "model"), RUN_DATE)

    client = boto3.client("s3", endpoint_url=s3.endpoint)
    for bucket in (LANDING, OUT):
        client.create_bucket(Bucket=bucket)
    entries = []
    # The bank's files only (the generator also writes its own _generation.json report).
    files = (p for p in (root / "landing").rglob("*") if p.is_file())
    for path in sorted(p for p in files if not p.name.startswith("_")):
        key = PREFIX + path.relative_to(root / "landing").as_posix()
        client.upload_file(str(path), LANDING, key)
        head = client.head_object(Bucket=LANDING, Key=key)
        entries.append(
            {"uri": f"s3://{LANDING}/{key}", "size": head["ContentLength"], "etag": head["ETag"]}
        )
    # A file that arrived after the manifest was made: under the prefix, not in the manifest.
    client.put_object(
        Bucket=LANDING,
        Key=PREFIX + "late-arrival.csv",
        Body=(root / "landing").rglob("*.csv").__next__().read_bytes(),
    )
    manifest_uri = f"s3://{LANDING}/manifests/{RUN_DATE}.json"
    client.put_object(
        Bucket=LANDING,
        Key=f"manifests/{RUN_DATE}.json",
        Body=json.dumps({"run_date": str(RUN_DATE), "files": entries}).encode(),
    )
    os.environ[ENV_PG_DSN] = postgres.dsn
    try:
        yield {
            "root": root,
            "ref": ref,
            "cfg": cfg,
            "manifest": manifest_uri,
            "entries": entries,
            "client": client,
            "dsn": postgres.dsn,
        }
    finally:
        os.environ.pop(ENV_PG_DSN, None)


def _params(world, out, run_id, **kw):
    return pipeline.RunParams(
        RUN_DATE,
        kw.pop("input", ""),
        out,
        str(world["root"] / "model"),
        run_id,
        **{"manifest": world["manifest"], **kw},
    )


def _table_rows(dsn, table="predictions"):
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            f"SELECT run_id, count(*), count(DISTINCT row_id) FROM txcat.{table} "
            f"WHERE run_date = %s GROUP BY run_id",
            (RUN_DATE,),
        ).fetchall()


def _s3_json(client, uri):
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture(scope="module")
def two_runs(spark, world):
    out = f"s3://{OUT}/daily"
    sinks = ("parquet", "redshift")
    first = pipeline.run(spark, world["cfg"], _params(world, out, "run-1", sinks=sinks))
    after_first = _table_rows(world["dsn"])
    second = pipeline.run(spark, world["cfg"], _params(world, out, "run-2", sinks=sinks))
    return {"out": out, "first": first, "after_first": after_first, "second": second}


def test_manifest_run_writes_parquet_to_s3_and_loads_one_copy(spark, world, two_runs):
    first, second = two_runs["first"], two_runs["second"]
    assert first.exit_code == 0, first.summary["problems"]
    assert second.exit_code == 0, second.summary["problems"]
    scored = second.summary["rows_scored"]
    assert scored > 0 and first.summary["rows_scored"] == scored
    # Exactly the manifest's files: the late arrival under the same prefix is not read.
    assert second.summary["files_read"] == len(world["entries"])
    predictions = spark.read.parquet(f"{two_runs['out']}/predictions").where(
        F.col(S.RUN_DATE) == F.lit(RUN_DATE)
    )
    assert predictions.count() == scored
    assert predictions.select(S.RUN_ID).distinct().collect()[0][0] == "run-2"
    assert predictions.where(F.col(S.SOURCE_FILE).contains("late-arrival")).count() == 0
    # One copy of the day in the warehouse after each run.
    assert two_runs["after_first"] == [("run-1", scored, scored)]
    assert _table_rows(world["dsn"]) == [("run-2", scored, scored)]
    redshift = second.summary["sinks"]["redshift"]
    assert redshift["status"] == "loaded" and redshift["rows_staged"] == scored
    assert redshift["staged_uri"].startswith(f"{two_runs['out']}/_staging/redshift/")


def test_summary_manifest_and_validation_are_stored_on_s3(world, two_runs):
    client = world["client"]
    summary = two_runs["second"].summary
    assert two_runs["second"].summary_path.startswith(f"s3://{OUT}/daily/runs/")
    assert _s3_json(client, two_runs["second"].summary_path)["run_id"] == "run-2"
    stored = _s3_json(client, summary["manifest"]["stored"])
    assert stored["source"] == world["manifest"]
    assert [e["uri"] for e in stored["entries"]] == [e["uri"] for e in world["entries"]]
    assert stored["entries"][0]["etag"] == world["entries"][0]["etag"].strip('"')
    validation = summary["validation"]
    assert validation["critical_failures"] == 0
    assert set(validation["suites"]) == {"txcat_input", "txcat_output", "txcat_reconciliation"}
    for suite in validation["suites"].values():
        for uri in suite["results"].values():
            bucket, key = uri.removeprefix("s3://").split("/", 1)
            assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0


def _hidden(uri: str) -> bool:
    """Names Spark's file sources never return (`.DS_Store`, `_SUCCESS`)."""
    return uri.rsplit("/", 1)[-1].startswith((".", "_"))


def test_both_readers_give_the_same_rows(spark, world):
    manifest = objects.load_manifest(spark, world["manifest"])
    by_boto3 = objects.read_with_boto3(spark, manifest, threads=4, files_per_task=5)
    by_spark = objects.read_with_spark(spark, manifest)
    assert by_boto3.schema == objects.FETCHED_SCHEMA
    assert by_boto3.where(F.col(read.OBJECT_PROBLEM).isNotNull()).count() == 0
    by_boto3 = by_boto3.drop(read.OBJECT_PROBLEM)
    boto3_rows = sorted(map(tuple, by_boto3.collect()))
    spark_rows = sorted(map(tuple, by_spark.collect()))
    # Spark's file sources return nothing for hidden names and 0-byte files (the run then
    # quarantines those entries); boto3 returns every entry, with the same bytes.
    skipped = [e["uri"] for e in world["entries"] if _hidden(e["uri"]) or e["size"] == 0]
    assert skipped
    assert [r for r in boto3_rows if r[0] not in skipped] == spark_rows
    assert [r[0] for r in boto3_rows] == sorted(e["uri"] for e in world["entries"])


def test_prefix_input_reads_everything_under_it(spark, world):
    out = f"s3://{OUT}/prefix"
    result = pipeline.run(
        spark,
        world["cfg"],
        _params(world, out, "prefix-1", input=f"s3a://{LANDING}/{PREFIX}", manifest=""),
    )
    assert result.exit_code == 0, result.summary["problems"]
    listed = [e for e in world["entries"] if not _hidden(e["uri"])]
    assert result.summary["files_read"] == len(listed) + 1  # the late arrival too
    assert "manifest" not in result.summary


@pytest.fixture
def changed_objects(world):
    """The manifest's first object replaced (other bytes) and its second deleted, for one test;
    both restored after it."""
    client = world["client"]
    saved = []
    for entry in world["entries"][:2]:
        bucket, key = entry["uri"].removeprefix("s3://").split("/", 1)
        saved.append((bucket, key, client.get_object(Bucket=bucket, Key=key)["Body"].read()))
    (b0, k0, first), (b1, k1, _) = saved
    client.put_object(Bucket=b0, Key=k0, Body=first + b"x;y\r\n")
    client.delete_object(Bucket=b1, Key=k1)
    try:
        yield k0, k1
    finally:
        for bucket, key, body in saved:
            client.put_object(Bucket=bucket, Key=key, Body=body)


def test_the_boto3_reader_says_which_objects_no_longer_match(spark, world, changed_objects):
    replaced, deleted = changed_objects
    manifest = objects.load_manifest(spark, world["manifest"])
    rows = objects.read_with_boto3(spark, manifest, threads=4, files_per_task=5).collect()
    problems = {r[S.SOURCE_FILE]: r[read.OBJECT_PROBLEM] for r in rows}
    assert len(rows) == len(world["entries"])
    assert problems[f"s3://{LANDING}/{replaced}"] == (
        f"s3://{LANDING}/{replaced}: ETag is not the manifest ETag "
        f"{world['entries'][0]['etag'].strip(chr(34))}"
    )
    assert problems[f"s3://{LANDING}/{deleted}"] == (
        f"s3://{LANDING}/{deleted}: listed in the manifest but does not exist"
    )
    assert sum(p is not None for p in problems.values()) == 2
    assert all(r[read.CONTENT] is None for r in rows if r[read.OBJECT_PROBLEM] is not None)


@pytest.mark.parametrize("reader", ["boto3", "spark"])
def test_objects_changed_after_the_manifest_fail_the_run_before_anything_is_written(
    spark, world, changed_objects, tmp_path, reader
):
    replaced, deleted = changed_objects
    cfg = _config(world["ref"], f"storage.manifest_reader={reader}")
    out = tmp_path / "o"
    with pytest.raises(InputError) as failure:
        pipeline.run(spark, cfg, _params(world, str(out), f"changed-{reader}"))
    message = str(failure.value)
    assert message.startswith(f"manifest {world['manifest']} does not match storage: ")
    assert f"{replaced}: " in message and f"{deleted}: listed in the manifest but" in message
    assert not (out / "predictions").exists() and not (out / "quarantine").exists()


def test_the_boto3_reader_sends_no_head_request_before_the_read(
    spark, world, tmp_path, monkeypatch
):
    def no_head(*args, **kwargs):
        raise AssertionError("a HEAD pass before the read")

    monkeypatch.setattr(objects, "verify_objects", no_head)
    result = pipeline.run(spark, world["cfg"], _params(world, str(tmp_path / "o"), "nohead"))
    assert result.exit_code == 0, result.summary["problems"]
    assert result.summary["files_read"] == len(world["entries"])


def test_missing_manifest_is_an_input_error(spark, world, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        pipeline.run(
            spark,
            world["cfg"],
            _params(
                world,
                str(tmp_path / "o"),
                "nomanifest",
                manifest=f"s3://{LANDING}/manifests/x.json",
            ),
        )


def test_critical_expectation_fails_the_run_after_writing_and_skips_the_load(spark, world):
    cfg = _config(world["ref"], "validation.min_parse_success=1.0", "redshift.table=strict")
    out = f"s3://{OUT}/strict"
    result = pipeline.run(
        spark, cfg, _params(world, out, "strict-1", sinks=("parquet", "redshift"))
    )
    assert result.exit_code == exits.VALIDATION
    assert result.summary["status"] == "failed"
    assert any("txcat_input" in p and "parsed" in p for p in result.summary["problems"])
    assert result.summary["sinks"]["redshift"]["status"] == "skipped"
    # Everything was written all the same.
    assert _s3_json(world["client"], result.summary_path)["exit_code"] == exits.VALIDATION
    assert spark.read.parquet(f"{out}/predictions").count() == result.summary["rows_scored"]
    with psycopg.connect(world["dsn"]) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'strict'"
            ).fetchone()[0]
            == 0
        )
