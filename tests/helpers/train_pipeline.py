"""Train and save a small Spark ML PipelineModel on a parquet folder; save Spark's own transform output.

argv: <input parquet folder> <model folder> <expected output parquet folder>
"""

from __future__ import annotations

import os
import sys


def train(spark, src: str, model_dir: str, expected_dir: str) -> None:  # type: ignore[no-untyped-def]
    """Fit imputer + assembler + logistic regression on ``src``; save the model and its own transform.

    :param spark: a live SparkSession (not stopped)
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import Imputer, VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    cols = [f"f{i:03d}" for i in range(10)]
    df = spark.read.parquet(src)
    df = df.withColumn(
        "label",
        (F.coalesce(F.col("f000"), F.lit(0.0)) + F.coalesce(F.col("f001"), F.lit(0.0)) > 0).cast("double"),
    )
    imputer = Imputer(inputCols=cols, outputCols=[f"{c}_imp" for c in cols])
    assembler = VectorAssembler(inputCols=[f"{c}_imp" for c in cols], outputCol="features")
    lr = LogisticRegression(maxIter=20, regParam=0.01)
    model = Pipeline(stages=[imputer, assembler, lr]).fit(df)
    model.write().overwrite().save(model_dir)
    out = model.transform(df).select(
        "pin",
        F.col("prediction").cast("int").alias("prediction"),
        F.array_max(vector_to_array("probability")).alias("score"),
    )
    out.write.mode("overwrite").parquet(expected_dir)


def main() -> None:
    from pyspark.sql import SparkSession

    src, model_dir, expected_dir = sys.argv[1:4]
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("train-pipeline")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        train(spark, src, model_dir, expected_dir)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
