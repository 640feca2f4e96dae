"""A backfill as Airflow runs it: ``airflow backfill create`` executed by a real scheduler, runs at once,
and the asset-scheduled downstream DAG run by the same scheduler after each published partition.

Real components, all on 127.0.0.1: Airflow 3 ``api-server`` (the Execution API task processes call),
``dag-processor`` and ``scheduler`` with the ``LocalExecutor`` on SQLite; the example DAGs
``dags_examples/daily_user_scoring.py`` and ``dags_examples/scored_users_consumer.py`` (its dags folder);
spark-submit (local[2]) per task; the embedded Hive metastore service shared by the concurrent runs;
``file://`` stores. Nothing is mocked.

Scenario (issue 15): input partitions for 5 dates; a backfill of the middle 3 with ``--max-active-runs 3``
(3 spark-submits at once: the task instances' times show all 3 running together), every output row
equal to the model's own in-process prediction, no metastore reconnect in the task logs; then a retrained
model and a backfill of 1 of those dates with ``--reprocess-behavior completed``, which must replace exactly
that one (the other 2 keep the first backfill's run), every row now the retrained model's prediction.
(This is also the example DAG's end-to-end test.) Issue 17: every published partition emits an asset event
on ``hive://demo.user_scores`` that queues a run of ``scored_users_consumer``; the scheduler (restarted with
``use_job_schedule`` on after the backfills, see ``_scheduler_with_job_schedule``) creates the
asset-triggered run and runs it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from airflow_provider_spark_predict import metastore
from tests.conftest import MIGRATED_DB, REPO, generate_demo, run_python, spark_sql
from tests.integration.dag_utils import assert_model_predictions, checked_report
from tests.integration.dag_utils import reports as run_reports

# the suite default (900 s) is too short on 2 busy cores: 2 backfills, 4 spark-submits, 3 Airflow processes
pytestmark = [pytest.mark.spark, pytest.mark.airflow, pytest.mark.timeout(2400)]

sys.path.insert(0, os.path.join(REPO, "dags_examples"))
from backfill_demo import DAG_ID, LocalAirflow  # noqa: E402

TABLE = "demo.user_scores"
CONSUMER = "scored_users_consumer"
ALL_DATES = [f"2026-01-0{i}" for i in range(1, 6)]
BACKFILL = ALL_DATES[1:4]  # 02..04
REDO = BACKFILL[1:2]  # 03 (one date: what is checked per re-scored date is the same for more)
ROWS = 2000
WAIT_S = 1500
#: Airflow intervals for a test that waits on the scheduler (defaults: 5 s refresh, 1 s idle sleep)
FAST_AIRFLOW = {
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
    # the consumer task is tiny; the scoring tasks are the ones that take long
    "AIRFLOW__CORE__PARALLELISM": "6",
}


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


def _wait_backfills_marked_complete(airflow: LocalAirflow) -> None:
    """Airflow admits one running backfill per DAG; the scheduler marks finished ones every 30 s."""
    airflow.wait_for(f"earlier backfills of {DAG_ID} to be marked complete", lambda: not airflow.query(
        "SELECT id FROM backfill WHERE dag_id = ? AND completed_at IS NULL", DAG_ID), WAIT_S)


_CONSUMED_SQL = (
    "SELECT e.id, e.source_run_id, e.extra, e.timestamp, r.run_id, r.run_type, r.state, r.start_date "
    "FROM asset_event e JOIN asset a ON a.id = e.asset_id "
    "LEFT JOIN dagrun_asset_event x ON x.event_id = e.id "
    "LEFT JOIN dag_run r ON r.id = x.dag_run_id AND r.dag_id = ? "
    "WHERE rtrim(a.uri, '/') = 'hive://demo.user_scores' AND e.source_dag_id = ? ORDER BY e.id"
)


def _consumed_events(airflow: LocalAirflow, n_events: int) -> list[tuple]:
    """Wait until ``n_events`` asset events of the scoring DAG exist and a run of the consumer DAG that
    consumed some of them has finished (Airflow's asset-triggered run consumes the events queued up to its
    queue entry; later ones wait for the next run); return the rows of ``_CONSUMED_SQL``."""
    def done() -> bool:
        rows = airflow.query(_CONSUMED_SQL, CONSUMER, DAG_ID)
        consumer = [r for r in rows if r[4] is not None]
        return (len({r[0] for r in rows}) >= n_events and bool(consumer)
                and all(r[6] in ("success", "failed") for r in consumer))

    airflow.wait_for(f"{n_events} asset events and a finished run of {CONSUMER}", done, 600)
    return airflow.query(_CONSUMED_SQL, CONSUMER, DAG_ID)


def _scheduler_with_job_schedule(airflow: LocalAirflow) -> None:
    """Restart the scheduler with ``use_job_schedule`` on, so it creates asset-triggered runs (LocalAirflow
    turns it off: it also creates the scoring DAG's run for the latest interval; that DAG is paused first).
    The asset events already queued for the consumer stay queued in the database meanwhile."""
    sched = airflow.procs["scheduler"]
    os.killpg(sched.pid, signal.SIGTERM)
    airflow.cli("dags", "pause", DAG_ID)
    sched.wait(timeout=60)
    airflow.env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "True"
    with open(airflow.logs["scheduler"], "ab") as out:
        airflow.procs["scheduler"] = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "airflow"), "scheduler"], env=airflow.env, stdout=out,
            stderr=subprocess.STDOUT, cwd=airflow.home, start_new_session=True)


def _most_at_once(airflow: LocalAirflow, run_ids: list[str]) -> int:
    """The largest number of the runs' scoring task instances that were running at the same moment."""
    marks = ", ".join("?" * len(run_ids))
    spans = airflow.query(f"SELECT start_date, end_date FROM task_instance WHERE dag_id = ? AND task_id = "
                          f"'score_users' AND run_id IN ({marks})", DAG_ID, *run_ids)
    assert len(spans) == len(run_ids) and all(a and b for a, b in spans), spans
    events = sorted([(_ts(a), 1) for a, _ in spans] + [(_ts(b), -1) for _, b in spans])
    running = most = 0
    for _, step in events:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def _ts(value: str) -> datetime:
    """A timestamp of the SQLite metadata database (UTC, with or without an offset)."""
    return datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=None)


