"""A read-only command never creates the tracking store; a missing or unreachable one is exit 3."""

from __future__ import annotations

import logging
import socket
import sys

import pytest

from txcat import cli, exits, model_uri
from txcat.config import load_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "command", [["promote", "--version", "1"], ["rollback"], ["promote", "--version", "latest"]]
)
def test_a_read_only_command_in_an_empty_folder_creates_no_store(
    tmp_path, monkeypatch, caplog, capsys, command
):
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.ERROR):
        code = cli.main(command)
    assert code == exits.BAD_MODEL
    assert "tracking store: sqlite:///data/mlflow/mlflow.db (lifecycle.tracking_uri)" in (
        capsys.readouterr().out
    )
    assert (
        "tracking store sqlite:///data/mlflow/mlflow.db (lifecycle.tracking_uri) does not exist"
        in (caplog.text)
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # creates a SQLite store
def test_the_missing_store_error_names_the_file_and_the_setting(tmp_path):
    cfg = load_config("local", overrides=[f"lifecycle.tracking_uri=sqlite:///{tmp_path}/x/m.db"])
    with pytest.raises(model_uri.RegistryUnavailableError, match=r"x/m\.db is missing"):
        model_uri.client(cfg)
    assert not (tmp_path / "x").exists()
    model_uri.client(cfg, create=True)  # training's registration may create it
    assert (tmp_path / "x").is_dir()


@pytest.mark.slow  # an MLflow client against a closed port
def test_an_unreachable_registry_is_exit_3_naming_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    uri = f"http://127.0.0.1:{_free_port()}"
    with caplog.at_level(logging.ERROR):
        code = cli.main(["promote", "--version", "1", "--set", f"lifecycle.tracking_uri={uri}"])
    assert code == exits.BAD_MODEL
    assert f"model registry at {uri} (lifecycle.tracking_uri) failed" in caplog.text


def test_commands_print_where_they_read_and_write(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cli.main(["promote", "--version", "1", "--set", "lifecycle.publish_uri=s3://b/models"])
    out = capsys.readouterr().out
    assert "publish location: s3://b/models (lifecycle.publish_uri)" in out
    assert "artifact location: data/mlflow/artifacts (lifecycle.artifact_root" in out


def test_a_registry_uri_without_mlflow_names_the_published_folder(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # the job's environment on the cluster
    cfg = load_config("emr")
    with pytest.raises(model_uri.RegistryUnavailableError, match="needs MLflow on the driver") as e:
        model_uri.resolve_model_uri("models:/txcat-categoriser@champion", cfg)
    assert "--model <lifecycle.publish_uri>/champion/" in str(e.value)
