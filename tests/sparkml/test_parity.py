"""Parity of the local scorer with Spark's saved transform output, Spark 4.3 and 3.5 (no JVM)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from parity import FIXTURES, PARITY_FIXTURES, VERSIONS, compare, read_rows, same

from airflow_provider_spark_predict.sparkml import LocalPipelineModel, load_pipeline

CASES = [(v, n) for v in VERSIONS for n in PARITY_FIXTURES]
IDS = [f"{v}/{n}" for v, n in CASES]
_TYPE_NAMES = {"int32": "int", "int64": "long", "double": "double", "string": "string"}


def input_types(folder: Path) -> dict[str, str]:
    return {f.name: _TYPE_NAMES[str(f.type)] for f in pq.read_schema(folder / "input.parquet")}


def load(folder: Path) -> LocalPipelineModel:
    return load_pipeline(folder / "model", input_types=input_types(folder))


@pytest.mark.parametrize(("version", "name"), CASES, ids=IDS)
def test_predict_rows_matches_spark(version: str, name: str) -> None:
    folder = FIXTURES / version / name
    model = load(folder)
    expected = read_rows(folder / "expected.parquet")
    got = model.predict_rows(read_rows(folder / "input.parquet"))
    problems = compare(name, expected, got, model.output_columns)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize(("version", "name"), CASES, ids=IDS)
def test_transform_dataframe_matches_predict_rows(version: str, name: str) -> None:
    folder = FIXTURES / version / name
    model = load_pipeline(folder / "model")  # types come from the DataFrame dtypes here
    table = pq.read_table(folder / "input.parquet")
    mapping = {
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.float64(): pd.Float64Dtype(),
        pa.string(): pd.StringDtype(),
    }
    pdf = table.to_pandas(types_mapper=mapping.get)
    out = model.transform(pdf)
    rows = load(folder).predict_rows(read_rows(folder / "input.parquet"))
    assert list(out["row_id"]) == [r["row_id"] for r in rows]
    assert list(out.columns[: len(pdf.columns)]) == list(pdf.columns)
    for col in model.output_columns:
        if col not in out.columns:
            assert all(col not in r for r in rows)
            continue
        for cell, r in zip(out[col].tolist(), rows, strict=True):
            value = cell.tolist() if isinstance(cell, np.ndarray) else cell
            if isinstance(value, np.generic):
                value = value.item()
            assert same(value, r[col]), (col, value, r[col])
        if col in model.vector_columns:
            arr = out[col].iloc[0]
            assert isinstance(arr, np.ndarray) and arr.dtype == np.float64


def test_predictions_exact_everywhere() -> None:
    """Classification predictions, tree outputs and DT/RF raw/probability are bit-exact."""
    exact_cols = {
        "rf_classifier": ["rawPrediction", "probability", "prediction", "pred_species"],
        "gbt_dt_classifier": ["dt_raw", "dt_prob", "dt_pred", "prediction"],
        "tree_regressors": ["dt_pred", "rf_pred"],
        "lr_multinomial_l1": ["mn_pred", "prediction"],
        "features_lr": ["prediction", "features"],
    }
    for version in VERSIONS:
        for name, cols in exact_cols.items():
            folder = FIXTURES / version / name
            expected = read_rows(folder / "expected.parquet")
            got = load(folder).predict_rows(read_rows(folder / "input.parquet"))
            for e, g in zip(expected, got, strict=True):
                for c in cols:
                    assert same(e[c], g[c]), (version, name, e["row_id"], c)


def test_fixture_covers_edge_cases() -> None:
    """The committed fixtures really contain the traps they are meant to test."""
    folder = FIXTURES / "spark-4.3" / "features_lr"
    rows = {r["row_id"]: r for r in read_rows(folder / "expected.parquet")}
    neg_zero = next(r for r in rows.values() if r["x2"] == 0.0 and math.copysign(1, r["x2"]) < 0)
    pos_zero = next(r for r in rows.values() if r["x2"] == 0.0 and math.copysign(1, r["x2"]) > 0)
    assert (neg_zero["x2_b"], pos_zero["x2_b"]) == (1.0, 2.0)  # -0.0 sorts before 0.0 in Java's search
    assert any(r["cat1"] == "zz" and r["cat1_idx"] == 4.0 for r in rows.values())  # unseen -> keep index
    nan_row = next(r for r in rows.values() if isinstance(r["x2"], float) and math.isnan(r["x2"]))
    assert nan_row["x2_b"] == 4.0  # NaN -> extra bucket under keep
    lr = FIXTURES / "spark-4.3" / "lr_multinomial_l1" / "model" / "stages"
    l1 = [p for p in lr.iterdir() if p.name.startswith("5_")][0]
    matrix = pq.read_table(l1 / "data").to_pylist()[0]["coefficientMatrix"]
    assert matrix["type"] == 0 and matrix["isTransposed"]  # sparse CSR coefficients
    skip = FIXTURES / "spark-4.3" / "skip_linreg"
    assert len(read_rows(skip / "expected.parquet")) < len(read_rows(skip / "input.parquet"))


def test_single_dict_and_input_not_mutated() -> None:
    folder = FIXTURES / "spark-4.3" / "rf_classifier"
    model = load(folder)
    row = read_rows(folder / "input.parquet")[0]
    before = dict(row)
    out = model.predict_rows(row)
    assert row == before
    assert len(out) == 1 and out[0]["pred_species"] in ("setosa", "versicolor", "virginica")
    arr_row = dict(row, x2=np.float64(row["x2"]), x3=np.float32(0.5))
    assert model.predict_rows(arr_row)[0]["features"][3] == 0.5


def test_skip_drops_rows_in_dataframe() -> None:
    folder = FIXTURES / "spark-4.3" / "skip_linreg"
    model = load_pipeline(folder / "model")
    pdf = pd.DataFrame(
        {
            "cat1": ["a", "zz", None, "b"],
            "x2": [0.5, 0.5, 0.5, float("nan")],
            "x4": [1.0, 1.0, 1.0, 1.0],
            "x5": [0.0, 0.0, 0.0, 0.0],
        },
        index=[10, 11, 12, 13],
    )
    out = model.transform(pdf)
    assert list(out.index) == [10]
    assert out["prediction"].dtype == np.float64


@pytest.mark.parametrize("limit", ["MAX_GENERATED_NODES", "MAX_GENERATED_FOREST_NODES"])
@pytest.mark.parametrize("name", ["rf_classifier", "gbt_dt_classifier", "tree_regressors"])
def test_tree_fallbacks_match_spark(monkeypatch: pytest.MonkeyPatch, name: str, limit: str) -> None:
    """Forests too big for one generated function use per-tree walkers; too-big trees are walked."""
    from airflow_provider_spark_predict.sparkml.stages import trees

    monkeypatch.setattr(trees, limit, 0)
    folder = FIXTURES / "spark-4.3" / name
    model = load(folder)
    generable = {t.generable for s in model.stages for t in getattr(s, "trees", [])}
    assert generable == ({False} if limit == "MAX_GENERATED_NODES" else {True})
    got = model.predict_rows(read_rows(folder / "input.parquet"))
    problems = compare(name, read_rows(folder / "expected.parquet"), got, model.output_columns)
    assert not problems, "\n".join(problems[:20])
