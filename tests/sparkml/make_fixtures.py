"""Train, save and transform small Spark ML pipelines: the parity fixtures of the JVM-free scorer.

Each fixture folder ``tests/fixtures/spark_ml/spark-<major.minor>/<name>/`` holds:

* ``model/``: the saved ``PipelineModel`` (``.crc`` files removed);
* ``input.parquet``: the rows scored (written by pyarrow, so doubles, NaN, -0.0 and nulls are exact);
* ``expected.parquet``: Spark's ``transform`` output of those rows (vectors in the VectorUDT struct
  layout), with a ``row_id`` column to match rows dropped by ``handleInvalid="skip"``.

Refusal fixtures (``refuse_*``) only hold ``model/``.

Regenerate both Spark versions (about one minute each on 2 cores)::

    # Spark 4.x, from the project venv
    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python tests/sparkml/make_fixtures.py

    # Spark 3.5, from a throwaway venv outside the repo
    python3 -m venv /tmp/venv35
    /tmp/venv35/bin/pip install "pyspark==3.5.*" "pandas<2.3" "numpy<2" "pyarrow<19"
    SPARK_LOCAL_IP=127.0.0.1 /tmp/venv35/bin/python tests/sparkml/make_fixtures.py

The version folder is chosen from the running Spark's version. ``--only NAME`` builds one fixture.
The functions here are also used by the ``spark``-marked test, which rebuilds pipelines into a
temporary folder.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "spark_ml"
INF = float("inf")

SCHEMA = pa.schema(
    [
        ("row_id", pa.int64()),
        ("cat1", pa.string()),
        ("cat2", pa.string()),
        ("num_cat", pa.float64()),
        ("n1", pa.int32()),
        ("n2", pa.int64()),
        ("x1", pa.float64()),
        ("x2", pa.float64()),
        ("x3", pa.float64()),
        ("x4", pa.float64()),
        ("x5", pa.float64()),
        ("x6", pa.float64()),
        ("const", pa.float64()),
        ("label", pa.float64()),
        ("label3", pa.float64()),
        ("species", pa.string()),
        ("y", pa.float64()),
    ]
)

CATS1 = ["a", "b", "c", "d"]
CATS2 = ["x", "y", "z"]
NUM_CATS = [1.0, 2.5, 1e10, 1e-5, 1e7, 0.001, 1e-4, 123456.789, 100.0]
SPECIES = ["setosa", "versicolor", "virginica"]


def make_train(n: int = 300, seed: int = 0) -> list[dict[str, Any]]:
    """Clean-ish training rows (nulls only where Imputer handles them).

    :param n: number of rows.
    :param seed: random seed.
    :return: rows as dicts following :data:`SCHEMA`.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        c1 = CATS1[int(rng.integers(0, 4))]
        c2 = CATS2[int(rng.integers(0, 3))]
        x1 = float(rng.normal())
        x2 = float(rng.normal() * 1.5)
        x3 = float(rng.uniform(-1, 3))
        x4 = float(rng.normal())
        x5 = float(rng.normal())
        x6 = float(rng.normal())
        n1 = int(rng.integers(0, 10))
        n2 = int(rng.integers(0, 20))
        score = x1 + 0.8 * x2 - 0.5 * x3 + (0.7 if c1 in ("a", "c") else -0.4) + rng.normal() * 0.7
        label = 1.0 if score > 0 else 0.0
        k = 0 if score < -0.7 else (1 if score < 0.9 else 2)
        rows.append(
            {
                "row_id": i,
                "cat1": c1,
                "cat2": c2,
                "num_cat": NUM_CATS[int(rng.integers(0, len(NUM_CATS)))],
                "n1": None if i % 17 == 0 else n1,
                "n2": -1 if i % 13 == 0 else n2,
                "x1": (float("nan") if i % 11 == 0 else (None if i % 19 == 0 else x1)),
                "x2": x2,
                "x3": x3,
                "x4": x4,
                "x5": x5,
                "x6": x6,
                "const": 5.0,
                "label": label,
                "label3": float(k),
                "species": SPECIES[k],
                "y": 2.0 * x2 - x3 + 0.5 * x4 + (1.0 if c1 == "b" else 0.0) + float(rng.normal() * 0.3),
            }
        )
    return rows


