"""Path input/output (parquet folders laid out ``dt=...``) and the ``grouped`` strategy, with real Spark."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.conftest import generate_demo
from tests.integration.dag_utils import read_folder

pytestmark = [pytest.mark.spark]


def test_path_output_with_grouped_strategy_and_rerun(tmp_path, monkeypatch):
    import xgboost as xgb

    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    home = str(tmp_path / "home")
    monkeypatch.setenv("SPARK_PREDICT_HOME", home)
    generate_demo(home, ["2026-01-01"], 1200)
    src = os.path.join(home, "warehouse", "demo.db", "user_features")
    out = str(tmp_path / "scores")
    model = os.path.join(home, "models", "user_class_xgb.json")

    def run():
        op = SparkPredictOperator(
            task_id="score", model=model, input_path="file://" + src, input_partition={"dt": "2026-01-01"},
            keys=["pin"], output_path="file://" + out, output_partition={"dt": "2026-01-01"},
            strategy="grouped", target_group_rows=500, probability_column="probability",
        )
        return op.execute({"ti": None})

    first = run()
    assert first["strategy"] == {"strategy": "grouped", "num_groups": 3, "batch_rows": first["strategy"]["batch_rows"],
                                 "feature_dtype": "float"}
    assert first["published"] and first["rows_out"] == 1200 and first["duplicate_keys"] == 0
    published = os.path.join(out, "dt=2026-01-01")
    got = read_folder(published).set_index("pin")

    inp = read_folder(os.path.join(src, "dt=2026-01-01"))
    booster = xgb.Booster()
    booster.load_model(model)
    probs = booster.inplace_predict(inp[list(booster.feature_names)].to_numpy(dtype=np.float32))
    got = got.loc[inp["pin"]]
    np.testing.assert_array_equal(got["prediction"].to_numpy(), probs.argmax(axis=1))
    np.testing.assert_allclose(np.stack(got["probability"].to_numpy()), probs, rtol=1e-6)

    second = run()  # a re-run replaces the folder as a whole; the superseded one is kept for rollback
    assert second["published"] and second["replaced_location"]
    assert len(read_folder(published)) == 1200
    kept = os.listdir(os.path.join(out, "_spark_predict", "dt=2026-01-01"))
    assert any(k.startswith("superseded-") for k in kept)


def test_files_strategy_reads_the_partition_files_in_python_workers(tmp_path, monkeypatch):
    import xgboost as xgb

    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    home = str(tmp_path / "home")
    monkeypatch.setenv("SPARK_PREDICT_HOME", home)
    generate_demo(home, ["2026-01-01", "2026-01-02"], 1000)
    model = os.path.join(home, "models", "user_class_xgb.json")
    report = SparkPredictOperator(
        task_id="score", model=model, input_table="demo.user_features", input_partition={"dt": "2026-01-02"},
        keys=["pin"], output_table="demo.scores_files", output_partition={"dt": "2026-01-02"},
        strategy="files", fill_value=999999.0,
    ).execute({"ti": None})
    assert report["strategy"]["strategy"] == "files" and report["strategy"]["files"] >= 1
    assert report["published"] and report["rows_in"] == report["rows_out"] == 1000  # only the one partition

    inp = read_folder(os.path.join(home, "warehouse", "demo.db", "user_features", "dt=2026-01-02"))
    booster = xgb.Booster()
    booster.load_model(model)
    x = inp[list(booster.feature_names)].to_numpy(dtype=np.float32)
    probs = booster.inplace_predict(np.where(np.isnan(x), np.float32(999999.0), x))
    got = read_folder(report["version_path"]).set_index("pin").loc[inp["pin"]]
    np.testing.assert_array_equal(got["prediction"].to_numpy(), probs.argmax(axis=1))
    np.testing.assert_allclose(got["score"].to_numpy(), probs.max(axis=1), rtol=1e-6)
