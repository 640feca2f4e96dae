"""The two input shapes built from Arrow arrays: per-column types of the DataFrame path and the cast rules."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from airflow_provider_spark_predict.models.frames import (
    arrow_to_frame,
    arrow_to_matrix,
    cast_rules,
    category_column,
    matrix_dtype,
)


def test_frame_keeps_numeric_types_and_strings():
    arrays = [
        pa.array([1, 2, 3], pa.int64()),
        pa.array([1, None, 3], pa.int32()),
        pa.array([0.5, None, 1.5], pa.float32()),
        pa.array(["a", None, "c"]),
        pa.array(["x", "y", "x"]).dictionary_encode(),
        pa.array([True, False, True]),
    ]
    names = ["i", "i_null", "f32", "s", "dict", "b"]
    x = arrow_to_frame(arrays, names, {})
    df = x.data
    assert list(df.columns) == names and x.n_rows == 3 and x.unseen == {}
    assert df["i"].dtype == np.int64 and df["i"].tolist() == [1, 2, 3]
    assert df["i_null"].dtype == np.float64 and np.isnan(df["i_null"][1])
    assert df["f32"].dtype == np.float32 and np.isnan(df["f32"][1])
    assert df["s"].dtype == object and df["s"].tolist() == ["a", None, "c"]
    assert df["dict"].tolist() == ["x", "y", "x"]
    assert df["b"].dtype == bool


def test_frame_fill_value_fills_numeric_columns_only():
    x = arrow_to_frame([pa.array([1.0, None, float("nan")]), pa.array([None, "b", "c"])], ["n", "s"], {}, 0.0)
    assert x.data["n"].tolist() == [1.0, 0.0, 0.0]
    assert x.data["s"].tolist() == [None, "b", "c"]


def test_category_column_uses_training_categories_and_counts_unseen():
    cat, unseen = category_column(pa.array(["b", "zz", None, "a", "zz"]), ["a", "b", "c"], "city")
    assert list(cat.categories) == ["a", "b", "c"]
    assert cat.codes.tolist() == [1, -1, -1, 0, -1]
    assert unseen == 2  # nulls are missing, not unseen
    # integer categories given as strings in the input (e.g. a Hive string column)
    cat, unseen = category_column(pa.array(["1", "3", "9"]), [1, 3], "code")
    assert cat.codes.tolist() == [0, 1, -1] and unseen == 1


def test_matrix_path_unchanged():
    arrays = [pa.array([1.0, None], pa.float32()), pa.array([2.0, 3.0], pa.float32())]
    assert matrix_dtype(arrays) == np.float32
    x = arrow_to_matrix(arrays, np.float32, -1.0)
    assert x.dtype == np.float32 and x.tolist() == [[1.0, 2.0], [-1.0, 3.0]]
    assert matrix_dtype([pa.array([1], pa.int64())]) == np.float64


def test_cast_rules_describe_each_column(tmp_path):
    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from airflow_provider_spark_predict.models import load_model

    df = pd.DataFrame({"age": [20, 30, 40, 50], "city": ["a", "b", "a", "b"]})
    model = make_pipeline(ColumnTransformer([("c", OneHotEncoder(), ["city"])], remainder="passthrough"),
                          LogisticRegression()).fit(df, [0, 1, 0, 1])
    joblib.dump(model, tmp_path / "m.pkl")
    adapter = load_model(str(tmp_path / "m.pkl"))
    schema = pa.schema([("age", pa.int64()), ("city", pa.string())])
    rules = {r["column"]: r for r in cast_rules(adapter, schema)}
    assert rules["age"]["given_as"] == "int64" and rules["city"]["given_as"] == "str"
    assert "ColumnTransformer selects columns by name" in adapter.frame_reasons[0]
