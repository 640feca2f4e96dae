"""SparkPredictOperator on a REAL Spark standalone cluster (master + 2 workers on 127.0.0.1), client mode.

Real: the cluster, spark-submit through Airflow's SparkSubmitHook with a connection from
``AIRFLOW_CONN_SPARK_STANDALONE_TEST`` (``{"conn_type": "spark", "host": "spark://127.0.0.1", "port": P}``),
the driver on this machine with an embedded Derby metastore (passed as ``spark_conf``), executors on the
workers reading/writing the ``file://`` warehouse, the job's report in a ``file://`` store.
Not real: the task instance is a small stand-in (``try_number`` + ``xcom_push``), the operator runs
through ``execute(context)``.

Cluster deploy mode is checked too: Spark refuses it for Python applications on standalone masters, and
the hook refuses it before staging or submitting anything.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from airflow_provider_spark_predict.exceptions import SparkPredictError
from airflow_provider_spark_predict.lineage import lineage_datasets
from airflow_provider_spark_predict.operators.predict import XCOM_TRACKING_URL, SparkPredictOperator
from tests.cluster.conftest import FEATS_PARTITIONS, FakeTI, cluster_conf
from tests.conftest import spark_sql
from tests.integration.dag_utils import read_folder
from tests.spark_cluster import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.spark, pytest.mark.timeout(600)]

DATE = "2026-01-01"
ROWS = FEATS_PARTITIONS[DATE][0]
N_FEATURES = 4
FEATURES = [f"f{i}" for i in range(N_FEATURES)]


def features_frame(rows: int = ROWS) -> pd.DataFrame:
    """The rows ``make_table`` writes, computed in Python."""
    ids = np.arange(rows)
    frame = pd.DataFrame({f"f{i}": ((ids * (i + 3)) % 101) / 10.0 for i in range(N_FEATURES)})
    frame.insert(0, "pin", [f"u{i:07d}" for i in ids])
    return frame


def save_model(path: str, weights: list[float]) -> LinearRegression:
    frame = features_frame(50)
    y = frame[FEATURES].to_numpy() @ np.asarray(weights) + 1.0
    model = LinearRegression().fit(frame[FEATURES], y)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    joblib.dump(model, path)
    return model


def operator(home: str, store: str, conn_id: str, model: str, **kwargs) -> SparkPredictOperator:
    """The operator on the cluster, with the metastore of ``home`` and the store folder ``store``."""
    from datetime import datetime

    from airflow.sdk import DAG

    with DAG("cluster_client_test", schedule=None, start_date=datetime(2026, 1, 1)):
        return SparkPredictOperator(
            task_id="score",
            model=model,
            input_table="demo.feats",
            input_partition={"dt": DATE},
            keys=["pin"],
            output_table="demo.scores",
            output_partition={"dt": DATE},
            score_column=None,
            conn_id=conn_id,
            store_uri=f"file://{store}",
            spark_conf=cluster_conf(home, **{"spark.ui.enabled": "true", "spark.ui.port": str(free_port())}),
            **kwargs,
        )


def report_files(store: str) -> list[str]:
    return sorted(glob.glob(os.path.join(store, "reports", "demo.scores", f"dt={DATE}", "2*.json")))


def check_predictions(report: dict, model: LinearRegression) -> None:
    out = read_folder(report["version_path"]).set_index("pin").sort_index()
    frame = features_frame().set_index("pin").sort_index()
    assert len(out) == ROWS and out.index.is_unique
    np.testing.assert_allclose(out["prediction"].to_numpy(), model.predict(frame[FEATURES]), rtol=1e-9, atol=1e-9)


def test_client_mode_end_to_end_retry_skips_changed_model_reruns(standalone_cluster, cluster_conn, cluster_home,
                                                                 tmp_path, capfd):
    store = str(tmp_path / "store")
    model_path = str(tmp_path / "models" / "lin.joblib")
    model = save_model(model_path, [1.0, -2.0, 0.5, 3.0])

    # 1. first try: scored on the cluster's executors
    ti = FakeTI(try_number=1)
    op = operator(cluster_home, store, cluster_conn, model_path)
    report = op.execute({"ti": ti})
    assert report["status"] == "succeeded" and report["published"] is True
    assert report["master"] == standalone_cluster.master_url
    assert report["rows_in"] == ROWS and report["rows_out"] == ROWS and report["duplicate_keys"] == 0
    assert report["application_id"].startswith("app-"), report["application_id"]  # a standalone app id
    assert report["tracking_url"].startswith(("http://127.0.0.1:", "http://localhost:")), report["tracking_url"]
    assert ti.xcoms[XCOM_TRACKING_URL] == report["tracking_url"]  # what SparkApplicationLink reads
    check_predictions(report, model)
    first_reports = report_files(store)
    assert len(first_reports) == 1

    # lineage: plain structure (the OpenLineage provider is not installed here -> None from the hook method)
    found = lineage_datasets(op._spec, report)
    assert {"namespace": "hive", "name": "demo.feats", "role": "input", "partition": {"dt": DATE}} in found["inputs"]
    assert any(d["role"] == "model" and "/store/models/" in d["name"] for d in found["inputs"])
    assert found["outputs"] == [{"namespace": "hive", "name": "demo.scores", "role": "output",
                                 "partition": {"dt": DATE}}]

    # 2. a retry (try 2) of the same partition, same model: nothing submitted, the checked report returned
    capfd.readouterr()  # the task log (structlog) goes to stdout/stderr
    retry_ti = FakeTI(try_number=2)
    again = operator(cluster_home, store, cluster_conn, model_path).execute({"ti": retry_ti})
    assert again["run_id"] == report["run_id"]
    assert "already scored and checked" in again["resubmission_skipped"]
    assert report_files(store) == first_reports, "a new run report appeared: the retry submitted a job"
    logged = "".join(capfd.readouterr())
    assert "not submitting: partition table demo.scores partition (dt=2026-01-01) was already scored" in logged
    assert "Spark-Submit cmd" not in logged
    # skip_if_checked=True does the same on a first try
    same = operator(cluster_home, store, cluster_conn, model_path, skip_if_checked=True).execute({"ti": FakeTI(1)})
    assert same["run_id"] == report["run_id"] and report_files(store) == first_reports

    # 3. a changed model (new content -> new content hash) is scored again, even on a retry
    new_model = save_model(model_path, [0.0, 1.0, 1.0, -1.0])
    rerun = operator(cluster_home, store, cluster_conn, model_path).execute({"ti": FakeTI(try_number=2)})
    assert rerun["resubmission_skipped"] is None  # the typed report always has the field; None: submitted
    assert rerun["run_id"] != report["run_id"]
    assert rerun["model"]["uri"] != report["model"]["uri"]
    assert len(report_files(store)) == 2
    check_predictions(rerun, new_model)
    res = spark_sql(cluster_home, {"n": "SELECT count(*), count(DISTINCT pin) FROM demo.scores"})
    assert res["n"] == [[ROWS, ROWS]]


def test_cluster_deploy_mode_is_refused(standalone_cluster, cluster_conn, cluster_home, tmp_path):
    # Spark itself: no Python application in cluster deploy mode on a standalone master
    app = tmp_path / "app.py"
    app.write_text("print('never runs')\n")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "spark-submit"), "--master", standalone_cluster.master_url,
         "--deploy-mode", "cluster", str(app)],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode != 0
    assert "Cluster deploy mode is currently not supported for python applications on standalone clusters" in (
        proc.stdout + proc.stderr)

    # the operator: a clear error before staging or submitting
    model_path = str(tmp_path / "models" / "lin.joblib")
    save_model(model_path, [1.0, 1.0, 1.0, 1.0])
    store = str(tmp_path / "store")
    op = operator(cluster_home, store, cluster_conn, model_path, deploy_mode="cluster")
    with pytest.raises(SparkPredictError, match="cluster deploy mode is not possible on the standalone master"):
        op.execute({"ti": FakeTI()})
    assert not os.path.exists(store)
    assert op.get_openlineage_facets_on_complete(None) is None
