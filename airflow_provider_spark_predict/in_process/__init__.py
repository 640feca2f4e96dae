"""``engine="in_process"``: score a small partition inside the Airflow task, without Spark or a JVM.

For inputs that fit comfortably in the worker's memory (thousands to a few million rows), a Spark job
costs more in start-up (a JVM, an application, a metastore connection: ~15-30 s) than the scoring itself.
This engine runs the same sequence as the Spark job (:mod:`airflow_provider_spark_predict.run.sequence`):
it reads the input partition with pyarrow, scores it through the same batch function as the Spark
executors (a Spark ML ``PipelineModel`` through the JVM-free :mod:`airflow_provider_spark_predict.local`
scorer), writes a version folder, computes the same facts and checks, and publishes the same way. It reads
``input_path`` and writes ``output_path`` only: Hive tables need a metastore, so they need Spark.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_spark_predict.report import RunReport
from airflow_provider_spark_predict.spec import ScoringSpec


def run_in_process(spec: ScoringSpec, model_path: str, storage_options: dict[str, Any] | None = None,
                   log: logging.Logger | None = None) -> RunReport:
    """Score ``spec`` in this process; return the run report, also written to ``spec.report_uri``.

    :param spec: the validated spec with ``run_id`` and ``report_uri``; ``input.path`` and ``output.path``
    :param model_path: local path of the (staged) model file or Spark ML folder
    :param storage_options: fsspec options for every URI of the run (input, output, report store)
    :param log: logger
    """
    from airflow_provider_spark_predict.in_process.engine import InProcessEngine
    from airflow_provider_spark_predict.run.sequence import score_partition

    engine = InProcessEngine(model_path, storage_options, log or logging.getLogger(__name__))
    return score_partition(engine, spec)
