"""Write the scored rows to a new version folder, then publish it as exactly the requested partition.

Publishing is a separate, last step so that nothing half-written or unchecked becomes visible:

1. the rows are written (Spark's commit protocol) to a fresh folder
   ``<table location>/_spark_predict/<partition>/<run id>/`` that no reader knows about;
2. the job re-reads that folder and the checks run on it;
3. only when no check with policy ``fail`` failed, the partition is pointed at the new folder:
   Hive table: ``ALTER TABLE ... ADD IF NOT EXISTS PARTITION`` + ``ALTER TABLE ... PARTITION (...) SET
   LOCATION`` (one metastore update, atomic for readers); path output: the old ``dt=...`` folder is
   renamed aside and the new one renamed in (two renames; a reader between them sees no partition).
   Other partitions are never touched, so a backfill of one date replaces exactly that date.

A failure at any step before publishing leaves the previous partition as it was. Two runs of the same
date write two different folders; the last one to publish wins as a whole, never a mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.job.hadoopfs import HadoopFS
from airflow_provider_spark_predict.job.reader import quote
from airflow_provider_spark_predict.spec import TargetSpec

VERSIONS_DIR = "_spark_predict"


def partition_path(partition: dict[str, str]) -> str:
    """``dt=2026-01-01[/hour=01]`` for a validated partition spec."""
    return "/".join(f"{k}={v}" for k, v in partition.items())


def partition_clause(partition: dict[str, str]) -> str:
    """``PARTITION (`dt` = '2026-01-01')`` for a validated partition spec."""
    return "PARTITION (" + ", ".join(f"{quote(k)} = '{v}'" for k, v in partition.items()) + ")"


@dataclass
class Target:
    """A resolved output target: where versions go and how the partition is published.

    :param spec: the target spec
    :param base: table location or output path (fully qualified)
    """

    spec: TargetSpec
    base: str

    @property
    def versions_dir(self) -> str:
        return f"{self.base}/{VERSIONS_DIR}/{partition_path(self.spec.partition)}"

    def version_path(self, run_id: str) -> str:
        return f"{self.versions_dir}/{run_id}"

    @property
    def partition_location(self) -> str:
        return f"{self.base}/{partition_path(self.spec.partition)}"


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


def resolve_target(spark: Any, spec: TargetSpec, fs: HadoopFS) -> Target:
    """Find the base location of the target (the table's location, or the output path)."""
    if spec.table:
        rows = spark.sql(f"DESCRIBE TABLE EXTENDED {spec.table}").collect()
        location = next((r.data_type for r in rows if r.col_name == "Location"), None)
        if not location:
            raise JobError(f"cannot find the location of output table {spec.table}")
        return Target(spec, location.rstrip("/"))
    assert spec.path
    return Target(spec, fs.qualify(spec.path.rstrip("/")))


def write_version(df: Any, target: Target, run_id: str) -> str:
    """Write ``df`` as parquet to this run's version folder and return its path."""
    path = target.version_path(run_id)
    df.write.mode("overwrite").parquet(path)
    return path


def partition_location(spark: Any, table: str, partition: dict[str, str]) -> str | None:
    """The folder of one partition of a Hive table (``None`` when the partition does not exist)."""
    if not partition:
        return None
    try:
        rows = spark.sql(f"DESCRIBE FORMATTED {table} {partition_clause(partition)}").collect()
    except Exception:  # noqa: BLE001 - the partition does not exist
        return None
    return next((r.data_type for r in rows if r.col_name == "Location"), None)


def current_location(spark: Any, target: Target) -> str | None:
    """The folder the published partition points at now (``None`` if there is no such partition)."""
    spec = target.spec
    if spec.table:
        return partition_location(spark, spec.table, spec.partition)
    return target.partition_location


def publish(spark: Any, target: Target, version: str, fs: HadoopFS, log: Any) -> str | None:
    """Point the partition at ``version``; return the folder it pointed at before (if any)."""
    spec = target.spec
    if spec.table:
        before = current_location(spark, target)
        clause = partition_clause(spec.partition)
        spark.sql(f"ALTER TABLE {spec.table} ADD IF NOT EXISTS {clause} LOCATION '{version}'")
        spark.sql(f"ALTER TABLE {spec.table} {clause} SET LOCATION '{version}'")
        spark.sql(f"REFRESH TABLE {spec.table}")
        log(f"published {spec.table} {clause} -> {version}")
        return before if before and before.rstrip("/") != version.rstrip("/") else None
    final = target.partition_location
    previous = None
    if fs.exists(final):
        previous = f"{target.versions_dir}/superseded-{version.rsplit('/', 1)[-1]}"
        if not fs.rename(final, previous):
            raise JobError(f"could not move the previous partition {final} aside to {previous}")
    if not fs.rename(version, final):
        if previous:
            fs.rename(previous, final)
        raise JobError(f"could not move {version} to {final}; the previous partition was restored")
    log(f"published {final}")
    return previous


def cleanup_versions(target: Target, keep: int, current: str, fs: HadoopFS, log: Any) -> None:
    """Delete superseded version folders of this partition, keeping the newest ``keep`` of them."""
    names = fs.list_dirs(target.versions_dir)
    current_name = current.rstrip("/").rsplit("/", 1)[-1]
    old = [n for n in names if n != current_name]
    # run ids start with a sortable UTC timestamp, so name order is age order
    old.sort(key=lambda n: n.removeprefix("superseded-"))
    for name in old[: max(0, len(old) - keep)]:
        fs.delete(f"{target.versions_dir}/{name}")
        log(f"deleted superseded version {name}")
