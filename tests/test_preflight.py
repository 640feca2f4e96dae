"""Model checks on the Airflow worker before submit."""

from __future__ import annotations

import sys

import joblib
import numpy as np
import pytest

from airflow_provider_spark_predict.exceptions import ModelError
from airflow_provider_spark_predict.preflight import check_model
from airflow_provider_spark_predict.spec import InputSpec, ModelSpec, ScoringSpec, TargetSpec


def spec(model: str, features=None) -> ScoringSpec:
    return ScoringSpec(input=InputSpec(table="db.t", partition={"dt": "2026-01-01"}), model=ModelSpec(uri=model),
                       output=TargetSpec(table="db.o", partition={"dt": "2026-01-01"}), keys=["k"],
                       features=features).validate()


def test_readable_model_with_matching_features(tmp_path):
    from sklearn.linear_model import LinearRegression

    joblib.dump(LinearRegression().fit(np.ones((4, 2)) * [[1, 2]], [1, 2, 3, 4]), tmp_path / "m.joblib")
    assert check_model(spec(f"file://{tmp_path}/m.joblib", ["a", "b"])) == "sklearn"
    with pytest.raises(ModelError, match="expects 2 features but 3"):
        check_model(spec(str(tmp_path / "m.joblib"), ["a", "b", "c"]))


def test_model_needing_a_module_only_in_the_shipped_env_is_left_to_the_driver(tmp_path, monkeypatch):
    pkg = tmp_path / "only_in_env_mod.py"
    pkg.write_text("class Model:\n    def predict(self, x):\n        return x[:, 0]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_in_env_mod

    joblib.dump(only_in_env_mod.Model(), tmp_path / "custom.joblib")
    monkeypatch.delitem(sys.modules, "only_in_env_mod")
    pkg.unlink()
    assert check_model(spec(str(tmp_path / "custom.joblib"), ["a"])) is None


def test_remote_models_are_checked_on_the_driver():
    assert check_model(spec("hdfs://nn/models/m.json", ["a"])) is None


def test_pickled_booster_needs_no_other_argument_than_the_path(tmp_path):
    import xgboost as xgb

    X = np.random.default_rng(0).normal(size=(50, 3))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=X[:, 0] > 0, feature_names=["a", "b", "c"]),
                        num_boost_round=2)
    joblib.dump(booster, tmp_path / "model.pkl")
    assert check_model(spec(str(tmp_path / "model.pkl"))) == "xgboost"


def path_spec(model: str, data: str, **kw) -> ScoringSpec:
    return ScoringSpec(input=InputSpec(path=data, partition={"dt": "2026-01-01"}), model=ModelSpec(uri=model),
                       output=TargetSpec(path=data + "_out", partition={"dt": "2026-01-01"}), keys=["k"],
                       **kw).validate()


def write_input(tmp_path, city: list[str]) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "in" / "dt=2026-01-01"
    folder.mkdir(parents=True)
    n = len(city)
    pq.write_table(pa.table({"k": list(range(n)), "age": pa.array(range(20, 20 + n), pa.int32()),
                             "city": city}), folder / "part-0.parquet")
    return str(tmp_path / "in")


def city_pipeline(tmp_path, handle_unknown: str) -> str:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = pd.DataFrame({"age": [20, 30, 40, 50], "city": ["paris", "lyon", "paris", "lyon"]})
    model = make_pipeline(ColumnTransformer([("n", StandardScaler(), ["age"]),
                                             ("c", OneHotEncoder(handle_unknown=handle_unknown), ["city"])]),
                          LogisticRegression()).fit(df, [0, 1, 0, 1])
    joblib.dump(model, tmp_path / "pipe.joblib")
    return str(tmp_path / "pipe.joblib")


def test_sample_of_the_real_input_is_predicted_before_submit(tmp_path, caplog):
    import logging

    data = write_input(tmp_path, ["paris", "lyon", "paris"])
    with caplog.at_level(logging.INFO):
        assert check_model(path_spec(city_pipeline(tmp_path, "ignore"), data)) == "sklearn"
    assert "predicted a sample of 3 rows" in caplog.text and "(frame input)" in caplog.text


def test_a_model_that_cannot_predict_the_input_fails_with_its_own_error_and_the_column_types(tmp_path):
    data = write_input(tmp_path, ["paris", "brest"])
    with pytest.raises(ModelError) as err:
        check_model(path_spec(city_pipeline(tmp_path, "error"), data))
    text = str(err.value)
    assert "cannot predict a sample of 2 rows" in text and "Found unknown categories ['brest']" in text
    assert "input column types: age: int32, city: string" in text


def test_a_feature_missing_from_the_input_files_fails_before_submit(tmp_path):
    from airflow_provider_spark_predict.exceptions import InputError

    data = write_input(tmp_path, ["paris"])
    with pytest.raises(InputError, match=r"missing feature column\(s\) \['income'\]"):
        check_model(path_spec(city_pipeline(tmp_path, "ignore"), data, features=["age", "income"]))


def test_a_table_input_leaves_the_first_predict_to_the_driver(tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO):
        assert check_model(spec(city_pipeline(tmp_path, "error"))) == "sklearn"
    assert "not reachable without Spark" in caplog.text


def test_wrong_explicit_flavor_fails_before_submit(tmp_path):
    from sklearn.linear_model import LinearRegression

    joblib.dump(LinearRegression().fit(np.eye(2), [1, 2]), tmp_path / "m.pkl")
    s = spec(str(tmp_path / "m.pkl"), ["a", "b"])
    s.model.flavor = "xgboost"
    with pytest.raises(ModelError, match="use flavor='sklearn'"):
        check_model(s)
