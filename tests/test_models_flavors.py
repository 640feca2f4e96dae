"""Flavor by what the file holds, and prepare+predict from Arrow arrays equal to the model's own predictions.

Real xgboost / lightgbm / scikit-learn models trained here on small synthetic data. Unit level (no Spark):
the operator parity tests are separate.
"""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from airflow_provider_spark_predict.models import load_model
from airflow_provider_spark_predict.models.base import detect_flavor

N = 300
RNG = np.random.default_rng(7)
CITIES = ["paris", "lyon", "nice"]


def numeric_frame(n: int = N, k: int = 4) -> pd.DataFrame:
    return pd.DataFrame(RNG.normal(size=(n, k)), columns=[f"f{i}" for i in range(k)])


def mixed_frame(n: int = N) -> pd.DataFrame:
    return pd.DataFrame({
        "age": RNG.integers(18, 80, n),
        "income": RNG.normal(50, 10, n),
        "city": RNG.choice(CITIES, n),
    })


def score(adapter, df: pd.DataFrame, fill_value=None):
    """The executor's path: Arrow arrays of the frame's columns -> prepare -> predict."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    names = list(df.columns)
    x = adapter.prepare([table.column(n) for n in names], names, fill_value)
    return x, adapter.predict(x)


def test_xgboost_booster_json_and_the_same_booster_pickled(tmp_path):
    import xgboost as xgb

    X = numeric_frame()
    y = RNG.integers(0, 3, N)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
                        xgb.DMatrix(X, label=y), num_boost_round=5)
    booster.save_model(str(tmp_path / "model.json"))
    joblib.dump(booster, tmp_path / "model.pkl")
    expected = booster.predict(xgb.DMatrix(X))
    for path in (tmp_path / "model.json", tmp_path / "model.pkl"):
        adapter = load_model(str(path))
        assert type(adapter).__name__ == "XGBoostAdapter" and adapter.flavor == "xgboost"
        assert adapter.feature_names == list(X.columns) and adapter.classes == [0, 1, 2]
        assert adapter.input_kind == "matrix" and adapter.has_probabilities
        x, pred = score(adapter, X)
        assert x.data.shape == (N, 4)
        np.testing.assert_allclose(pred.probabilities, expected, rtol=1e-6)
    assert detect_flavor(str(tmp_path / "model.json")) == "xgboost"
    assert detect_flavor(str(tmp_path / "model.pkl")) == "auto"
    # the explicit flavor that fits is accepted (it failed with UnicodeDecodeError before)
    assert load_model(str(tmp_path / "model.pkl"), "xgboost").flavor == "xgboost"


def test_pickled_xgbclassifier_binary(tmp_path):
    import xgboost as xgb

    X = numeric_frame()
    y = (X.f0 + X.f1 > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=3).fit(X, y)
    joblib.dump(model, tmp_path / "m.pkl")
    adapter = load_model(str(tmp_path / "m.pkl"))
    assert type(adapter).__name__ == "XGBModelAdapter" and adapter.flavor == "xgboost"
    assert adapter.input_kind == "matrix" and adapter.classes == [0, 1] and adapter.feature_names == list(X.columns)
    _, pred = score(adapter, X)
    np.testing.assert_allclose(pred.probabilities, model.predict_proba(X), rtol=1e-6)


def test_xgboost_categorical_model_gets_a_frame_with_the_training_categories(tmp_path):
    import xgboost as xgb

    train = mixed_frame().assign(city=lambda d: d.city.astype("category"))
    y = ((train.city == "paris") ^ (train.income > 50)).astype(int)
    model = xgb.XGBClassifier(n_estimators=5, enable_categorical=True, tree_method="hist").fit(train, y)
    joblib.dump(model, tmp_path / "m.pkl")
    model.get_booster().save_model(str(tmp_path / "b.json"))
    new = mixed_frame(50)
    new.loc[:4, "city"] = "brest"  # unseen in training
    own_input = new.assign(city=pd.Categorical(new.city, categories=CITIES))
    for path in (tmp_path / "m.pkl", tmp_path / "b.json"):
        adapter = load_model(str(path))
        assert adapter.input_kind == "frame" and adapter.categories == {"city": sorted(CITIES)}
        x, pred = score(adapter, new)
        assert x.unseen == {"city": 5}
        np.testing.assert_allclose(pred.probabilities, model.predict_proba(own_input), rtol=1e-6)


@pytest.mark.parametrize("objective,classes", [("binary", [0, 1]), ("multiclass", [0, 1, 2]), ("regression", None)])
def test_lightgbm_text_model(tmp_path, objective, classes):
    import lightgbm as lgb

    X = numeric_frame()
    y = {"binary": (X.f0 > 0).astype(int), "multiclass": RNG.integers(0, 3, N), "regression": X.f0 * 2}[objective]
    params = {"objective": objective, "verbose": -1, "num_leaves": 7}
    if objective == "multiclass":
        params["num_class"] = 3
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=5)
    booster.save_model(str(tmp_path / "model.txt"))
    adapter = load_model(str(tmp_path / "model.txt"))
    assert type(adapter).__name__ == "LightGBMAdapter" and adapter.classes == classes
    assert adapter.input_kind == "matrix" and adapter.feature_names == list(X.columns)
    _, pred = score(adapter, X)
    own = booster.predict(X)
    if objective == "regression":
        np.testing.assert_allclose(pred.values, own, rtol=1e-9)
    elif objective == "binary":
        np.testing.assert_allclose(pred.probabilities[:, 1], own, rtol=1e-9)
    else:
        np.testing.assert_allclose(pred.probabilities, own, rtol=1e-9)


def test_pickled_lgbmclassifier_with_a_category_column(tmp_path):
    import lightgbm as lgb

    train = mixed_frame().assign(city=lambda d: d.city.astype("category"))
    y = ((train.city == "paris") | (train.income > 55)).astype(int)
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, min_child_samples=5, verbose=-1).fit(train, y)
    joblib.dump(model, tmp_path / "m.pkl")
    model.booster_.save_model(str(tmp_path / "m.txt"))
    new = mixed_frame(60)
    new.loc[:2, "city"] = "brest"
    new.loc[3, "income"] = np.nan
    own_input = new.assign(city=pd.Categorical(new.city, categories=CITIES))
    adapter = load_model(str(tmp_path / "m.pkl"))
    assert type(adapter).__name__ == "LGBMModelAdapter" and adapter.flavor == "lightgbm"
    assert adapter.input_kind == "frame" and adapter.categories == {"city": sorted(CITIES)}
    x, pred = score(adapter, new)
    assert x.unseen == {"city": 3}
    np.testing.assert_allclose(pred.probabilities, model.predict_proba(own_input), rtol=1e-9)
    text = load_model(str(tmp_path / "m.txt"))  # the text model records pandas_categorical too
    assert text.input_kind == "frame" and text.categories == {"city": sorted(CITIES)}
    _, pred = score(text, new)
    np.testing.assert_allclose(pred.probabilities, model.predict_proba(own_input), rtol=1e-9)


def test_hist_gradient_boosting_on_numpy_is_a_matrix_model(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = numeric_frame()
    y = RNG.integers(0, 3, N)
    model = HistGradientBoostingClassifier(max_iter=10).fit(X.to_numpy(), y)
    joblib.dump(model, tmp_path / "m.joblib")
    adapter = load_model(str(tmp_path / "m.joblib"))
    assert adapter.flavor == "sklearn" and adapter.input_kind == "matrix" and adapter.feature_names is None
    X.loc[0, "f1"] = np.nan
    _, pred = score(adapter, X)
    np.testing.assert_allclose(pred.probabilities, model.predict_proba(X.to_numpy()), rtol=1e-12)


def test_hist_gradient_boosting_with_categories_from_dtype(tmp_path):
    from sklearn.ensemble import HistGradientBoostingRegressor

    train = mixed_frame().assign(city=lambda d: d.city.astype("category"))
    y = train.income + (train.city == "nice") * 5
    model = HistGradientBoostingRegressor(max_iter=10, categorical_features="from_dtype").fit(train, y)
    joblib.dump(model, tmp_path / "m.joblib")
    adapter = load_model(str(tmp_path / "m.joblib"))
    assert adapter.input_kind == "frame" and adapter.categories == {"city": sorted(CITIES)}
    new = mixed_frame(40)
    _, pred = score(adapter, new)
    own = model.predict(new.assign(city=pd.Categorical(new.city, categories=sorted(CITIES))))
    np.testing.assert_allclose(pred.values, own, rtol=1e-12)


def test_pipeline_with_column_transformer_on_a_dataframe(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = mixed_frame()
    y = RNG.choice(["low", "mid", "high"], N)
    model = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])),
        ("clf", LogisticRegression(max_iter=200)),
    ]).fit(train, y)
    joblib.dump(model, tmp_path / "pipe.joblib")
    adapter = load_model(str(tmp_path / "pipe.joblib"))
    assert adapter.flavor == "sklearn" and adapter.input_kind == "frame"
    assert adapter.feature_names == ["age", "income", "city"]
    assert adapter.classes == ["high", "low", "mid"] and all(type(c) is str for c in adapter.classes)
    new = mixed_frame(50)
    new.loc[0, "city"] = "brest"
    x, pred = score(adapter, new)
    assert x.data["city"].dtype == object and x.data["age"].dtype == np.int64
    np.testing.assert_allclose(pred.probabilities, model.predict_proba(new), rtol=1e-12)


def test_hist_gradient_boosting_after_a_column_transformer_keeps_its_categories_inside(tmp_path):
    """The HGB's categorical columns are columns of the ColumnTransformer's output (here: the encoded
    city, output column 0), not input columns: the input's first column (``age``) must not be turned into
    a category of the encoder's codes (which made every age missing and changed the predictions)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    train = mixed_frame()
    train.loc[:20, "city"] = None
    y = (train.age > 50).astype(int) + (train.city == "nice").astype(int)
    model = Pipeline([
        ("prep", ColumnTransformer([
            ("city", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), ["city"]),
            ("num", "passthrough", ["age", "income"]),
        ])),
        ("clf", HistGradientBoostingClassifier(max_iter=10, categorical_features=[0])),
    ]).fit(train, y)
    joblib.dump(model, tmp_path / "m.joblib")
    adapter = load_model(str(tmp_path / "m.joblib"))
    assert adapter.input_kind == "frame" and adapter.categories == {}
    assert not any("HistGradientBoosting" in r for r in adapter.frame_reasons)
    new = mixed_frame(60)
    new.loc[:5, "city"] = None
    new.loc[6, "city"] = "brest"
    x, pred = score(adapter, new)
    assert x.data["age"].dtype == np.int64 and x.unseen == {}
    np.testing.assert_allclose(pred.probabilities, model.predict_proba(new), rtol=1e-12)


