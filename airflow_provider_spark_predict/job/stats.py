"""Facts about what was actually written (re-read from storage), and the previous partition for drift."""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_spark_predict.checks.psi import psi
from airflow_provider_spark_predict.job.reader import partition_predicate, quote
from airflow_provider_spark_predict.job.writer import VERSIONS_DIR
from airflow_provider_spark_predict.spec import TargetSpec

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
NUM_SCORE_BINS = 10
MAX_CLASSES_FOR_DISTRIBUTION = 1000


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def written_stats(df: Any, keys: list[str], prediction: str, score: str | None, classifier: bool) -> dict[str, Any]:
    """Compute rows, duplicate keys, null predictions, class counts and the score summary of ``df``.

    :param df: the written rows, re-read from storage
    :param keys: key columns
    :param prediction: prediction column
    :param score: score column (or ``None``)
    :param classifier: whether predictions are classes (class counts) or values
    """
    from pyspark.sql import functions as F

    pred = F.col(quote(prediction))
    null_pred = pred.isNull() | (F.isnan(pred) if not classifier else F.lit(False))
    aggs = [
        F.count(F.lit(1)).alias("rows"),
        F.sum(null_pred.cast("long")).alias("nulls"),
    ]
    value_col = F.col(quote(score)) if score else (pred if not classifier else None)
    if value_col is not None:
        finite = F.when(~F.isnan(value_col), value_col)
        aggs += [
            F.min(finite).alias("min"),
            F.avg(finite).alias("mean"),
            F.max(finite).alias("max"),
            F.percentile_approx(finite, list(QUANTILES), 10000).alias("q"),
        ]
    row = df.agg(*aggs).first()
    rows = int(row["rows"])
    distinct = df.select(*[quote(k) for k in keys]).distinct().count() if rows else 0
    out: dict[str, Any] = {
        "rows_out": rows,
        "duplicate_keys": rows - distinct,
        "null_predictions": int(row["nulls"] or 0),
    }
    if value_col is not None:
        q = row["q"] or [None] * len(QUANTILES)
        out["score_summary"] = {
            "min": _finite(row["min"]),
            "mean": _finite(row["mean"]),
            "max": _finite(row["max"]),
            **{f"p{int(p * 100)}": _finite(v) for p, v in zip(QUANTILES, q, strict=True)},
        }
    if classifier:
        counts = df.groupBy(pred.alias("c")).count().limit(MAX_CLASSES_FOR_DISTRIBUTION + 1).collect()
        out["class_counts"] = {str(r["c"]): int(r["count"]) for r in sorted(counts, key=lambda r: str(r["c"]))}
    return out


def previous_partition(spark: Any, target: TargetSpec, fs: Any) -> dict[str, str] | None:
    """The newest existing partition of the output before this one (by partition value order)."""
    current = tuple(target.partition.values())
    names = list(target.partition)
    candidates: list[tuple[str, ...]] = []
    if target.table:
        if not spark.catalog.tableExists(target.table):
            return None
        for r in spark.sql(f"SHOW PARTITIONS {target.table}").collect():
            kv = dict(p.split("=", 1) for p in r[0].split("/"))
            candidates.append(tuple(kv.get(n, "") for n in names))
    else:
        assert target.path
        if len(names) != 1:
            return None
        for d in fs.list_dirs(target.path):
            if d.startswith(f"{names[0]}=") and d != VERSIONS_DIR:
                candidates.append((d.split("=", 1)[1],))
    older = sorted(c for c in candidates if c < current)
    return dict(zip(names, older[-1], strict=True)) if older else None


def read_partition(spark: Any, target: TargetSpec, partition: dict[str, str]) -> Any:
    """Read one published partition of the output."""
    if target.table:
        return spark.table(target.table).where(partition_predicate(partition))
    assert target.path
    sub = "/".join(f"{k}={v}" for k, v in partition.items())
    return spark.read.parquet(f"{target.path.rstrip('/')}/{sub}")


def drift(
    spark: Any, new_df: Any, prev_df: Any, prediction: str, score: str | None, classifier: bool
) -> dict[str, Any]:
    """PSI of the new partition against the previous one.

    Classifiers compare the distribution of predicted classes. Regressors compare the score in
    ``NUM_SCORE_BINS`` bins whose edges are the previous partition's deciles.
    """
    from pyspark.sql import functions as F

    if classifier:
        col = F.col(quote(prediction)).cast("string")
        new = {str(r[0]): r[1] for r in new_df.groupBy(col).count().collect()}
        old = {str(r[0]): r[1] for r in prev_df.groupBy(col).count().collect()}
        basis = f"class distribution of {prediction}"
    else:
        name = score or prediction
        c = F.col(quote(name))
        probs = [i / NUM_SCORE_BINS for i in range(1, NUM_SCORE_BINS)]
        edges = prev_df.where(~F.isnan(c)).agg(F.percentile_approx(c, probs, 10000)).first()[0] or []
        edges = sorted(set(float(e) for e in edges))

        def binned(df: Any) -> dict[str, int]:
            expr = F.lit(0)
            for e in edges:
                expr = expr + F.when(c > F.lit(e), 1).otherwise(0)
            return {str(r[0]): r[1] for r in df.where(~F.isnan(c)).groupBy(expr.alias("b")).count().collect()}

        new, old = binned(new_df), binned(prev_df)
        basis = f"{name} in {len(edges) + 1} bins at the previous partition's deciles"
    if not new or not old:
        return {"psi": None, "psi_basis": basis}
    return {"psi": psi(old, new), "psi_basis": basis, "previous_distribution": old}
