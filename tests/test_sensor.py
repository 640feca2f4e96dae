"""SparkPredictPartitionSensor pokes for the checked marker the job writes only after publishing."""

from __future__ import annotations

import json
import os

from airflow_provider_spark_predict.sensors.partition import SparkPredictPartitionSensor


def sensor(store: str, **kw) -> SparkPredictPartitionSensor:
    kw.setdefault("partition", {"dt": "2026-01-02"})
    return SparkPredictPartitionSensor(task_id="wait", output_table="demo.user_scores",
                                       store_uri=f"file://{store}", **kw)


def write_marker(store: str, report: dict) -> None:
    folder = os.path.join(store, "reports", "demo.user_scores", "dt=2026-01-02")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "_CHECKED.json"), "w") as fh:
        json.dump(report, fh)


def test_waits_until_the_partition_is_checked(tmp_path):
    store = str(tmp_path / "store")
    assert sensor(store).poke({}) is False
    # a run whose checks failed writes its run report but never the marker
    folder = os.path.join(store, "reports", "demo.user_scores", "dt=2026-01-02")
    os.makedirs(folder)
    with open(os.path.join(folder, "20260103T000000Z-x.json"), "w") as fh:
        json.dump({"status": "failed_checks", "published": False}, fh)
    assert sensor(store).poke({}) is False

    write_marker(store, {"status": "succeeded", "published": True, "rows_out": 10, "run_id": "r1"})
    result = sensor(store).poke({})
    assert result.is_done and result.xcom_value["run_id"] == "r1"
    assert sensor(store, min_rows=11).poke({}) is False


def test_partition_is_templated_and_validated(tmp_path):
    s = sensor(str(tmp_path), partition={"dt": "{{ ds }}"})
    s.render_template_fields({"ds": "2026-01-02"})
    assert s.partition == {"dt": "2026-01-02"}
    write_marker(str(tmp_path), {"status": "succeeded", "rows_out": 1})
    assert s.poke({}).is_done
