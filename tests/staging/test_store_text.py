"""Store text I/O: read/write by path relative to the store root, and URIs mapped back to those paths."""

from __future__ import annotations

import os

import pytest

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging.store import local_path, open_store


def test_write_then_read_text_and_missing_is_none(tmp_path):
    store = open_store(f"file://{tmp_path}/store")
    assert store.read_text("reports/t/dt=1/_SUBMITTED.json") is None
    store.write_text("reports/t/dt=1/_SUBMITTED.json", '{"a": 1}')
    store.write_text("reports/t/dt=1/_SUBMITTED.json", '{"a": 2}')  # replaced, not appended
    assert store.read_text("reports/t/dt=1/_SUBMITTED.json") == '{"a": 2}'
    assert os.listdir(tmp_path / "store" / "reports" / "t" / "dt=1") == ["_SUBMITTED.json"]  # no temp left


def test_relative_accepts_store_uris_and_local_paths_only(tmp_path):
    store = open_store(str(tmp_path / "store"))  # a plain path becomes a file:// store
    assert store.relative(f"file://{tmp_path}/store/runs/r1/spec.json") == "runs/r1/spec.json"
    assert store.relative(f"{tmp_path}/store/runs/r1/spec.json") == "runs/r1/spec.json"
    with pytest.raises(StagingError, match="is not under the store"):
        store.relative(f"file://{tmp_path}/elsewhere/spec.json")
    with pytest.raises(StagingError, match="is not under the store"):
        store.relative(f"file://{tmp_path}/store2/x.json")  # a sibling with the same prefix


def test_local_path_strips_only_file_scheme():
    assert local_path("file:///a/b.zip") == "/a/b.zip"
    assert local_path("hdfs://nn:8020/a/b.zip") == "hdfs://nn:8020/a/b.zip"
    assert local_path("/a/b.zip") == "/a/b.zip"
