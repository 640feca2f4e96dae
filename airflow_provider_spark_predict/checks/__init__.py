"""Pure functions over a run report: PSI and the evaluation of result checks with their policies."""

from __future__ import annotations

from airflow_provider_spark_predict.checks.evaluate import CheckResult, evaluate_checks, failed_checks
from airflow_provider_spark_predict.checks.psi import psi

__all__ = ["CheckResult", "evaluate_checks", "failed_checks", "psi"]
