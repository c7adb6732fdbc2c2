"""Upload the EMR package (`make package` output) to S3 and print the step's spark-submit line.

    python scripts/deploy_emr.py --dist dist --prefix s3://my-bucket/txcat

uploads every file listed in dist/package.json to `<prefix>/<version>/`, checks each object's
size after the upload, writes `package.json` last (its presence means the version is complete),
and prints the spark-submit command of a scoring step that uses this version. AWS credentials
and region come from the environment (profile, role, AWS_* variables); `--endpoint-url` points
boto3 at another S3-protocol server.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

import boto3

from txcat import exits
from txcat.deploy.package import MANIFEST, sha256
from txcat.deploy.submit import EmrPackage, JobArgs, emr_command
from txcat.uris import split_s3_prefix

log = logging.getLogger("deploy_emr")


class DeployError(RuntimeError):
    """The package is incomplete or an upload did not land."""


def load_manifest(dist: Path) -> dict:
    path = dist / MANIFEST
    if not path.is_file():
        raise DeployError(f"{path} is missing: run `make package` first")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for name, info in manifest["files"].items():
        local = dist / name
        if not local.is_file():
            raise DeployError(f"{local} is listed in {MANIFEST} but missing")
        if local.stat().st_size != info["size"] or sha256(local) != info["sha256"]:
            raise DeployError(f"{local} changed since it was packaged: run `make package` again")
    return manifest


def deploy(dist: Path, prefix: str, client=None) -> str:  # type: ignore[no-untyped-def]
    """Uploads one packaged version; returns its S3 prefix (`<prefix>/<version>`)."""
    location = split_s3_prefix(prefix)
    if location is None:
        raise DeployError(f"--prefix must be an s3:// URI, got {prefix!r}")
    bucket, base = location
    manifest = load_manifest(dist)
    version_key = base + manifest["version"]
    s3 = client or boto3.client("s3")
    for name, info in sorted(manifest["files"].items()):
        key = f"{version_key}/{name}"
        log.info("upload %s -> s3://%s/%s (%d bytes)", name, bucket, key, info["size"])
        s3.upload_file(
            str(dist / name), bucket, key, ExtraArgs={"Metadata": {"sha256": info["sha256"]}}
        )
        head = s3.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != info["size"]:
            raise DeployError(
                f"s3://{bucket}/{key} has {head['ContentLength']} bytes, expected {info['size']}"
            )
    s3.upload_file(str(dist / MANIFEST), bucket, f"{version_key}/{MANIFEST}")
    return f"s3://{bucket}/{version_key}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default="dist", help="folder built by `make package`")
    parser.add_argument("--prefix", required=True, help="s3:// prefix; the version is appended")
    parser.add_argument("--endpoint-url", default=None, help="S3-protocol endpoint (tests)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        client = boto3.client("s3", endpoint_url=args.endpoint_url)
        where = deploy(Path(args.dist), args.prefix, client)
    except DeployError as exc:
        log.error("%s", exc)
        return exits.BAD_INPUT
    example = JobArgs(
        run_date="2026-11-25",
        input="s3://<landing-bucket>/daily/2026-11-25",
        output="s3://<output-bucket>/daily",
        model="s3://<model-bucket>/champion",
        env="emr",
        run_id="manual-2026-11-25",
    )
    print(f"deployed: {where}")
    print("spark-submit line of a scoring step (command-runner.jar):")
    print(shlex.join(emr_command(example, EmrPackage(where))))
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
