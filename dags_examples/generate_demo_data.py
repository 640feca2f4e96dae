"""Generate the demo's synthetic input table and model (deterministic).

Creates, under the embedded data folder (``$SPARK_PREDICT_HOME``):

* ``demo.user_features``: Hive table partitioned by ``dt``, columns ``pin string`` + 100 float features
  ``f000..f099`` with about 6 % nulls, one partition per ``--dates`` value;
* ``models/user_class_xgb.json``: a 17-class XGBoost ``multi:softprob`` booster over those features.

Usage: ``python dags_examples/generate_demo_data.py --dates 2026-01-01 2026-01-02 --rows 20000``
"""

from __future__ import annotations

import argparse
import os

import numpy as np

N_FEATURES = 100
N_CLASSES = 17
FEATURES = [f"f{i:03d}" for i in range(N_FEATURES)]


def make_features(rows: int, seed: int, null_share: float = 0.06) -> tuple[list[str], np.ndarray]:
    """Return pins and a float32 feature matrix with NaN for nulls."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES)).astype(np.float32)
    x[rng.random(size=x.shape) < null_share] = np.nan
    pins = [f"u{seed:04d}{i:09d}" for i in range(rows)]
    return pins, x


def train_model(path: str, seed: int = 7, rows: int = 5000, rounds: int = 20, depth: int = 4) -> None:
    """Train a small 17-class XGBoost booster on synthetic labels and save it as JSON."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES)).astype(np.float32)
    weights = rng.normal(size=(N_FEATURES, N_CLASSES))
    y = np.argmax(x @ weights + rng.normal(scale=2.0, size=(rows, N_CLASSES)), axis=1)
    x[rng.random(size=x.shape) < 0.06] = np.nan
    dtrain = xgb.DMatrix(x, label=y, feature_names=FEATURES)
    params = {"objective": "multi:softprob", "num_class": N_CLASSES, "max_depth": depth, "eta": 0.3,
              "nthread": 2, "seed": seed}
    booster = xgb.train(params, dtrain, num_boost_round=rounds)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    booster.save_model(path)


def write_partitions(spark, table: str, dates: list[str], rows: int) -> None:
    """(Re)write one partition of ``table`` per date."""
    import pandas as pd

    db = table.split(".")[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    cols = ", ".join(f"{f} FLOAT" for f in FEATURES)
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table} (pin STRING, {cols}) PARTITIONED BY (dt STRING) STORED AS PARQUET")
    for i, dt in enumerate(dates):
        pins, x = make_features(rows, seed=1000 + i)
        pdf = pd.DataFrame(x, columns=FEATURES)
        pdf.insert(0, "pin", pins)
        spark.createDataFrame(pdf).createOrReplaceTempView("demo_rows")
        spark.sql(f"INSERT OVERWRITE TABLE {table} PARTITION (dt='{dt}') SELECT * FROM demo_rows")
        print(f"wrote {rows} rows to {table} dt={dt}", flush=True)


def local_spark(app: str = "spark-predict-demo-data"):
    """A local[2] SparkSession on the embedded Hive metastore service of the data folder (started if needed;
    it can run while scoring jobs use the same tables)."""
    from pyspark.sql import SparkSession

    from airflow_provider_spark_predict.embedded import hive_conf

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master("local[2]").appName(app).config("spark.ui.enabled", "false")
    for k, v in hive_conf().items():
        builder = builder.config(k, v)
    return builder.enableHiveSupport().getOrCreate()


def main() -> None:
    from airflow_provider_spark_predict.embedded import data_home

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dates", nargs="+", default=["2026-01-01", "2026-01-02"])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--table", default="demo.user_features")
    args = parser.parse_args()
    model = os.path.join(data_home(), "models", "user_class_xgb.json")
    train_model(model)
    print(f"model written to {model}", flush=True)
    spark = local_spark()
    try:
        write_partitions(spark, args.table, args.dates, args.rows)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
