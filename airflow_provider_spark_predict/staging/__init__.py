"""Staging: pack the Python environment once, put it and the model in a store by content hash.

The Airflow side imports this package; it never imports pyspark, pandas or pyarrow at module level.
"""

from __future__ import annotations

from airflow_provider_spark_predict.staging.artifact import StagedArtifact
from airflow_provider_spark_predict.staging.check import check_environment
from airflow_provider_spark_predict.staging.environment import stage_environment
from airflow_provider_spark_predict.staging.files import stage_file
from airflow_provider_spark_predict.staging.fingerprint import EnvironmentFingerprint, environment_fingerprint
from airflow_provider_spark_predict.staging.spark_conf import environment_spark_conf
from airflow_provider_spark_predict.staging.store import Store, open_store

__all__ = [
    "EnvironmentFingerprint",
    "StagedArtifact",
    "Store",
    "check_environment",
    "environment_fingerprint",
    "environment_spark_conf",
    "open_store",
    "stage_environment",
    "stage_file",
]