def test_backfill_through_the_scheduler(tmp_path, airflow_db):
    started = time.monotonic()
    spark_home = str(tmp_path / "home")
    airflow = LocalAirflow(str(tmp_path / "airflow"), env={
        "SPARK_PREDICT_HOME": spark_home, "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(REPO, "dags_examples")})
    airflow.env.update(FAST_AIRFLOW)
    # a freshly migrated database (no DAG, no run): start() need not migrate it
    shutil.copyfile(MIGRATED_DB, os.path.join(airflow.home, "airflow.db"))
    os.environ["SPARK_PREDICT_HOME"], old_home = spark_home, os.environ.get("SPARK_PREDICT_HOME")
    try:
        model = os.path.join(spark_home, "models", "user_class_xgb.json")
        # the input data and model (a Spark job) while Airflow starts and parses the DAGs
        with ThreadPoolExecutor(1) as pool:
            data = pool.submit(generate_demo, spark_home, ALL_DATES, ROWS)
            airflow.start(migrate=False)
            airflow.wait_for_dag()
            airflow.wait_for_dag(CONSUMER)
            data.result()
        print(f"airflow up after {time.monotonic() - started:.0f} s", flush=True)

        # 3 dates, all at once (issue 15: max_active_runs at least 3)
        runs = airflow.backfill(BACKFILL[0], BACKFILL[-1], max_active_runs=3, timeout=WAIT_S)
        assert sorted(runs) == BACKFILL, f"backfill runs: {runs}"
        assert all(state == "success" for _, state in runs.values()), f"{runs}\n{airflow.tails()}"
        print(f"first backfill done after {time.monotonic() - started:.0f} s", flush=True)
        reports = {d: checked_report(spark_home, TABLE, d) for d in BACKFILL}
        assert len(_store_files(spark_home, "models")) == 1, "the model was uploaded more than once"
        assert len(_store_files(spark_home, "codes")) == 1, "the job code was uploaded more than once"
        # the example DAG ships no environment on a local master (the driver's interpreter is used)
        assert _store_files(spark_home, "environments") == []
        for d, (run_id, _) in runs.items():
            log = airflow.task_log(run_id)
            assert "spark-predict run report" in log and f"dt={d}" in log, f"no report for {d} in its task log"
            # HIVE-24404: the Hive client closed its own connection on the first partition call (1 s, a trace)
            assert "MetaStoreClient lost connection" not in log, f"metastore reconnect in the task log of {d}"
        assert _most_at_once(airflow, [run_id for run_id, _ in runs.values()]) == 3, "the dates did not run at once"
        for d in BACKFILL:  # before the retraining below overwrites the model file
            assert_model_predictions(spark_home, reports[d], model)

        # while the scheduler marks the backfill complete (up to 30 s): check the table, retrain the model
        with ThreadPoolExecutor(2) as pool:
            checked = pool.submit(_assert_partitions, spark_home, BACKFILL)
            retrained = pool.submit(run_python, [
                "-c", "import sys; sys.path.insert(0, 'dags_examples'); from generate_demo_data import "
                      f"train_model; train_model({model!r}, seed=99)"])
            _wait_backfills_marked_complete(airflow)
            checked.result()
            retrained.result()
        print(f"first backfill checked, model retrained after {time.monotonic() - started:.0f} s", flush=True)

        # a retrained model, then a backfill of 2 of the dates: exactly those 2 are replaced
        redo = airflow.backfill(REDO[0], REDO[-1], "--reprocess-behavior", "completed", max_active_runs=4,
                                timeout=WAIT_S)
        assert sorted(redo) == REDO and all(s == "success" for _, s in redo.values()), f"{redo}\n{airflow.tails()}"
        print(f"second backfill done after {time.monotonic() - started:.0f} s", flush=True)
        with ThreadPoolExecutor(1) as pool:  # the table check while the consumer runs
            checked = pool.submit(_assert_partitions, spark_home, BACKFILL)
            _scheduler_with_job_schedule(airflow)
            consumed = _consumed_events(airflow, len(runs) + len(redo))
            checked.result()
        models = _store_files(spark_home, "models")
        assert len(models) == 2, f"expected the old and the new model in the store: {models}"
        for d in BACKFILL:
            now = checked_report(spark_home, TABLE, d)
            if d in REDO:
                assert now["run_id"] != reports[d]["run_id"], f"{d} was not re-scored"
                assert now["model"]["uri"] != reports[d]["model"]["uri"], f"{d} was not scored by the new model"
                assert now["published"] and now["rows_out"] == ROWS
                assert_model_predictions(spark_home, now, model)  # the retrained model's, on every row
                # it replaced the first backfill's version of that partition (the location moved away from it)
                assert now["replaced_location"].rstrip("/").endswith(reports[d]["run_id"]), now["replaced_location"]
                assert len(run_reports(spark_home, TABLE, d)) == 2, f"{d}: not exactly two run reports"
                # drift against the date before, published by the first backfill
                before_d = ALL_DATES[ALL_DATES.index(d) - 1]
                assert now["previous_partition"] == {"dt": before_d} and now["psi"] is not None, now["psi"]
                assert "spark-predict run report" in airflow.task_log(redo[d][0])
            else:
                assert now["run_id"] == reports[d]["run_id"], f"{d} was touched by the second backfill"

        # issue 17: one asset event per published partition (4: 3 + 1 re-scored) with its partition; the
        # scheduler created asset-triggered runs of the downstream DAG from them, each started after the events
        # it consumed and succeeded
        run_dates = {run_id: d for d, (run_id, _) in [*runs.items(), *redo.items()]}
        assert len({r[0] for r in consumed}) == len(runs) + len(redo), f"events: {consumed}"
        assert sorted(json.loads(r[2])["partition"]["dt"] for r in consumed) == sorted([*BACKFILL, *REDO]), consumed
        for _, source_run, extra, _ts_event, _, _, _, _ in consumed:
            assert json.loads(extra)["partition"] == {"dt": run_dates[source_run]}, extra
        by_consumer = [r for r in consumed if r[4] is not None]
        assert by_consumer, f"no run of {CONSUMER} consumed an event: {consumed}"
        for _, source_run, _, ts, run_id, run_type, state, start in by_consumer:
            assert run_type == "asset_triggered" and state == "success", (run_id, run_type, state)
            assert _ts(start) >= _ts(ts), f"{run_id} started before the event of {source_run}"
        for run_id in {r[4] for r in by_consumer}:
            log = airflow.task_log(run_id, task_id="use_scores", dag_id=CONSUMER)
            assert "of demo.user_scores is ready" in log, f"{CONSUMER} {run_id} saw no partition"
    finally:
        airflow.stop()
        metastore.stop(spark_home)
        if old_home is None:
            os.environ.pop("SPARK_PREDICT_HOME", None)
        else:
            os.environ["SPARK_PREDICT_HOME"] = old_home
        print(f"test_backfill_through_the_scheduler took {time.monotonic() - started:.0f} s", flush=True)
