"""Latency of the JVM-free scorer against Spark's ``PipelineModel.transform`` on the same pipelines.

Run (about 2-3 minutes on 2 cores)::

    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_sparkml.py

Two pipelines are trained on synthetic data with Spark (local[2]) and saved:

* ``rf``: StringIndexer (2 columns) + OneHotEncoder + Imputer + VectorAssembler + StandardScaler +
  RandomForestClassifier (30 trees, depth 8);
* ``gbt_lr``: the same features + GBTClassifier (30 iterations, depth 4) + LogisticRegression.

For one row and for 1000 rows it times ``LocalPipelineModel.predict_rows`` (list of dicts),
``LocalPipelineModel.transform`` (pandas) and Spark's ``transform(df).collect()`` on a cached input
DataFrame (DataFrame creation not counted), checks that the outputs agree (predictions and tree
outputs exactly, LR/GBT probabilities within 1e-14 relative), prints a markdown table and writes
``benchmarks/results/local_pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "local_pipeline.json"
INF = float("inf")


def make_data(n: int, seed: int) -> pd.DataFrame:
    """Synthetic customer-like rows with nulls, NaN and unseen categories.

    :param n: rows.
    :param seed: random seed.
    :return: the frame (nullable dtypes, so nulls and NaN stay distinct).
    """
    rng = np.random.default_rng(seed)
    plan = rng.choice(["free", "basic", "pro", "team", "enterprise"], n)
    region = rng.choice(["eu", "us", "apac", "latam"], n)
    age = rng.normal(40, 12, n)
    spend = rng.gamma(2.0, 30.0, n)
    visits = rng.poisson(5, n).astype(float)
    tenure = rng.integers(0, 120, n).astype("int64")
    score = (
        0.03 * (age - 40)
        + 0.01 * spend
        - 0.2 * visits
        + np.where(plan == "pro", 1.0, 0.0)
        + rng.normal(0, 1, n)
    )
    frame = pd.DataFrame(
        {
            "plan": pd.array(plan, dtype="string"),
            "region": pd.array(region, dtype="string"),
            "age": pd.array(age, dtype="Float64"),
            "spend": pd.array(spend, dtype="Float64"),
            "visits": pd.array(visits, dtype="Float64"),
            "tenure": pd.array(tenure, dtype="Int64"),
            "label": (score > 0.5).astype(float),
        }
    )
    if seed != 0:  # scoring data: nulls, NaN and unseen categories
        frame.loc[::17, "age"] = pd.NA
        frame.loc[::23, "tenure"] = pd.NA
        frame.loc[::29, "plan"] = "legacy"
        frame.loc[::31, "region"] = pd.NA
    return frame


def build_pipelines(spark: Any) -> dict[str, Any]:
    """The two benchmark pipelines (unfitted).

    :param spark: session (unused, keeps pyspark imports local).
    :return: name -> Pipeline.
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
    from pyspark.ml.feature import Imputer, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler

    def features() -> list[Any]:
        return [
            StringIndexer(
                inputCols=["plan", "region"], outputCols=["plan_idx", "region_idx"], handleInvalid="keep"
            ),
            OneHotEncoder(inputCols=["plan_idx", "region_idx"], outputCols=["plan_ohe", "region_ohe"]),
            Imputer(inputCols=["age", "tenure"], outputCols=["age_imp", "tenure_imp"], strategy="median"),
            VectorAssembler(
                inputCols=["plan_ohe", "region_ohe", "age_imp", "spend", "visits", "tenure_imp"],
                outputCol="raw_features",
                handleInvalid="keep",
            ),
            StandardScaler(inputCol="raw_features", outputCol="features", withMean=True),
        ]

    return {
        "rf": Pipeline(stages=[*features(), RandomForestClassifier(numTrees=30, maxDepth=8, seed=1)]),
        "gbt_lr": Pipeline(
            stages=[
                *features(),
                GBTClassifier(maxIter=30, maxDepth=4, seed=2, predictionCol="gbt_pred")
                .setRawPredictionCol("gbt_raw")
                .setProbabilityCol("gbt_prob"),
                LogisticRegression(maxIter=50, regParam=0.01),
            ]
        ),
    }


