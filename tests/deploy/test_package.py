"""EMR package pieces: runtime pins without pyspark, the conf archive, jobs, the manifest."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from txcat.deploy import package
from txcat.deploy.package import PackageError

REPO = Path(__file__).resolve().parents[2]


#: Development, test and lifecycle packages: never on the executors.
NOT_FOR_EXECUTORS = (
    "pytest", "chispa", "hypothesis", "moto", "ruff", "mypy", "pre-commit", "uv", "build",
    "mlflow", "scikit-learn", "matplotlib", "streamlit", "apache-airflow",
)  # fmt: skip


def test_runtime_requirements_exclude_the_cluster_spark(tmp_path):
    (tmp_path / "base.txt").write_text("numpy==1.26.4\n# comment\n")
    (tmp_path / "job.txt").write_text(
        "-r base.txt\npyspark==3.5.9  # the cluster's\nPy4J==0.10.9.7\npandas==2.3.3\n"
        "    # via txcat\n\n"
    )
    assert package.runtime_requirements(tmp_path / "job.txt") == ["numpy==1.26.4", "pandas==2.3.3"]


def test_an_option_line_in_a_lock_is_refused(tmp_path):
    (tmp_path / "job.txt").write_text("--index-url https://example.org/simple\nnumpy==1.26.4\n")
    with pytest.raises(PackageError, match="unsupported option"):
        package.runtime_requirements(tmp_path / "job.txt")


def test_the_job_lock_pins_what_executors_import_and_nothing_else():
    pins = package.runtime_requirements(REPO / package.JOB_LOCK)
    names = {package._name(p) for p in pins}
    assert all("==" in p for p in pins), "the lock pins every package"
    assert not any("[" in p for p in pins), "no extras: the lock serves as a constraints file too"
    assert {"xgboost-cpu", "pandas", "pyarrow", "numpy", "pyyaml", "boto3"} <= names
    assert {"great-expectations", "psycopg", "holidays", "pycountry"} <= names
    assert not names & {"pyspark", "py4j"}
    assert not names & set(NOT_FOR_EXECUTORS)


def test_the_job_lock_agrees_with_the_dev_lock():
    job = _pins(REPO / "requirements" / "job.txt")
    dev = _pins(REPO / "requirements" / "dev.txt")
    assert {name: job[name] for name in job} == {name: dev.get(name) for name in job}


def _pins(lock: Path) -> dict[str, str]:
    pins = package.read_requirements(lock)
    return {package._name(p): p.split("==", 1)[1] for p in pins}


def test_packages_outside_the_lock_are_reported():
    installed = {"pip": "26.3", "txcat": "0.1.0", "pandas": "2.3.3", "pytest": "9.2.0"}
    assert package.unlisted_distributions(installed, ["pandas==2.3.3"]) == ["pytest"]


def test_conf_archive_is_flat_and_complete(tmp_path):
    out = tmp_path / "dist"
    out.mkdir()
    archive = package.build_conf_archive(REPO / "conf", out)
    assert archive.name == "txcat-conf.tar.gz"
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    expected = sorted(p.name for p in (REPO / "conf").glob("*.yaml"))
    assert [n for n in names if n.endswith(".yaml")] == expected
    assert "base.yaml" in names and "emr.yaml" in names
    assert all("/" not in n for n in names)


def test_conf_archive_refuses_a_folder_without_base(tmp_path):
    (tmp_path / "emr.yaml").write_text("spark: {}\n")
    with pytest.raises(PackageError, match=r"no base\.yaml"):
        package.build_conf_archive(tmp_path, tmp_path)


def test_manifest_records_every_file_with_its_checksum(tmp_path):
    out = tmp_path / "dist"
    package.copy_jobs(REPO, out)
    package.build_conf_archive(REPO / "conf", out)
    bootstrap = package.copy_bootstrap(REPO, out)
    (out / ".pack-venv").mkdir()
    (out / ".pack-venv" / "junk").write_text("x")
    manifest = package.write_manifest(out, "0.1.0")
    assert manifest["version"] == "0.1.0"
    assert manifest["emr_release"].startswith("emr-7.")
    assert set(manifest["files"]) == {
        "txcat-conf.tar.gz",
        "bootstrap-python311.sh",
        *(f"jobs/{p.name}" for p in (REPO / "jobs").glob("*.py")),
    }
    assert os.access(bootstrap, os.X_OK)
    score = manifest["files"]["jobs/score_daily.py"]
    assert score["sha256"] == package.sha256(REPO / "jobs" / "score_daily.py")
    assert json.loads((out / "package.json").read_text()) == manifest


def test_wheel_version_from_name():
    assert package.wheel_version(Path("txcat-0.1.0-py3-none-any.whl")) == "0.1.0"
    with pytest.raises(PackageError):
        package.wheel_version(Path("txcat.whl"))


def test_includes_are_merged_without_repeats(tmp_path):
    (tmp_path / "extra.txt").write_text("pandas==2.3.3\nboto3==1.44.8\n")
    (tmp_path / "job.txt").write_text("pandas==2.3.3\npyspark==3.5.9\n-r extra.txt\n")
    pins = package.runtime_requirements(tmp_path / "job.txt")
    assert pins == ["pandas==2.3.3", "boto3==1.44.8"]


def test_the_packed_venv_commands_do_not_see_another_tree():
    environ = {"PATH": "/usr/bin", "PYTHONPATH": "/work/src", "PYTHONHOME": "/x", "HOME": "/root"}
    assert package.isolated_environ(environ) == {"PATH": "/usr/bin", "HOME": "/root"}


def test_the_packed_interpreter_links_point_at_the_nodes_python(tmp_path):
    """venv-pack's --python-prefix made `/usr/bin/python3.113.11` of this link: not ours."""
    build_python = "/root/.pyenv/versions/3.11.9"
    raw = tmp_path / "raw.tar"
    cfg = (
        f"home = {build_python}/bin\ninclude-system-site-packages = false\nversion = 3.11.9\n"
        f"executable = {build_python}/bin/python3.11\ncommand = x -m venv /tmp/v\n"
    ).encode()
    with tarfile.open(raw, "w") as archive:
        for name, target in (
            ("bin/python3.11", f"{build_python}/bin/python3.11"),
            ("bin/python", "python3.11"),
            ("lib64", "lib"),
        ):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            archive.addfile(link)
        for name, data in (("pyvenv.cfg", cfg), ("lib/python3.11/site-packages/a.py", b"x=1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

    package.retarget_interpreter(raw, tmp_path / "env.tar.gz", "/usr/")

    with tarfile.open(tmp_path / "env.tar.gz") as packed:
        links = {m.name: m.linkname for m in packed if m.issym()}
        assert links == {"bin/python3.11": "/usr/bin/python3.11", "bin/python": "python3.11",
                         "lib64": "lib"}  # fmt: skip
        assert packed.extractfile("pyvenv.cfg").read().decode() == (
            "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.9\n"
            "executable = /usr/bin/python3.11\ncommand = x -m venv /tmp/v\n"
        )
        assert packed.extractfile("lib/python3.11/site-packages/a.py").read() == b"x=1\n"
