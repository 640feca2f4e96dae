"""Spark's side of writing: the scored rows into a version folder, and Hive tables (create, locate, point a
partition at a version folder).

The sequence (:mod:`airflow_provider_spark_predict.run.sequence`) writes the rows to a fresh version folder
``<table location>/_spark_predict/<partition>/<run id>/`` (Spark's commit protocol) that no reader knows
about, checks them, and only then publishes: for a Hive table ``ALTER TABLE ... ADD IF NOT EXISTS
PARTITION`` + ``ALTER TABLE ... PARTITION (...) SET LOCATION`` (one metastore update, atomic for readers);
path outputs are published by :mod:`airflow_provider_spark_predict.run.publish`. Other partitions are never
touched, so a backfill of one date replaces exactly that date.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.job.reader import quote
from airflow_provider_spark_predict.spec import TargetSpec


def partition_clause(partition: dict[str, str]) -> str:
    """``PARTITION (`dt` = '2026-01-01')`` for a validated partition spec."""
    return "PARTITION (" + ", ".join(f"{quote(k)} = '{v}'" for k, v in partition.items()) + ")"


def ensure_table(spark: Any, spec: TargetSpec, data_fields: list[Any]) -> None:
    """Create the output table if missing (``STORED AS PARQUET``, partitioned by the partition columns);
    if it exists, check that its columns match the output.

    :param spark: the SparkSession
    :param spec: the output target
    :param data_fields: Spark StructFields of the written columns (keys + outputs)
    """
    table = spec.table
    assert table
    if spark.catalog.tableExists(table):
        existing = spark.table(table).schema
        want = [f.name for f in data_fields] + list(spec.partition)
        have = [f.name for f in existing.fields]
        if [w.lower() for w in want] != [h.lower() for h in have]:
            raise JobError(
                f"output table {table} has columns {have} but this run writes {want}; "
                "use another table or migrate it"
            )
        return
    if "." in table:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {table.split('.')[0]}")
    cols = ", ".join(f"{quote(f.name)} {f.dataType.simpleString()}" for f in data_fields)
    parts = ", ".join(f"{quote(k)} STRING" for k in spec.partition)
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table} ({cols}) PARTITIONED BY ({parts}) STORED AS PARQUET")


def table_location(spark: Any, table: str) -> str:
    """The location of an existing table (no trailing ``/``)."""
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()
    location = next((r.data_type for r in rows if r.col_name == "Location"), None)
    if not location:
        raise JobError(f"cannot find the location of output table {table}")
    return str(location).rstrip("/")


def write_version(df: Any, path: str) -> None:
    """Write ``df`` as parquet to the version folder ``path``."""
    df.write.mode("overwrite").parquet(path)


def partition_location(spark: Any, table: str, partition: dict[str, str]) -> str | None:
    """The folder of one partition of a Hive table (``None`` when the partition does not exist)."""
    return partition_storage(spark, table, partition)[0]


def partition_storage(spark: Any, table: str, partition: dict[str, str]) -> tuple[str | None, str | None]:
    """``(folder, file format)`` of one partition of a Hive table: the format is ``parquet`` or ``orc`` from
    the partition's own ``InputFormat`` (a partition may differ from its table), else that class name;
    ``(None, None)`` when the partition does not exist."""
    if not partition:
        return None, None
    try:
        rows = spark.sql(f"DESCRIBE FORMATTED {table} {partition_clause(partition)}").collect()
    except Exception:  # noqa: BLE001 - the partition does not exist
        return None, None
    location = next((r.data_type for r in rows if r.col_name == "Location"), None)
    input_format = next((str(r.data_type) for r in rows if r.col_name == "InputFormat"), None)  # the partition's
    fmt = next((f for f in ("parquet", "orc") if f in (input_format or "").lower()), input_format)
    return location, fmt


def publish_table(spark: Any, spec: TargetSpec, version: str, log: Callable[[str], None]) -> str | None:
    """Point the table's partition at ``version``; return the folder it pointed at before (if any)."""
    assert spec.table
    before = partition_location(spark, spec.table, spec.partition)
    clause = partition_clause(spec.partition)
    spark.sql(f"ALTER TABLE {spec.table} ADD IF NOT EXISTS {clause} LOCATION '{version}'")
    spark.sql(f"ALTER TABLE {spec.table} {clause} SET LOCATION '{version}'")
    spark.sql(f"REFRESH TABLE {spec.table}")
    log(f"published {spec.table} {clause} -> {version}")
    return before if before and before.rstrip("/") != version.rstrip("/") else None