def make_test(n_random: int = 40, seed: int = 1) -> list[dict[str, Any]]:
    """Scoring rows: random ones plus edge cases (nulls, NaN, +-Inf, +-0.0, unseen categories).

    :param n_random: number of random rows before the edge cases.
    :param seed: random seed.
    :return: rows as dicts following :data:`SCHEMA`.
    """
    rows = [dict(r, label=None, label3=None, species=None, y=None) for r in make_train(n_random, seed)]
    for r in rows:
        if r["x1"] is not None and math.isnan(r["x1"]):
            r["x1"] = 0.25
    base = dict(rows[0])
    edge: list[dict[str, Any]] = [
        {"cat1": "zz"},
        {"cat1": None},
        {"cat2": "w", "cat1": "b"},
        {"num_cat": 3.0},
        {"num_cat": None},
        {"num_cat": 1e10},
        {"num_cat": 1e-5},
        {"n1": None},
        {"n1": 123},
        {"n2": -1},
        {"x1": float("nan")},
        {"x1": None},
        {"x2": -0.0},
        {"x2": 0.0},
        {"x2": -1.0},
        {"x2": 1.0},
        {"x2": INF},
        {"x2": -INF},
        {"x2": float("nan")},
        {"x2": None},
        {"x2": 5e-324},
        {"x2": -5e-324},
        {"x3": 0.5},
        {"x3": 2.0},
        {"x3": np.nextafter(0.5, -1.0)},
        {"x4": None},
        {"x4": float("nan")},
        {"x4": INF},
        {"x5": 1e300, "x6": -1e300},
        {"x5": -0.0, "x6": 0.0},
    ]
    for i, patch in enumerate(edge):
        rows.append(dict(base, **patch, row_id=1000 + i))
    return rows


