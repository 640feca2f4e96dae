"""The ``pyarrow`` reader on ORC inputs: a Hive table ``STORED AS ORC`` (files written by Spark) and an ORC
path partition (a file of many stripes written by pyarrow), on the tests' shared local[2] Hive session.

- every row our pyarrow read gives equals the row Spark's own ORC reader gives (ints, bigints, float32,
  doubles, booleans, strings, nulls in each), and every row is read exactly once;
- a multi-stripe file cut into several splits reads each stripe exactly once (ORC's start-offset rule);
- through the operator (``in_session``: only spark-submit is replaced), ``reader="auto"`` picks pyarrow for
  both inputs, with a matrix model (XGBoost) and a DataFrame model (sklearn pipeline with a string column),
  and writes the same rows as ``reader="spark"``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.orc as po
import pytest

from airflow_provider_spark_predict.job import arrow_reader
from airflow_provider_spark_predict.job.orc_stripes import stripes_in_range, stripes_of_tail
from tests.integration.dag_utils import read_folder

pytestmark = [pytest.mark.spark]

ROWS = 600
DT = {"dt": "2026-01-01"}
TABLE = "orc_inputs.features"
KEYS = ["pin"]
COLUMNS = ["i", "l", "f", "d", "b", "s"]
MATRIX_FEATURES = ["i", "l", "f", "d", "b"]
FRAME_FEATURES = ["f", "d", "s"]
CITIES = ["beijing", "shanghai", "shenzhen"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Keys + every feature type, each feature with nulls; float32 values one ulp apart."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(n).astype(np.float32)
    f[::7] = np.nextafter(np.float32(0.5), np.float32(1))
    df = pd.DataFrame({
        "pin": [f"o{seed}-{k:05d}" for k in range(n)],
        "i": pd.array(rng.integers(-1000, 1000, n), dtype="Int32"),
        "l": pd.array(rng.integers(-(2**40), 2**40, n), dtype="Int64"),
        "f": pd.array(f, dtype="Float32"),
        "d": pd.array(rng.standard_normal(n) * 1e6, dtype="Float64"),
        "b": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        "s": pd.array(rng.choice(CITIES, n), dtype="string"),
    })
    for j, c in enumerate(COLUMNS):
        df.loc[rng.random(n) < 0.05 + 0.01 * j, c] = None
    return df


def _arrow(df: pd.DataFrame) -> pa.Table:
    types = {"pin": pa.string(), "i": pa.int32(), "l": pa.int64(), "f": pa.float32(), "d": pa.float64(),
             "b": pa.bool_(), "s": pa.string()}
    return pa.Table.from_pandas(df, schema=pa.schema(list(types.items())), preserve_index=False)


@pytest.fixture(scope="module")
def world(shared_spark, tmp_path_factory) -> dict[str, Any]:
    import joblib
    import xgboost as xgb
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    base = tmp_path_factory.mktemp("orc")
    spark = shared_spark
    table_df, path_df = _frame(ROWS, 1), _frame(ROWS, 2)
    # Hive table STORED AS ORC, three files written by Spark's ORC writer
    spark.sql("CREATE DATABASE IF NOT EXISTS orc_inputs")
    spark.sql(f"DROP TABLE IF EXISTS {TABLE}")
    spark.sql(f"CREATE TABLE {TABLE} (pin STRING, i INT, l BIGINT, f FLOAT, d DOUBLE, b BOOLEAN, s STRING) "
              "PARTITIONED BY (dt STRING) STORED AS ORC")
    spark.createDataFrame(_arrow(table_df)).repartition(3).createOrReplaceTempView("orc_rows")
    spark.sql(f"INSERT OVERWRITE TABLE {TABLE} PARTITION (dt = '2026-01-01') "
              "SELECT pin, i, l, f, d, b, s FROM orc_rows")
    # ORC path partition: one pyarrow-written file of many stripes (uncompressed: small stripes)
    folder = base / "path" / "dt=2026-01-01"
    folder.mkdir(parents=True)
    po.write_table(_arrow(path_df), str(folder / "part-0.orc"), stripe_size=4096, batch_size=50,
                   compression="uncompressed")
    assert po.ORCFile(str(folder / "part-0.orc")).nstripes >= 6
    # models: a matrix model on the numeric/boolean columns, a DataFrame model with the string column
    train = _frame(800, 3)
    y = ((train["f"].fillna(0).astype(float) > 0).astype(int) + (train["s"] == "shanghai").fillna(False).astype(int)).to_numpy()
    x = train[MATRIX_FEATURES].astype("float64").to_numpy(na_value=np.nan)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(x, label=y, feature_names=MATRIX_FEATURES), num_boost_round=6)
    booster.save_model(str(base / "booster.json"))
    frame_train = train[FRAME_FEATURES].astype({"f": "float64", "d": "float64", "s": object})
    frame_train["s"] = frame_train["s"].where(frame_train["s"].notna(), None)
    pipe = Pipeline([
        ("prep", ColumnTransformer([("num", Pipeline([("fill", SimpleImputer()), ("scale", StandardScaler())]),
                                     ["f", "d"]),
                                    ("city", OneHotEncoder(handle_unknown="ignore"), ["s"])])),
        ("clf", LogisticRegression(max_iter=300)),
    ]).fit(frame_train.fillna({"s": "none"}), y)
    joblib.dump(pipe, str(base / "pipeline.pkl"))
    return {"base": base, "path": str(base / "path"), "file": str(folder / "part-0.orc"),
            "matrix": str(base / "booster.json"), "frame": str(base / "pipeline.pkl")}


def _spec(**input_spec: Any) -> Any:
    from airflow_provider_spark_predict.spec import ScoringSpec

    return ScoringSpec.from_dict({
        "input": {**input_spec, "partition": dict(DT)}, "model": {"uri": "file:/unused.json", "flavor": "xgboost"},
        "output": {"path": "file:/unused", "partition": dict(DT)}, "keys": KEYS, "features": COLUMNS,
    }).validate()


@pytest.mark.parametrize("source", ["table", "path"])
def test_pyarrow_reads_every_orc_row_once_with_sparks_values(source, world, shared_spark) -> None:
    from airflow_provider_spark_predict.job import reader, spark_engine

    spark = shared_spark
    spec = _spec(table=TABLE) if source == "table" else _spec(path="file://" + world["path"], format="orc")
    df = reader.read_input(spark, spec.input)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8k")  # several splits per file
    try:
        choice = spark_engine.choose_reader(spark, spec, df, COLUMNS, "frame")
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert choice.facts["reader"] == "pyarrow" and choice.file_format == "orc", choice.facts
    assert choice.rows == ROWS and len(choice.tasks) > 1
    if source == "table":
        assert len(choice.files) == 3 and all(f.endswith(".orc") for f in choice.files)
    batches = [b for task in choice.tasks for split in task
               for b in arrow_reader.read_batches(choice.files[split.file], KEYS, COLUMNS, 64,
                                                  split.start, split.length, "orc")]
    ours = pa.Table.from_batches(batches).rename_columns([*KEYS, *COLUMNS])
    assert ours.num_rows == ROWS and len(set(ours.column("pin").to_pylist())) == ROWS  # each row once
    theirs = df.select(*KEYS, *COLUMNS).toArrow()
    ours, theirs = ours.sort_by("pin"), theirs.sort_by("pin")
    for c in [*KEYS, *COLUMNS]:
        assert ours.column(c).type == theirs.column(c).type, c
        assert ours.column(c).to_pylist() == theirs.column(c).to_pylist(), c
        assert ours.column(c).null_count == theirs.column(c).null_count > (0 if c != "pin" else -1), c


def test_a_multi_stripe_file_split_across_tasks_reads_each_stripe_once(world) -> None:
    path = world["file"]
    orc = po.ORCFile(path)
    stripes = stripes_of_tail(orc.reader.serialized_file_tail())
    assert len(stripes) == orc.nstripes >= 6 and sum(s.rows for s in stripes) == orc.nrows == ROWS
    assert [s.offset for s in stripes] == sorted(s.offset for s in stripes)
    size = os.path.getsize(path)
    tasks = arrow_reader.plan_tasks([size], max_partition_bytes=size // 4, open_cost=0, parallelism=2)
    assert len(tasks) >= 4
    picked = [i for t in tasks for s in t for i in stripes_in_range(stripes, s.start, s.length)]
    assert sorted(picked) == list(range(len(stripes)))  # every stripe exactly once
    per_split = [[b.column(0) for b in arrow_reader.read_batches(path, KEYS, ["d"], 1000, s.start, s.length, "orc")]
                 for t in tasks for s in t]
    assert sum(1 for chunks in per_split if chunks) >= 3  # the rows really are spread over the splits
    pins = [p for chunks in per_split for c in chunks for p in c.to_pylist()]
    assert sorted(pins) == sorted(po.read_table(path, columns=["pin"]).column("pin").to_pylist())
    assert len(pins) == len(set(pins)) == ROWS


def _score(world: dict[str, Any], model: str, out: str, source: str, **kwargs: Any) -> dict[str, Any]:
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    where = ({"input_table": TABLE} if source == "table"
             else {"input_path": "file://" + world["path"], "input_format": "orc"})
    return SparkPredictOperator(
        task_id="score", model=world[model], input_partition=DT, keys=KEYS, output_path="file://" + out,
        output_partition=DT, engine="spark", **where, **kwargs,
    ).execute({"ti": None})


@pytest.mark.parametrize(("model", "source", "features"), [("matrix", "table", MATRIX_FEATURES),
                                                           ("frame", "path", FRAME_FEATURES)])
def test_operator_scores_orc_with_pyarrow_like_sparks_reader(model, source, features, world, in_session,
                                                             shared_spark, tmp_path) -> None:
    got, reports = {}, {}
    shared_spark.conf.set("spark.sql.files.maxPartitionBytes", "16k")  # the path's stripes over several tasks
    try:
        for reader in ("auto", "spark"):
            out = str(tmp_path / reader)
            report = _score(world, model, out, source, reader=reader, features=features)
            assert report["published"] and report["rows_in"] == report["rows_out"] == ROWS, report.get("error")
            assert report["strategy"]["reader"] == ("pyarrow" if reader == "auto" else "spark"), report["strategy"]
            reports[reader] = report
            got[reader] = read_folder(os.path.join(out, "dt=2026-01-01")).sort_values("pin").reset_index(drop=True)
    finally:
        shared_spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert reports["auto"]["model"]["input_kind"] == model and reports["auto"]["strategy"]["format"] == "orc"
    if source == "path":
        assert reports["auto"]["strategy"]["tasks"] > 1
    pd.testing.assert_frame_equal(got["auto"], got["spark"], check_exact=True)
    assert got["auto"]["pin"].is_unique and len(got["auto"]) == ROWS