def test_string_labelled_classifier_keeps_string_classes(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    X = numeric_frame()
    y = np.where(X.f0 > 0, "churn", "stay")
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X.to_numpy(), y)
    joblib.dump(model, tmp_path / "m.pkl")
    adapter = load_model(str(tmp_path / "m.pkl"))
    assert adapter.classes == ["churn", "stay"] and adapter.has_probabilities
    _, pred = score(adapter, X)
    np.testing.assert_allclose(pred.probabilities, model.predict_proba(X.to_numpy()))


def test_linear_svc_gives_labels_without_probabilities(tmp_path):
    from sklearn.svm import LinearSVC

    X = numeric_frame()
    y = np.where(X.f0 + X.f2 > 0, "a", "b")
    model = LinearSVC().fit(X, y)
    joblib.dump(model, tmp_path / "svc.pkl")
    adapter = load_model(str(tmp_path / "svc.pkl"))
    assert adapter.classes == ["a", "b"] and not adapter.has_probabilities
    assert adapter.input_kind == "matrix"  # fitted on a DataFrame of numbers: the matrix is enough
    _, pred = score(adapter, X)
    assert pred.probabilities is None and pred.values is None
    assert list(pred.labels) == list(model.predict(X))


def test_regressor(tmp_path):
    from sklearn.linear_model import Ridge

    X = numeric_frame()
    model = Ridge().fit(X, X.f0 * 3 + 1)
    joblib.dump(model, tmp_path / "r.pkl")
    adapter = load_model(str(tmp_path / "r.pkl"))
    assert adapter.classes is None and not adapter.has_probabilities
    _, pred = score(adapter, X)
    np.testing.assert_allclose(pred.values, model.predict(X), rtol=1e-12)


