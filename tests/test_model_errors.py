"""A file that is not a model, and a wrong explicit flavor, say what the file holds and what to do."""

from __future__ import annotations

import joblib
import numpy as np
import pytest

from airflow_provider_spark_predict.exceptions import ModelError
from airflow_provider_spark_predict.models import load_model


def test_text_file_named_pkl(tmp_path):
    (tmp_path / "model.pkl").write_text("this is not a model\n")
    with pytest.raises(ModelError, match=r"is a text file starting with 'this is not a model'.*accepted: a joblib"):
        load_model(str(tmp_path / "model.pkl"))


def test_empty_file(tmp_path):
    (tmp_path / "model.pkl").write_bytes(b"")
    with pytest.raises(ModelError, match=r"empty file \(0 bytes\), not a model; accepted"):
        load_model(str(tmp_path / "model.pkl"))


def test_json_that_is_not_an_xgboost_model(tmp_path):
    (tmp_path / "model.json").write_text('{"weights": [1, 2], "bias": 0}')
    with pytest.raises(ModelError, match=r"JSON file with keys \['bias', 'weights'\] that is not an XGBoost model"):
        load_model(str(tmp_path / "model.json"))


def test_pickle_of_a_dict(tmp_path):
    joblib.dump({"coef": [1, 2]}, tmp_path / "model.pkl")
    with pytest.raises(ModelError, match=r"holds a pickled builtins.dict, not a model with predict\(\); accepted"):
        load_model(str(tmp_path / "model.pkl"))


def test_truncated_pickle(tmp_path):
    from sklearn.linear_model import LinearRegression

    joblib.dump(LinearRegression().fit(np.eye(3), [1, 2, 3]), tmp_path / "m.pkl")
    data = (tmp_path / "m.pkl").read_bytes()
    (tmp_path / "m.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="looks like a joblib/pickle file but cannot be unpickled"):
        load_model(str(tmp_path / "m.pkl"))


def test_binary_garbage(tmp_path):
    (tmp_path / "m.bin").write_bytes(b"\x00\x01\x02garbage\xff" * 10)
    with pytest.raises(ModelError, match="is a binary file starting with bytes"):
        load_model(str(tmp_path / "m.bin"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.linear_model import LogisticRegression

    d = tmp_path_factory.mktemp("models")
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y), num_boost_round=2)
    joblib.dump(booster, d / "booster.pkl")
    booster.save_model(str(d / "booster.json"))
    joblib.dump(LogisticRegression().fit(X, y), d / "sk.pkl")
    lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, label=y), 2).save_model(str(d / "lgb.txt"))
    return d


@pytest.mark.parametrize("name,flavor,holds,use", [
    ("booster.pkl", "lightgbm", "a pickled xgboost.core.Booster", "xgboost"),
    ("booster.pkl", "sklearn", "a pickled xgboost.core.Booster", "xgboost"),
    ("sk.pkl", "xgboost", "a pickled sklearn.linear_model._logistic.LogisticRegression", "sklearn"),
    ("booster.json", "sklearn", "an XGBoost model file", "xgboost"),
    ("lgb.txt", "xgboost", "a LightGBM text model", "lightgbm"),
])
def test_wrong_explicit_flavor_says_what_the_file_holds(files, name, flavor, holds, use):
    with pytest.raises(ModelError) as err:
        load_model(str(files / name), flavor)
    text = str(err.value)
    assert holds in text and f"flavor={flavor!r} was given: use flavor={use!r}" in text


def test_model_needing_a_missing_module_keeps_the_import_error_as_cause(tmp_path, monkeypatch):
    import sys

    (tmp_path / "gone_mod.py").write_text("class M:\n    def predict(self, x):\n        return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_mod

    joblib.dump(gone_mod.M(), tmp_path / "m.pkl")
    monkeypatch.delitem(sys.modules, "gone_mod")
    (tmp_path / "gone_mod.py").unlink()
    with pytest.raises(ModelError, match="needs a module that cannot be imported here") as err:
        load_model(str(tmp_path / "m.pkl"))
    assert isinstance(err.value.__cause__, ImportError)
