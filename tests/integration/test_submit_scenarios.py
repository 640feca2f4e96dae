"""Submission scenarios with REAL spark-submit (operator -> hook -> SparkSubmitHook -> spark-submit -> job),
Spark local[2] and the embedded Hive metastore of this module's own data folder: a good run, a run killed
in the middle (``on_kill``) and two runs of the same date at once.

Independent tests: the module fixture generates the input and scores a baseline for 2026-01-01 once;
a test that replaces that partition compares against the state it found when it started.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.conftest import generate_demo, spark_sql
from tests.integration.dag_utils import checked_report
from tests.integration.test_checks_and_faults import _TI, D1, D2, ROWS

pytestmark = [pytest.mark.spark]


def score(world: dict) -> dict:
    """Score D1 into ``demo.user_scores`` through the real spark-submit path."""
    return operator(world).execute({"ti": _TI()})


def operator(world: dict):
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    return SparkPredictOperator(
        task_id="score", model=world["model"], input_table="demo.user_features", input_partition={"dt": D1},
        keys=["pin"], fill_value=999999.0, output_table="demo.user_scores", output_partition={"dt": D1},
        prediction_column="class",
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("submit") / "home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_PREDICT_HOME", home)
        generate_demo(home, [D1, D2], ROWS)
        state = {"home": home, "model": os.path.join(home, "models", "user_class_xgb.json")}
        state["baseline"] = score(state)
        yield state


def test_baseline_passes_all_checks(world):
    report = world["baseline"]
    assert report["status"] == "succeeded" and report["published"]
    assert report["rows_in"] == ROWS and report["rows_out"] == ROWS and report["duplicate_keys"] == 0
    assert all(c["status"] in ("passed", "skipped") for c in report["checks"])
    assert report["master"].startswith("local") and report["application_id"].startswith("local-")


def test_kill_during_the_job_keeps_previous_and_rerun_completes(world):
    before = checked_report(world["home"], "demo.user_scores", D1)
    op = operator(world)
    errors: list[BaseException] = []

    def run():
        try:
            op.execute({"ti": _TI()})
        except BaseException as err:  # noqa: BLE001 - collected for the assertion below
            errors.append(err)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        hook = op._hook
        sp = getattr(getattr(hook, "_submit_hook", None), "_submit_sp", None)
        if sp is not None and sp.poll() is None:
            break
        time.sleep(0.2)
    time.sleep(6)  # inside the job
    op.on_kill()
    t.join(timeout=120)
    assert not t.is_alive()
    assert errors, "the killed run must fail"
    assert op._hook._submit_hook._submit_sp.poll() is not None, "spark-submit still running after on_kill"
    assert checked_report(world["home"], "demo.user_scores", D1)["run_id"] == before["run_id"], (
        "the killed run replaced the good partition")
    report = score(world)
    assert report["published"] and report["rows_out"] == ROWS and report["duplicate_keys"] == 0
    assert checked_report(world["home"], "demo.user_scores", D1)["run_id"] == report["run_id"]


def test_two_runs_of_the_same_date_at_once(world):
    """Embedded Derby serves one JVM: the second run fails cleanly or waits; never a mixed partition."""
    d2_marker = os.path.join(world["home"], "store", "reports", "demo.user_scores", f"dt={D2}", "_CHECKED.json")
    d2_before = os.path.exists(d2_marker)
    results: list = []

    def run():
        try:
            results.append(score(world))
        except BaseException as err:  # noqa: BLE001
            results.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    ok = [r for r in results if isinstance(r, dict)]
    assert ok, f"neither run succeeded: {results}"
    final = checked_report(world["home"], "demo.user_scores", D1)
    assert final["run_id"] in {r["run_id"] for r in ok}
    res = spark_sql(world["home"], {
        "n": f"SELECT count(*), count(DISTINCT pin) FROM demo.user_scores WHERE dt = '{D1}'",
        "loc": f"DESCRIBE FORMATTED demo.user_scores PARTITION (dt='{D1}')",
        "other": f"SELECT count(*) FROM demo.user_scores WHERE dt = '{D2}'",
    })
    assert res["n"] == [[ROWS, ROWS]]
    loc = next(r[1] for r in res["loc"] if r[0] == "Location")
    assert loc.rstrip("/").endswith(final["run_id"])
    assert os.path.exists(d2_marker) == d2_before
    assert res["other"] == [[ROWS if d2_before else 0]], "the other date was touched"
