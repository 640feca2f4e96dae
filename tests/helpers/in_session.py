"""Run a scoring spec in an existing SparkSession (the tests' shared Hive session), without spark-submit.

The one place the tests call the job: :func:`airflow_provider_spark_predict.job.main.run_in_session`, the
same sequence spark-submit runs (report and checked marker written to the store), minus building and
stopping a session.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.job.main import run_in_session
from airflow_provider_spark_predict.spec import ScoringSpec


def run_spec(spark: Any, spec: ScoringSpec) -> dict[str, Any]:
    """Run ``spec`` in ``spark`` (not stopped); write the report to ``spec.report_uri``; return it.

    :param spark: a live Hive-enabled SparkSession
    :param spec: a validated spec with ``run_id``, ``report_uri`` and a staged model URI (the hook's
        ``prepare`` fills them)
    """
    return run_in_session(spark, spec)
