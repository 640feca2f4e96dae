"""The Spark engine's answers to :class:`airflow_provider_spark_predict.run.facts.Frame`: facts of written
rows (re-read from storage), and the partitions of an output table."""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.job.reader import partition_predicate, quote
from airflow_provider_spark_predict.run.facts import QUANTILES, Summary
from airflow_provider_spark_predict.spec import TargetSpec

#: accuracy of ``percentile_approx``: exact for fewer rows than this
PERCENTILE_ACCURACY = 10000


class SparkFrame:
    """Written rows as a Spark DataFrame.

    :param df: the DataFrame
    """

    def __init__(self, df: Any) -> None:
        self.df = df

    def summary(self, prediction: str, value: str | None, classifier: bool) -> Summary:
        from pyspark.sql import functions as F

        pred = F.col(quote(prediction))
        null_pred = pred.isNull() | (F.isnan(pred) if not classifier else F.lit(False))
        aggs = [F.count(F.lit(1)).alias("rows"), F.sum(null_pred.cast("long")).alias("nulls")]
        if value is not None:
            c = F.col(quote(value))
            finite = F.when(~F.isnan(c), c)
            aggs += [F.min(finite).alias("min"), F.avg(finite).alias("mean"), F.max(finite).alias("max"),
                     F.percentile_approx(finite, list(QUANTILES), PERCENTILE_ACCURACY).alias("q")]
        row = self.df.agg(*aggs).first()
        s = Summary(rows=int(row["rows"]), nulls=int(row["nulls"] or 0))
        if value is not None:
            s.min, s.mean, s.max, s.quantiles = row["min"], row["mean"], row["max"], row["q"]
        return s

    def distinct_keys(self, keys: list[str]) -> int:
        return int(self.df.select(*[quote(k) for k in keys]).dropna(how="any").distinct().count())

    def null_keys(self, keys: list[str]) -> int:
        from functools import reduce

        from pyspark.sql import functions as F

        any_null = reduce(lambda a, b: a | b, [F.col(quote(k)).isNull() for k in keys])
        return int(self.df.where(any_null).count())

    def value_counts(self, column: str, limit: int | None = None) -> dict[str, int]:
        from pyspark.sql import functions as F

        counts = self.df.groupBy(F.col(quote(column)).cast("string").alias("c")).count()
        rows = (counts.limit(limit) if limit else counts).collect()
        return {str(r["c"]): int(r["count"]) for r in rows}

    def quantiles(self, column: str, probs: list[float]) -> list[float]:
        from pyspark.sql import functions as F

        c = F.col(quote(column))
        got = self.df.where(~F.isnan(c)).agg(F.percentile_approx(c, probs, PERCENTILE_ACCURACY)).first()[0]
        return [float(v) for v in got or []]

    def bin_counts(self, column: str, edges: list[float]) -> dict[str, int]:
        from pyspark.sql import functions as F

        c = F.col(quote(column))
        expr = F.lit(0)
        for e in edges:
            expr = expr + F.when(c > F.lit(e), 1).otherwise(0)
        rows = self.df.where(~F.isnan(c)).groupBy(expr.alias("b")).count().collect()
        return {str(r[0]): int(r[1]) for r in rows}


def previous_table_partition(spark: Any, target: TargetSpec) -> dict[str, str] | None:
    """The newest existing partition of the output table before this one (by partition value order)."""
    assert target.table
    if not spark.catalog.tableExists(target.table):
        return None
    current = tuple(target.partition.values())
    names = list(target.partition)
    candidates = []
    for r in spark.sql(f"SHOW PARTITIONS {target.table}").collect():
        kv = dict(p.split("=", 1) for p in r[0].split("/"))
        candidates.append(tuple(kv.get(n, "") for n in names))
    older = sorted(c for c in candidates if c < current)
    return dict(zip(names, older[-1], strict=True)) if older else None


def read_table_partition(spark: Any, target: TargetSpec, partition: dict[str, str]) -> SparkFrame:
    """One published partition of the output table."""
    return SparkFrame(spark.table(target.table).where(partition_predicate(partition)))
