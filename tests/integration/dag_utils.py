"""Load the example DAG and run it with ``dag.test()`` (real Airflow on SQLite, real Spark local[2])."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
from datetime import UTC, datetime
from typing import Any

import pandas as pd

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_example(name: str = "daily_user_scoring") -> Any:
    """Import ``dags_examples/<name>.py`` (it reads SPARK_PREDICT_HOME at parse time); returns the module."""
    path = os.path.join(REPO, "dags_examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_example_dag(name: str = "daily_user_scoring") -> Any:
    """The DAG of ``dags_examples/<name>.py`` (see :func:`load_example`)."""
    return load_example(name).dag


def run_dag(dag: Any, date: str) -> Any:
    """``dag.test()`` for one logical date; returns the DagRun."""
    y, m, d = (int(x) for x in date.split("-"))
    return dag.test(logical_date=datetime(y, m, d, tzinfo=UTC))


def checked_report(home: str, table: str, date: str) -> dict:
    """The report the job published with the partition (``_CHECKED.json``)."""
    with open(os.path.join(home, "store", "reports", table, f"dt={date}", "_CHECKED.json")) as fh:
        return json.load(fh)


def reports(home: str, table: str, date: str) -> list[dict]:
    """Every run report written for a partition, oldest first."""
    files = sorted(glob.glob(os.path.join(home, "store", "reports", table, f"dt={date}", "2*.json")))
    out = []
    for f in files:
        with open(f) as fh:
            out.append(json.load(fh))
    return out


def read_folder(uri: str) -> pd.DataFrame:
    """Read every parquet file of a folder (``file:`` URI or path) with pyarrow."""
    import pyarrow.parquet as pq

    path = uri.replace("file://", "").replace("file:", "")
    files = sorted(glob.glob(os.path.join(path, "*.parquet")) + glob.glob(os.path.join(path, "part-*")))
    files = sorted(set(f for f in files if not f.endswith(".crc")))
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def assert_model_predictions(home: str, report: dict, model: str, fill_value: float = 999999.0) -> None:
    """The version folder of ``report`` holds, for every row of its input partition, the XGBoost ``model``'s
    own in-process prediction (class, score) and the example DAG's label of that class (its ``CLASS_NAMES``);
    features filled with ``fill_value`` as the example DAG does."""
    import numpy as np
    import xgboost as xgb

    date = report["output_partition"]["dt"]
    inp = read_folder(os.path.join(home, "warehouse", "demo.db", "user_features", f"dt={date}"))
    booster = xgb.Booster()
    booster.load_model(model)
    feats = list(booster.feature_names or [])
    x = inp[feats].to_numpy(dtype=np.float32)
    x = np.where(np.isnan(x), np.float32(fill_value), x)
    probs = booster.predict(xgb.DMatrix(x, feature_names=feats))
    cls, score = probs.argmax(axis=1), probs.max(axis=1)
    out = read_folder(report["version_path"]).set_index("pin")
    assert len(out) == len(inp) and out.index.is_unique, f"{date}: {len(out)} rows for {len(inp)} input rows"
    got = out.loc[inp["pin"].to_numpy()]
    np.testing.assert_array_equal(got["class"].to_numpy(), cls, err_msg=f"{date}: class")
    np.testing.assert_allclose(got["score"].to_numpy(), score, rtol=1e-6, err_msg=f"{date}: score")
    class_names = load_example().CLASS_NAMES
    labels = np.array([class_names[c] for c in cls])
    assert (got["class_name"].to_numpy() == labels).all(), f"{date}: class_name"
