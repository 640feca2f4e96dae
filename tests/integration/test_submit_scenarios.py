"""Submission scenarios with REAL spark-submit (operator -> hook -> SparkSubmitHook -> spark-submit -> job),
Spark local[2] and the embedded Hive metastore of this module's own data folder: a good run, a run killed
in the middle (``on_kill``), three dates at once and two runs of the same date at once. All runs share the
embedded Hive metastore *service* of the data folder (Derby-backed, one process) through
``hive.metastore.uris``; before it, concurrent runs failed with Derby's ``XSDB6`` (issue 15).

Independent tests: the module fixture generates the input and scores a baseline for 2026-01-01 once;
a test that replaces that partition compares against the state it found when it started.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from airflow_provider_spark_predict import metastore
from tests.conftest import generate_demo, spark_sql
from tests.integration.dag_utils import checked_report
from tests.integration.test_checks_and_faults import _TI, D1, D2, ROWS

D3 = "2026-01-03"
DATES = [D1, D2, D3]

pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]


def score(world: dict, date: str = D1) -> dict:
    """Score ``date`` into ``demo.user_scores`` through the real spark-submit path."""
    return operator(world, date).execute({"ti": _TI()})


def operator(world: dict, date: str = D1):
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    return SparkPredictOperator(
        task_id=f"score_{date}", model=world["model"], input_table="demo.user_features",
        input_partition={"dt": date}, keys=["pin"], fill_value=999999.0, output_table="demo.user_scores",
        output_partition={"dt": date}, prediction_column="class",
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("submit") / "home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_PREDICT_HOME", home)
        generate_demo(home, DATES, ROWS)
        state = {"home": home, "model": os.path.join(home, "models", "user_class_xgb.json")}
        state["baseline"] = score(state)
        yield state
        metastore.stop(home)


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


def _run_at_once(world: dict, dates: list[str]) -> list:
    """Start one operator run per date in its own thread at the same time; results in date order."""
    results: list = [None] * len(dates)
    barrier = threading.Barrier(len(dates))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = score(world, dates[i])
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(dates))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not any(t.is_alive() for t in threads), "a run did not finish within 15 minutes"
    return results


def _per_date(world: dict) -> dict:
    return spark_sql(world["home"], {
        "per_date": "SELECT dt, count(*), count(DISTINCT pin) FROM demo.user_scores GROUP BY dt ORDER BY dt",
        "missing": "SELECT f.dt, count(*) FROM demo.user_features f LEFT ANTI JOIN demo.user_scores s "
                   "ON f.pin = s.pin AND f.dt = s.dt GROUP BY f.dt ORDER BY f.dt",
    })


def test_three_dates_at_once_all_complete(world):
    """Three spark-submits of three dates started together against one Hive table all complete."""
    results = _run_at_once(world, DATES)
    failed = {d: r for d, r in zip(DATES, results, strict=True) if not isinstance(r, dict)}
    assert not failed, f"runs failed: {failed}"
    for date, report in zip(DATES, results, strict=True):
        assert report["published"] and report["rows_out"] == ROWS and report["duplicate_keys"] == 0, date
        assert checked_report(world["home"], "demo.user_scores", date)["run_id"] == report["run_id"]
    res = _per_date(world)
    assert res["per_date"] == [[d, ROWS, ROWS] for d in DATES]
    assert res["missing"] == [], "an input key has no score in its date's partition"


def test_two_runs_of_the_same_date_at_once(world):
    """Two runs of one date at once: neither fails (one shared metastore), one complete partition results,
    and no other date changes."""
    others_before = [r for r in _per_date(world)["per_date"] if r[0] != D1]
    results = _run_at_once(world, [D1, D1])
    failed = [r for r in results if not isinstance(r, dict)]
    assert not failed, f"a run of the same date failed: {failed}"
    final = checked_report(world["home"], "demo.user_scores", D1)
    assert final["run_id"] in {r["run_id"] for r in results}
    res = spark_sql(world["home"], {
        "n": f"SELECT count(*), count(DISTINCT pin) FROM demo.user_scores WHERE dt = '{D1}'",
        "loc": f"DESCRIBE FORMATTED demo.user_scores PARTITION (dt='{D1}')",
        "others": f"SELECT dt, count(*), count(DISTINCT pin) FROM demo.user_scores WHERE dt <> '{D1}' "
                  "GROUP BY dt ORDER BY dt",
    })
    assert res["n"] == [[ROWS, ROWS]]
    loc = next(r[1] for r in res["loc"] if r[0] == "Location")
    assert loc.rstrip("/").endswith(final["run_id"]), "the partition points at neither run's version"
    assert res["others"] == others_before, "another date was touched"
