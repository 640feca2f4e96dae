"""Issue 5 (cluster): a worker (with its executor) is killed during scoring; Spark re-runs its tasks on the
other worker; the published partition is complete and correct (row parity, no duplicate keys, every
prediction equals the model's own).

REAL standalone cluster, client mode, through the operator. The model (``spx_probe.SlowRegressor``, from
the packed venv) sleeps per Arrow batch and appends each batch's row count to a marker file per Python
worker: the worker whose executor started scoring last is killed while its task runs, and more rows than the
input has must have been predicted (the lost task ran again). Marked ``kills_worker``: sorted after every other test (``tests/conftest.py``), and any
cluster test that runs after it anyway gets the killed worker restarted by the ``cluster_with_all_workers``
fixture (through ``cluster_conn``; no reliance on file or test order).
"""

from __future__ import annotations

import os
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
BATCH = 100  # rows per Arrow batch: the input's 2 files of 600 rows are 6 full batches each
ROWS = FEATS_PARTITIONS[DATE][0]  # in 2 files: one task per worker


def _executor_markers(markers) -> list:
    """The marker files of the executors' Python workers: each line is one batch's row count. The driver's
    sample predict (a few rows, before the job) leaves a file of its own, without a full batch."""
    return [p for p in markers.iterdir() if str(BATCH) in p.read_text().split()]


def _worker_index(pid: int, workers: list[int]) -> int:
    """Which worker ``pid`` (a Python worker) runs under: up its parents (Python daemon, which has a process
    group of its own, then the executor JVM) to a process in a worker's process group."""
    while pid > 1:
        if os.getpgid(pid) in workers:
            return workers.index(os.getpgid(pid))
        with open(f"/proc/{pid}/stat") as fh:
            pid = int(fh.read().rsplit(")", 1)[1].split()[1])
    raise AssertionError(f"the Python worker {pid} runs under no worker of {workers}")


def test_worker_killed_during_scoring(cluster_home, standalone_cluster, cluster_conn, scoring_venv, shared_store,
                                      tmp_path):
    assert len(standalone_cluster.pids) == 3, "needs the master and both workers"
    markers = tmp_path / "markers"
    markers.mkdir()
    model = str(tmp_path / "models" / "slow.joblib")
    # 600 rows per task in batches of 100: 3 s per task at 0.5 s per batch
    fit_in_venv(scoring_venv, model, "SlowRegressor", f"sleep_s=0.5, marker_dir={str(markers)!r}")
    op = env_operator(cluster_home, cluster_conn, model, scoring_venv, DATE, store_uri=shared_store, batch_rows=BATCH)

    result: dict = {}

    def run() -> None:
        try:
            result["report"] = op.execute({"ti": FakeTI()})
        except BaseException as err:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 400
    started: list = []  # executor markers in the order they appeared
    while len(started) < 2:  # both executors' Python workers are predicting
        assert thread.is_alive(), f"the run ended before both executors were scoring: {result}"
        assert time.monotonic() < deadline, f"both executors never scored: {sorted(markers.iterdir())}"
        time.sleep(0.1)
        started += [p for p in _executor_markers(markers) if p not in started]
    time.sleep(0.5)  # a batch into the later task: about 2.5 s of it left
    state = standalone_cluster.master_state()
    assert state["aliveworkers"] == 2 and state["activeapps"], state
    # the worker whose executor started scoring last (its task surely still running): the Python worker that
    # wrote the newest marker is in that worker's process group (executor JVM and Python daemon included)
    workers = [proc.pid for proc in standalone_cluster.worker_procs]
    killed = standalone_cluster.kill_one_worker(_worker_index(int(started[-1].name.split("-")[-1]), workers))
    thread.join(timeout=600)
    assert not thread.is_alive(), "the scoring run did not finish after the worker was killed"
    if "error" in result:
        raise result["error"]
    report = result["report"]
    assert killed not in standalone_cluster.pids

    assert report["status"] == "succeeded" and report["published"] is True
    assert report["rows_in"] == ROWS and report["rows_out"] == ROWS and report["duplicate_keys"] == 0
    # the killed executor's task was lost and ran again on the other one: more rows predicted than the input has
    predicted = sum(int(n) for p in _executor_markers(markers) for n in p.read_text().split())
    assert predicted >= ROWS + BATCH, f"no batch was predicted twice: {predicted} rows predicted for {ROWS}"

    out = read_folder(report["version_path"]).set_index("pin").sort_index()
    frame = features_frame(ROWS).set_index("pin").sort_index()
    assert out.index.is_unique and len(out) == ROWS
    np.testing.assert_allclose(out["prediction"].to_numpy(), frame.sum(axis=1).to_numpy(), rtol=1e-12)
    res = spark_sql(cluster_home, {"n": f"SELECT count(*), count(DISTINCT pin) FROM demo.where_scored "
                                      f"WHERE dt = '{DATE}'"})
    assert res["n"] == [[ROWS, ROWS]]
