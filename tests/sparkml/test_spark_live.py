"""Live parity: train with real Spark (local[1]), save into tmp_path, compare with the local scorer."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from parity import compare, read_rows

pytestmark = pytest.mark.spark


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "make_fixtures", Path(__file__).with_name("make_fixtures.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("no java")
    session = _generator().start_spark("local[1]")
    yield session
    session.stop()


@pytest.mark.parametrize("name", ["features_lr", "gbt_dt_classifier"])
def test_live_spark_parity(spark, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_spark_predict.sparkml import load_pipeline

    folder = _generator().build_fixture(spark, name, tmp_path)
    types = {
        f.name: {"int32": "int", "int64": "long"}.get(str(f.type), "double")
        for f in pq.read_schema(folder / "input.parquet")
    }
    model = load_pipeline(folder / "model", input_types=types)
    expected = read_rows(folder / "expected.parquet")
    got = model.predict_rows(read_rows(folder / "input.parquet"))
    problems = compare(name, expected, got, model.output_columns)
    assert not problems, "\n".join(problems[:20])
