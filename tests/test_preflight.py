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
