"""Deterministic throughput workloads (issues 6 and 14), cached under ``var/bench/throughput/`` (``var/``
is gitignored); a folder is reused when its manifest matches the requested size and seed.

* numeric (:func:`ensure`): a parquet folder of ``pin`` + 100 float32 features with ~6 % nulls, and an
  XGBoost 17-class x 100 rounds depth-6 model saved as JSON; :func:`ensure_lgbm` adds a LightGBM
  17-class x 100 rounds model (text file) trained on a sample of the same distribution;
* DataFrame input (:func:`ensure_frame`): the same rows plus 3 string columns (``city`` ~50 values,
  ``device`` 8, ``channel`` 5; ~3 % nulls each), and a scikit-learn
  ``Pipeline(ColumnTransformer([OrdinalEncoder on the 3 strings, passthrough numeric]),
  HistGradientBoostingClassifier(17 classes, 20 iterations, the encoded strings categorical))``
  fitted on a pandas DataFrame sample and joblib-dumped.

    python benchmarks/workload.py --rows 2000000 [--frame] [--lgbm]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from typing import Any

import numpy as np

N_FEATURES = 100
N_CLASSES = 17
ROUNDS = 100
DEPTH = 6
NULL_RATE = 0.06
SEED = 20260106
TRAIN_ROWS = 40_000
#: training sample of the DataFrame and LightGBM models (trained single-threaded: OpenMP threads spin on a
#: busy 2-core machine)
SAMPLE_TRAIN_ROWS = 20_000
#: HGB iterations of the DataFrame model: 17 x 20 trees predict at about the XGBoost model's speed (17 x 100
#: HGB trees are ~8x slower, which would hide the data path behind the model)
FRAME_ROUNDS = 20
ROWS_PER_FILE = 250_000
MIN_FILES = 4
ROW_GROUP_ROWS = 125_000  # ~50 MB of float32 features per row group, close to Spark's 128 MB blocks
STRING_COLUMNS = {
    "city": [f"city_{i:02d}" for i in range(50)],
    "device": ["android", "ios", "harmony", "windows", "mac", "linux", "tv", "other"],
    "channel": ["app", "web", "mini_program", "store", "partner"],
}
STRING_NULL_RATE = 0.03
BASE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", "bench", "throughput")


def feature_names() -> list[str]:
    return [f"f{j:03d}" for j in range(N_FEATURES)]


def _features(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, N_FEATURES), dtype=np.float32)
    x[rng.random((n, N_FEATURES)) < NULL_RATE] = np.nan
    return x


def _labels(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    w = np.random.default_rng(SEED + 1).standard_normal((N_FEATURES, N_CLASSES)).astype(np.float32)
    z = np.nan_to_num(x) @ w + rng.standard_normal((len(x), N_CLASSES)).astype(np.float32) * 2.0
    return np.argmax(z, axis=1)


def train_model(path: str) -> None:
    import xgboost as xgb

    rng = np.random.default_rng(SEED + 2)
    x = _features(rng, TRAIN_ROWS)
    y = _labels(rng, x)
    dtrain = xgb.DMatrix(x, label=y, missing=np.nan, feature_names=feature_names())
    params = {"objective": "multi:softprob", "num_class": N_CLASSES, "max_depth": DEPTH, "eta": 0.1,
              "tree_method": "hist", "nthread": 2, "seed": 1, "min_child_weight": 0}
    booster = xgb.train(params, dtrain, num_boost_round=ROUNDS)
    booster.save_model(path)


def _strings(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """The 3 string columns: object arrays of ``str`` with ``None`` for ~3 % nulls (skewed frequencies)."""
    out = {}
    for name, values in STRING_COLUMNS.items():
        weights = 1.0 / np.arange(1, len(values) + 1)
        col = np.asarray(values, dtype=object)[rng.choice(len(values), n, p=weights / weights.sum())]
        col[rng.random(n) < STRING_NULL_RATE] = None
        out[name] = col
    return out


def _string_effect(strings: dict[str, np.ndarray]) -> np.ndarray:
    """A per-row class shift from the strings, so the model has to use them."""
    codes = []
    for name, col in strings.items():
        index = {v: i for i, v in enumerate(STRING_COLUMNS[name])}
        codes.append(np.array([index.get(v, 0) % 7 for v in col]))
    return (codes[0] * 3 + codes[1] * 5 + codes[2]) % N_CLASSES


def write_data(folder: str, rows: int, with_strings: bool = False) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(folder)
    names = feature_names()
    n_files = max(MIN_FILES, -(-rows // ROWS_PER_FILE))
    per_file = -(-rows // n_files)
    start = 0
    for i in range(n_files):
        n = min(per_file, rows - start)
        rng = np.random.default_rng([SEED, i])
        x = _features(rng, n)
        pins = pa.array([f"P{start + r:010d}" for r in range(n)], type=pa.string())
        cols = [pins] + [pa.array(x[:, j], from_pandas=True) for j in range(N_FEATURES)]
        col_names = ["pin"] + names
        if with_strings:
            strings = _strings(np.random.default_rng([SEED, i, 1]), n)
            cols += [pa.array(v, type=pa.string()) for v in strings.values()]
            col_names += list(strings)
        table = pa.Table.from_arrays(cols, names=col_names)
        pq.write_table(table, os.path.join(folder, f"part-{i:05d}.parquet"), row_group_size=ROW_GROUP_ROWS,
                       compression="snappy")
        start += n


def train_frame_model(path: str) -> None:
    """The DataFrame-input model: OrdinalEncoder on the strings (unknown and missing -> NaN), numeric
    columns passed through, HistGradientBoostingClassifier with the encoded strings as categorical."""
    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(SEED + 3)
    x = _features(rng, SAMPLE_TRAIN_ROWS)
    strings = _strings(rng, SAMPLE_TRAIN_ROWS)
    y = (_labels(rng, x) + _string_effect(strings)) % N_CLASSES
    df = pd.DataFrame(x, columns=feature_names())
    for name, col in strings.items():
        df[name] = col
    n_str = len(STRING_COLUMNS)
    prep = ColumnTransformer([
        ("strings", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), list(STRING_COLUMNS)),
        ("numeric", "passthrough", feature_names()),
    ])
    clf = HistGradientBoostingClassifier(max_iter=FRAME_ROUNDS, max_depth=DEPTH, learning_rate=0.1, early_stopping=False,
                                         categorical_features=list(range(n_str)), random_state=1)
    with threadpool_limits(1):
        model = Pipeline([("prep", prep), ("clf", clf)]).fit(df, y)
    joblib.dump(model, path)


def train_lgbm_model(path: str) -> None:
    """LightGBM Booster, 17 classes x 100 rounds, on a sample of the numeric workload; text model file."""
    import lightgbm as lgb

    rng = np.random.default_rng(SEED + 4)
    x = _features(rng, SAMPLE_TRAIN_ROWS)
    y = _labels(rng, x)
    params = {"objective": "multiclass", "num_class": N_CLASSES, "num_leaves": 31, "max_depth": DEPTH,
              "learning_rate": 0.1, "num_threads": 1, "seed": 1, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(x, label=y, feature_name=feature_names()), num_boost_round=ROUNDS)
    booster.save_model(path)


def _ensure_model(path: str, train: Any) -> None:
    if os.path.exists(path):
        return
    t = time.monotonic()
    stem, ext = os.path.splitext(path)
    tmp = f"{stem}.tmp{os.getpid()}{ext}"  # the extension picks XGBoost's save format
    train(tmp)
    os.replace(tmp, path)
    print(f"trained model in {time.monotonic() - t:.1f}s -> {path}", flush=True)


def _ensure_data(data: str, rows: int, with_strings: bool) -> None:
    manifest = os.path.join(data, "_MANIFEST.json")
    want: dict[str, Any] = {"rows": rows, "seed": SEED, "features": N_FEATURES, "null_rate": NULL_RATE,
                            "rows_per_file": ROWS_PER_FILE, "min_files": MIN_FILES, "row_group_rows": ROW_GROUP_ROWS}
    if with_strings:
        want.update(strings=STRING_COLUMNS, string_null_rate=STRING_NULL_RATE)
    ok = False
    if os.path.exists(manifest):
        with open(manifest) as fh:
            ok = json.load(fh) == want
    if not ok:
        shutil.rmtree(data, ignore_errors=True)
        t = time.monotonic()
        write_data(data, rows, with_strings)
        with open(manifest, "w") as fh:
            json.dump(want, fh)
        print(f"wrote {rows} rows in {time.monotonic() - t:.1f}s -> {data}", flush=True)


def _ensure(base: str, model_file: str, train: Any, rows: int, with_strings: bool) -> dict[str, str]:
    os.makedirs(base, exist_ok=True)
    model = os.path.join(base, model_file)
    data = os.path.join(base, f"{'frame_' if with_strings else ''}data_{rows}")
    _ensure_model(model, train)
    _ensure_data(data, rows, with_strings)
    return {"data": data, "model": model}


def ensure(rows: int, base: str = BASE) -> dict[str, str]:
    """Create (or reuse) the numeric workload; return ``{"data": folder, "model": json path}``."""
    return _ensure(base, "model_17c_100r_d6.json", train_model, rows, with_strings=False)


def ensure_lgbm(rows: int, base: str = BASE) -> dict[str, str]:
    """The numeric workload's data with the LightGBM model: ``{"data": folder, "model": text model path}``."""
    return _ensure(base, "lgbm_17c_100r.txt", train_lgbm_model, rows, with_strings=False)


def ensure_frame(rows: int, base: str = BASE) -> dict[str, str]:
    """The DataFrame-input workload: ``{"data": folder (numeric + 3 string columns), "model": joblib path}``."""
    return _ensure(base, "frame_hgb_17c_20i.joblib", train_frame_model, rows, with_strings=True)


def frame_columns() -> list[str]:
    """The DataFrame model's input columns (its ``feature_names_in_``): the numeric features, then the strings."""
    return feature_names() + list(STRING_COLUMNS)


def data_files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".parquet"))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--frame", action="store_true", help="also the DataFrame-input workload")
    p.add_argument("--lgbm", action="store_true", help="also the LightGBM model")
    a = p.parse_args()
    print(ensure(a.rows))
    if a.lgbm:
        print(ensure_lgbm(a.rows))
    if a.frame:
        print(ensure_frame(a.rows))
