"""Downstream of ``daily_user_scoring``: runs each time a scored partition of ``demo.user_scores`` is published.

Scheduled on the Asset the scoring task declares as its outlet (``hive://demo.user_scores``). The asset
event is emitted only when the partition was published with every ``fail`` check passed, so this DAG never
runs on a rejected partition. The event's ``extra`` says which partition is ready and what the run found:
``{"partition": {"dt": ...}, "published_location", "run_id", "rows_in", "rows_out", "psi", "checks",
"report_uri"}``.

(Before Assets: a ``ScoredPartitionSensor`` poking for the partition's ``_CHECKED.json`` marker; it still
works, see README.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, task

USER_SCORES = Asset(uri="hive://demo.user_scores", name="demo.user_scores")

with DAG(
    dag_id="scored_users_consumer",
    schedule=[USER_SCORES],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["spark-predict", "example"],
) as dag:

    @task
    def use_scores(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Read which partitions were published (one event per scoring run since the last run)."""
        ready = []
        for event in (triggering_asset_events or {}).get(USER_SCORES, []):
            extra = dict(event.extra or {})
            print(f"partition {extra.get('partition')} of demo.user_scores is ready: run {extra.get('run_id')}, "
                  f"{extra.get('rows_out')} rows, PSI {extra.get('psi')}, checks {extra.get('checks')}")
            ready.append(extra)
        return ready

    use_scores()