def to_spark(spark: Any, pdf: pd.DataFrame, path: Path) -> Any:
    """Hand a frame to Spark through parquet, so nulls and NaN stay distinct and types exact.

    :param spark: session.
    :param pdf: frame.
    :param path: parquet file to write.
    :return: the Spark DataFrame.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(pdf, preserve_index=False), path)
    return spark.read.parquet(str(path))


def timeit(fn: Callable[[], Any], repeat: int, warmup: int) -> dict[str, float]:
    """p50/p99/mean latency in milliseconds.

    :param fn: call to time.
    :param repeat: timed calls.
    :param warmup: untimed calls first.
    :return: stats.
    """
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    samples.sort()
    return {
        "p50_ms": samples[len(samples) // 2],
        "p99_ms": samples[min(len(samples) - 1, math.ceil(len(samples) * 0.99) - 1)],
        "mean_ms": statistics.fmean(samples),
        "n": repeat,
    }


def _as_list(v: Any) -> Any:
    if hasattr(v, "toArray"):
        return [float(x) for x in v.toArray()]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= 1e-15 + 1e-14 * max(abs(a), abs(b))
    return a == b


def check_same(
    spark_rows: list[Any], local_rows: list[dict[str, Any]], exact: list[str], approx: list[str]
) -> tuple[int, int]:
    """Compare Spark's collected rows with local rows.

    :param spark_rows: collected ``Row`` objects.
    :param local_rows: local output dicts.
    :param exact: columns compared bit for bit.
    :param approx: columns compared within 1e-14 relative.
    :return: (bit-exact cells, cells checked).
    :raises AssertionError: on a mismatch.
    """
    assert len(spark_rows) == len(local_rows), (len(spark_rows), len(local_rows))
    bit_exact = checked = 0
    for s, loc in zip(spark_rows, local_rows, strict=True):
        sd = s.asDict()
        for c in exact + approx:
            a, b = _as_list(sd[c]), _as_list(loc[c])
            checked += 1
            if c in exact:
                assert a == b, (c, a, b)
            else:
                assert _close(a, b), (c, a, b)
            bit_exact += int(repr(a) == repr(b))
    return bit_exact, checked


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description="local scorer vs Spark transform latency")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.ml import PipelineModel
    from pyspark.sql import SparkSession

    from airflow_provider_spark_predict.sparkml import load_pipeline

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("bench-local-pipeline")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    reps_spark_1, reps_spark_1k = (10, 3) if args.quick else (50, 10)
    reps_local_1, reps_local_1k = (500, 5) if args.quick else (5000, 30)
    tmp = Path(tempfile.mkdtemp(prefix="bench_local_"))
    results: dict[str, Any] = {
        "spark_version": spark.version,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "spark_master": "local[2]",
        "load_average_at_start": list(os.getloadavg()),
        "pipelines": {},
    }
    try:
        train = to_spark(spark, make_data(3000, 0), tmp / "train.parquet")
        score_pdf = make_data(1000, 1).drop(columns=["label"])
        score_df = to_spark(spark, score_pdf, tmp / "score.parquet").cache()
        one_df = to_spark(spark, score_pdf.head(1), tmp / "one.parquet").cache()
        score_df.count()
        one_df.count()
        rows = score_pdf.to_dict("records")
        rows = [{k: (None if v is pd.NA else v) for k, v in r.items()} for r in rows]
        for name, pipeline in build_pipelines(spark).items():
            path = tmp / name
            pipeline.fit(train).write().overwrite().save(str(path))
            spark_model = PipelineModel.load(str(path))
            local = load_pipeline(path, input_types={"tenure": "long"})
            exact = ["features", "prediction"] + (
                ["rawPrediction", "probability"] if name == "rf" else ["gbt_pred"]
            )
            approx = [] if name == "rf" else ["gbt_raw", "gbt_prob", "rawPrediction", "probability"]
            # correctness first
            spark_1k = spark_model.transform(score_df).collect()
            ex, chk = check_same(spark_1k, local.predict_rows(rows), exact, approx)
            frame = local.transform(score_pdf)
            frame_rows = [dict(zip(frame.columns, t, strict=True)) for t in frame.itertuples(index=False)]
            check_same(spark_1k, frame_rows, exact, approx)
            one = rows[:1]
            timings = {
                "predict_rows_1": timeit(
                    lambda one=one, local=local: local.predict_rows(one), reps_local_1, 200
                ),
                "transform_pandas_1": timeit(
                    lambda local=local: local.transform(score_pdf.head(1)), max(200, reps_local_1 // 10), 20
                ),
                "spark_transform_collect_1": timeit(
                    lambda m=spark_model: m.transform(one_df).collect(), reps_spark_1, 3
                ),
                "predict_rows_1000": timeit(lambda local=local: local.predict_rows(rows), reps_local_1k, 2),
                "transform_pandas_1000": timeit(
                    lambda local=local: local.transform(score_pdf), reps_local_1k, 2
                ),
                "spark_transform_collect_1000": timeit(
                    lambda m=spark_model: m.transform(score_df).collect(), reps_spark_1k, 2
                ),
            }
            results["pipelines"][name] = {
                "stages": [type(s).__name__ for s in local.stages],
                "timings": timings,
                "speedup_p50_1_row": timings["spark_transform_collect_1"]["p50_ms"]
                / timings["predict_rows_1"]["p50_ms"],
                "speedup_p50_1000_rows": timings["spark_transform_collect_1000"]["p50_ms"]
                / timings["predict_rows_1000"]["p50_ms"],
                "cells_checked": chk,
                "cells_bit_exact": ex,
            }
    finally:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "| pipeline | rows | local predict_rows p50 / p99 (ms) | local transform (pandas) p50 / p99 (ms) "
        "| Spark transform+collect p50 / p99 (ms) | speedup (p50, predict_rows) |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in results["pipelines"].items():
        t = res["timings"]
        for n, key in ((1, "1"), (1000, "1000")):
            pr, tp, sp = (
                t[f"predict_rows_{key}"],
                t[f"transform_pandas_{key}"],
                t[f"spark_transform_collect_{key}"],
            )
            lines.append(
                f"| {name} | {n} | {pr['p50_ms']:.4f} / {pr['p99_ms']:.4f} | {tp['p50_ms']:.3f} / "
                f"{tp['p99_ms']:.3f} | {sp['p50_ms']:.1f} / {sp['p99_ms']:.1f} | "
                f"{sp['p50_ms'] / pr['p50_ms']:.0f}x |"
            )
        lines.append(
            f"<!-- {name}: {res['cells_bit_exact']}/{res['cells_checked']} output cells bit-exact -->"
        )
    results["load_average_at_end"] = list(os.getloadavg())
    lines.append(
        f"<!-- 1-min load average: {results['load_average_at_start'][0]:.2f} at start, "
        f"{results['load_average_at_end'][0]:.2f} at end ({os.cpu_count()} cpus) -->"
    )
    table = "\n".join(lines)
    results["markdown"] = table
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
