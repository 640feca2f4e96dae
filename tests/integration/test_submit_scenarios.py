"""Submission scenarios with REAL spark-submit (operator -> hook -> SparkSubmitHook -> spark-submit -> job),
Spark local[2] and the embedded Hive metastore: three dates at once (each a good run), a run killed in the
middle (``on_kill``) and two runs of the same date at once. All runs share the embedded Hive metastore
*service* (Derby-backed, one process) through ``hive.metastore.uris``, as the tests' in-process Hive session
does at the same time; before the service, concurrent runs failed with Derby's ``XSDB6`` (issue 15).

The input is the tests' shared demo table (``demo_in_session``, data folder SHARED_HOME); the runs write
their own output table, :data:`OUT`, read back through the in-process session (no query subprocess).

Independent tests: the module fixture scores the three dates at once, once, and records what it found
right after (reports, checked markers, per-date counts); the tests read that record. The test that
replaces a partition compares against the state it found when it started.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.conftest import demo_in_session, session_sql
from tests.integration.dag_utils import checked_report
from tests.integration.test_checks_and_faults import _TI, D1, D2, ROWS

D3 = "2026-01-03"
DATES = [D1, D2, D3]
#: this module's output table (the in-session modules write demo.user_scores in the same metastore)
OUT = "demo.submitted_scores"

pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]


def score(world: dict, date: str = D1) -> dict:
    """Score ``date`` into :data:`OUT` through the real spark-submit path."""
    return operator(world, date).execute({"ti": _TI()})


def operator(world: dict, date: str = D1):
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    return SparkPredictOperator(
        task_id=f"score_{date}", model=world["model"], input_table="demo.user_features",
        input_partition={"dt": date}, keys=["pin"], fill_value=999999.0, output_table=OUT,
        output_partition={"dt": date}, prediction_column="class",
    )


@pytest.fixture(scope="module")
def world(shared_spark):
    """The input (3 dates) and the three dates scored at once; ``at_once`` holds each run's report (or the
    exception it raised), ``checked`` the published ``_CHECKED.json`` markers and ``per_date`` the table's
    counts, both read right after those runs."""
    model = demo_in_session(shared_spark, DATES, ROWS)
    home = os.path.dirname(os.path.dirname(model))
    shared_spark.sql(f"DROP TABLE IF EXISTS {OUT}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_PREDICT_HOME", home)
        state = {"home": home, "model": model, "spark": shared_spark}
        state["at_once"] = dict(zip(DATES, _run_at_once(state, DATES), strict=True))
        if all(isinstance(r, dict) for r in state["at_once"].values()):
            state["checked"] = {d: checked_report(home, OUT, d) for d in DATES}
            state["per_date"] = _per_date(state)
        yield state


def _good(world: dict, date: str) -> dict:
    report = world["at_once"][date]
    assert isinstance(report, dict), f"the run of {date} (three dates at once) failed: {report!r}"
    return report


def test_baseline_passes_all_checks(world):
    report = _good(world, D1)
    assert report["status"] == "succeeded" and report["published"]
    assert report["rows_in"] == ROWS and report["rows_out"] == ROWS and report["duplicate_keys"] == 0
    assert all(c["status"] in ("passed", "skipped") for c in report["checks"])
    assert report["master"].startswith("local") and report["application_id"].startswith("local-")


def test_three_dates_at_once_all_complete(world):
    """Three spark-submits of three dates started together against one Hive table all complete."""
    failed = {d: r for d, r in world["at_once"].items() if not isinstance(r, dict)}
    assert not failed, f"runs failed: {failed}"
    for date, report in world["at_once"].items():
        assert report["published"] and report["rows_out"] == ROWS and report["duplicate_keys"] == 0, date
        assert world["checked"][date]["run_id"] == report["run_id"]
    assert world["per_date"]["per_date"] == [[d, ROWS, ROWS] for d in DATES]
    assert world["per_date"]["missing"] == [], "an input key has no score in its date's partition"


def test_kill_during_the_job_keeps_previous_then_two_reruns_of_the_same_date_at_once(world):
    """A run killed inside the job fails and leaves the good partition; then two runs of that date at once
    (the re-run): neither fails (one shared metastore), one complete partition results, no other date
    changes."""
    _good(world, D1)
    before = {d: checked_report(world["home"], OUT, d) for d in DATES}
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
    assert checked_report(world["home"], OUT, D1)["run_id"] == before[D1]["run_id"], (
        "the killed run replaced the good partition")

    # the re-run: two runs of the same date at once
    results = _run_at_once(world, [D1, D1])
    failed = [r for r in results if not isinstance(r, dict)]
    assert not failed, f"a run of the same date failed: {failed}"
    final = checked_report(world["home"], OUT, D1)
    assert final["run_id"] in {r["run_id"] for r in results}
    winner = next(r for r in results if r["run_id"] == final["run_id"])
    assert winner["published"] and winner["rows_out"] == ROWS and winner["duplicate_keys"] == 0
    for d in (D2, D3):
        assert checked_report(world["home"], OUT, d)["run_id"] == before[d]["run_id"], (
            f"{d} was touched")
    res = _sql(world, {
        "n": f"SELECT count(*), count(DISTINCT pin) FROM {OUT} WHERE dt = '{D1}'",
        "loc": f"DESCRIBE FORMATTED {OUT} PARTITION (dt='{D1}')",
        "others": f"SELECT dt, count(*), count(DISTINCT pin) FROM {OUT} WHERE dt <> '{D1}' GROUP BY dt ORDER BY dt",
    })
    assert res["n"] == [[ROWS, ROWS]]
    loc = next(r[1] for r in res["loc"] if r[0] == "Location")
    assert loc.rstrip("/").endswith(final["run_id"]), "the partition points at neither run's version"
    assert res["others"] == [[d, ROWS, ROWS] for d in (D2, D3)], "another date was touched"


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


def _sql(world: dict, queries: dict[str, str]) -> dict[str, list[list]]:
    """Queries on the in-process session, after the spark-submits changed the table's partitions."""
    world["spark"].sql(f"REFRESH TABLE {OUT}")
    return session_sql(world["spark"], queries)


def _per_date(world: dict) -> dict:
    return _sql(world, {
        "per_date": f"SELECT dt, count(*), count(DISTINCT pin) FROM {OUT} GROUP BY dt ORDER BY dt",
        "missing": f"SELECT f.dt, count(*) FROM demo.user_features f LEFT ANTI JOIN {OUT} s "
                   f"ON f.pin = s.pin AND f.dt = s.dt WHERE f.dt IN ({', '.join(repr(d) for d in DATES)}) "
                   "GROUP BY f.dt ORDER BY f.dt",
    })
