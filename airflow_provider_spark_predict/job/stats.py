"""The Spark engine's answers to :class:`airflow_provider_spark_predict.run.facts.Frame`: facts of written
rows, and the partitions of an output table.

The facts of the version folder a run writes come mostly from the write itself: :func:`observe_write`
attaches Spark ``observe`` metrics (rows, null predictions, score summary, class counts) to the write,
so they cost no re-read of the output. The keys are the one aggregation left (:meth:`SparkFrame.key_counts`:
one job re-reads the written keys and gives the rows on disk, the rows with a null key and the distinct
keys); the rows on disk must equal the rows the write observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.job.reader import partition_predicate, quote
from airflow_provider_spark_predict.run.facts import QUANTILES, Summary
from airflow_provider_spark_predict.spec import TargetSpec

#: accuracy of ``percentile_approx``: exact for fewer rows than this
PERCENTILE_ACCURACY = 10000
#: Spark conf: ``false`` computes every fact of the written rows by queries over them (no ``observe``)
CONF_OBSERVE = "spark.sparkpredict.observeWriteFacts"
#: class counts are observed during the write for integer predictions of at most this many classes
MAX_OBSERVED_CLASSES = 100


def summary_aggregates(prediction: str, value: str | None, classifier: bool) -> list[Any]:
    """The aggregate columns of :class:`Summary` (``rows``, ``nulls``, ``min``, ``mean``, ``max``, ``q``),
    used both by a query over written rows and by the observation of the write."""
    from pyspark.sql import functions as F

    pred = F.col(quote(prediction))
    null_pred = pred.isNull() | (F.isnan(pred) if not classifier else F.lit(False))
    aggs = [F.count(F.lit(1)).alias("rows"), F.sum(null_pred.cast("long")).alias("nulls")]
    if value is not None:
        c = F.col(quote(value))
        finite = F.when(~F.isnan(c), c)
        aggs += [F.min(finite).alias("min"), F.avg(finite).alias("mean"), F.max(finite).alias("max"),
                 F.percentile_approx(finite, list(QUANTILES), PERCENTILE_ACCURACY).alias("q")]
    return aggs


def summary_from(row: Any, value: str | None) -> Summary:
    """A :class:`Summary` from the values of :func:`summary_aggregates` (a Row or a dict)."""
    s = Summary(rows=int(row["rows"]), nulls=int(row["nulls"] or 0))
    if value is not None:
        s.min, s.mean, s.max, s.quantiles = row["min"], row["mean"], row["max"], row["q"]
    return s


@dataclass
class WriteFacts:
    """What the write of a version folder observed (see :func:`observe_write`).

    :param prediction: the prediction column
    :param value: the summarised value column (``None``: no summary of values)
    :param classifier: whether predictions are classes
    :param classes: the integer classes counted one by one (empty: class counts not observed)
    :param observation: the pyspark ``Observation`` (its metrics exist once the write has run)
    """

    prediction: str
    value: str | None
    classifier: bool
    classes: list[int] = field(default_factory=list)
    observation: Any = None

    @property
    def metrics(self) -> dict[str, Any]:
        """The observed metrics (blocks until the write's job has finished)."""
        return dict(self.observation.get)

    def summary(self) -> Summary:
        return summary_from(self.metrics, self.value)

    def class_counts(self) -> dict[str, int] | None:
        """``str(class)`` -> rows (``"None"``: null predictions), or ``None`` when not observed or when
        a prediction was outside the counted classes (the query then counts them)."""
        if not self.classes:
            return None
        m = self.metrics
        if int(m["class_other"] or 0):
            return None
        counts = {str(c): int(m[f"class_{i}"] or 0) for i, c in enumerate(self.classes)}
        counts["None"] = int(m["class_null"] or 0)
        return {k: v for k, v in counts.items() if v}


def observe_write(df: Any, prediction: str, value: str | None, classifier: bool,
                  classes: list[Any] | None) -> tuple[Any, WriteFacts]:
    """``df`` with Spark ``observe`` metrics for the facts of the rows it writes, and their holder.

    Class counts are observed for integer prediction columns of at most :data:`MAX_OBSERVED_CLASSES`
    integer classes; other classifiers count their classes with a query over the written rows.

    :param df: the scored rows about to be written
    :param prediction: the prediction column
    :param value: the score column (or the prediction of a regressor), ``None`` for none
    :param classifier: whether predictions are classes
    :param classes: the model's classes (``None`` for regressors)
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    facts = WriteFacts(prediction, value, classifier)
    aggs = summary_aggregates(prediction, value, classifier)
    integer_column = isinstance(df.schema[prediction].dataType, (T.IntegerType, T.LongType))
    if (classifier and classes and integer_column and len(classes) <= MAX_OBSERVED_CLASSES
            and all(isinstance(c, int) and not isinstance(c, bool) for c in classes)):
        facts.classes = [int(c) for c in classes]
        pred = F.col(quote(prediction))
        aggs += [F.sum((pred == F.lit(c)).cast("long")).alias(f"class_{i}") for i, c in enumerate(facts.classes)]
        aggs += [F.sum(pred.isNull().cast("long")).alias("class_null"),
                 F.sum((~pred.isin(*facts.classes)).cast("long")).alias("class_other")]
    facts.observation = Observation("spark_predict_write_facts")
    return df.observe(facts.observation, *aggs), facts


class SparkFrame:
    """Written rows as a Spark DataFrame.

    :param df: the DataFrame
    :param observed: what the write of these rows observed (facts then come from it, not from queries)
    """

    def __init__(self, df: Any, observed: WriteFacts | None = None) -> None:
        self.df = df
        self.observed = observed
        self._keys: dict[tuple[str, ...], tuple[int, int, int]] = {}

    def summary(self, prediction: str, value: str | None, classifier: bool) -> Summary:
        o = self.observed
        if o is not None and (o.prediction, o.value, o.classifier) == (prediction, value, classifier):
            return o.summary()
        return summary_from(self.df.agg(*summary_aggregates(prediction, value, classifier)).first(), value)

    def key_counts(self, keys: list[str]) -> tuple[int, int, int]:
        """``(rows, rows with a null key, distinct non-null keys)``: one aggregation over the written keys
        (cached). With an observed write, the rows on disk must equal the rows written.

        :raises JobError: the written files hold another number of rows than the write produced
        """
        from pyspark.sql import functions as F

        if tuple(keys) not in self._keys:
            cols = [quote(k) for k in keys]
            any_null = reduce(lambda a, b: a | b, [F.col(c).isNull() for c in cols])
            groups = self.df.select(*cols).groupBy(*cols).count()
            row = groups.agg(F.sum("count").alias("rows"),
                             F.sum(F.when(any_null, F.col("count"))).alias("null_keys"),
                             F.count(F.when(~any_null, F.lit(1))).alias("distinct")).first()
            counts = (int(row["rows"] or 0), int(row["null_keys"] or 0), int(row["distinct"] or 0))
            if self.observed is not None and counts[0] != int(self.observed.metrics["rows"]):
                raise JobError(f"the written version folder holds {counts[0]} rows but the write produced "
                               f"{self.observed.metrics['rows']}")
            self._keys[tuple(keys)] = counts
        return self._keys[tuple(keys)]

    def distinct_keys(self, keys: list[str]) -> int:
        return self.key_counts(keys)[2]

    def null_keys(self, keys: list[str]) -> int:
        return self.key_counts(keys)[1]

    def value_counts(self, column: str, limit: int | None = None) -> dict[str, int]:
        from pyspark.sql import functions as F

        o = self.observed
        if o is not None and column == o.prediction and (observed := o.class_counts()) is not None:
            return dict(list(observed.items())[:limit]) if limit else observed
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
