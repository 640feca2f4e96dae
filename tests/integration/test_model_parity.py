"""Every model shape a user already has scores unchanged, through the operator, on both engines.

For each model: the real operator -> hook path with path input/output. ``engine="spark"``: one DAG holding
one operator task per model, run once with Airflow's ``dag.test()`` (real Airflow on SQLite); each task
runs the job on the tests' shared local[2] Hive session (``in_session`` fixture, ``tests/conftest.py``:
only spark-submit is replaced, since a spark-submit JVM per task would need its own metastore). Its run
report comes back through XCom. ``engine="in_process"`` scores in this process. Both outputs must equal
the model's own prediction, computed here with the model library on a pandas DataFrame / numpy matrix, on
every row (class, score, label), and each other.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.integration.dag_utils import read_folder

pytestmark = [pytest.mark.spark]

ROWS = 500
DT = {"dt": "2026-01-01"}
NUM = ["f0", "f1", "f2", "f3"]
CITIES = ["beijing", "shanghai", "shenzhen", "hangzhou"]
UNSEEN = 4
ORIGIN_MAPPING = {"0.0": "运营型产品", "1.0": "小金库", "2.0": "理财"}


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, len(NUM)))
    df = pd.DataFrame(x, columns=NUM)
    df["city"] = rng.choice(CITIES, n)
    df["segment"] = rng.choice(["a", "b", "c"], n)
    df.insert(0, "pin", [f"u{seed}-{i:05d}" for i in range(n)])
    return df


def _target(df: pd.DataFrame) -> np.ndarray:
    """Three classes that depend on the numbers and on the city (so the string column matters)."""
    z = df["f0"].to_numpy() + 0.5 * df["f1"].to_numpy() + (df["city"] == "shanghai").to_numpy() * 1.5
    return np.digitize(z, [-0.5, 0.7])


@dataclass
class Case:
    """One model file and how to predict it with its own library.

    :param name: test id
    :param path: the model file
    :param own: the model's own prediction on the input DataFrame: (classes, scores or None)
    :param kwargs: extra operator arguments (nothing but the path when empty)
    :param labels: class -> expected label (when a label column is written)
    """

    name: str
    path: str
    own: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray | None]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    labels: dict[Any, str] | None = None


def _proba(model: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    p = model.predict_proba(x)
    return np.asarray(model.classes_)[p.argmax(axis=1)], p.max(axis=1)


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> dict[str, Case]:
    import joblib
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import LinearSVC

    folder = tmp_path_factory.mktemp("models")
    train = _frame(800, 1)
    y = _target(train)
    out: dict[str, Case] = {}

    def path(name: str) -> str:
        return str(folder / name)

    # XGBoost Booster, saved as JSON and joblib-pickled as the origin recipe did
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(train[NUM], label=y), num_boost_round=8)
    booster.save_model(path("booster.json"))
    joblib.dump(booster, path("model.pkl"))

    def own_booster(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        p = booster.predict(xgb.DMatrix(df[NUM]))
        return p.argmax(axis=1), p.max(axis=1)

    out["xgb_booster_json"] = Case("xgb_booster_json", path("booster.json"), own_booster)
    out["xgb_booster_pickle"] = Case("xgb_booster_pickle", path("model.pkl"), own_booster,
                                     {"label_column": "label", "label_mapping": dict(ORIGIN_MAPPING)},
                                     {0: "运营型产品", 1: "小金库", 2: "理财"})

    clf = xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1).fit(train[NUM], y)
    joblib.dump(clf, path("xgb_classifier.pkl"))
    out["xgb_classifier"] = Case("xgb_classifier", path("xgb_classifier.pkl"), lambda df: _proba(clf, df[NUM]))

    lgb_booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 7, "verbose": -1,
                             "num_threads": 1}, lgb.Dataset(train[NUM], label=y), num_boost_round=8)
    lgb_booster.save_model(path("lgb.txt"))

    def own_lgb(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        p = lgb_booster.predict(df[NUM])
        return p.argmax(axis=1), p.max(axis=1)

    out["lightgbm_text"] = Case("lightgbm_text", path("lgb.txt"), own_lgb)

    cat_train = train[[*NUM, "segment"]].astype({"segment": pd.CategoricalDtype(["a", "b", "c"])})
    lgbm = lgb.LGBMClassifier(n_estimators=8, num_leaves=7, verbose=-1, n_jobs=1).fit(cat_train, y)
    joblib.dump(lgbm, path("lgbm_category.pkl"))

    def own_lgbm(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = df[[*NUM, "segment"]].astype({"segment": pd.CategoricalDtype(["a", "b", "c"])})
        return _proba(lgbm, x)

    out["lgbm_category"] = Case("lgbm_category", path("lgbm_category.pkl"), own_lgbm)

    hgb = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(train[NUM].to_numpy(), y)
    joblib.dump(hgb, path("hgb.pkl"))
    out["hgb_numpy"] = Case("hgb_numpy", path("hgb.pkl"), lambda df: _proba(hgb, df[NUM].to_numpy()),
                            {"features": list(NUM)})

    pipe = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), ["f0", "f1", "f2"]),
                                    ("city", OneHotEncoder(handle_unknown="ignore"), ["city"])])),
        ("clf", LogisticRegression(max_iter=500)),
    ]).fit(train[["f0", "f1", "f2", "city"]], y)
    joblib.dump(pipe, path("pipeline.pkl"))
    out["sklearn_pipeline"] = Case("sklearn_pipeline", path("pipeline.pkl"),
                                   lambda df: _proba(pipe, df[["f0", "f1", "f2", "city"]]))

    y_text = np.where(y == 2, "churn", "stay")
    text_clf = LogisticRegression(max_iter=500).fit(train[NUM], y_text)
    joblib.dump(text_clf, path("string_labels.pkl"))
    out["string_labels"] = Case("string_labels", path("string_labels.pkl"), lambda df: _proba(text_clf, df[NUM]),
                                {"label_column": "label", "label_mapping": {"churn": "Leaving", "stay": "Staying"}},
                                {"churn": "Leaving", "stay": "Staying"})

    svc = LinearSVC().fit(train[NUM], y)
    joblib.dump(svc, path("linear_svc.pkl"))
    out["linear_svc"] = Case("linear_svc", path("linear_svc.pkl"), lambda df: (svc.predict(df[NUM]), None),
                             {"label_column": "label", "label_mapping": {0: "low", 1: "mid", 2: "high"}},
                             {0: "low", 1: "mid", 2: "high"})

    reg = Ridge().fit(train[NUM], train["f0"] * 2 + train["f3"])
    joblib.dump(reg, path("ridge.pkl"))
    out["regressor"] = Case("regressor", path("ridge.pkl"), lambda df: (reg.predict(df[NUM]), None))
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Any]:
    """The scored input (path partition ``dt=2026-01-01``) and one with NULL keys."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = tmp_path_factory.mktemp("inputs")
    df = _frame(ROWS, 2)
    df.loc[:UNSEEN - 1, "segment"] = "z"  # not a training category: missing for the model, counted
    src = base / "features"
    (src / "dt=2026-01-01").mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), src / "dt=2026-01-01" / "part-0.parquet")
    nulls = df.copy()
    nulls.loc[[3, 50, 400], "pin"] = None
    bad = base / "null_keys"
    (bad / "dt=2026-01-01").mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(nulls, preserve_index=False), bad / "dt=2026-01-01" / "part-0.parquet")
    return {"df": df, "src": str(src), "null_keys": str(bad)}


