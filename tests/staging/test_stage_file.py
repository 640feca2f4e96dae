"""stage_file with a real file:// store: files, folders, concurrency, no half-written targets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging import open_store, stage_file
from airflow_provider_spark_predict.staging import store as store_mod

WORKER = str(Path(__file__).with_name("stage_worker.py"))


def _model_folder(root: Path) -> Path:
    """A folder shaped like a saved Spark ML PipelineModel."""
    folder = root / "pipeline_model"
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "part-00000").write_text('{"class":"org.apache.spark.ml.PipelineModel"}')
    (folder / "metadata" / "_SUCCESS").write_text("")
    (folder / "stages" / "0_lr" / "data").mkdir(parents=True)
    (folder / "stages" / "0_lr" / "data" / "part-0.parquet").write_bytes(os.urandom(2048))
    return folder


def test_model_file_is_staged_by_content_hash(tmp_path):
    model = tmp_path / "model.pkl"
    model.write_bytes(b"x" * 1000)
    store = open_store(f"file://{tmp_path / 'store'}")
    first = stage_file(str(model), store)
    sha = hashlib.sha256(b"x" * 1000).hexdigest()
    assert first.uri == f"file://{tmp_path}/store/models/{sha[:16]}/model.pkl"
    assert (first.sha256, first.size_bytes, first.cache_hit, first.name) == (sha, 1000, False, "model.pkl")
    assert first.to_dict()["uri"] == first.uri
    again = stage_file(f"file://{model}", store)  # file:// URI of the same file
    assert again.cache_hit and again.uri == first.uri
    model.write_bytes(b"y" * 1000)
    changed = stage_file(str(model), store)
    assert not changed.cache_hit and changed.uri != first.uri


def test_folder_is_staged_as_folder_and_hash_ignores_location(tmp_path):
    folder = _model_folder(tmp_path / "a")
    store = open_store(str(tmp_path / "store"))
    staged = stage_file(str(folder), store, kind="model")
    target = Path(staged.uri[len("file://") :])
    assert target.name == "pipeline_model" and target.is_dir()
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "metadata/_SUCCESS",
        "metadata/part-00000",
        "stages/0_lr/data/part-0.parquet",
    ]
    copy = tmp_path / "b" / "pipeline_model"
    shutil.copytree(folder, copy)
    assert stage_file(str(copy), store).sha256 == staged.sha256
    assert stage_file(str(copy), store).cache_hit
    (copy / "metadata" / "_SUCCESS").write_text("changed")
    assert stage_file(str(copy), store).sha256 != staged.sha256


def test_missing_file_and_remote_passthrough(tmp_path):
    store = open_store(str(tmp_path))
    with pytest.raises(StagingError, match="no such file or folder"):
        stage_file(str(tmp_path / "missing.pkl"), store)
    passed = stage_file("hdfs://nn:8020/models/m1/model.json", store)
    assert (passed.uri, passed.name, passed.cache_hit, passed.size_bytes) == (
        "hdfs://nn:8020/models/m1/model.json",
        "model.json",
        True,
        -1,
    )


def test_half_written_file_is_never_visible(tmp_path, monkeypatch):
    """While the bytes are being copied, the target name must not exist: only a .tmp- name does."""
    model = tmp_path / "big.bin"
    model.write_bytes(os.urandom(1 << 20))
    store = open_store(str(tmp_path / "store"))
    seen = []
    real_copyfile = shutil.copyfile

    def observing_copyfile(src, dst, *args, **kwargs):
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            fout.write(fin.read(1 << 19))  # half of it
            fout.flush()
            parent = os.path.dirname(dst)
            seen.append((sorted(os.listdir(parent)), os.path.exists(os.path.join(parent, "big.bin"))))
        return real_copyfile(src, dst, *args, **kwargs)

    monkeypatch.setattr(store_mod.shutil, "copyfile", observing_copyfile)
    staged = stage_file(str(model), store)
    names, target_exists = seen[0]
    assert not target_exists
    assert len(names) == 1 and names[0].startswith(".tmp-") and names[0].endswith("-big.bin")
    final = Path(staged.uri[len("file://") :])
    assert final.read_bytes() == model.read_bytes()
    assert os.listdir(final.parent) == ["big.bin"]


def test_half_written_folder_is_never_visible(tmp_path, monkeypatch):
    folder = _model_folder(tmp_path)
    store = open_store(str(tmp_path / "store"))
    seen = []
    real_copytree = shutil.copytree

    def observing_copytree(src, dst, *args, **kwargs):
        result = real_copytree(src, dst, *args, **kwargs)
        parent = os.path.dirname(dst)
        seen.append(sorted(os.listdir(parent)))
        return result

    monkeypatch.setattr(store_mod.shutil, "copytree", observing_copytree)
    staged = stage_file(str(folder), store)
    assert len(seen[-1]) == 1 and seen[-1][0].startswith(".tmp-")  # outermost call (copytree recurses)
    assert os.listdir(Path(staged.uri[len("file://") :]).parent) == ["pipeline_model"]


@pytest.mark.parametrize("what", ["file", "folder"])
def test_concurrent_processes_upload_once(tmp_path, subprocess_env, what):
    """Three OS processes stage the same model at once (barrier + 1 s slowed upload): one uploads."""
    if what == "file":
        path = tmp_path / "model.json"
        path.write_text(json.dumps({"trees": list(range(10000))}))
    else:
        path = _model_folder(tmp_path)
    store_uri = f"file://{tmp_path / 'store'}"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, "file", store_uri, str(path), str(barrier), "3", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    logs = "".join(err for _, err in outs)
    assert sorted(r["cache_hit"] for r in results) == [False, True, True]
    assert len({r["uri"] for r in results}) == 1
    assert logs.count("Uploaded ") == 1
    final = Path(results[0]["uri"][len("file://") :])
    assert os.listdir(final.parent) == [path.name]
