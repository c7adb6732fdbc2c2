"""Publication of the served version, and the resolver following it (local folders)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from txcat import model_uri
from txcat import schema as S
from txcat.config import load_config
from txcat.lifecycle import candidates as C
from txcat.lifecycle import publish as P
from txcat.model import ModelArtifactError, save_artifact

FEATURES = ("a", "b", "c")
NAME = "txcat-categoriser"


def _artifact(folder: Path, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, len(FEATURES))).astype(np.float32)
    y = np.arange(60) % len(S.CATEGORIES)
    params = {"max_depth": 2, "learning_rate": 0.3, "min_child_weight": 1.0}
    params |= {"subsample": 1.0, "colsample_bytree": 1.0}
    fitted = C.fit_xgboost(x, y, np.ones(60), params, len(S.CATEGORIES), FEATURES, seed, 2)
    artifact = save_artifact(folder, fitted.booster, FEATURES, S.CATEGORIES, [], {}, {})
    (folder / "report").mkdir()
    (folder / "report" / "report.html").write_text("<html></html>")
    return artifact


def _cfg(root: Path):
    return load_config("local", overrides=[f"lifecycle.publish_uri={root}"])


def _local(path: str) -> bytes:
    return Path(path).read_bytes()


def _exists(path: str) -> bool:
    return Path(path).is_file()


def test_a_version_is_published_whole_then_the_pointer_names_it(tmp_path):
    artifact = _artifact(tmp_path / "v1", 1)
    root = tmp_path / "published"
    publication = P.publish(_cfg(root), NAME, "1", tmp_path / "v1", artifact)
    assert publication.copied is True
    assert publication.version_folder == f"{root}/versions/1"
    record = json.loads((root / "versions" / "1" / "registration.json").read_text())
    assert record["files"] == [
        "model.json",
        "model.ubj",
        "report/report.html",
        "training_files.txt",
    ]
    assert record["sha256"] == artifact.sha256 and record["version"] == "1"
    for name in record["files"]:
        assert (root / "versions" / "1" / name).read_bytes() == (
            tmp_path / "v1" / name
        ).read_bytes()
    pointer = json.loads((root / "champion" / "pointer.json").read_text())
    assert pointer["version"] == "1" and pointer["path"] == "versions/1"
    assert pointer["sha256"] == artifact.sha256 and pointer["name"] == NAME
    assert [p.name for p in (root / "champion").iterdir()] == ["pointer.json"]  # no temp file
    folder, source = model_uri.resolve(f"{root}/champion/", None, _local, _exists)
    assert folder == f"{root}/versions/1"
    assert source == model_uri.ModelSource(
        f"{root}/champion/", NAME, "1", "champion", artifact.sha256
    )


def test_republishing_keeps_the_version_folder_and_moves_the_pointer(tmp_path):
    first = _artifact(tmp_path / "v1", 1)
    second = _artifact(tmp_path / "v2", 2)
    root = tmp_path / "published"
    cfg = _cfg(root)
    P.publish(cfg, NAME, "1", tmp_path / "v1", first)
    before = (root / "versions" / "1" / "model.json").stat().st_mtime_ns
    P.publish(cfg, NAME, "2", tmp_path / "v2", second)
    assert P.read_pointer(cfg)["version"] == "2"
    again = P.publish(cfg, NAME, "1", tmp_path / "v1", first)  # a rollback
    assert again.copied is False
    assert (root / "versions" / "1" / "model.json").stat().st_mtime_ns == before
    assert P.read_pointer(cfg)["version"] == "1"


def test_another_model_under_a_published_number_is_refused(tmp_path):
    first = _artifact(tmp_path / "v1", 1)
    other = _artifact(tmp_path / "other", 3)
    root = tmp_path / "published"
    cfg = _cfg(root)
    P.publish(cfg, NAME, "1", tmp_path / "v1", first)
    with pytest.raises(model_uri.RegistryError, match="already holds another model"):
        P.publish(cfg, NAME, "1", tmp_path / "other", other)
    assert P.read_pointer(cfg)["sha256"] == first.sha256


def test_a_half_written_version_folder_is_completed(tmp_path):
    artifact = _artifact(tmp_path / "v1", 1)
    root = tmp_path / "published"
    partial = root / "versions" / "1"
    partial.mkdir(parents=True)
    (partial / "model.ubj").write_bytes(b"cut short")  # a publication that died, no record
    assert P.publish(_cfg(root), NAME, "1", tmp_path / "v1", artifact).copied is True
    assert (partial / "model.ubj").read_bytes() == (tmp_path / "v1" / "model.ubj").read_bytes()


def test_publishing_needs_its_setting(tmp_path):
    artifact = _artifact(tmp_path / "v1", 1)
    cfg = load_config("local")
    with pytest.raises(model_uri.RegistryError, match=r"lifecycle\.publish_uri is not set"):
        P.publish(cfg, NAME, "1", tmp_path / "v1", artifact)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "is not JSON"),
        (b'{"name": "m", "version": "1"}', "lacks one of"),
        (
            b'{"name": "m", "version": "1", "alias": "a", "sha256": "x", "path": "../x"}',
            "leaves its root",
        ),
    ],
)
def test_a_malformed_pointer_is_refused(tmp_path, body, message):
    (tmp_path / "champion").mkdir()
    (tmp_path / "champion" / "pointer.json").write_bytes(body)
    with pytest.raises(model_uri.RegistryError, match=message):
        model_uri.resolve(str(tmp_path / "champion"), None, _local, _exists)


def test_a_folder_names_its_registry_entry_when_it_has_a_registration(tmp_path):
    (tmp_path / "m").mkdir()
    folder, source = model_uri.resolve(str(tmp_path / "m"), None, _local, _exists)
    assert folder == str(tmp_path / "m") and source == model_uri.ModelSource(str(tmp_path / "m"))
    (tmp_path / "m" / "registration.json").write_text('{"name": "n", "version": 4}')
    _, source = model_uri.resolve(str(tmp_path / "m"), None, _local, _exists)
    assert (source.name, source.version, source.alias) == ("n", "4", None)


def test_the_job_follows_a_pointer_without_importing_mlflow(tmp_path):
    artifact = _artifact(tmp_path / "v1", 1)
    root = tmp_path / "published"
    P.publish(_cfg(root), NAME, "1", tmp_path / "v1", artifact)
    script = (
        "import sys; from pathlib import Path\n"
        "from txcat import model_uri\n"
        "from txcat.model import load_artifact\n"
        f"folder, source = model_uri.resolve({str(root / 'champion')!r}, None,\n"
        "    lambda u: Path(u).read_bytes(), lambda u: Path(u).is_file())\n"
        "assert load_artifact(folder).sha256 == source.sha256\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'mlflow'], 'mlflow imported'\n"
        "print(source.version)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_load_verified_follows_the_pointer_and_returns_the_checked_artifact(tmp_path):
    artifact = _artifact(tmp_path / "v1", 1)
    root = tmp_path / "published"
    P.publish(_cfg(root), NAME, "1", tmp_path / "v1", artifact)
    loaded, source = model_uri.load_verified(f"{root}/champion/", None, _local, _exists)
    assert loaded.sha256 == artifact.sha256 and loaded.version == artifact.version
    assert (source.name, source.version, source.alias) == (NAME, "1", "champion")


@pytest.mark.parametrize("error", [model_uri.RegistryError, ModelArtifactError])
def test_load_verified_refuses_a_model_its_source_does_not_promise(tmp_path, error):
    """The job raises RegistryError, the monitor ModelArtifactError: the caller chooses."""
    artifact = _artifact(tmp_path / "v1", 1)
    root = tmp_path / "published"
    P.publish(_cfg(root), NAME, "1", tmp_path / "v1", artifact)
    pointer = json.loads((root / "champion" / "pointer.json").read_text())
    (root / "champion" / "pointer.json").write_text(json.dumps({**pointer, "sha256": "0" * 64}))
    with pytest.raises(error, match=f"promises sha256 {'0' * 64}, the model in .* is ") as caught:
        model_uri.load_verified(f"{root}/champion/", None, _local, _exists, error=error)
    assert type(caught.value) is error
