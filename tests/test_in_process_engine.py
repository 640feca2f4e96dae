"""The in-process engine behaves like the Spark job where they used to differ: superseded versions are
cleaned up to ``keep_previous_versions``, a failed second rename puts the old partition back, a failed run
writes its report, the storage options reach the report store, float32 features reach the model as float32.
No JVM: pyarrow, a real XGBoost model and real files."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from airflow_provider_spark_predict.in_process import run_in_process
from airflow_provider_spark_predict.report import CHECKED_MARKER, RunReport
from airflow_provider_spark_predict.spec import ScoringSpec

LOG = logging.getLogger("test-in-process")


@pytest.fixture
def world(tmp_path):  # type: ignore[no-untyped-def]
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1},
                        xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int), feature_names=["a", "b"]), num_boost_round=3)
    booster.save_model(str(tmp_path / "m.json"))
    folder = tmp_path / "in" / "dt=2026-01-01"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"pin": [f"p{i}" for i in range(50)],
                             "a": pa.array(rng.standard_normal(50), pa.float32()),
                             "b": pa.array(rng.standard_normal(50), pa.float32())}), folder / "p.parquet")
    return tmp_path


def spec(world, run: str, **output) -> ScoringSpec:  # type: ignore[no-untyped-def]
    s = ScoringSpec.from_dict({
        "input": {"path": str(world / "in"), "partition": {"dt": "2026-01-01"}},
        "model": {"uri": str(world / "m.json")},
        "output": {"path": str(world / "out"), "partition": {"dt": "2026-01-01"}, **output},
        "keys": ["pin"], "run_id": f"20260101T00000{run}Z-x",
    }).validate()
    s.report_uri = str(world / "store" / f"{s.run_id}.json")
    return s


def run(world, s: ScoringSpec, **kw) -> RunReport:  # type: ignore[no-untyped-def]
    return run_in_process(s, str(world / "m.json"), log=LOG, **kw)


def versions(world) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(os.listdir(world / "out" / "_spark_predict" / "dt=2026-01-01"))


def test_keep_previous_versions_cleans_up_superseded_folders(world) -> None:  # type: ignore[no-untyped-def]
    for i in range(1, 4):
        report = run(world, spec(world, str(i), keep_previous_versions=1))
        assert report.status == "succeeded", report.error
    # three publishes of one partition: the two older folders were moved aside, only the newest one kept
    assert versions(world) == ["superseded-20260101T000003Z-x"]
    assert report.replaced_location and report.replaced_location.endswith("superseded-20260101T000003Z-x")
    run(world, spec(world, "4", keep_previous_versions=0))
    assert versions(world) == []


def test_failed_second_rename_restores_the_previous_partition(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The failing rename is injected (a real filesystem rarely refuses one on demand)."""
    from airflow_provider_spark_predict.in_process.files import FsspecFiles

    assert run(world, spec(world, "1")).published
    before = pq.read_table(world / "out" / "dt=2026-01-01").column("pin").to_pylist()
    real = FsspecFiles.rename

    def refuse_version(self, src: str, dst: str) -> bool:  # type: ignore[no-untyped-def]
        return False if "/_spark_predict/" in src and "superseded-" not in src else real(self, src, dst)

    monkeypatch.setattr(FsspecFiles, "rename", refuse_version)
    s = spec(world, "2")
    report = run(world, s)
    assert report.status == "error" and report.error_type == "JobError"
    assert "the previous partition was restored" in (report.error or "")
    assert pq.read_table(world / "out" / "dt=2026-01-01").column("pin").to_pylist() == before
    assert not any(v.startswith("superseded-") for v in versions(world))
    written = RunReport.from_json((world / "store" / f"{s.run_id}.json").read_text())
    assert written.status == "error" and not written.published


def test_a_failed_run_writes_its_report_and_no_marker(world) -> None:  # type: ignore[no-untyped-def]
    s = spec(world, "1")
    s.input.partition = {"dt": "2026-01-09"}  # no such partition
    report = run(world, s)
    assert report.status == "error" and report.error_type == "InputError" and "dt=2026-01-09" in (report.error or "")
    written = json.loads((world / "store" / f"{s.run_id}.json").read_text())
    assert written["status"] == "error" and written["engine"] == "in_process"
    assert not (world / "store" / CHECKED_MARKER).exists()
    assert not (world / "out").exists()


def test_the_hook_raises_the_reported_error_naming_the_report(world) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_spark_predict.exceptions import InputError
    from airflow_provider_spark_predict.hooks.predict import SparkPredictHook

    s = spec(world, "1")
    s.input.partition = {"dt": "2026-01-09"}
    hook = SparkPredictHook(store_uri=f"file://{world}/hookstore")
    with pytest.raises(InputError, match=r"dt=2026-01-09.*report: file://.*/hookstore/reports/"):
        hook.run_local(s)
    reports = [f for _, _, files in os.walk(world / "hookstore" / "reports") for f in files]
    assert reports == [f"{s.run_id}.json"]


class RecordingFS(LocalFileSystem):
    """A local filesystem under its own protocol that refuses to open without the right ``token``: stands
    in for a remote store (HDFS/S3, not available here) that needs credentials in ``storage_options``."""

    protocol = "recordfs"
    seen: list[dict] = []

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        RecordingFS.seen.append(dict(kwargs))
        if kwargs.get("token") != "secret":
            raise PermissionError("recordfs needs token='secret'")
        super().__init__(*args, **{k: v for k, v in kwargs.items() if k != "token"})

    @classmethod
    def _strip_protocol(cls, path):  # type: ignore[no-untyped-def]
        return super()._strip_protocol(str(path).removeprefix("recordfs://"))


def test_storage_options_reach_the_report_store(world) -> None:  # type: ignore[no-untyped-def]
    import fsspec

    fsspec.register_implementation("recordfs", RecordingFS, clobber=True)
    s = spec(world, "1")
    s.report_uri = f"recordfs://{world}/remote-store/{s.run_id}.json"
    report = run(world, s, storage_options={"token": "secret"})
    assert report.status == "succeeded", report.error
    written = RunReport.from_json((world / "remote-store" / f"{s.run_id}.json").read_text())
    assert written.published and (world / "remote-store" / CHECKED_MARKER).exists()
    assert {"token": "secret"} in RecordingFS.seen


def test_float32_features_reach_the_model_as_float32(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_spark_predict.models.base import unwrap
    from airflow_provider_spark_predict.models.xgboost import XGBoostAdapter

    seen = []
    real = XGBoostAdapter.predict

    def spy(self, features):  # type: ignore[no-untyped-def]
        seen.append(unwrap(features).dtype)  # the ModelInput of adapter.prepare
        return real(self, features)

    monkeypatch.setattr(XGBoostAdapter, "predict", spy)
    report = run(world, spec(world, "1"))
    assert report.published and report.strategy and report.strategy["feature_dtype"] == "float"
    assert seen and set(seen) == {np.dtype(np.float32)}
    # one float64 feature: the whole matrix is float64, as on Spark
    folder = world / "in" / "dt=2026-01-01"
    t = pq.read_table(folder / "p.parquet")
    pq.write_table(t.set_column(2, "b", t.column("b").cast(pa.float64())), folder / "p.parquet")
    seen.clear()
    report = run(world, spec(world, "2"))
    assert report.strategy and report.strategy["feature_dtype"] == "double" and set(seen) == {np.dtype(np.float64)}
