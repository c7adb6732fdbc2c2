"""`txcat rollback`: the alias goes back through the versions it served, and is published."""

from __future__ import annotations

import json

import pytest

from tests.lifecycle.test_publish import _artifact
from txcat import cli, exits, model_uri
from txcat.config import load_config
from txcat.lifecycle import registry as R
from txcat.lifecycle import workflow

#: A SQLite registry with three versions: left out of `make test-fast`.
pytestmark = pytest.mark.slow

NAME = "txcat-rollback-model"


@pytest.fixture
def registry(tmp_path):
    """A SQLite registry with versions 1-3 (3 failed the gate), nothing served yet."""
    overrides = [
        f"lifecycle.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"lifecycle.registered_model={NAME}",
        f"lifecycle.publish_uri={tmp_path / 'published'}",
    ]
    cfg = load_config("local", overrides=overrides)
    client = model_uri.client(cfg, create=True)
    client.create_registered_model(NAME)
    artifacts = {}
    for number, gate in (("1", "passed"), ("2", "passed"), ("3", "failed")):
        folder = tmp_path / f"v{number}"
        artifacts[number] = _artifact(folder, int(number))
        version = client.create_model_version(NAME, folder.as_uri(), tags={R.TAG_GATE: gate})
        assert str(version.version) == number
    return {"cfg": cfg, "overrides": overrides, "artifacts": artifacts, "root": tmp_path}


def _serve(registry, number: str) -> None:
    folder = registry["root"] / f"v{number}"
    workflow.serve(registry["cfg"], NAME, number, folder, registry["artifacts"][number])


def _pointer(registry) -> dict:
    return json.loads((registry["root"] / "published" / "champion" / "pointer.json").read_text())


def test_rollback_serves_and_publishes_the_previous_version(registry, capsys):
    _serve(registry, "1")
    _serve(registry, "2")
    assert _pointer(registry)["version"] == "2"
    args = [a for item in registry["overrides"] for a in ("--set", item)]
    assert cli.main(["rollback", *args]) == exits.OK
    out = capsys.readouterr().out
    assert f"ROLLED BACK {NAME}@champion: version 2 -> version 1" in out
    assert workflow.current_champion_version(registry["cfg"]) == "1"
    assert _pointer(registry)["version"] == "1"
    assert _pointer(registry)["sha256"] == registry["artifacts"]["1"].sha256
    assert R.served_history(registry["cfg"], NAME) == ["1", "2", "1"]
    # A second rollback goes back to 2: the version served before the current one.
    assert workflow.rollback(registry["cfg"]).version == "2"


def test_nothing_served_before_is_an_error(registry):
    _serve(registry, "1")
    with pytest.raises(model_uri.RegistryError, match="nothing to roll back to"):
        workflow.rollback(registry["cfg"])


def test_a_version_that_failed_the_gate_is_not_served_by_a_rollback(registry, caplog):
    _serve(registry, "1")
    args = [a for item in registry["overrides"] for a in ("--set", item)]
    assert cli.main(["rollback", "--to", "3", *args]) == exits.BAD_MODEL
    assert "version 3 did not pass the quality gate" in caplog.text
    assert _pointer(registry)["version"] == "1"