def test_xgboost_softmax_gives_labels(tmp_path):
    import xgboost as xgb

    X = numeric_frame()
    booster = xgb.train({"objective": "multi:softmax", "num_class": 3}, xgb.DMatrix(X, label=RNG.integers(0, 3, N)),
                        num_boost_round=3)
    booster.save_model(str(tmp_path / "soft.json"))
    adapter = load_model(str(tmp_path / "soft.json"))
    assert adapter.classes == [0, 1, 2] and not adapter.has_probabilities
    _, pred = score(adapter, X)
    np.testing.assert_array_equal(pred.labels, booster.predict(xgb.DMatrix(X)).astype(int))


def test_pickled_lightgbm_booster_and_xgbregressor(tmp_path):
    import lightgbm as lgb
    import xgboost as xgb

    X = numeric_frame()
    y = X.f0 * 2 + X.f1
    booster = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, label=y), num_boost_round=5)
    joblib.dump(booster, tmp_path / "lgb.pkl")
    adapter = load_model(str(tmp_path / "lgb.pkl"))
    assert type(adapter).__name__ == "LightGBMAdapter" and adapter.classes is None
    np.testing.assert_allclose(score(adapter, X)[1].values, booster.predict(X), rtol=1e-12)
    reg = xgb.XGBRegressor(n_estimators=5).fit(X, y)
    joblib.dump(reg, tmp_path / "xgbr.pkl")
    adapter = load_model(str(tmp_path / "xgbr.pkl"), "sklearn")  # the sklearn API object: both flavors fit
    assert adapter.flavor == "xgboost" and adapter.classes is None and not adapter.has_probabilities
    np.testing.assert_allclose(score(adapter, X)[1].values, reg.predict(X), rtol=1e-6)
