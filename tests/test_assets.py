"""The scoring task's output as an Airflow Asset.

Unit tests of the asset and its event extra, then the example DAG through ``dag.test()`` (real Airflow on
SQLite, the real operator and hook, the embedded Hive metastore): a published partition emits an asset
event carrying the partition and the report summary, and queues the asset-scheduled
``scored_users_consumer``; a run whose checks fail emits nothing and queues nothing. Only spark-submit is
replaced: the job runs on the tests' shared local[2] Hive session (``in_session`` fixture, see
``tests/conftest.py``); the example DAG's real spark-submit path is covered by
``tests/integration/test_backfill_scheduler.py``.

Airflow 3's ``dag.test()`` does not start consumers: the consumer's queued run is the
``AssetDagRunQueue`` row the scheduler turns into a DagRun; the test reads it from the Airflow DB.
"""

from __future__ import annotations

import pytest

from airflow_provider_spark_predict.operators.outlets import attach_event_extra, event_extra, output_asset
from tests.conftest import demo_in_session
from tests.integration.dag_utils import load_example_dag, run_dag

D1, D2 = "2026-03-01", "2026-03-02"  # dates no other module of the shared session uses
ROWS = 2000


def test_output_asset_for_table_path_and_templated_target():
    table = output_asset("demo.user_scores", None)
    assert table is not None and table.name == "demo.user_scores" and table.uri.startswith("hive://demo.user_scores")
    path = output_asset(None, "/data/scores")
    assert path is not None and path.uri == "file:///data/scores"
    assert output_asset(None, "s3://bucket/scores/").uri == "s3://bucket/scores"
    assert output_asset("db_{{ params.env }}.scores", None) is None  # unknown when the DAG is parsed
    assert output_asset(None, None) is None


def test_event_extra_only_for_a_published_partition():
    class Events(dict):
        def __missing__(self, key):
            self[key] = type("Accessor", (), {"extra": None})()
            return self[key]

    class Log:
        def info(self, *args):
            pass

    asset = output_asset("demo.user_scores", None)
    report = {"published": True, "output_partition": {"dt": D1}, "run_id": "r1", "rows_in": 5, "rows_out": 5,
              "psi": 0.01, "published_location": "file:/w/v1",
              "checks": [{"name": "row_parity", "status": "passed"}, {"name": "drift", "status": "warned"}]}
    events = Events()
    attach_event_extra([asset], {"outlet_events": events}, report, Log())
    assert events[asset].extra == event_extra(report) == {
        "partition": {"dt": D1}, "published_location": "file:/w/v1", "run_id": "r1", "rows_in": 5, "rows_out": 5,
        "psi": 0.01, "checks": {"row_parity": "passed", "drift": "warned"}, "report_uri": None}
    rejected = Events()
    attach_event_extra([asset], {"outlet_events": rejected}, {**report, "published": False}, Log())
    assert rejected == {}


def _events_and_queue() -> tuple[list[dict], list[str]]:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == "demo.user_scores"))
        events = [dict(e.extra or {}) for e in session.scalars(
            select(AssetEvent).where(AssetEvent.asset_id == asset_id).order_by(AssetEvent.id))]
        queued = list(session.scalars(select(AssetDagRunQueue.target_dag_id).where(
            AssetDagRunQueue.asset_id == asset_id)))
    return events, queued


def _register_unpaused_consumer() -> None:
    """Parse the dags folder into the DB (as the DAG processor does) and unpause ``scored_users_consumer``
    (Airflow queues asset-triggered runs for unpaused DAGs only; new DAGs start paused)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    bundle = manager.get_bundle("dags-folder")
    bundle.initialize()
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
    assert "scored_users_consumer" in bag.dags, bag.import_errors
    sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == "scored_users_consumer").values(is_paused=False))


def _clear_queue() -> None:
    """What the scheduler does once it created the consumer's DagRun."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(AssetDagRunQueue))


@pytest.mark.spark
@pytest.mark.airflow
def test_published_partition_emits_the_event_and_queues_the_consumer_failed_check_does_not(
        in_session, shared_spark, airflow_db):
    demo_in_session(shared_spark, [D1, D2], ROWS)
    # the shared session's metastore outlives modules: the example DAG creates its own output table
    # (another module may have left a demo.user_scores with other columns)
    shared_spark.sql("DROP TABLE IF EXISTS demo.user_scores")
    # D2 gets 10 of its rows twice: the unique_keys check (policy fail) rejects its output
    shared_spark.sql(f"INSERT INTO demo.user_features PARTITION (dt='{D2}') "
                     f"SELECT * EXCEPT (dt) FROM demo.user_features WHERE dt = '{D2}' LIMIT 10")
    dag = load_example_dag()
    _register_unpaused_consumer()
    _clear_queue()
    before, _ = _events_and_queue()

    dr = run_dag(dag, D1)
    assert dr.state == "success"
    events, queued = _events_and_queue()
    assert len(events) == len(before) + 1
    extra = events[-1]
    assert extra["partition"] == {"dt": D1}
    assert extra["rows_in"] == ROWS and extra["rows_out"] == ROWS
    assert extra["checks"]["row_parity"] == "passed" and extra["checks"]["unique_keys"] == "passed"
    assert extra["run_id"] and extra["published_location"] and "psi" in extra
    assert queued == ["scored_users_consumer"]

    _clear_queue()
    dr = run_dag(dag, D2)
    assert dr.state == "failed"
    events_after, queued_after = _events_and_queue()
    assert events_after == events  # no event for the rejected partition
    assert queued_after == []      # so the consumer is not queued
