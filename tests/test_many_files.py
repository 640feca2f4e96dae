"""Inputs cut into many small pieces, through the operator on the tests' shared local[2] session
(``in_session``: only spark-submit is replaced), with the ``pyarrow`` reader:

- a partition of 2,000 parquet files of 1,000 rows (what upstream jobs with many reducers leave behind):
  the files are packed into a few tasks by bytes (Spark's ``maxPartitionBytes`` / ``openCostInBytes``
  rule), not one Python task per file; the footer job counts the rows of all of them;
- one parquet file of 600 row groups, cut into several byte-range splits: each row group read once.

Both must write every input row exactly once with the model's own prediction for it. The phases of the
run are printed (``-s``) for the record; nothing here asserts a time.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.dag_utils import read_folder

pytestmark = [pytest.mark.spark]

DT = {"dt": "2026-01-01"}
FEATURES = ["f0", "f1", "f2"]
FILES, FILE_ROWS = 2000, 1000
GROUPS, GROUP_ROWS = 600, 200


def _table(start: int, n: int, rng: np.random.Generator) -> pa.Table:
    x = rng.standard_normal((n, len(FEATURES))).astype(np.float32)
    cols = {"pin": pa.array([f"m{k:08d}" for k in range(start, start + n)])}
    cols.update({f: pa.array(x[:, j]) for j, f in enumerate(FEATURES)})
    return pa.table(cols)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Any]:
    import joblib
    from sklearn.linear_model import Ridge

    base = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(11)
    many = base / "many_files" / "dt=2026-01-01"
    many.mkdir(parents=True)
    for i in range(FILES):
        pq.write_table(_table(i * FILE_ROWS, FILE_ROWS, rng), many / f"part-{i:05d}.parquet")
    groups = base / "many_groups" / "dt=2026-01-01"
    groups.mkdir(parents=True)
    pq.write_table(_table(0, GROUPS * GROUP_ROWS, rng), groups / "part-0.parquet", row_group_size=GROUP_ROWS)
    assert pq.ParquetFile(groups / "part-0.parquet").metadata.num_row_groups == GROUPS
    train = _table(0, 500, rng).to_pandas()
    model = Ridge().fit(train[FEATURES].to_numpy(np.float32), train["f0"] * 2 - train["f2"])
    joblib.dump(model, base / "ridge.pkl")
    return {"base": base, "model": model, "model_path": str(base / "ridge.pkl"),
            "many_files": str(base / "many_files"), "many_groups": str(base / "many_groups")}


def _run(world: dict[str, Any], source: str, out: str) -> tuple[dict[str, Any], pd.DataFrame]:
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    report = SparkPredictOperator(
        task_id="score", model=world["model_path"], input_path="file://" + world[source], input_partition=DT,
        keys=["pin"], features=FEATURES, output_path="file://" + out, output_partition=DT, engine="spark",
    ).execute({"ti": None})
    print(f"\n{source}: tasks={report['strategy'].get('tasks')} phases_s={report['phases_s']}")
    return report, read_folder(os.path.join(out, "dt=2026-01-01"))


def _expected(world: dict[str, Any], source: str) -> pd.DataFrame:
    """The input read back with pyarrow and the model's own prediction for each row."""
    df = pq.read_table(os.path.join(world[source], "dt=2026-01-01")).to_pandas()
    df["expected"] = world["model"].predict(df[FEATURES].to_numpy(np.float32))
    return df.set_index("pin")


def _assert_every_row_once(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got["pin"].is_unique and len(got) == len(expected)
    assert set(got["pin"]) == set(expected.index)
    got = got.set_index("pin").loc[expected.index]
    np.testing.assert_allclose(got["prediction"].to_numpy(), expected["expected"].to_numpy(), rtol=1e-6, atol=1e-6)


def test_two_thousand_small_files_are_packed_into_few_tasks(world, in_session, tmp_path) -> None:
    report, got = _run(world, "many_files", str(tmp_path / "out"))
    rows = FILES * FILE_ROWS
    assert report["published"] and report["rows_in"] == report["rows_out"] == rows, report.get("error")
    strategy = report["strategy"]
    assert strategy["reader"] == "pyarrow" and strategy["files"] == FILES
    # packed by bytes: each ~20 kB file also counts openCostInBytes (4 MB) against maxPartitionBytes (128 MB)
    assert 2 <= strategy["tasks"] <= FILES // 20, strategy
    assert "footer job" in report["phases_s"]
    _assert_every_row_once(got, _expected(world, "many_files"))


def test_a_file_of_six_hundred_row_groups_is_split_and_read_once(world, in_session, shared_spark, tmp_path) -> None:
    shared_spark.conf.set("spark.sql.files.maxPartitionBytes", "256k")  # the ~2 MB file in several splits
    try:
        report, got = _run(world, "many_groups", str(tmp_path / "out"))
    finally:
        shared_spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert report["published"] and report["rows_in"] == report["rows_out"] == GROUPS * GROUP_ROWS, report.get("error")
    assert report["strategy"]["reader"] == "pyarrow" and report["strategy"]["tasks"] >= 4, report["strategy"]
    _assert_every_row_once(got, _expected(world, "many_groups"))
