"""Result checks and bad input with real Spark (local[2]) and the embedded Hive metastore.

Each scenario runs the real operator -> hook path (staging, the spec written to the store, the report
read back and mapped to exceptions); only spark-submit is replaced: the job's code runs on the tests'
shared Hive session (``in_session`` fixture, see ``tests/conftest.py``). Submission itself (baseline,
kill, concurrency) is covered with real spark-submit in ``test_submit_scenarios.py``.

Independent tests: the module fixture scores a good baseline for 2026-01-01 once (read-only); every bad
run must leave it exactly as it was, and no test relies on another test having run.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
import pandas as pd
import pytest

from airflow_provider_spark_predict.exceptions import CheckFailed, InputError, JobError, ModelError, SpecError
from tests.conftest import demo_in_session
from tests.integration.dag_utils import checked_report, read_folder

pytestmark = [pytest.mark.spark]

D1, D2 = "2026-01-01", "2026-01-02"
ROWS = 2000
FEATURES = [f"f{i:03d}" for i in range(100)]


class _TI:
    """The one TaskInstance method the operator calls (xcom_push of the tracking URL)."""

    def __init__(self) -> None:
        self.xcom: dict = {}

    def xcom_push(self, key: str, value) -> None:
        self.xcom[key] = value


@pytest.fixture(scope="module")
def world(in_session, shared_spark):
    """The demo input (read-only) and a good baseline partition of ``demo.user_scores`` for D1, scored
    once here; tests read it and must not change it."""
    state = {"home": in_session, "model": demo_in_session(shared_spark, [D1, D2], ROWS)}
    # the shared session's metastore outlives modules: start from no output table, whatever ran before
    shared_spark.sql("DROP TABLE IF EXISTS demo.user_scores")
    state["baseline"] = score(state)
    return state


def score(world, date=D1, **kw):
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    args = dict(
        task_id="score",
        model=world["model"],
        input_table="demo.user_features",
        input_partition={"dt": date},
        keys=["pin"],
        fill_value=999999.0,
        output_table="demo.user_scores",
        output_partition={"dt": date},
        prediction_column="class",
    )
    args.update(kw)
    return SparkPredictOperator(**args).execute({"ti": _TI()})


def all_columns_sql(date: str, *, drop=(), replace=None, extra_where="") -> str:
    replace = replace or {}
    cols = ["pin"] + FEATURES
    exprs = [replace.get(c, f"`{c}`") for c in cols if c not in drop]
    where = f"dt = '{date}'" + (f" AND {extra_where}" if extra_where else "")
    return f"SELECT {', '.join(exprs)} FROM demo.user_features WHERE {where}"


def assert_baseline_intact(world):
    now = checked_report(world["home"], "demo.user_scores", D1)
    assert now["run_id"] == world["baseline"]["run_id"], "a bad run replaced the good partition"


def test_baseline_passes_all_checks(world):
    report = world["baseline"]
    assert report["status"] == "succeeded" and report["published"]
    assert report["rows_in"] == ROWS and report["rows_out"] == ROWS and report["duplicate_keys"] == 0
    assert all(c["status"] in ("passed", "skipped") for c in report["checks"])
    assert_baseline_intact(world)


# ---- issue 4: checks that fail the task ---------------------------------------------------------------
def test_missing_rows_fail_row_parity(world):
    with pytest.raises(CheckFailed, match=r"row_parity: FAILED: rows out \d+ vs rows in 2000"):
        score(world, input_filter="f000 > 0")
    assert_baseline_intact(world)


def test_row_parity_tolerance_allows_a_stated_filter(world):
    report = score(world, output_table="demo.user_scores_filtered", input_filter="pin NOT LIKE '%7'",
                   checks={"row_parity": {"policy": "fail", "threshold": 0.15}})
    assert report["published"] and report["rows_out"] == 1800
    assert {c["name"]: c["status"] for c in report["checks"]}["row_parity"] == "passed"


def test_duplicated_keys_fail_unique_keys(world):
    sql = all_columns_sql(D1) + " UNION ALL " + all_columns_sql(D1, extra_where="pin LIKE '%00'")
    with pytest.raises(CheckFailed, match=r"unique_keys: FAILED: 20 rows repeat a key"):
        score(world, input_table=None, input_partition=None, input_sql=sql)
    assert_baseline_intact(world)


def test_model_yielding_nan_fails_null_predictions(world, tmp_path):
    from sklearn.dummy import DummyRegressor

    model = DummyRegressor(strategy="constant", constant=0.0)
    model.fit(pd.DataFrame(np.zeros((3, 100)), columns=FEATURES), [0.0, 0.0, 0.0])
    model.constant_ = np.array([[np.nan]])  # a broken model: every prediction NaN
    path = str(tmp_path / "nan_model.joblib")
    joblib.dump(model, path)
    with pytest.raises(CheckFailed, match=r"null_predictions: FAILED: 2000 null/NaN predictions"):
        score(world, model=path, output_table="demo.user_values")


def test_drift_above_fail_threshold_fails_and_warn_policy_succeeds(world):
    table = "demo.user_scores_drift"  # its own table: D1 here is the previous partition of the D2 runs
    assert score(world, output_table=table)["published"]
    shifted = all_columns_sql(D2, replace={f: f"`{f}` * 3 + 2 AS `{f}`" for f in FEATURES})
    drift_fail = {"drift": {"policy": "fail", "warn_threshold": 0.1, "threshold": 0.25}}
    marker = os.path.join(world["home"], "store", "reports", table, f"dt={D2}", "_CHECKED.json")
    with pytest.raises(CheckFailed, match=r"drift: FAILED: PSI \d+\.\d+ against \{'dt': '2026-01-01'\}"):
        score(world, date=D2, input_table=None, input_partition=None, input_sql=shifted, checks=drift_fail,
              output_table=table)
    assert not os.path.exists(marker), "a failed check must not publish the partition"

    drift_warn = {"drift": {"policy": "warn", "warn_threshold": 0.1, "threshold": 0.25}}
    report = score(world, date=D2, input_table=None, input_partition=None, input_sql=shifted, checks=drift_warn,
                   output_table=table)
    drift = {c["name"]: c for c in report["checks"]}["drift"]
    assert drift["status"] == "warned" and drift["value"] > 0.25
    assert report["published"] and os.path.exists(marker)


# ---- issue 5: bad input --------------------------------------------------------------------------------
def test_missing_feature_and_key_columns_fail_before_scoring(world):
    sql = all_columns_sql(D1, drop=("f099", "pin"), replace={}).replace("SELECT ", "SELECT pin AS user_id, ", 1)
    with pytest.raises(InputError, match=r"missing key column\(s\) \['pin'\] and feature column\(s\) \['f099'\]"):
        score(world, input_table=None, input_partition=None, input_sql=sql)
    assert_baseline_intact(world)


def test_non_numeric_feature_values_fail_or_are_filled(world):
    bad = {"f000": "CASE WHEN pin LIKE '%5' THEN 'abc' ELSE CAST(CAST(`f000` AS DOUBLE) AS STRING) END AS `f000`"}
    sql = all_columns_sql(D1, replace=bad)
    with pytest.raises(InputError, match=r"not numbers: \{'f000': 200\} \(e\.g\. f000='abc'\)"):
        score(world, input_table=None, input_partition=None, input_sql=sql, on_invalid="fail")
    assert_baseline_intact(world)

    report = score(world, input_table=None, input_partition=None, input_sql=sql, on_invalid="fill",
                   output_table="demo.user_scores_cast")
    assert report["published"] and report["rows_out"] == ROWS and report["null_predictions"] == 0
    # the 'abc' rows were scored as f000 = fill value, exactly like the model in-process
    import xgboost as xgb

    inp = read_folder(os.path.join(world["home"], "warehouse", "demo.db", "user_features", f"dt={D1}"))
    x = inp[FEATURES].to_numpy(dtype=np.float64)
    x[inp["pin"].str.endswith("5").to_numpy(), 0] = np.nan
    x = np.where(np.isnan(x), 999999.0, x)
    booster = xgb.Booster()
    booster.load_model(world["model"])
    expected = booster.inplace_predict(x).argmax(axis=1)
    out = read_folder(report["version_path"]).set_index("pin").loc[inp["pin"]]
    np.testing.assert_array_equal(out["class"].to_numpy(), expected)


def test_empty_or_missing_partition_fails_unless_allowed(world):
    with pytest.raises(InputError, match=r"partition \(dt=2026-02-01\) is empty or missing \(0 rows\)"):
        score(world, input_partition={"dt": "2026-02-01"}, output_partition={"dt": D1})
    assert_baseline_intact(world)
    report = score(world, input_partition={"dt": "2026-02-01"}, output_partition={"dt": "2026-02-01"},
                   output_table="demo.user_scores_empty", allow_empty_input=True)
    assert report["published"] and report["rows_in"] == 0 and report["rows_out"] == 0


def test_model_problems_fail_before_submit(world, tmp_path):
    with pytest.raises(ModelError, match=r"model file .*/nope\.json does not exist"):
        score(world, model=str(tmp_path / "nope.json"))
    garbage = tmp_path / "broken.json"
    garbage.write_text("{not a model")
    with pytest.raises(ModelError, match=r"broken\.json is a JSON file that is not an XGBoost model"):
        score(world, model=str(garbage))
    joblib.dump({"not": "a model"}, tmp_path / "dict.joblib")
    with pytest.raises(ModelError, match=r"dict\.joblib holds a pickled builtins\.dict, not a model with predict"):
        score(world, model=str(tmp_path / "dict.joblib"))
    from sklearn.linear_model import LogisticRegression

    small = LogisticRegression().fit(np.random.default_rng(0).normal(size=(50, 5)), [0, 1] * 25)
    joblib.dump(small, tmp_path / "five.joblib")
    with pytest.raises(ModelError, match=r"expects 5 features but 100 feature columns were given"):
        score(world, model=str(tmp_path / "five.joblib"), features=FEATURES)
    with pytest.raises(ModelError, match=r"does not record feature names"):
        score(world, model=str(tmp_path / "five.joblib"))
    with pytest.raises(SpecError, match="flavor"):
        score(world, flavor="torch")
    assert_baseline_intact(world)


def test_300_features(world, tmp_path):
    from sklearn.linear_model import LogisticRegression

    names = [f"g{i:03d}" for i in range(300)]
    rng = np.random.default_rng(3)
    train = pd.DataFrame(rng.normal(size=(400, 300)), columns=names)
    model = LogisticRegression(max_iter=200).fit(train, rng.integers(0, 3, size=400))
    path = str(tmp_path / "wide.joblib")
    joblib.dump(model, path)
    exprs = ", ".join(f"`f{i % 100:03d}` * {1 + i // 100} AS `g{i:03d}`" for i in range(300))
    sql = f"SELECT pin, {exprs} FROM demo.user_features WHERE dt = '{D1}'"
    report = score(world, model=path, input_table=None, input_partition=None, input_sql=sql, fill_value=0.0,
                   output_table="demo.user_scores_wide", probability_column="probability")
    assert report["published"] and report["rows_out"] == ROWS and report["model"]["n_features"] == 300
    inp = read_folder(os.path.join(world["home"], "warehouse", "demo.db", "user_features", f"dt={D1}"))
    x = np.column_stack([inp[f"f{i % 100:03d}"].to_numpy(dtype=np.float64) * (1 + i // 100) for i in range(300)])
    x = np.where(np.isnan(x), 0.0, x)
    expected = model.predict_proba(pd.DataFrame(x, columns=names))
    out = read_folder(report["version_path"]).set_index("pin").loc[inp["pin"]]
    np.testing.assert_array_equal(out["class"].to_numpy(), model.classes_[expected.argmax(axis=1)])
    np.testing.assert_allclose(np.stack(out["probability"].to_numpy()), expected, rtol=1e-9)


def test_failure_while_writing_leaves_previous_partition(world, tmp_path):
    """An executor-side failure in the score+write stage (a model that fails only inside Spark tasks: the
    sample predicts before submit and on the driver pass; a model that fails on the sample already is
    ``test_model_parity.py::test_driver_predicts_a_sample_of_a_hive_input_before_scoring``)."""
    from tests.helpers.faulty_model import FailsInSparkTasks

    rng = np.random.default_rng(1)
    model = FailsInSparkTasks().fit(pd.DataFrame(rng.normal(size=(60, 100)), columns=FEATURES), [0, 1, 2] * 20)
    path = str(tmp_path / "lr.joblib")
    joblib.dump(model, path)
    with pytest.raises(JobError, match="injected executor failure"):
        score(world, model=path)
    assert_baseline_intact(world)
