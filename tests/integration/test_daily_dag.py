"""The example DAG end to end through Airflow's ``dag.test()`` for two dates, then a re-run of one.

Real components: Airflow 3 on SQLite, spark-submit through SparkSubmitHook, Spark local[2], the
embedded Hive metastore (Derby) and file:// stores.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.conftest import generate_demo, spark_sql
from tests.integration.dag_utils import checked_report, load_example_dag, read_folder, reports, run_dag

pytestmark = [pytest.mark.spark, pytest.mark.airflow]

DATES = ["2026-01-01", "2026-01-02"]
ROWS = 2000


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory, airflow_db):
    home = str(tmp_path_factory.mktemp("daily") / "home")
    old = os.environ.get("SPARK_PREDICT_HOME")
    os.environ["SPARK_PREDICT_HOME"] = home
    generate_demo(home, DATES, ROWS)
    dag = load_example_dag()
    yield home, dag
    if old is not None:
        os.environ["SPARK_PREDICT_HOME"] = old


def expected_predictions(home: str, date: str) -> tuple:
    """The model's own in-process predictions on the input partition's rows (fill 999999 as the DAG)."""
    import xgboost as xgb

    inp = read_folder(os.path.join(home, "warehouse", "demo.db", "user_features", f"dt={date}"))
    booster = xgb.Booster()
    booster.load_model(os.path.join(home, "models", "user_class_xgb.json"))
    feats = list(booster.feature_names)
    x = inp[feats].to_numpy(dtype=np.float32)
    x = np.where(np.isnan(x), np.float32(999999.0), x)
    probs = booster.predict(xgb.DMatrix(x, feature_names=feats))
    return inp["pin"].to_numpy(), probs.argmax(axis=1), probs.max(axis=1)


def test_two_dates_then_rerun_one(demo_world, capfd):
    home, dag = demo_world
    for date in DATES:
        dr = run_dag(dag, date)
        assert dr.state == "success", f"run for {date} ended {dr.state}"
    # the task log (dag.test prints it): the job's lines, and no metastore reconnect (HIVE-24404: the Hive
    # client closed its own connection on the first partition call, slept 1 s and logged a stack trace)
    task_log = capfd.readouterr().out
    assert task_log.count("[spark-predict] report written") == len(DATES), task_log[-3000:]
    assert "MetaStoreClient lost connection" not in task_log

    first = {d: checked_report(home, "demo.user_scores", d) for d in DATES}
    for d in DATES:
        r = first[d]
        assert r["status"] == "succeeded" and r["published"] is True
        assert r["rows_in"] == ROWS and r["rows_out"] == ROWS and r["duplicate_keys"] == 0
        assert {c["name"]: c["status"] for c in r["checks"]}["row_parity"] == "passed"
    # the second date has a previous partition, so drift was measured
    assert first[DATES[1]]["previous_partition"] == {"dt": DATES[0]}
    assert first[DATES[1]]["psi"] is not None

    # predictions equal the model's own in-process predictions on every row
    for d in DATES:
        out = read_folder(first[d]["version_path"]).set_index("pin")
        pins, cls, score = expected_predictions(home, d)
        assert len(out) == ROWS and out.index.is_unique
        got = out.loc[pins]
        np.testing.assert_array_equal(got["class"].to_numpy(), cls)
        np.testing.assert_allclose(got["score"].to_numpy(), score, rtol=1e-6)
        assert (got["class_name"].to_numpy() == np.array([f"segment_{chr(97 + c)}" for c in cls])).all()

    # re-run the first date: it replaces exactly that partition, the other stays untouched
    dr = run_dag(dag, DATES[0])
    assert dr.state == "success"
    rerun = checked_report(home, "demo.user_scores", DATES[0])
    assert rerun["run_id"] != first[DATES[0]]["run_id"]
    assert rerun["replaced_location"].rstrip("/").endswith(first[DATES[0]]["run_id"])
    assert len(reports(home, "demo.user_scores", DATES[0])) == 2

    res = spark_sql(home, {
        "counts": "SELECT dt, count(*), count(DISTINCT pin) FROM demo.user_scores GROUP BY dt ORDER BY dt",
        "parts": "SHOW PARTITIONS demo.user_scores",
        "loc2": f"DESCRIBE FORMATTED demo.user_scores PARTITION (dt='{DATES[1]}')",
    })
    assert res["counts"] == [[DATES[0], ROWS, ROWS], [DATES[1], ROWS, ROWS]]
    assert [r[0] for r in res["parts"]] == [f"dt={d}" for d in DATES]
    loc2 = next(r[1] for r in res["loc2"] if r[0] == "Location")
    assert loc2.rstrip("/").endswith(first[DATES[1]]["run_id"]), "the other date's partition was touched"
    # the re-run's rows are the same predictions (same model, same input)
    again = read_folder(rerun["version_path"]).set_index("pin").sort_index()
    before = read_folder(first[DATES[0]]["version_path"]).set_index("pin").sort_index()
    assert again["class"].equals(before["class"])
