"""stage_environment with a real file:// store, real venv-pack and real throwaway venvs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging import environment as env_mod
from airflow_provider_spark_predict.staging import open_store, stage_environment
from airflow_provider_spark_predict.staging import pack as pack_mod
from tests.staging.helpers import TINY_PACKAGE

WORKER = str(Path(__file__).with_name("stage_worker.py"))


def _local(uri: str) -> str:
    assert uri.startswith("file://")
    return uri[len("file://") :]


def test_none_means_driver_interpreter(tmp_path):
    assert stage_environment(None, open_store(f"file://{tmp_path}")) is None


def test_stage_twice_second_is_a_cache_hit_without_packing(make_venv, tmp_path, monkeypatch, caplog):
    prefix = make_venv("env", packages=[TINY_PACKAGE])
    store = open_store(f"file://{tmp_path / 'store'}")
    calls = []
    real_pack = env_mod.pack_environment

    def counting_pack(*args, **kwargs):
        calls.append(args)
        return real_pack(*args, **kwargs)

    monkeypatch.setattr(env_mod, "pack_environment", counting_pack)
    caplog.set_level("INFO")
    first = stage_environment({"kind": "venv", "path": str(prefix)}, store, required_modules=[TINY_PACKAGE])
    assert first is not None and not first.cache_hit and len(calls) == 1
    assert first.uri == f"{store.uri}/environments/{first.name}"
    assert first.name == f"venv-{first.sha256[:16]}.tar.gz"
    archive = _local(first.uri)
    assert stat.S_IMODE(os.stat(archive).st_mode) == 0o644  # venv-pack writes 0600
    assert first.size_bytes == os.path.getsize(archive)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "bin/python" in names and any(
        n.startswith(f"lib/python3.{sys.version_info[1]}/site-packages/{TINY_PACKAGE}") for n in names
    )
    assert "Cache miss" in caplog.text and "Packed" in caplog.text and "Uploaded" in caplog.text

    # the passed module check is recorded next to the archive; no temp files are left behind
    records = sorted(n for n in os.listdir(os.path.dirname(archive)) if n != first.name)
    assert len(records) == 1 and records[0].startswith(f"{first.name}.checked-")
    record = json.loads(Path(os.path.dirname(archive), records[0]).read_text())
    assert record["fingerprint"] == first.sha256 and record["modules"][TINY_PACKAGE]

    probes = []
    real_probe = env_mod.probe_environment

    def counting_probe(python, modules=()):
        probes.append(list(modules))
        return real_probe(python, modules)

    monkeypatch.setattr(env_mod, "probe_environment", counting_probe)
    second = stage_environment({"kind": "venv", "path": str(prefix)}, store, required_modules=[TINY_PACKAGE])
    assert second is not None and second.cache_hit
    assert len(calls) == 1, "the second staging must not pack"
    assert probes == [[]], "the second staging runs the interpreter once, without importing modules"
    assert (second.uri, second.sha256, second.size_bytes) == (first.uri, first.sha256, first.size_bytes)
    assert "Cache hit" in caplog.text and "already verified" in caplog.text

    # a new required module is checked (and fails) even though the archive is cached
    with pytest.raises(StagingError, match="required module lightgbm cannot be imported"):
        stage_environment(
            {"kind": "venv", "path": str(prefix)}, store, required_modules=[TINY_PACKAGE, "lightgbm"]
        )


def test_check_runs_before_packing(make_venv, tmp_path, monkeypatch):
    prefix = make_venv("env")
    monkeypatch.setattr(env_mod, "pack_environment", lambda *a, **k: pytest.fail("must not pack"))
    with pytest.raises(StagingError, match="required module pyarrow cannot be imported"):
        stage_environment(
            {"kind": "venv", "path": str(prefix)}, open_store(str(tmp_path)), required_modules=["pyarrow"]
        )


def test_two_concurrent_processes_upload_once(make_venv, tmp_path, subprocess_env):
    """Two OS processes stage the same venv at the same moment (a barrier file makes them overlap,
    and packing sleeps 2 s so the winner holds the lock while the loser arrives)."""
    prefix = make_venv("env", packages=[TINY_PACKAGE])
    store_uri = f"file://{tmp_path / 'store'}"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, "env", store_uri, str(prefix), str(barrier), "2", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    logs = "".join(err for _, err in outs)
    assert sorted(r["cache_hit"] for r in results) == [False, True]
    assert results[0]["uri"] == results[1]["uri"]
    assert logs.count("Cache miss: packing") == 1
    assert logs.count("Uploaded ") == 1
    assert "waiting for it" in logs and "Cache hit after waiting" in logs
    archive = _local(results[0]["uri"])
    with tarfile.open(archive) as tar:
        assert "bin/python" in tar.getnames()
    assert os.listdir(os.path.dirname(archive)) == [os.path.basename(archive)]


def test_ready_archive_is_passed_through(tmp_path):
    store = open_store(str(tmp_path))
    staged = stage_environment({"kind": "archive", "uri": "hdfs://nn:8020/envs/score.tar.gz"}, store)
    assert staged is not None
    assert (staged.uri, staged.name, staged.cache_hit, staged.sha256) == (
        "hdfs://nn:8020/envs/score.tar.gz",
        "score.tar.gz",
        True,
        "",
    )


def test_conda_environment_packs_with_conda_pack(tmp_path, monkeypatch):
    """conda is not installed on this machine, so conda-pack cannot run end to end: a FAKE conda prefix
    (conda-meta/*.json, bin/python symlinked to the base interpreter) is fingerprinted for real, and
    ``conda_pack.pack`` is replaced by a stub that asserts its arguments and writes a small archive."""
    import conda_pack

    from tests.staging.helpers import BASE_PYTHON

    prefix = tmp_path / "conda_env"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").mkdir()
    os.symlink(BASE_PYTHON, prefix / "bin" / "python")
    record = {"name": "python", "version": "3.11.7", "build": "h1_0", "channel": "conda-forge"}
    (prefix / "conda-meta" / "python-3.11.7-h1_0.json").write_text(json.dumps(record))
    calls = []

    def fake_pack(**kwargs):
        calls.append(kwargs)
        with tarfile.open(kwargs["output"], "w:gz") as tar:
            tar.add(str(prefix / "conda-meta"), arcname="conda-meta")
        os.chmod(kwargs["output"], 0o600)
        return kwargs["output"]

    monkeypatch.setattr(conda_pack, "pack", fake_pack)
    store = open_store(str(tmp_path / "store"))
    staged = stage_environment({"kind": "conda", "prefix": str(prefix), "compress_level": 1}, store)
    assert staged is not None and not staged.cache_hit and staged.name.startswith("conda-")
    assert len(calls) == 1
    call = calls[0]
    assert call["prefix"] == str(prefix) and call["format"] == "tar.gz" and call["compress_level"] == 1
    assert call["output"].endswith(staged.name)
    assert stat.S_IMODE(os.stat(_local(staged.uri)).st_mode) == 0o644
    again = stage_environment({"kind": "conda", "prefix": str(prefix)}, store)
    assert again is not None and again.cache_hit and len(calls) == 1


def test_packer_failure_is_a_staging_error(make_venv, tmp_path, monkeypatch):
    import venv_pack

    def broken(**kwargs):
        raise venv_pack.VenvPackException("boom")

    monkeypatch.setattr(venv_pack, "pack", broken)
    prefix = make_venv("env")
    with pytest.raises(StagingError, match="venv-pack failed on .*boom"):
        stage_environment({"kind": "venv", "path": str(prefix)}, open_store(str(tmp_path / "s")))
    assert pack_mod.DEFAULT_COMPRESS_LEVEL == 4
