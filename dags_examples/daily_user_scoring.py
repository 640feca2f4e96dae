"""Daily scoring of the whole user population: one date partition in, one scored partition out.

The origin's case: ``demo.user_features`` (``pin`` + 100 features, partitioned by ``dt``) scored by a
17-class XGBoost model into ``demo.user_scores (pin string, class int, score double, class_name string)``
partitioned by ``dt``.

Which date is scored: the run that fires on day D+1 at 03:00 scores day D. That is Airflow 2's data
interval semantics, so the DAG uses ``CronDataIntervalTimetable`` and ``{{ ds }}`` is the start of the
data interval. (With Airflow 3's default ``CronTriggerTimetable`` ``{{ ds }}`` would be D+1; use
``{{ macros.ds_add(ds, -1) }}`` there instead.) A backfill of a date range re-scores exactly those
partitions: ``airflow backfill create --dag-id daily_user_scoring --from-date A --to-date B``.

Point it at a real cluster by changing the ``spark_default`` connection (YARN / k8s / standalone) and
``store_uri`` (``hdfs://...``), and set ``environment`` (see README).

Each published partition emits an asset event on ``hive://demo.user_scores``; ``scored_users_consumer``
is scheduled on it.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Asset
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_spark_predict.embedded import data_home
from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

#: the scored table as an Airflow Asset: ``scored_users_consumer`` is scheduled on it
USER_SCORES = Asset(uri="hive://demo.user_scores", name="demo.user_scores")
CLASS_NAMES = {i: f"segment_{chr(ord('a') + i)}" for i in range(17)}

with DAG(
    dag_id="daily_user_scoring",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["spark-predict", "example"],
) as dag:
    SparkPredictOperator(
        task_id="score_users",
        model=os.environ.get("SPARK_PREDICT_DEMO_MODEL", os.path.join(data_home(), "models", "user_class_xgb.json")),
        input_table="demo.user_features",
        input_partition={"dt": "{{ ds }}"},
        keys=["pin"],
        # features: read from the model (XGBoost feature_names), in training order
        fill_value=999999.0,  # what the origin did with nulls; None would let XGBoost treat them as missing
        output_table="demo.user_scores",
        output_partition={"dt": "{{ ds }}"},
        prediction_column="class",
        score_column="score",
        label_column="class_name",
        label_mapping=CLASS_NAMES,
        checks={"drift": {"policy": "warn", "warn_threshold": 0.1, "threshold": 0.25}},
        spark_conf={"spark.sql.shuffle.partitions": "8"},
        # the default outlet for output_table; an event (with the partition and report summary in its extra)
        # is emitted only when the partition was published
        outlets=[USER_SCORES],
    )
