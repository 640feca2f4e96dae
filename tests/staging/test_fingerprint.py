"""Environment fingerprints and checks, with real throwaway venvs and their own interpreters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging import check_environment, environment_fingerprint
from tests.staging.helpers import BASE_PYTHON, TINY_PACKAGE, run


def test_fingerprint_stable_for_same_env_and_changes_when_a_package_is_added(make_venv):
    prefix = make_venv("env")
    first = environment_fingerprint({"kind": "venv", "path": str(prefix)})
    second = environment_fingerprint({"kind": "venv", "path": str(prefix)})
    assert first.sha256 == second.sha256
    assert first.archive_name == f"venv-{first.sha256[:16]}.tar.gz"

    # a second venv with identical content (other folder) shares the fingerprint
    twin = environment_fingerprint({"kind": "venv", "path": str(make_venv("twin"))})
    assert twin.sha256 == first.sha256

    with_pkg = make_venv("with_pkg", packages=[TINY_PACKAGE])
    changed = environment_fingerprint({"kind": "venv", "path": str(with_pkg)})
    assert changed.sha256 != first.sha256
    assert any(p.startswith(f"{TINY_PACKAGE}==") for p in changed.inputs["packages"])
    assert changed.inputs["python_version"] == first.inputs["python_version"]


def test_check_environment_reports_versions_and_accepts_pins(make_venv):
    prefix = make_venv("env", packages=[TINY_PACKAGE])
    python = str(prefix / "bin" / "python")
    versions = check_environment(python, [TINY_PACKAGE, "json"])
    version = versions[TINY_PACKAGE]
    assert version
    assert check_environment(python, [f"{TINY_PACKAGE}=={version}"]) == {
        f"{TINY_PACKAGE}=={version}": version
    }


def test_missing_required_module_names_it(make_venv):
    python = str(make_venv("env", packages=[TINY_PACKAGE]) / "bin" / "python")
    with pytest.raises(
        StagingError, match=r"required module xgboost cannot be imported.*No module named 'xgboost'"
    ):
        check_environment(python, ["xgboost==3.4.1", TINY_PACKAGE])


def test_wrong_version_names_module_and_versions(make_venv):
    python = str(make_venv("env", packages=[TINY_PACKAGE]) / "bin" / "python")
    with pytest.raises(StagingError, match=rf"required module {TINY_PACKAGE} is version .*, wanted ==999"):
        check_environment(python, [f"{TINY_PACKAGE}==999"])


def test_missing_interpreter_is_a_clear_error(tmp_path):
    with pytest.raises(StagingError, match=r"interpreter .*/bin/python does not exist"):
        check_environment(str(tmp_path / "nope" / "bin" / "python"), ["pandas"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(StagingError, match="does not exist"):
        environment_fingerprint({"kind": "venv", "path": str(tmp_path / "empty")})
    with pytest.raises(StagingError, match="venv folder .* does not exist"):
        environment_fingerprint({"kind": "venv", "path": str(tmp_path / "missing")})


def test_editable_install_is_refused_with_package_name_and_fix(make_venv, tmp_path):
    """A real ``pip install -e`` (PEP 660 finder .pth, which venv-pack's own check does not see)."""
    project = tmp_path / "edproj"
    (project / "edpkg").mkdir(parents=True)
    (project / "edpkg" / "__init__.py").write_text("X = 1\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "edpkg"\nversion = "0.1"\n'
    )
    prefix = make_venv("env", editable=str(project))
    with pytest.raises(StagingError, match=r"package edpkg is an editable install .*pip install -e"):
        check_environment(str(prefix / "bin" / "python"))


def test_system_site_packages_is_refused(tmp_path):
    prefix = tmp_path / "sys_env"
    run([BASE_PYTHON, "-m", "venv", "--without-pip", "--system-site-packages", str(prefix)])
    with pytest.raises(StagingError, match="system-site-packages"):
        check_environment(str(prefix / "bin" / "python"))


def test_conda_fingerprint_from_fake_prefix(tmp_path):
    """conda is not installed here: a FAKE conda prefix (conda-meta/*.json + bin/python symlinked to
    the base interpreter) exercises the conda fingerprint; the records must change the hash."""
    prefix = tmp_path / "conda_env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").mkdir()
    os.symlink(BASE_PYTHON, prefix / "bin" / "python")

    def write_record(name: str, version: str) -> None:
        record = {"name": name, "version": version, "build": "h123_0", "channel": "conda-forge"}
        (prefix / "conda-meta" / f"{name}-{version}-h123_0.json").write_text(json.dumps(record))

    write_record("python", "3.11.7")
    first = environment_fingerprint({"kind": "conda", "prefix": str(prefix)})
    assert first.archive_name.startswith("conda-")
    assert first.inputs["conda_packages"] == ["python=3.11.7=h123_0=conda-forge"]
    assert environment_fingerprint({"kind": "conda", "prefix": str(prefix)}).sha256 == first.sha256
    write_record("libzlib", "1.3.1")
    assert environment_fingerprint({"kind": "conda", "prefix": str(prefix)}).sha256 != first.sha256


def test_conda_by_name_without_conda_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CONDA_EXE", str(tmp_path / "no-conda"))
    with pytest.raises(StagingError, match="Cannot find conda environment 'score'"):
        environment_fingerprint({"kind": "conda", "name": "score"})


def test_bad_environment_dicts(tmp_path: Path):
    with pytest.raises(StagingError, match="kind must be one of"):
        environment_fingerprint({"kind": "docker"})
    with pytest.raises(StagingError, match="not a conda environment"):
        environment_fingerprint({"kind": "conda", "prefix": str(tmp_path)})
    with pytest.raises(StagingError, match="no fingerprint"):
        environment_fingerprint({"kind": "archive", "uri": "hdfs://nn/env.tar.gz"})
