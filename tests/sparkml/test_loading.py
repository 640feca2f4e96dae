"""Load-time checks: refusals, missing folders, URIs, versions, and no pyspark import."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from parity import FIXTURES, VERSIONS

from airflow_provider_spark_predict.exceptions import LocalScoringError, SparkPredictError
from airflow_provider_spark_predict.sparkml import load_pipeline
from airflow_provider_spark_predict.sparkml.javafmt import double_to_string
from airflow_provider_spark_predict.sparkml.stages.feature import java_binary_search


@pytest.mark.parametrize("version", VERSIONS)
def test_refuses_sqltransformer_at_load(version: str) -> None:
    with pytest.raises(LocalScoringError, match=r"SQLTransformer \(uid SQLTransformer_\w+"):
        load_pipeline(FIXTURES / version / "refuse_sqltransformer" / "model")


@pytest.mark.parametrize("version", VERSIONS)
def test_refuses_unsupported_param_at_load(version: str) -> None:
    with pytest.raises(LocalScoringError, match=r"DecisionTreeClassificationModel \(uid .*param 'leafCol'"):
        load_pipeline(FIXTURES / version / "refuse_leafcol" / "model")


def _copy_model(tmp_path: Path, name: str = "skip_linreg") -> Path:
    dst = tmp_path / "model"
    shutil.copytree(FIXTURES / "spark-4.3" / name / "model", dst)
    return dst


def _edit_stage_params(model: Path, prefix: str, **params: object) -> None:
    stage = next(p for p in (model / "stages").iterdir() if p.name.split("_", 1)[1].startswith(prefix))
    meta_file = next(p for p in (stage / "metadata").iterdir() if p.name.startswith("part-"))
    meta = json.loads(meta_file.read_text())
    meta["paramMap"].update(params)
    meta_file.write_text(json.dumps(meta) + "\n")


def test_refuses_unknown_param_value(tmp_path: Path) -> None:
    model = _copy_model(tmp_path)
    _edit_stage_params(model, "StringIndexer", handleInvalid="bogus")
    with pytest.raises(
        LocalScoringError, match=r"StringIndexerModel \(uid StringIndexer_\w+\), param 'handleInvalid'"
    ):
        load_pipeline(model)


def test_refuses_unknown_param_name(tmp_path: Path) -> None:
    model = _copy_model(tmp_path)
    _edit_stage_params(model, "VectorAssembler", someFutureParam=1)
    with pytest.raises(LocalScoringError, match="someFutureParam"):
        load_pipeline(model)


def test_missing_folder_is_clear(tmp_path: Path) -> None:
    with pytest.raises(LocalScoringError, match="no saved Spark ML pipeline"):
        load_pipeline(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SparkPredictError, match="no metadata"):
        load_pipeline(tmp_path / "empty")


def test_other_uri_scheme_refused() -> None:
    with pytest.raises(LocalScoringError, match="file://"):
        load_pipeline("hdfs://nn/models/x")


def test_file_uri_and_version(tmp_path: Path) -> None:
    for version in VERSIONS:
        model = load_pipeline((FIXTURES / version / "skip_linreg" / "model").as_uri())
        assert model.spark_version.startswith(version.split("-")[1])
        assert model.input_columns == ["cat1", "x2", "x4", "x5"]
        assert model.output_columns == ["c1i", "x2_b", "features", "prediction"]


def test_missing_input_column_is_clear() -> None:
    model = load_pipeline(FIXTURES / "spark-4.3" / "skip_linreg" / "model")
    with pytest.raises(LocalScoringError, match="no column 'x4'"):
        model.predict_rows({"cat1": "a", "x2": 0.1, "x5": 1.0})


def test_error_mode_raises_at_scoring() -> None:
    model = load_pipeline(FIXTURES / "spark-4.3" / "tree_regressors" / "model")
    with pytest.raises(LocalScoringError, match="NaN"):
        model.predict_rows({"x2": float("nan"), "x3": 0.0, "x4": 0.0, "x5": 0.0})


def test_label_column_optional() -> None:
    model = load_pipeline(FIXTURES / "spark-4.3" / "rf_classifier" / "model")
    assert model.optional_input_columns == ["species"]
    out = model.predict_rows({"cat1": "a", "x1": None, "x2": 0.0, "x3": 1.0, "x4": 2.0, "species": "setosa"})
    labels = {"setosa", "versicolor", "virginica"}
    assert out[0]["label_idx"] in (0.0, 1.0, 2.0) and out[0]["pred_species"] in labels
    no_label = model.predict_rows({"cat1": "a", "x1": None, "x2": 0.0, "x3": 1.0, "x4": 2.0})[0]
    assert "label_idx" not in no_label and no_label["pred_species"] in labels


def test_java_helpers() -> None:
    assert [double_to_string(v) for v in (1e10, 1e-5, 0.001, 1e7, 123.0, -0.0, float("nan"))] == [
        "1.0E10",
        "1.0E-5",
        "0.001",
        "1.0E7",
        "123.0",
        "-0.0",
        "NaN",
    ]
    splits = [float("-inf"), -1.0, 0.0, 1.0, float("inf")]
    assert java_binary_search(splits, -0.0) == -3  # insertion point 2: -0.0 sorts before 0.0
    assert java_binary_search(splits, 0.0) == 2


def test_no_pyspark_import() -> None:
    """Importing and scoring never imports pyspark (run in a fresh interpreter)."""
    model_dir = FIXTURES / "spark-4.3" / "features_lr"
    code = f"""
import sys
import pandas as pd
import pyarrow.parquet as pq
from airflow_provider_spark_predict.sparkml import load_pipeline
m = load_pipeline({str(model_dir / "model")!r})
pdf = pq.read_table({str(model_dir / "input.parquet")!r}).to_pandas()
m.transform(pdf)
m.predict_rows(pdf.head(2).to_dict('records'))
bad = sorted(k for k in sys.modules if k == 'pyspark' or k.startswith(('pyspark.', 'py4j')))
print('BAD', bad)
assert not bad, bad
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "BAD []" in res.stdout


def test_package_import_is_lazy() -> None:
    code = (
        "import sys, airflow_provider_spark_predict.sparkml as l; "
        "print('pyarrow' in sys.modules, 'pandas' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False False"
