"""``arrow_reader.read_footers`` on a real local Spark (local[2]): the executors' Python workers open
every input file's footer with pyarrow; the row count replaces ``df.count()`` for the pyarrow reader, and
any file they cannot read (or that lacks a key column) is named in the reason to fall back."""

from __future__ import annotations

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
    error, rows = arrow_reader.read_footers(spark, files, ["PIN"])  # key names match case-insensitively
    assert error is None
    assert rows == 42 == spark.read.parquet(str(tmp_path / "d")).count()
    assert arrow_reader.read_footers(spark, [], ["pin"]) == (None, 0)


def test_footers_name_the_file_that_cannot_be_read(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = _write(tmp_path / "good.parquet", 5)
    no_key = _write(tmp_path / "no_key.parquet", 5, key="user")
    error, rows = arrow_reader.read_footers(spark, [good, no_key], ["pin"])
    assert rows == 0 and "no_key.parquet" in error and "['pin']" in error and "not in the file" in error

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    error, rows = arrow_reader.read_footers(spark, [good, f"file://{broken}"], ["pin"])
    assert rows == 0 and "broken.parquet" in error and "good.parquet" not in error

    error, _ = arrow_reader.read_footers(spark, [good, f"file://{tmp_path}/gone.parquet"], ["pin"])
    assert "gone.parquet" in error
