"""Path input/output (parquet folders laid out ``dt=...``) and the ``grouped`` strategy, with real Spark.

The real operator -> hook path; the job runs on the tests' shared Hive session instead of a spark-submit
(``in_session`` fixture, ``tests/conftest.py``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.conftest import demo_in_session
from tests.integration.dag_utils import read_folder

pytestmark = [pytest.mark.spark]

ROWS = 2000
D1, D2 = "2026-01-01", "2026-01-02"


@pytest.fixture(scope="module")
def demo(in_session, shared_spark) -> tuple[str, str]:
    """(home, model): the shared demo input (read-only) and its model."""
    return in_session, demo_in_session(shared_spark, [D1, D2], ROWS)


def test_path_output_with_grouped_strategy_and_rerun(demo, tmp_path):
    import xgboost as xgb

    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    home, model = demo
    src = os.path.join(home, "warehouse", "demo.db", "user_features")
    out = str(tmp_path / "scores")

    def run():
        op = SparkPredictOperator(
            task_id="score", model=model, input_path="file://" + src, input_partition={"dt": "2026-01-01"},
            keys=["pin"], output_path="file://" + out, output_partition={"dt": "2026-01-01"},
            strategy="grouped", target_group_rows=700, probability_column="probability",
        )
        return op.execute({"ti": None})

    first = run()
    assert first["strategy"] == {"strategy": "grouped", "num_groups": 3, "batch_rows": first["strategy"]["batch_rows"],
                                 "feature_dtype": "float"}
    assert first["published"] and first["rows_out"] == ROWS and first["duplicate_keys"] == 0
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
    assert len(read_folder(published)) == ROWS
    kept = os.listdir(os.path.join(out, "_spark_predict", "dt=2026-01-01"))
    assert any(k.startswith("superseded-") for k in kept)


def test_map_reads_parquet_partitions_with_pyarrow_by_default_and_spark_on_request(demo):
    import xgboost as xgb

    from airflow_provider_spark_predict.exceptions import SparkPredictError
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    home, model = demo

    def run(table, **kw):
        return SparkPredictOperator(
            task_id="score", model=model, input_table="demo.user_features", input_partition={"dt": "2026-01-02"},
            keys=["pin"], output_table=table, output_partition={"dt": "2026-01-02"}, fill_value=999999.0, **kw,
        ).execute({"ti": None})

    inp = read_folder(os.path.join(home, "warehouse", "demo.db", "user_features", "dt=2026-01-02"))
    booster = xgb.Booster()
    booster.load_model(model)
    x = inp[list(booster.feature_names)].to_numpy(dtype=np.float32)
    probs = booster.inplace_predict(np.where(np.isnan(x), np.float32(999999.0), x))

    by_reader = {}
    for reader, table in (("auto", "demo.scores_pyarrow"), ("spark", "demo.scores_spark")):
        report = run(table, reader=reader)
        assert report["published"] and report["rows_in"] == report["rows_out"] == ROWS  # only the one partition
        got = read_folder(report["version_path"]).set_index("pin").loc[inp["pin"]]
        np.testing.assert_array_equal(got["prediction"].to_numpy(), probs.argmax(axis=1))
        np.testing.assert_allclose(got["score"].to_numpy(), probs.max(axis=1), rtol=1e-6)
        by_reader[reader] = (report["strategy"], got)
    auto, spark = by_reader["auto"][0], by_reader["spark"][0]
    assert auto["strategy"] == "map" and auto["reader"] == "pyarrow" and auto["files"] >= 1 and auto["tasks"] >= 1
    assert spark["strategy"] == "map" and spark["reader"] == "spark" and "reader_reason" not in spark
    np.testing.assert_array_equal(by_reader["auto"][1]["score"].to_numpy(), by_reader["spark"][1]["score"].to_numpy())

    # a filter cannot be applied by the pyarrow reader: "auto" falls back to Spark and says why ...
    filtered = run("demo.scores_filtered", input_filter="pin <> 'nobody'")
    assert filtered["strategy"]["reader"] == "spark" and "filter" in filtered["strategy"]["reader_reason"]
    # ... and an explicit reader="pyarrow" fails, naming the reason, before anything is written
    with pytest.raises(SparkPredictError, match="reader='pyarrow' is not possible.*filter"):
        run("demo.scores_filtered_pa", input_filter="pin <> 'nobody'", reader="pyarrow")
