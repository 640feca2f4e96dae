"""The scoring job: ``spark-submit main.py --spec <uri of spec.json>``.

Runs :func:`airflow_provider_spark_predict.run.sequence.score_partition` with the Spark engine
(:class:`airflow_provider_spark_predict.job.spark_engine.SparkEngine`): read the input partition, score it
on the executors, write a version folder, check it, publish it only when no ``fail`` check failed, and
write the run report (JSON) to ``spec.report_uri`` in every outcome, errors included. Meanwhile the
latest phase/progress line is kept in the run's status file beside the report
(:func:`airflow_provider_spark_predict.run.layout.status_uri`), for cluster mode where this driver's
output does not reach the Airflow task log.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from airflow_provider_spark_predict.embedded import HIVE_FILTER_HOOK
from airflow_provider_spark_predict.job import progress
from airflow_provider_spark_predict.job.hadoopfs import HadoopFS
from airflow_provider_spark_predict.job.spark_engine import SparkEngine, log
from airflow_provider_spark_predict.report import RunReport
from airflow_provider_spark_predict.run.layout import status_uri
from airflow_provider_spark_predict.run.sequence import exit_code, score_partition
from airflow_provider_spark_predict.spec import ScoringSpec


def run_in_session(spark: Any, spec: ScoringSpec) -> dict[str, Any]:
    """Run the whole scoring sequence in an existing SparkSession (not stopped), write the report to
    ``spec.report_uri`` like :func:`main` (when set), and return the report as a dict.

    :param spark: the SparkSession (Hive support as the spec's tables need)
    :param spec: the validated spec, with ``run_id`` and ``report_uri`` filled in
    """
    return score(spark, spec).to_dict()


def score(spark: Any, spec: ScoringSpec) -> RunReport:
    """:func:`score_partition` with the Spark engine, phase/progress lines also kept in the run's status
    file (when the spec has a report URI).

    :param spark: the SparkSession
    :param spec: the validated spec
    """
    engine = SparkEngine(spark)
    if not spec.report_uri:
        return score_partition(engine, spec)
    with progress.status_file(engine.files.write_text, status_uri(spec.report_uri), log):
        return score_partition(engine, spec)


def hive_builder(builder: Any) -> Any:
    """``builder.enableHiveSupport()`` with :data:`~airflow_provider_spark_predict.embedded.HIVE_FILTER_HOOK`
    unless the submitted conf sets it (any metastore, not only the embedded one)."""
    from pyspark import SparkConf

    key, value = HIVE_FILTER_HOOK
    builder = builder.enableHiveSupport()
    return builder if SparkConf().contains(key) else builder.config(key, value)


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry: ``--spec <uri>``; exit code 0 (report written, checks may have failed), 2 (the
    package's own error) or 3 (any other error)."""
    parser = argparse.ArgumentParser(description="airflow-provider-spark-predict scoring job")
    parser.add_argument("--spec", required=True, help="URI of the scoring spec JSON")
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("spark-predict")
    if os.environ.get("SPARK_PREDICT_NO_HIVE") != "1":
        builder = hive_builder(builder)
    spark = builder.getOrCreate()
    spec = ScoringSpec.from_json(HadoopFS(spark).read_text(args.spec)).validate()
    report = score(spark, spec)
    spark.stop()
    return exit_code(report)


if __name__ == "__main__":
    sys.exit(main())
