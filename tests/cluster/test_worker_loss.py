"""Issue 5 (cluster): a worker (with its executor) is killed during scoring; Spark re-runs its tasks on the
other worker; the published partition is complete and correct (row parity, no duplicate keys, every
prediction equals the model's own).

REAL standalone cluster, client mode, through the operator. The model (``spx_probe.SlowRegressor``, from
the packed venv) sleeps per Arrow batch and touches a marker file when scoring starts, so the kill lands
while tasks run. Marked ``kills_worker``: sorted after every other test (``tests/conftest.py``), and any
cluster test that runs after it anyway gets the killed worker restarted by the ``cluster_with_all_workers``
fixture (through ``cluster_conn``; no reliance on file or test order).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.cluster.conftest import FEATS_PARTITIONS, FakeTI
from tests.cluster.test_shipped_env import env_operator, fit_in_venv
from tests.cluster.test_standalone_client import features_frame
from tests.conftest import spark_sql
from tests.integration.dag_utils import read_folder

pytestmark = [pytest.mark.cluster, pytest.mark.spark, pytest.mark.kills_worker, pytest.mark.timeout(900)]

DATE = "2026-03-01"
ROWS = FEATS_PARTITIONS[DATE][0]  # in 2 files: one task per worker


def test_worker_killed_during_scoring(cluster_home, standalone_cluster, cluster_conn, scoring_venv, shared_store,
                                      tmp_path):
    assert len(standalone_cluster.pids) == 3, "needs the master and both workers"
    markers = tmp_path / "markers"
    markers.mkdir()
    model = str(tmp_path / "models" / "slow.joblib")
    fit_in_venv(scoring_venv, model, "SlowRegressor", f"sleep_s=1.0, marker_dir={str(markers)!r}")
    op = env_operator(cluster_home, cluster_conn, model, scoring_venv, DATE, store_uri=shared_store, batch_rows=100)

    result: dict = {}

    def run() -> None:
        try:
            result["report"] = op.execute({"ti": FakeTI()})
        except BaseException as err:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 400
    while not list(markers.iterdir()):
        assert thread.is_alive(), f"the run ended before scoring started: {result}"
        assert time.monotonic() < deadline, "scoring never started"
        time.sleep(0.5)
    time.sleep(1.5)  # a batch or two into the tasks
    state = standalone_cluster.master_state()
    assert state["aliveworkers"] == 2 and state["activeapps"], state
    killed = standalone_cluster.kill_one_worker(0)
    thread.join(timeout=600)
    assert not thread.is_alive(), "the scoring run did not finish after the worker was killed"
    if "error" in result:
        raise result["error"]
    report = result["report"]
    assert killed not in standalone_cluster.pids

    assert report["status"] == "succeeded" and report["published"] is True
    assert report["rows_in"] == ROWS and report["rows_out"] == ROWS and report["duplicate_keys"] == 0
    # both executors had started scoring (one Python worker each) before one of them was killed
    assert len(list(markers.iterdir())) >= 2, sorted(p.name for p in markers.iterdir())

    out = read_folder(report["version_path"]).set_index("pin").sort_index()
    frame = features_frame(ROWS).set_index("pin").sort_index()
    assert out.index.is_unique and len(out) == ROWS
    np.testing.assert_allclose(out["prediction"].to_numpy(), frame.sum(axis=1).to_numpy(), rtol=1e-12)
    res = spark_sql(cluster_home, {"n": f"SELECT count(*), count(DISTINCT pin) FROM demo.where_scored "
                                      f"WHERE dt = '{DATE}'"})
    assert res["n"] == [[ROWS, ROWS]]
