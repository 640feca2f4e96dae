"""Airflow provider: daily distributed scoring of a single-machine model as one DAG task."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Return the provider description read by Airflow's ProvidersManager.

    ``package-name`` must equal the distribution name, or ``airflow providers list`` fails.
    """
    return {
        "package-name": "airflow-provider-spark-predict",
        "name": "Spark Predict",
        "description": "Score a Hive/HDFS date partition with a single-machine model on Spark, "
        "check the result, and report it (plus a JVM-free Spark ML PipelineModel scorer).",
        "versions": [__version__],
        "hook-class-names": [],
        "connection-types": [],
        "operators": [
            {
                "integration-name": "Spark Predict",
                "python-modules": [
                    "airflow_provider_spark_predict.operators.predict",
                    "airflow_provider_spark_predict.sensors.partition",
                ],
            }
        ],
        "hooks": [
            {
                "integration-name": "Spark Predict",
                "python-modules": ["airflow_provider_spark_predict.hooks.predict"],
            }
        ],
        "extra-links": ["airflow_provider_spark_predict.operators.predict.SparkApplicationLink"],
    }