def _score(case: Case, src: str, out: str, engine: str, **over: Any) -> dict[str, Any]:
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    return SparkPredictOperator(task_id="score", **_operator_kwargs(case, src, out, engine, **over)).execute(
        {"ti": None})


CASES = ["xgb_booster_json", "xgb_booster_pickle", "xgb_classifier", "lightgbm_text", "lgbm_category",
         "hgb_numpy", "sklearn_pipeline", "string_labels", "linear_svc", "regressor"]

#: the DAG of the Spark-engine parity: one SparkPredictOperator per model; the operators' arguments come
#: from a pickle the test writes (label maps keep their key types: ``{0: "low"}`` stays an int key)
PARITY_DAG = '''
import os
import pickle
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

with open(os.environ["PARITY_DAG_TASKS"], "rb") as fh:
    TASKS = pickle.load(fh)
with DAG("model_parity", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    for task_id, kwargs in TASKS.items():
        SparkPredictOperator(task_id=task_id, **kwargs)
'''


def _operator_kwargs(case: Case, src: str, out: str, engine: str, **over: Any) -> dict[str, Any]:
    return {"model": case.path, "input_path": "file://" + src, "input_partition": DT, "keys": ["pin"],
            "output_path": "file://" + out, "output_partition": DT, "engine": engine, **case.kwargs, **over}