def clean_rows(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Keep the rows whose ``columns`` are finite and non-null (for stages with handleInvalid=error).

    :param rows: rows to filter.
    :param columns: numeric columns that must be finite.
    :return: filtered rows.
    """
    out = []
    for r in rows:
        ok = all(r[c] is not None and math.isfinite(r[c]) for c in columns if c in r)
        if ok:
            out.append(r)
    return out


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """Write rows to one parquet file with :data:`SCHEMA`.

    :param rows: rows as dicts.
    :param path: file to write.
    """
    schema = pa.schema([f for f in SCHEMA if f.name in rows[0]])
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path)


def _tree_threshold_rows(
    model_dir: Path,
    stage_dir_part: str,
    feature_cols: list[str],
    base_rows: list[dict[str, Any]],
    start_id: int,
    limit: int = 12,
) -> list[dict[str, Any]]:
    """Rows whose features sit exactly at (and one ulp around) the split thresholds of a tree stage.

    :param model_dir: saved PipelineModel folder.
    :param stage_dir_part: substring of the stage folder name (e.g. ``RandomForestClassifier``).
    :param feature_cols: the assembler's input columns, in order (scalars only).
    :param base_rows: rows to copy the other columns from.
    :param start_id: first ``row_id`` to use.
    :param limit: maximum number of thresholds used.
    :return: new rows.
    """
    stage = next(p for p in (model_dir / "stages").iterdir() if stage_dir_part in p.name)
    table = pq.read_table(stage / "data")
    col = table.column("nodeData") if "nodeData" in table.column_names else None
    nodes = col.to_pylist() if col is not None else table.to_pylist()
    seen: list[tuple[int, float]] = []
    for node in nodes:
        split = node["split"]
        if split["numCategories"] == -1 and split["featureIndex"] >= 0:
            key = (split["featureIndex"], split["leftCategoriesOrThreshold"][0])
            if key not in seen:
                seen.append(key)
    rows = []
    rid = start_id
    for k, (fi, thr) in enumerate(seen[:limit]):
        name = feature_cols[fi]
        for v in (thr, float(np.nextafter(thr, -INF)), float(np.nextafter(thr, INF))):
            rows.append(dict(base_rows[k % len(base_rows)], **{name: v}, row_id=rid))
            rid += 1
    return rows


def _strip_crc(path: Path) -> None:
    for p in path.rglob("*.crc"):
        p.unlink(missing_ok=True)


def _save_expected(df: Any, path: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="expected_"))
    try:
        df.coalesce(1).write.mode("overwrite").parquet(str(tmp / "out"))
        table = pq.read_table(tmp / "out")
        pq.write_table(table, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_fixture(spark: Any, name: str, out_dir: Path) -> Path:
    """Train, save and transform one named pipeline into ``out_dir/name``.

    :param spark: a SparkSession.
    :param name: one of :data:`BUILDERS`.
    :param out_dir: parent folder.
    :return: the fixture folder.
    """
    target = out_dir / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    train = make_train()
    test = make_test()
    builder = BUILDERS[name]
    pipeline, test_rows, post = builder(spark, train, test)
    train_path = target / "train.parquet"
    write_rows(train, train_path)
    train_df = spark.read.parquet(str(train_path))
    model = pipeline.fit(train_df)
    model.write().overwrite().save(str(target / "model"))
    _strip_crc(target / "model")
    train_path.unlink()
    if test_rows is None:
        return target
    if post is not None:
        test_rows = test_rows + post(target / "model", test_rows)
    write_rows(test_rows, target / "input.parquet")
    test_df = spark.read.parquet(str(target / "input.parquet"))
    from pyspark.ml import PipelineModel

    loaded = PipelineModel.load(str(target / "model"))
    _save_expected(loaded.transform(test_df), target / "expected.parquet")
    return target


# ---------------------------------------------------------------- pipelines

Builder = Callable[[Any, list, list], tuple[Any, Any, Any]]


def features_lr(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """Multi-column StringIndexer/OHE/Imputer/Bucketizer, keep everywhere, StandardScaler, binomial LR."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import (
        Bucketizer,
        Imputer,
        OneHotEncoder,
        StandardScaler,
        StringIndexer,
        VectorAssembler,
    )

    stages = [
        StringIndexer(inputCols=["cat1", "cat2"], outputCols=["cat1_idx", "cat2_idx"], handleInvalid="keep"),
        StringIndexer(
            inputCol="num_cat", outputCol="num_cat_idx", handleInvalid="keep", stringOrderType="alphabetAsc"
        ),
        OneHotEncoder(
            inputCols=["cat1_idx", "cat2_idx", "num_cat_idx"],
            outputCols=["cat1_ohe", "cat2_ohe", "num_cat_ohe"],
            handleInvalid="keep",
        ),
        Imputer(inputCols=["x1", "n1"], outputCols=["x1_imp", "n1_imp"], strategy="mean"),
        Bucketizer(
            splitsArray=[[-INF, -1.0, 0.0, 1.0, INF], [-INF, 0.5, 2.0, INF]],
            inputCols=["x2", "x3"],
            outputCols=["x2_b", "x3_b"],
            handleInvalid="keep",
        ),
        VectorAssembler(
            inputCols=[
                "cat1_ohe",
                "cat2_ohe",
                "num_cat_ohe",
                "x1_imp",
                "n1_imp",
                "x2_b",
                "x3_b",
                "x4",
                "const",
            ],
            outputCol="raw_features",
            handleInvalid="keep",
        ),
        StandardScaler(inputCol="raw_features", outputCol="features", withMean=True, withStd=True),
        LogisticRegression(thresholds=[0.4, 0.6], maxIter=50, regParam=0.01),
    ]
    return Pipeline(stages=stages), test, None


