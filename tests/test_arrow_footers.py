"""``arrow_reader.read_footers`` on a real local Spark (local[2]): the executors' Python workers open
every input file's footer with pyarrow; the row count replaces ``df.count()`` for the pyarrow reader, and
any file they cannot read (or that lacks a key column) is named in the reason to fall back."""

from __future__ import annotations

import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_spark_predict.job import arrow_reader

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    if shutil.which("java") is None:
        pytest.skip("no java")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("test-footers")
               .config("spark.ui.enabled", "false").getOrCreate())
    yield session
    session.stop()


def _write(path, n: int, key: str = "pin") -> str:
    table = pa.table({key: pa.array([f"p{i}" for i in range(n)]),
                      "a": pa.array([float(i) for i in range(n)], pa.float32())})
    pq.write_table(table, path, row_group_size=3)
    return f"file://{path}"


def test_footers_count_the_rows_like_spark(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "d").mkdir()
    files = [_write(tmp_path / "d" / f"part-{i}.parquet", n) for i, n in enumerate((10, 7, 0, 25))]
    found = arrow_reader.read_footers(spark, files, ["PIN"])  # key names match case-insensitively
    assert found.reason is None
    assert found.rows == 42 == spark.read.parquet(str(tmp_path / "d")).count()
    assert found.sizes == [os.path.getsize(tmp_path / "d" / f"part-{i}.parquet") for i in range(4)]
    assert arrow_reader.read_footers(spark, [], ["pin"]) == arrow_reader.Footers(None, 0, [])


def test_footers_name_the_file_that_cannot_be_read(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = _write(tmp_path / "good.parquet", 5)
    no_key = _write(tmp_path / "no_key.parquet", 5, key="user")
    found = arrow_reader.read_footers(spark, [good, no_key], ["pin"])
    error = str(found.reason)
    assert found.rows == 0 and "no_key.parquet" in error and "['pin']" in error and "not in the file" in error

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    found = arrow_reader.read_footers(spark, [good, f"file://{broken}"], ["pin"])
    error = str(found.reason)
    assert found.rows == 0 and "broken.parquet" in error and "good.parquet" not in error

    error = str(arrow_reader.read_footers(spark, [good, f"file://{tmp_path}/gone.parquet"], ["pin"]).reason)
    assert "gone.parquet" in error


def test_orc_footers_count_rows_and_sizes_and_name_a_broken_file(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.orc as po

    paths = []
    for i, n in enumerate((10, 0, 33)):
        path = tmp_path / f"part-{i}.orc"
        po.write_table(pa.table({"pin": pa.array([f"p{k}" for k in range(n)], pa.string()),
                                 "a": pa.array([float(k) for k in range(n)], pa.float32())}), str(path))
        paths.append(path)
    found = arrow_reader.read_footers(spark, [f"file://{p}" for p in paths], ["PIN"], "orc")
    assert found.reason is None and found.rows == 43 == spark.read.orc([str(p) for p in paths]).count()
    assert found.sizes == [os.path.getsize(p) for p in paths]
    parquet = _write(tmp_path / "not_orc.parquet", 5)  # a parquet file where ORC is expected
    reason = str(arrow_reader.read_footers(spark, [f"file://{paths[0]}", parquet], ["pin"], "orc").reason)
    assert "not_orc.parquet" in reason and "part-0.orc" not in reason