@pytest.fixture(scope="module")
def spark_dag_run(cases, inputs, in_session, airflow_db, tmp_path_factory) -> dict[str, Any]:
    """``dag.test()`` of the parity DAG (one task per case, ``engine="spark"``); returns the DagRun state and,
    per case, its output folder and the report the task returned (XCom)."""
    import importlib.util
    import json
    from datetime import UTC, datetime

    base = tmp_path_factory.mktemp("parity_dag")
    dags = base / "dags"
    dags.mkdir()
    (dags / "model_parity.py").write_text(PARITY_DAG)
    outs = {name: str(base / "out" / name) for name in CASES}
    with open(base / "tasks.pkl", "wb") as fh:
        pickle.dump({name: _operator_kwargs(cases[name], inputs["src"], outs[name], "spark") for name in CASES}, fh)
    with pytest.MonkeyPatch.context() as mp:
        # dag.test() needs the DAG file in the configured dags folder: a one-file folder for this module
        mp.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
        mp.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([{
            "name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags)}}]))
        mp.setenv("PARITY_DAG_TASKS", str(base / "tasks.pkl"))
        spec = importlib.util.spec_from_file_location("model_parity_dag", dags / "model_parity.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag = module.dag
        assert sorted(dag.task_ids) == sorted(CASES)
        dr = dag.test(logical_date=datetime(2026, 1, 2, tzinfo=UTC))
        tis = {name: dr.get_task_instance(name) for name in CASES}
        results = {name: {"state": str(ti.state), "report": ti.xcom_pull(task_ids=name), "out": outs[name]}
                   for name, ti in tis.items()}
    return {"state": str(dr.state), "tasks": results}


def _engine_result(name: str, engine: str, case: Case, src: str, spark_dag_run: dict[str, Any],
                   tmp_path: Any) -> tuple[dict[str, Any], str]:
    """(report, output folder) of one case on one engine: Spark from the DAG run, in-process directly."""
    if engine == "spark":
        task = spark_dag_run["tasks"][name]
        assert task["state"] == "success", f"task {name} ended {task['state']}: {task['report']}"
        return task["report"], task["out"]
    out = str(tmp_path / engine)
    return _score(case, src, out, engine), out


@pytest.mark.parametrize("name", CASES)
def test_output_equals_the_models_own_prediction_on_both_engines(name, cases, inputs, spark_dag_run, tmp_path):
    case = cases[name]
    df = inputs["df"]
    classes, scores = case.own(df)
    got = {}
    for engine in ("spark", "in_process"):
        report, out = _engine_result(name, engine, case, inputs["src"], spark_dag_run, tmp_path)
        assert report["published"] and report["rows_out"] == ROWS, report.get("error")
        assert report["engine"] == engine
        assert report["model"]["input_kind"] in ("matrix", "frame")
        assert report["model"]["cast_rules"] and all(r["given_as"] for r in report["model"]["cast_rules"])
        table = read_folder(os.path.join(out, "dt=2026-01-01")).set_index("pin").loc[df["pin"]]
        if np.asarray(classes).dtype.kind == "f":  # regressor: prediction and score are the value
            np.testing.assert_allclose(table["prediction"].to_numpy(), classes, rtol=1e-9)
            np.testing.assert_allclose(table["score"].to_numpy(), classes, rtol=1e-9)
        else:
            assert table["prediction"].tolist() == np.asarray(classes).tolist()
            if scores is None:  # no probabilities: the score column is omitted
                assert "score" not in table.columns
            else:
                np.testing.assert_allclose(table["score"].to_numpy(), scores, rtol=1e-6)
        if case.labels is not None:
            assert table["label"].tolist() == [case.labels[c] for c in np.asarray(classes).tolist()]
            assert report["uncovered_labels"] == []
        unseen = report["model"]["unseen_categories"]
        assert unseen == ({"segment": UNSEEN} if name == "lgbm_category" else None)
        got[engine] = table
    pd.testing.assert_frame_equal(got["spark"], got["in_process"], check_dtype=False, rtol=1e-9)


def test_frame_models_read_strings_as_strings_and_say_so(cases, inputs, in_session, tmp_path):
    report = _score(cases["sklearn_pipeline"], inputs["src"], str(tmp_path / "out"), "spark")
    model = report["model"]
    assert model["input_kind"] == "frame"
    city = next(r for r in model["cast_rules"] if r["column"] == "city")
    assert city["given_as"] == "str" and "string" in city["input_type"]
    assert report["strategy"]["reader"] == "pyarrow"  # string columns no longer force Spark's reader
    # Spark's own reader and the grouped strategy hand the same uncast columns to the same prepare
    classes, scores = cases["sklearn_pipeline"].own(inputs["df"])
    for i, over in enumerate([{"reader": "spark"}, {"strategy": "grouped", "target_group_rows": 200}]):
        out = str(tmp_path / f"o{i}")
        report = _score(cases["sklearn_pipeline"], inputs["src"], out, "spark", **over)
        table = read_folder(os.path.join(out, "dt=2026-01-01")).set_index("pin").loc[inputs["df"]["pin"]]
        assert table["prediction"].tolist() == classes.tolist()
        np.testing.assert_allclose(table["score"].to_numpy(), scores, rtol=1e-6)
    assert report["strategy"]["strategy"] == "grouped"
    matrix = _score(cases["xgb_booster_json"], inputs["src"], str(tmp_path / "m"), "spark")
    assert matrix["model"]["input_kind"] == "matrix" and matrix["strategy"]["feature_dtype"] == "double"


def test_a_mapping_missing_a_class_fails_naming_it_and_publishes_nothing(cases, inputs, in_session, tmp_path):
    from airflow_provider_spark_predict.exceptions import CheckFailed

    out = str(tmp_path / "out")
    partial = {"label_column": "label", "label_mapping": {"0.0": "运营型产品", "1.0": "小金库"}}
    for engine in ("spark", "in_process"):
        with pytest.raises(CheckFailed, match=r"labels: FAILED: predicted class\(es\) \['2'\] have no label"):
            _score(cases["xgb_booster_pickle"], inputs["src"], out, engine, **partial)
        assert not os.path.exists(os.path.join(out, "dt=2026-01-01"))


def test_null_keys_fail_naming_the_count_and_publish_nothing(cases, inputs, in_session, tmp_path):
    from airflow_provider_spark_predict.exceptions import CheckFailed

    out = str(tmp_path / "out")
    for engine in ("spark", "in_process"):
        with pytest.raises(CheckFailed, match=r"null_keys: FAILED: 3 rows have a NULL key") as failed:
            _score(cases["xgb_booster_json"], inputs["null_keys"], out, engine)
        assert "unique_keys: FAILED" not in str(failed.value)  # NULL keys are not "repeated" keys
        assert not os.path.exists(os.path.join(out, "dt=2026-01-01"))


def test_driver_predicts_a_sample_of_a_hive_input_before_scoring(cases, inputs, in_session, shared_spark, tmp_path):
    """A Hive table's schema is not reachable from the Airflow worker: the driver's sample predict (5 rows
    of the real input, through the executors' code) fails with the model's own error and the column types
    before any executor work or write."""
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    bad = inputs["df"].head(50).astype({"f0": str})
    bad["f0"] = "n/a"  # the pipeline's StandardScaler cannot take this column
    bad["dt"] = DT["dt"]
    shared_spark.sql("CREATE DATABASE IF NOT EXISTS parity")
    shared_spark.createDataFrame(bad).write.mode("overwrite").partitionBy("dt").saveAsTable("parity.bad_input")
    out = str(tmp_path / "out")
    what = r"cannot predict a sample of 5 rows of input table parity\.bad_input.*could not convert.*f0: string"
    with pytest.raises(Exception, match=r"model \S*/pipeline\.pkl .*" + what):
        SparkPredictOperator(task_id="score", model=cases["sklearn_pipeline"].path, input_table="parity.bad_input",
                             input_partition=DT, keys=["pin"], output_path="file://" + out,
                             output_partition=DT).execute({"ti": None})
    assert not os.path.exists(out)


def test_an_explicit_score_column_on_a_model_without_probabilities_fails_naming_it(cases, inputs, in_session,
                                                                                  tmp_path):
    from airflow_provider_spark_predict.exceptions import ModelError

    out = str(tmp_path / "out")
    for engine in ("spark", "in_process"):
        with pytest.raises(ModelError, match=r"(?s)linear_svc.*score"):
            _score(cases["linear_svc"], inputs["src"], out, engine, score_column="score")
        assert not os.path.exists(os.path.join(out, "dt=2026-01-01"))
