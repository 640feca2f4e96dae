"""Tests of the JVM-free Spark ML scorer (airflow_provider_spark_predict.sparkml)."""
