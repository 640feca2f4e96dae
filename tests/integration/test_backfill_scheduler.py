"""A backfill as Airflow runs it: ``airflow backfill create`` executed by a real scheduler, runs at once.

Real components, all on 127.0.0.1: Airflow 3 ``api-server`` (the Execution API task processes call),
``dag-processor`` and ``scheduler`` with the ``LocalExecutor`` on SQLite; the example DAG
``dags_examples/daily_user_scoring.py``; spark-submit (local[2]) per task; the embedded Hive metastore
service shared by the concurrent runs; ``file://`` stores. Nothing is mocked.

Scenario: input partitions for 6 dates; a backfill of the middle 4 with ``--max-active-runs 3`` (so 3
spark-submits run at once), then a retrained model and a backfill of 2 of those dates with
``--reprocess-behavior completed``, which must replace exactly those 2.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_spark_predict import metastore
from tests.conftest import REPO, generate_demo, run_python, spark_sql
from tests.integration.dag_utils import checked_report

# the suite default (900 s) is too short on 2 busy cores: 2 backfills, 6 spark-submits, 3 Airflow processes
pytestmark = [pytest.mark.spark, pytest.mark.airflow, pytest.mark.timeout(2400)]

sys.path.insert(0, os.path.join(REPO, "dags_examples"))
from backfill_demo import LocalAirflow  # noqa: E402

TABLE = "demo.user_scores"
ALL_DATES = [f"2026-01-0{i}" for i in range(1, 7)]
BACKFILL = ALL_DATES[1:5]  # 02..05
REDO = BACKFILL[1:3]  # 03, 04
ROWS = 2000
WAIT_S = 1500


def _store_files(home: str, kind: str) -> list[str]:
    return sorted(p for p in glob.glob(os.path.join(home, "store", kind, "*")) if not p.endswith(".json"))


def _assert_partitions(home: str, dates: list[str]) -> None:
    """The output table has exactly ``dates``, each with exactly its input partition's keys once."""
    res = spark_sql(home, {
        "parts": f"SHOW PARTITIONS {TABLE}",
        "per_date": f"SELECT dt, count(*), count(DISTINCT pin) FROM {TABLE} GROUP BY dt ORDER BY dt",
        "unscored": f"SELECT count(*) FROM demo.user_features f LEFT ANTI JOIN {TABLE} s ON f.pin = s.pin AND "
                    f"f.dt = s.dt WHERE f.dt IN ({', '.join(repr(d) for d in dates)})",
        "foreign": f"SELECT count(*) FROM {TABLE} s LEFT ANTI JOIN demo.user_features f ON f.pin = s.pin AND "
                   "f.dt = s.dt",
    })
    assert res["parts"] == [[f"dt={d}"] for d in dates], f"partitions touched: {res['parts']}"
    assert res["per_date"] == [[d, ROWS, ROWS] for d in dates]
    assert res["unscored"] == [[0]] and res["foreign"] == [[0]]


def test_backfill_through_the_scheduler(tmp_path):
    started = time.monotonic()
    spark_home = str(tmp_path / "home")
    airflow = LocalAirflow(str(tmp_path / "airflow"), env={
        "SPARK_PREDICT_HOME": spark_home, "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(REPO, "dags_examples")})
    os.environ["SPARK_PREDICT_HOME"], old_home = spark_home, os.environ.get("SPARK_PREDICT_HOME")
    try:
        model = os.path.join(spark_home, "models", "user_class_xgb.json")
        # the input data and model (a Spark job) while Airflow migrates its database and parses the DAG
        with ThreadPoolExecutor(1) as pool:
            data = pool.submit(generate_demo, spark_home, ALL_DATES, ROWS)
            airflow.start()
            airflow.wait_for_dag()
            data.result()
        print(f"airflow up after {time.monotonic() - started:.0f} s", flush=True)

        runs = airflow.backfill(BACKFILL[0], BACKFILL[-1], max_active_runs=3, timeout=WAIT_S)
        assert sorted(runs) == BACKFILL, f"backfill runs: {runs}"
        assert all(state == "success" for _, state in runs.values()), f"{runs}\n{airflow.tails()}"
        print(f"first backfill done after {time.monotonic() - started:.0f} s", flush=True)
        _assert_partitions(spark_home, BACKFILL)
        reports = {d: checked_report(spark_home, TABLE, d) for d in BACKFILL}
        assert len(_store_files(spark_home, "models")) == 1, "the model was uploaded more than once"
        assert len(_store_files(spark_home, "codes")) == 1, "the job code was uploaded more than once"
        # the example DAG ships no environment on a local master (the driver's interpreter is used)
        assert _store_files(spark_home, "environments") == []
        for d, (run_id, _) in runs.items():
            log = airflow.task_log(run_id)
            assert "spark-predict run report" in log and f"dt={d}" in log, f"no report for {d} in its task log"

        # a retrained model, then a backfill of 2 of the dates: exactly those 2 are replaced
        run_python(["-c", "import sys; sys.path.insert(0, 'dags_examples'); from generate_demo_data import "
                          f"train_model; train_model({model!r}, seed=99)"])
        print(f"first backfill checked, model retrained after {time.monotonic() - started:.0f} s", flush=True)
        redo = airflow.backfill(REDO[0], REDO[-1], "--reprocess-behavior", "completed", max_active_runs=3,
                                timeout=WAIT_S)
        assert sorted(redo) == REDO and all(s == "success" for _, s in redo.values()), f"{redo}\n{airflow.tails()}"
        print(f"second backfill done after {time.monotonic() - started:.0f} s", flush=True)
        _assert_partitions(spark_home, BACKFILL)
        models = _store_files(spark_home, "models")
        assert len(models) == 2, f"expected the old and the new model in the store: {models}"
        for d in BACKFILL:
            now = checked_report(spark_home, TABLE, d)
            if d in REDO:
                assert now["run_id"] != reports[d]["run_id"], f"{d} was not re-scored"
                assert now["model"]["uri"] != reports[d]["model"]["uri"], f"{d} was not scored by the new model"
                assert now["published"] and now["rows_out"] == ROWS
                assert "spark-predict run report" in airflow.task_log(redo[d][0])
            else:
                assert now["run_id"] == reports[d]["run_id"], f"{d} was touched by the second backfill"
    finally:
        airflow.stop()
        metastore.stop(spark_home)
        if old_home is None:
            os.environ.pop("SPARK_PREDICT_HOME", None)
        else:
            os.environ["SPARK_PREDICT_HOME"] = old_home
        print(f"test_backfill_through_the_scheduler took {time.monotonic() - started:.0f} s", flush=True)
