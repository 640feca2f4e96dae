"""Flavor ``spark_pipeline``: a saved PipelineModel folder scored natively by the job (``transform``),
with the same outputs, checks and report as the other flavors.

The real operator -> hook path; the job (and the training) run on the tests' shared Hive session instead
of spark-submit / a subprocess (``in_session`` fixture, ``tests/conftest.py``)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.conftest import demo_in_session
from tests.helpers.train_pipeline import train
from tests.integration.dag_utils import read_folder

pytestmark = [pytest.mark.spark]


ROWS = 2000


def test_pipeline_model_folder_scores_like_spark_transform(in_session, shared_spark, tmp_path):
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    home = in_session
    demo_in_session(shared_spark, ["2026-01-01", "2026-01-02"], ROWS)
    src = os.path.join(home, "warehouse", "demo.db", "user_features", "dt=2026-01-01")
    model_dir, expected_dir = str(tmp_path / "pipeline_model"), str(tmp_path / "expected")
    train(shared_spark, src, model_dir, expected_dir)

    op = SparkPredictOperator(
        task_id="score", model=model_dir, input_table="demo.user_features", input_partition={"dt": "2026-01-01"},
        keys=["pin"], output_table="demo.pipeline_scores", output_partition={"dt": "2026-01-01"},
    )
    report = op.execute({"ti": None})
    assert report["model"]["flavor"] == "spark_pipeline"
    assert report["model"]["n_features"] == 10  # the pipeline's input columns f000..f009
    assert report["published"] and report["rows_out"] == ROWS and report["null_predictions"] == 0
    assert set(report["class_counts"]) <= {"0", "1"}

    got = read_folder(report["version_path"]).set_index("pin").sort_index()
    want = read_folder(expected_dir).set_index("pin").sort_index()
    np.testing.assert_array_equal(got["prediction"].to_numpy(), want["prediction"].to_numpy())
    np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), rtol=1e-12)
