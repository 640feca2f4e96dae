"""Deterministic throughput workload (issue 6): a parquet folder of ``pin`` + 100 float32 features with
~6 % nulls, and an XGBoost 17-class x 100 rounds depth-6 model saved as JSON.

Cached under ``var/bench/throughput/`` (``var/`` is gitignored); a folder is reused when its manifest
matches the requested size and seed.

    python benchmarks/workload.py --rows 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time

import numpy as np

N_FEATURES = 100
N_CLASSES = 17
ROUNDS = 100
DEPTH = 6
NULL_RATE = 0.06
SEED = 20260106
TRAIN_ROWS = 40_000
ROWS_PER_FILE = 250_000
MIN_FILES = 4
ROW_GROUP_ROWS = 125_000  # ~50 MB of float32 features per row group, close to Spark's 128 MB blocks
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


def write_data(folder: str, rows: int) -> None:
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
        table = pa.Table.from_arrays(cols, names=["pin"] + names)
        pq.write_table(table, os.path.join(folder, f"part-{i:05d}.parquet"), row_group_size=ROW_GROUP_ROWS,
                       compression="snappy")
        start += n


def ensure(rows: int, base: str = BASE) -> dict[str, str]:
    """Create (or reuse) the workload; return ``{"data": folder, "model": json path}``."""
    model = os.path.join(base, "model_17c_100r_d6.json")
    data = os.path.join(base, f"data_{rows}")
    manifest = os.path.join(data, "_MANIFEST.json")
    want = {"rows": rows, "seed": SEED, "features": N_FEATURES, "null_rate": NULL_RATE,
            "rows_per_file": ROWS_PER_FILE, "min_files": MIN_FILES, "row_group_rows": ROW_GROUP_ROWS}
    os.makedirs(base, exist_ok=True)
    if not os.path.exists(model):
        t = time.monotonic()
        tmp = model[: -len(".json")] + ".tmp.json"  # the extension picks XGBoost's save format
        train_model(tmp)
        os.replace(tmp, model)
        print(f"trained model in {time.monotonic() - t:.1f}s -> {model}", flush=True)
    ok = False
    if os.path.exists(manifest):
        with open(manifest) as fh:
            ok = json.load(fh) == want
    if not ok:
        shutil.rmtree(data, ignore_errors=True)
        t = time.monotonic()
        write_data(data, rows)
        with open(manifest, "w") as fh:
            json.dump(want, fh)
        print(f"wrote {rows} rows in {time.monotonic() - t:.1f}s -> {data}", flush=True)
    return {"data": data, "model": model}


def data_files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".parquet"))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=2_000_000)
    print(ensure(p.parse_args().rows))
