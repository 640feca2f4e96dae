"""Run a scoring spec in an existing SparkSession (the tests' shared Hive session), without spark-submit.

The ONE place the tests reproduce what ``job/main.py:main()`` does around ``run`` (report fields, error
mapping into the report, report + checked marker written to the store), minus building and stopping a
session.

TODO(after the "pipeline" merge): replace the body of :func:`run_spec` with
``airflow_provider_spark_predict.job.main.run_in_session(spark, spec)``.
"""

from __future__ import annotations

import json
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from airflow_provider_spark_predict.exceptions import SparkPredictError
from airflow_provider_spark_predict.job import main as job_main
from airflow_provider_spark_predict.job.hadoopfs import HadoopFS
from airflow_provider_spark_predict.report import CHECKED_MARKER
from airflow_provider_spark_predict.spec import ScoringSpec


def run_spec(spark: Any, spec: ScoringSpec) -> dict[str, Any]:
    """Run ``spec`` in ``spark`` (not stopped); write the report to ``spec.report_uri``; return it.

    :param spark: a live Hive-enabled SparkSession
    :param spec: a validated spec with ``run_id``, ``report_uri`` and a staged model URI (the hook's
        ``prepare`` fills them)
    """
    fs = HadoopFS(spark)
    started = time.monotonic()
    report: dict[str, Any] = {
        "report_version": job_main.REPORT_VERSION,
        "run_id": spec.run_id,
        "started_at": datetime.now(UTC).isoformat(),
        "input": spec.input.describe(),
        "output": spec.output.describe(),
        "output_partition": spec.output.partition,
        "spec": spec.to_dict(),
        "status": "running",
    }
    try:
        job_main.run(spark, spec, report)
    except SparkPredictError as err:
        report.update(status="error", error_type=type(err).__name__, error=str(err))
    except Exception as err:  # noqa: BLE001 - reported like the job does, with its traceback
        report.update(status="error", error_type=type(err).__name__, error=job_main.summarize_error(err),
                      traceback=traceback.format_exc()[-4000:])
    report["wall_s"] = round(time.monotonic() - started, 3)
    report["finished_at"] = datetime.now(UTC).isoformat()
    text = json.dumps(report, sort_keys=True, indent=1, default=str)
    fs.write_text(spec.report_uri, text)
    if report.get("status") == "succeeded":
        fs.write_text(f"{job_main.report_dir(spec.report_uri)}/{CHECKED_MARKER}", text)
    return report
