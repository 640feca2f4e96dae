"""Many runs at once on the embedded default: one Hive table, one metastore service, all complete.

Real components: the operator -> hook -> SparkSubmitHook -> spark-submit path, Spark local[2] in every
run, the embedded Hive metastore *service* (Derby-backed, one process) that all runs share through
``hive.metastore.uris``, and ``file://`` stores. Before the service, the embedded Derby metastore admitted
one JVM at a time and concurrent dates failed with ``XSDB6`` (issue 15).
"""

from __future__ import annotations

import os
import threading

import pytest

from airflow_provider_spark_predict import metastore
from tests.conftest import generate_demo, spark_sql
from tests.integration.dag_utils import checked_report
from tests.metastore_fixture import stop_session_metastores  # noqa: F401 - session fixture (stops services)

pytestmark = [pytest.mark.spark, pytest.mark.timeout(1800)]

DATES = ["2026-01-01", "2026-01-02", "2026-01-03"]
ROWS = 1500


class _TI:
    def xcom_push(self, key: str, value) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("concurrent") / "home")
    old = os.environ.get("SPARK_PREDICT_HOME")
    os.environ["SPARK_PREDICT_HOME"] = home
    generate_demo(home, DATES, ROWS)
    yield {"home": home, "model": os.path.join(home, "models", "user_class_xgb.json")}
    metastore.stop(home)
    if old is not None:
        os.environ["SPARK_PREDICT_HOME"] = old
    else:
        os.environ.pop("SPARK_PREDICT_HOME", None)


def _score(world: dict, date: str) -> dict:
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    return SparkPredictOperator(
        task_id=f"score_{date}", model=world["model"], input_table="demo.user_features",
        input_partition={"dt": date}, keys=["pin"], fill_value=999999.0, output_table="demo.user_scores",
        output_partition={"dt": date}, prediction_column="class",
        spark_conf={"spark.sql.shuffle.partitions": "4", "spark.driver.memory": "512m"},
    ).execute({"ti": _TI()})


def _run_at_once(world: dict, dates: list[str]) -> list:
    """Start one operator run per date in its own thread at the same time; results in date order."""
    results: list = [None] * len(dates)
    barrier = threading.Barrier(len(dates))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = _score(world, dates[i])
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(dates))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not any(t.is_alive() for t in threads), "a run did not finish within 15 minutes"
    return results


def test_three_dates_at_once_all_complete(world):
    """Three spark-submits of three dates started together against one Hive table all complete."""
    results = _run_at_once(world, DATES)
    failed = {d: r for d, r in zip(DATES, results, strict=True) if not isinstance(r, dict)}
    assert not failed, f"runs failed: {failed}"
    for date, report in zip(DATES, results, strict=True):
        assert report["published"] and report["rows_out"] == ROWS and report["duplicate_keys"] == 0, date
        assert checked_report(world["home"], "demo.user_scores", date)["run_id"] == report["run_id"]
    res = spark_sql(world["home"], {
        "per_date": "SELECT dt, count(*), count(DISTINCT pin) FROM demo.user_scores GROUP BY dt ORDER BY dt",
        "missing": "SELECT count(*) FROM demo.user_features f LEFT ANTI JOIN demo.user_scores s "
                   "ON f.pin = s.pin AND f.dt = s.dt",
    })
    assert res["per_date"] == [[d, ROWS, ROWS] for d in DATES]
    assert res["missing"] == [[0]], "an input key has no score in its date's partition"


def test_two_runs_of_the_same_date_at_once(world):
    """Two runs of one date at once: neither fails (one shared metastore), one complete partition results."""
    date = DATES[0]
    results = _run_at_once(world, [date, date])
    failed = [r for r in results if not isinstance(r, dict)]
    assert not failed, f"a run of the same date failed: {failed}"
    final = checked_report(world["home"], "demo.user_scores", date)
    assert final["run_id"] in {r["run_id"] for r in results}
    res = spark_sql(world["home"], {
        "n": f"SELECT count(*), count(DISTINCT pin) FROM demo.user_scores WHERE dt = '{date}'",
        "loc": f"DESCRIBE FORMATTED demo.user_scores PARTITION (dt='{date}')",
        "others": f"SELECT dt, count(*) FROM demo.user_scores WHERE dt <> '{date}' GROUP BY dt ORDER BY dt",
    })
    assert res["n"] == [[ROWS, ROWS]]
    loc = next(r[1] for r in res["loc"] if r[0] == "Location")
    assert loc.rstrip("/").endswith(final["run_id"]), "the partition points at neither run's version"
    assert res["others"] == [[d, ROWS] for d in DATES[1:]], "another date was touched"
