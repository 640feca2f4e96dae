"""``engine="local"``: the operator scores a small partition in-process, without Spark or a JVM."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

from airflow_provider_spark_predict.exceptions import CheckFailed, SpecError

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "spark_ml", "spark-4.3", "rf_classifier")


def operator(**kw):
    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    return SparkPredictOperator(task_id="score_small", engine="in_process", **kw)


def test_spark_pipeline_scored_locally_equals_spark_transform(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_PREDICT_HOME", str(tmp_path / "home"))
    src = tmp_path / "in" / "dt=2026-01-01"
    src.mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURE, "input.parquet"), src / "part-0.parquet")
    out = tmp_path / "out"
    report = operator(model=os.path.join(FIXTURE, "model"), input_path=f"file://{tmp_path / 'in'}",
                      input_partition={"dt": "2026-01-01"}, keys=["row_id"], output_path=f"file://{out}",
                      output_partition={"dt": "2026-01-01"}).execute({"ti": None})
    expected = pd.read_parquet(os.path.join(FIXTURE, "expected.parquet")).set_index("row_id").sort_index()
    got = pd.read_parquet(out / "dt=2026-01-01").set_index("row_id").sort_index()
    assert report["engine"] == "in_process" and report["published"] and report["model"]["flavor"] == "spark_pipeline"
    assert report["rows_in"] == report["rows_out"] == len(expected)
    np.testing.assert_array_equal(got["prediction"].to_numpy(dtype=float), expected["prediction"].to_numpy())
    np.testing.assert_array_equal(got["score"].to_numpy(dtype=float),
                                  np.stack([v["values"] for v in expected["probability"]]).max(axis=1))
    assert os.path.exists(tmp_path / "home" / "store" / "reports")


def test_sklearn_model_locally_with_checks_and_no_jvm(tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("SPARK_PREDICT_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    feats = [f"x{i}" for i in range(5)]
    train = pd.DataFrame(rng.normal(size=(200, 5)), columns=feats)
    model = LogisticRegression().fit(train, (train["x0"] > 0).astype(int))
    joblib.dump(model, tmp_path / "m.joblib")
    for day, shift in (("2026-01-01", 0.0), ("2026-01-02", 3.0)):
        part = tmp_path / "in" / f"dt={day}"
        part.mkdir(parents=True)
        df = pd.DataFrame(rng.normal(size=(500, 5)) + shift, columns=feats)
        df.insert(0, "id", [f"u{i}" for i in range(500)])
        df.to_parquet(part / "p.parquet")
    args = dict(model=str(tmp_path / "m.joblib"), input_path=str(tmp_path / "in"), keys=["id"],
                output_path=str(tmp_path / "out"))
    first = operator(input_partition={"dt": "2026-01-01"}, output_partition={"dt": "2026-01-01"}, **args).execute({})
    assert first["published"] and first["rows_out"] == 500
    inp = pd.read_parquet(tmp_path / "in" / "dt=2026-01-01").set_index("id")
    got = pd.read_parquet(tmp_path / "out" / "dt=2026-01-01").set_index("id").loc[inp.index]
    np.testing.assert_array_equal(got["prediction"].to_numpy(), model.predict(inp[feats]))
    # the next day drifted: PSI against the previous partition fails the task and publishes nothing
    with pytest.raises(CheckFailed, match="drift: FAILED: PSI"):
        operator(input_partition={"dt": "2026-01-02"}, output_partition={"dt": "2026-01-02"},
                 checks={"drift": {"policy": "fail", "threshold": 0.25}}, **args).execute({})
    assert not os.path.exists(tmp_path / "out" / "dt=2026-01-02")
    with pytest.raises(SpecError, match="Hive tables need Spark"):
        operator(model=str(tmp_path / "m.joblib"), input_table="db.t", input_partition={"dt": "2026-01-01"},
                 keys=["id"], output_table="db.o", output_partition={"dt": "2026-01-01"}).execute({})


def test_local_engine_does_not_start_a_jvm():
    code = (
        "import sys, os, tempfile, numpy as np, pandas as pd, joblib\n"
        "from sklearn.dummy import DummyClassifier\n"
        "from airflow_provider_spark_predict.operators.predict import SparkPredictOperator\n"
        "d = tempfile.mkdtemp(); os.environ['SPARK_PREDICT_HOME'] = d + '/home'\n"
        "os.makedirs(d + '/in/dt=1'); pd.DataFrame({'k': ['a', 'b'], 'x': [1.0, 2.0]}).to_parquet(d + '/in/dt=1/p.parquet')\n"
        "joblib.dump(DummyClassifier().fit(pd.DataFrame({'x': [0.0, 1.0]}), [0, 1]), d + '/m.joblib')\n"
        "SparkPredictOperator(task_id='t', engine='in_process', model=d + '/m.joblib', input_path=d + '/in',\n"
        "    input_partition={'dt': '1'}, keys=['k'], output_path=d + '/out', output_partition={'dt': '1'}).execute({})\n"
        "print('pyspark' in sys.modules, 'py4j.java_gateway' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False False"