def ohe_variants(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """All OHE dropLast x handleInvalid combinations, median Imputer with missingValue, MinMaxScaler."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import Imputer, MinMaxScaler, OneHotEncoder, StringIndexer, VectorAssembler
    from pyspark.ml.regression import LinearRegression

    ohes = []
    cols = []
    for k, (drop, inv) in enumerate([(True, "keep"), (False, "keep"), (True, "error"), (False, "error")]):
        outs = [f"o{k}_1", f"o{k}_2"]
        ohes.append(
            OneHotEncoder(inputCols=["c1i", "c2i"], outputCols=outs, dropLast=drop, handleInvalid=inv)
        )
        cols += outs
    stages = [
        StringIndexer(
            inputCols=["cat1", "cat2"],
            outputCols=["c1i", "c2i"],
            handleInvalid="keep",
            stringOrderType="frequencyAsc",
        ),
        *ohes,
        Imputer(
            inputCols=["n2", "n1"], outputCols=["n2_imp", "n1_imp"], strategy="median", missingValue=-1.0
        ),
        VectorAssembler(inputCols=[*cols, "n2_imp", "x5", "const"], outputCol="va", handleInvalid="keep"),
        MinMaxScaler(inputCol="va", outputCol="mm", min=-1.0, max=2.0),
        LinearRegression(featuresCol="mm", labelCol="y", regParam=0.1),
    ]
    return Pipeline(stages=stages), test, None


def skip_linreg(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """handleInvalid='skip' on StringIndexer, Bucketizer and VectorAssembler; LinearRegression."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import Bucketizer, StringIndexer, VectorAssembler
    from pyspark.ml.regression import LinearRegression

    stages = [
        StringIndexer(inputCol="cat1", outputCol="c1i", handleInvalid="skip"),
        Bucketizer(inputCol="x2", outputCol="x2_b", splits=[-INF, -1.0, 0.0, 1.0, INF], handleInvalid="skip"),
        VectorAssembler(inputCols=["c1i", "x2_b", "x4", "x5"], outputCol="features", handleInvalid="skip"),
        LinearRegression(labelCol="y"),
    ]
    return Pipeline(stages=stages), test, None


def rf_classifier(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """Label indexer (absent at scoring), categorical feature, 3-class RandomForest, thresholds, IndexToString."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import Imputer, IndexToString, StringIndexer, VectorAssembler

    train_df = spark.createDataFrame([(r["species"],) for r in train], "species string")
    label_si = StringIndexer(inputCol="species", outputCol="label_idx").fit(train_df)
    feats = ["cat1_idx", "x1_imp", "x2", "x3", "x4"]
    stages = [
        label_si,
        StringIndexer(inputCol="cat1", outputCol="cat1_idx", handleInvalid="keep"),
        Imputer(inputCols=["x1"], outputCols=["x1_imp"]),
        VectorAssembler(inputCols=feats, outputCol="features"),
        RandomForestClassifier(labelCol="label_idx", numTrees=8, maxDepth=5, seed=7).setThresholds(
            [0.5, 0.2, 0.9]
        ),
        IndexToString(inputCol="prediction", outputCol="pred_species", labels=list(label_si.labels)),
    ]
    # The label column is absent at scoring time: Spark's StringIndexerModel then skips it.
    test = [{k: v for k, v in r.items() if k != "species"} for r in clean_rows(test, ["x2", "x3", "x4"])]

    def post(model_dir: Path, rows: list) -> list:
        return _tree_threshold_rows(model_dir, "RandomForest", feats, rows, 5000)

    return Pipeline(stages=stages), test, post


def gbt_dt_classifier(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """DecisionTreeClassifier and GBTClassifier (thresholds) on one assembled vector."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import DecisionTreeClassifier, GBTClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    feats = ["cat1_idx", "x2", "x3", "x4", "x5"]
    stages = [
        StringIndexer(inputCol="cat1", outputCol="cat1_idx", handleInvalid="keep"),
        VectorAssembler(inputCols=feats, outputCol="features"),
        DecisionTreeClassifier(
            maxDepth=4, predictionCol="dt_pred", rawPredictionCol="dt_raw", probabilityCol="dt_prob", seed=3
        ),
        GBTClassifier(maxIter=6, maxDepth=3, seed=5).setThresholds([0.3, 0.7]),
    ]
    test = clean_rows(test, ["x2", "x3", "x4", "x5"])

    def post(model_dir: Path, rows: list) -> list:
        return _tree_threshold_rows(model_dir, "DecisionTree", feats, rows, 5000) + _tree_threshold_rows(
            model_dir, "GBT", feats, rows, 6000
        )

    return Pipeline(stages=stages), test, post


def tree_regressors(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """DecisionTree, RandomForest and GBT regressors plus LinearRegression."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import (
        DecisionTreeRegressor,
        GBTRegressor,
        LinearRegression,
        RandomForestRegressor,
    )

    feats = ["x2", "x3", "x4", "x5"]
    stages = [
        VectorAssembler(inputCols=feats, outputCol="features"),
        DecisionTreeRegressor(labelCol="y", maxDepth=5, predictionCol="dt_pred"),
        RandomForestRegressor(labelCol="y", numTrees=6, maxDepth=4, seed=2, predictionCol="rf_pred"),
        GBTRegressor(labelCol="y", maxIter=8, maxDepth=3, seed=4, predictionCol="gbt_pred"),
        LinearRegression(labelCol="y", predictionCol="lin_pred", elasticNetParam=0.5, regParam=0.05),
    ]
    test = clean_rows(test, feats)

    def post(model_dir: Path, rows: list) -> list:
        return _tree_threshold_rows(model_dir, "DecisionTree", feats, rows, 5000) + _tree_threshold_rows(
            model_dir, "GBT", feats, rows, 6000, limit=6
        )

    return Pipeline(stages=stages), test, post


def lr_multinomial_l1(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """MinMaxScaler, multinomial LR with thresholds, L1 binomial LR (sparse coefficientMatrix)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import MinMaxScaler, OneHotEncoder, StringIndexer, VectorAssembler

    stages = [
        StringIndexer(inputCols=["cat1", "cat2"], outputCols=["c1i", "c2i"], handleInvalid="keep"),
        OneHotEncoder(inputCols=["c1i", "c2i"], outputCols=["c1o", "c2o"], dropLast=False),
        VectorAssembler(inputCols=["x2", "x3", "x4", "x5", "x6", "const", "c1o", "c2o"], outputCol="va"),
        MinMaxScaler(inputCol="va", outputCol="features"),
        LogisticRegression(
            labelCol="label3",
            family="multinomial",
            maxIter=60,
            regParam=0.001,
            thresholds=[0.5, 0.2, 0.9],
            predictionCol="mn_pred",
            rawPredictionCol="mn_raw",
            probabilityCol="mn_prob",
        ),
        LogisticRegression(labelCol="label", regParam=0.1, elasticNetParam=1.0, maxIter=60, threshold=0.35),
    ]
    test = clean_rows(test, ["x2", "x3", "x4", "x5", "x6"])
    return Pipeline(stages=stages), test, None


def refuse_sqltransformer(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """A pipeline with an SQLTransformer, which the local scorer refuses at load time."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import SQLTransformer, VectorAssembler

    stages = [
        SQLTransformer(statement="SELECT *, x2 * 2 AS x2d FROM __THIS__"),
        VectorAssembler(inputCols=["x2d", "x3"], outputCol="features"),
    ]
    return Pipeline(stages=stages), None, None


def refuse_leafcol(spark: Any, train: list, test: list) -> tuple[Any, Any, Any]:
    """A DecisionTreeClassifier with ``leafCol`` set, a param the local scorer refuses."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.feature import VectorAssembler

    stages = [
        VectorAssembler(inputCols=["x2", "x3"], outputCol="features"),
        DecisionTreeClassifier(maxDepth=2, leafCol="leaf"),
    ]
    return Pipeline(stages=stages), None, None


BUILDERS: dict[str, Builder] = {
    "features_lr": features_lr,
    "ohe_variants": ohe_variants,
    "skip_linreg": skip_linreg,
    "rf_classifier": rf_classifier,
    "gbt_dt_classifier": gbt_dt_classifier,
    "tree_regressors": tree_regressors,
    "lr_multinomial_l1": lr_multinomial_l1,
    "refuse_sqltransformer": refuse_sqltransformer,
    "refuse_leafcol": refuse_leafcol,
}


def start_spark(master: str = "local[2]") -> Any:
    """Start a quiet local SparkSession bound to 127.0.0.1.

    :param master: Spark master URL.
    :return: the session.
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName("spark-ml-fixtures")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURES_DIR)
    parser.add_argument("--only", action="append", default=None)
    args = parser.parse_args()
    spark = start_spark()
    try:
        major_minor = ".".join(spark.version.split(".")[:2])
        out = args.out / f"spark-{major_minor}"
        out.mkdir(parents=True, exist_ok=True)
        for name in args.only or list(BUILDERS):
            path = build_fixture(spark, name, out)
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            print(f"{path}: {size / 1024:.1f} KiB")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
