"""The hdfs:// store path, against a FAKE HDFS.

HDFS cannot run on this machine (no Hadoop, no namenode). These tests register fsspec's in-memory
filesystem under the ``hdfs`` protocol (``FakeHDFS`` below), so ``open_store("hdfs://nn:8020/...")``
goes through the same fsspec calls as pyarrow's HadoopFileSystem would (makedirs, exists, put_file,
put, mv, rm, size, du) — but nothing here proves behaviour against a real namenode (e.g. HDFS moves a
folder INTO an existing folder on rename; the store handles that, the memory filesystem does not do it).
"""

from __future__ import annotations

import io
import re
import sys
import tarfile

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_spark_predict.staging import environment as env_mod
from airflow_provider_spark_predict.staging import (
    environment_spark_conf,
    open_store,
    stage_environment,
    stage_file,
)
from tests.staging.helpers import TINY_PACKAGE


class FakeHDFS(MemoryFileSystem):
    """In-memory stand-in for HDFS: ``hdfs://nn:8020/a/b`` is the path ``/a/b``."""

    protocol = "hdfs"
    store: dict = {}
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, str):
            path = re.sub(r"^hdfs://[^/]*", "", path)
        return super()._strip_protocol(path)


@pytest.fixture
def fake_hdfs(monkeypatch):
    monkeypatch.setitem(sys.modules["fsspec.registry"]._registry, "hdfs", FakeHDFS)
    FakeHDFS.store = {}
    FakeHDFS.pseudo_dirs = [""]
    FakeHDFS.clear_instance_cache()
    yield FakeHDFS()
    FakeHDFS.clear_instance_cache()


def test_hdfs_store_file_and_folder(fake_hdfs, tmp_path):
    store = open_store("hdfs://nn:8020/stage", storage_options={})
    assert (store.uri, store.root_path, store.is_local) == ("hdfs://nn:8020/stage", "/stage", False)
    model = tmp_path / "model.pkl"
    model.write_bytes(b"m" * 500)
    staged = stage_file(str(model), store)
    assert re.fullmatch(r"hdfs://nn:8020/stage/models/[0-9a-f]{16}/model\.pkl", staged.uri)
    assert fake_hdfs.cat(staged.uri) == b"m" * 500
    assert not staged.cache_hit and stage_file(str(model), store).cache_hit

    folder = tmp_path / "pm"
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "part-00000").write_text("{}")
    (folder / "stages").mkdir()
    (folder / "stages" / "x.parquet").write_bytes(b"p" * 10)
    staged_dir = stage_file(str(folder), store)
    assert sorted(fake_hdfs.find(staged_dir.uri)) == [
        staged_dir.uri.replace("hdfs://nn:8020", "") + "/metadata/part-00000",
        staged_dir.uri.replace("hdfs://nn:8020", "") + "/stages/x.parquet",
    ]
    assert store.size(staged_dir.uri[len(store.uri) + 1 :]) == 12
    assert stage_file(str(folder), store).cache_hit
    assert not [p for p in fake_hdfs.find("/stage") if "/.tmp-" in p]


def test_hdfs_concurrent_writer_wins_keeps_existing(fake_hdfs, tmp_path, monkeypatch):
    """Best-effort protocol on remote stores: if the target appears while we upload, ours is dropped."""
    store = open_store("hdfs://nn:8020/stage")
    model = tmp_path / "model.bin"
    model.write_bytes(b"ours")
    real_put_file = FakeHDFS.put_file

    def put_then_other_writer(self, lpath, rpath, **kwargs):
        real_put_file(self, lpath, rpath, **kwargs)
        target = re.sub(r"/\.tmp-[0-9a-f]+-", "/", rpath)
        self.pipe_file(target, b"theirs")  # another task finished first

    monkeypatch.setattr(FakeHDFS, "put_file", put_then_other_writer)
    staged = stage_file(str(model), store)
    assert staged.cache_hit  # this call did not create it
    assert fake_hdfs.cat(staged.uri) == b"theirs"
    assert not [p for p in fake_hdfs.find("/stage") if "/.tmp-" in p]


def test_hdfs_environment_cache_hit_and_yarn_conf(fake_hdfs, make_venv, monkeypatch):
    prefix = make_venv("env", packages=[TINY_PACKAGE])
    store = open_store("hdfs://nn:8020/stage")
    first = stage_environment({"kind": "venv", "path": str(prefix)}, store)
    assert first is not None and not first.cache_hit
    assert first.uri == f"hdfs://nn:8020/stage/environments/{first.name}"
    with tarfile.open(fileobj=io.BytesIO(fake_hdfs.cat(first.uri))) as tar:
        assert "bin/python" in tar.getnames()
    assert first.size_bytes == len(fake_hdfs.cat(first.uri))

    monkeypatch.setattr(env_mod, "pack_environment", lambda *a, **k: pytest.fail("second staging packed"))
    second = stage_environment({"kind": "venv", "path": str(prefix)}, store)
    assert second is not None and second.cache_hit and second.uri == first.uri
    assert environment_spark_conf(second, master="yarn", deploy_mode="cluster") == {
        "spark.archives": f"{first.uri}#environment",
        "spark.pyspark.python": "./environment/bin/python",
        "spark.yarn.appMasterEnv.PYSPARK_PYTHON": "./environment/bin/python",
    }


def test_unreachable_store_is_a_staging_error(monkeypatch):
    from airflow_provider_spark_predict.exceptions import StagingError

    class Broken(MemoryFileSystem):
        protocol = "brokenfs"

        def __init__(self, *args, **kwargs):
            raise OSError("connection refused")

    monkeypatch.setitem(sys.modules["fsspec.registry"]._registry, "brokenfs", Broken)
    with pytest.raises(StagingError, match="Cannot open store 'brokenfs://x/y': connection refused"):
        open_store("brokenfs://x/y")
