"""Facts of written rows observed during the write (Spark ``observe``) against the same facts computed by
queries over the re-read rows, on a real local[2] SparkSession (no mocks): they must be equal, the class
counts fall back to a query when a prediction is outside the counted classes, and a version folder that
lost rows after the write is an error."""

from __future__ import annotations

import glob
import os
import shutil

import pytest

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.run.facts import written_facts
from airflow_provider_spark_predict.spec import OutputsSpec

pytestmark = pytest.mark.spark

CLASSES = [0, 1, 2]


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    if shutil.which("java") is None:
        pytest.skip("no java")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("test-write-facts")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate())
    yield session
    session.stop()


def scored(spark, rows: int = 5000, bad_class: bool = False):  # type: ignore[no-untyped-def]
    """Scored rows: keys with 3 duplicates and 2 nulls, a few null predictions, NaN scores."""
    from pyspark.sql import functions as F

    k = F.when(F.col("id") % 997 == 5, F.lit(None)).otherwise(F.concat(F.lit("k"), (F.col("id") % (rows - 3)).cast("string")))
    pred = F.when(F.col("id") % 101 == 7, F.lit(None)).otherwise((F.col("id") % 3).cast("int"))
    if bad_class:
        pred = F.when(F.col("id") == 11, F.lit(9)).otherwise(pred)
    score = F.when(F.col("id") % 211 == 3, F.lit(float("nan"))).otherwise(F.col("id") / F.lit(rows))
    return spark.range(rows).repartition(4).select(k.alias("pin"), pred.alias("prediction"), score.alias("score"))


def write(df, path: str, observe: bool):  # type: ignore[no-untyped-def]
    from airflow_provider_spark_predict.job import stats

    observed = None
    if observe:
        df, observed = stats.observe_write(df, "prediction", "score", True, CLASSES)
    df.write.mode("overwrite").parquet(path)
    return observed


def test_observed_facts_equal_queried_facts(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_spark_predict.job.stats import SparkFrame

    path = str(tmp_path / "v1")
    observed = write(scored(spark), path, observe=True)
    assert observed is not None and observed.classes == CLASSES
    from_write = written_facts(SparkFrame(spark.read.parquet(path), observed), ["pin"], OutputsSpec(), True)
    by_query = written_facts(SparkFrame(spark.read.parquet(path)), ["pin"], OutputsSpec(), True)
    # the mean is a sum over other partitions (the write's, the re-read's): equal up to summation order
    assert from_write["score_summary"].pop("mean") == pytest.approx(by_query["score_summary"].pop("mean"), rel=1e-12)
    assert from_write == by_query
    assert from_write["rows_out"] == 5000 and from_write["null_keys"] == 6 and from_write["duplicate_keys"] == 3
    assert from_write["class_counts"]["None"] == 50 and sum(from_write["class_counts"].values()) == 5000
    assert from_write["score_summary"]["min"] == 0.0


def test_class_outside_the_counted_ones_is_counted_by_query(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_spark_predict.job.stats import SparkFrame

    path = str(tmp_path / "v2")
    observed = write(scored(spark, bad_class=True), path, observe=True)
    assert observed is not None and observed.class_counts() is None
    counts = SparkFrame(spark.read.parquet(path), observed).value_counts("prediction")
    assert counts["9"] == 1 and sum(counts.values()) == 5000


def test_rows_lost_after_the_write_are_an_error(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_spark_predict.job.stats import SparkFrame

    path = str(tmp_path / "v3")
    observed = write(scored(spark), path, observe=True)
    files = sorted(glob.glob(os.path.join(path, "part-*.parquet")))
    assert len(files) > 1
    os.remove(files[0])
    with pytest.raises(JobError, match="holds .* rows but the write produced 5000"):
        SparkFrame(spark.read.parquet(path), observed).null_keys(["pin"])
