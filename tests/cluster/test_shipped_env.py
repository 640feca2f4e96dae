"""Issue 3 acceptance: a packed venv shipped by the operator runs the scoring on the cluster's executors.

REAL standalone cluster (master + 2 workers on 127.0.0.1), client deploy mode through the operator. The venv
(built once per session, see ``scoring_venv``) has numpy/pandas/pyarrow/scikit-learn, ``pyjokes`` and the
test-only package ``spx_probe``; the driver's (test) venv has neither ``pyjokes`` nor ``spx_probe``, and
the packed venv has no pyspark (Spark puts its own on the workers' PYTHONPATH). The model is a
``spx_probe.ProbeRegressor`` pickled by the packed venv's interpreter: every output row is a code saying
where it was scored (7 = shipped ``environment/bin/python`` + pyjokes and numpy imported from its prefix).
The driver runs the packed venv's own interpreter (``spark.pyspark.driver.python``) so it can unpickle
the model to validate it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess

import pytest

from airflow_provider_spark_predict.lineage import lineage_datasets
from airflow_provider_spark_predict.operators.predict import SparkPredictOperator
from tests.cluster.conftest import FEATS_PARTITIONS, FakeTI, cluster_conf
from tests.integration.dag_utils import read_folder
from tests.staging.helpers import TINY_PACKAGE

pytestmark = [pytest.mark.cluster, pytest.mark.spark, pytest.mark.timeout(900)]

DATE = "2026-02-01"
ROWS = FEATS_PARTITIONS[DATE][0]

FIT = """
import sys, joblib, pandas as pd
from spx_probe import {cls}
frame = pd.DataFrame({{f"f{{i}}": [0.0, 1.0, 2.0] for i in range(4)}})
joblib.dump({cls}({args}).fit(frame), sys.argv[1])
"""


def fit_in_venv(venv, path: str, cls: str = "ProbeRegressor", args: str = "") -> None:
    """Pickle a spx_probe model with the packed venv's interpreter (the test's venv cannot import it)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([str(venv / "bin" / "python"), "-c", FIT.format(cls=cls, args=args), path], check=True,
                   env=env, timeout=300)


def env_operator(home: str, conn_id: str, model: str, venv, date: str, **kwargs) -> SparkPredictOperator:
    """Pass ``store_uri`` (the session's ``shared_store``: the venv is packed once for the session)."""
    from datetime import datetime

    from airflow.sdk import DAG

    with DAG(f"cluster_env_{date}", schedule=None, start_date=datetime(2026, 1, 1)):
        return SparkPredictOperator(
            task_id="score",
            model=model,
            flavor="sklearn",
            input_table="demo.feats",
            input_partition={"dt": date},
            keys=["pin"],
            output_table="demo.where_scored",
            output_partition={"dt": date},
            score_column=None,
            conn_id=conn_id,
            environment={"kind": "venv", "path": str(venv), "compress_level": 1},
            spark_conf=cluster_conf(home, **{"spark.pyspark.driver.python": str(venv / "bin" / "python")}),
            **kwargs,
        )


def test_executors_score_with_the_shipped_venv(cluster_home, standalone_cluster, cluster_conn, scoring_venv,
                                               shared_store, tmp_path):
    # cluster_home first: the venv builds in the background while the tables are made and the cluster starts
    assert importlib.util.find_spec(TINY_PACKAGE) is None and importlib.util.find_spec("spx_probe") is None, (
        "the driver's venv must lack the shipped packages for this test to prove anything")
    model = str(tmp_path / "models" / "probe.joblib")
    fit_in_venv(scoring_venv, model)

    op = env_operator(cluster_home, cluster_conn, model, scoring_venv, DATE, store_uri=shared_store)
    report = op.execute({"ti": FakeTI()})
    assert report["status"] == "succeeded" and report["published"] is True
    assert report["rows_in"] == ROWS and report["rows_out"] == ROWS and report["duplicate_keys"] == 0
    env = report["staging"]["environment"]
    assert env["uri"].startswith(f"{shared_store}/environments/venv-") and env["uri"].endswith(".tar.gz")

    out = read_folder(report["version_path"])
    codes = sorted(set(out["prediction"].tolist()))
    # 7 = executor ran <worker dir>/.../environment/bin/python (1) + pyjokes (2) and numpy (4) from its prefix
    assert codes == [7.0], f"rows were not all scored by the shipped environment: codes {codes}"
    assert report["model_loads"] >= 1
    # the worker dirs hold the unpacked archive (what the executors ran)
    unpacked = [p for d in standalone_cluster.worker_dirs for p in d.glob("app-*/*/environment/bin/python")]
    assert unpacked, "no unpacked environment under the workers' dirs"

    found = lineage_datasets(op._spec, report)
    assert any(d["role"] == "environment" and d["name"].endswith(".tar.gz") for d in found["inputs"])
