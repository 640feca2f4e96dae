"""Tests of airflow_provider_spark_predict.staging (and the standalone-cluster helper)."""
