"""Benchmark (issue 6): scoring throughput vs the model's own predict speed, side by side in one run.

Workload (``benchmarks/workload.py``): parquet folder of ``pin`` + 100 float32 features with ~6 % nulls,
XGBoost 17 classes x 100 rounds, depth 6. Variants, interleaved (the order rotates every repetition):

* ``model``: the model's own ``inplace_predict`` on the in-memory float32 numpy matrix, 1 thread
  (the reference for speed and for the predictions);
* ``model_2p``: the same predict in two processes at once, half of the rows each: how fast the model
  itself is per core when both cores are busy (shared caches, memory bandwidth), the ceiling of every
  2-core variant below;
* ``origin_N``: the origin's approach: ``groupBy(ceil(rand()*N))`` + ``applyInPandas`` whose function loads
  the model from the shipped file on every call (every group) and predicts with ``inplace_predict``;
* ``map``: this project's default, the ``map`` strategy with the reader ``auto``, which here picks
  ``pyarrow`` through the job's own ``choose_reader`` (one job that opens every file's footer on the
  executors and counts the rows, then ``arrow_reader.plan_tasks`` over the input files) and
  ``scoring.score_splits`` (the Python workers read the parquet row groups themselves);
* ``map_spark`` / ``grouped``: ``scoring.score(...)`` on ``spark.read.parquet`` + ``reader.cast_features``
  (the ``map`` strategy with ``reader="spark"``, and the grouped strategy);
* every Spark variant writes with ``df.write.parquet`` like ``writer.write_version``.

DataFrame-input workload (issue 14, ``workload.ensure_frame``): the same rows plus 3 string columns
(``city`` ~50 values, ``device`` 8, ``channel`` 5, ~3 % nulls), and a scikit-learn
``Pipeline(ColumnTransformer([OrdinalEncoder on the strings, passthrough numeric]),
HistGradientBoostingClassifier(17 classes x 20 iterations))`` fitted on a pandas DataFrame:

* ``frame_model``: the model's own ``predict_proba`` on the in-memory pandas DataFrame (strings as ``str``
  objects, as pyarrow's ``to_pandas`` gives them), 1 thread (``threadpoolctl.threadpool_limits(1)``), in
  slices of ``--frame-slice-rows`` rows (the whole 2M-row frame at once needs ~3 GB of intermediates);
* ``frame_model_2p``: the same in two processes at once, half of the rows each (the 2-core ceiling);
* ``frame_map``: this project's default (``map``, reader ``auto`` -> ``pyarrow``; the adapter's
  ``frame`` input built from Arrow by ``models.frames.arrow_to_frame``), Python workers single-threaded
  (PySpark sets their ``OMP_NUM_THREADS`` to ``spark.task.cpus`` = 1: recorded in the result).

LightGBM (``workload.ensure_lgbm``, the numeric rows, a 17-class x 100-round Booster text model):
``lgbm_model`` (``Booster.predict(num_threads=1)`` on the in-memory matrix) and ``lgbm_map`` (default
strategy). Each workload's variants are compared with its own reference (``model``, ``frame_model``,
``lgbm_model``) on every row.

Every Spark variant includes read + score + write (and the row count for ours, as the job does); the
session start is excluded. Every Spark variant starts in a new SparkContext (fresh Python daemon and
workers, started before the clock), so no variant's peak RSS includes workers grown by another. Each run ships the model under a fresh file name, so every run pays its
model loads like a new job. CPU seconds = driver process tree (driver Python, JVM, Python daemon and
workers, reaped children included) via psutil; peak RSS = largest single Python worker, sampled every
250 ms. Every variant's output is compared row by row with ``model``: predicted class identical, score
(probability of that class) allclose; ``--verify-probs`` also compares all 17 probabilities of ``map``,
``map_spark`` and ``grouped`` in an untimed extra run.

    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_throughput.py [--rows 2000000] [--reps 2]
    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_throughput.py --quick
    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_throughput.py \
        --variants frame_model,frame_model_2p,frame_map,lgbm_model,lgbm_map,model,map --reps 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import workload  # noqa: E402

from airflow_provider_spark_predict.job import reader, scoring, spark_engine  # noqa: E402
from airflow_provider_spark_predict.spec import OutputsSpec, ScoringSpec  # noqa: E402

CORES = 2
KEYS = ["pin"]
RESULTS = ROOT / "benchmarks" / "results"
#: variant -> workload; each workload's first variant is its reference (the model's own predict)
WORKLOADS = {"xgb": ["model", "model_2p", "map", "map_spark", "grouped"],
             "frame": ["frame_model", "frame_model_2p", "frame_map"],
             "lgbm": ["lgbm_model", "lgbm_map"]}


def workload_of(variant: str) -> str:
    if variant.startswith("origin_"):
        return "xgb"
    for name, members in WORKLOADS.items():
        if variant in members:
            return name
    raise SystemExit(f"unknown variant {variant!r}; known: origin_N, {sorted(sum(WORKLOADS.values(), []))}")


def reference_of(variant: str) -> str:
    return WORKLOADS[workload_of(variant)][0]


@dataclass
class Workload:
    """One workload's files and how the job scores it.

    :param data: parquet folder
    :param model: model file
    :param flavor: the job's flavor argument
    :param features: feature columns in the model's order
    :param input_kind: ``matrix`` or ``frame``
    """

    data: str
    model: str
    flavor: str
    features: list[str]
    input_kind: str = "matrix"


def workloads(rows: int, needed: set[str]) -> dict[str, Workload]:
    out = {}
    if "xgb" in needed:
        p = workload.ensure(rows)
        out["xgb"] = Workload(p["data"], p["model"], "xgboost", workload.feature_names())
    if "lgbm" in needed:
        p = workload.ensure_lgbm(rows)
        out["lgbm"] = Workload(p["data"], p["model"], "lightgbm", workload.feature_names())
    if "frame" in needed:
        p = workload.ensure_frame(rows)
        out["frame"] = Workload(p["data"], p["model"], "auto", workload.frame_columns(), "frame")
    return out


class TreeMonitor:
    """CPU seconds of the process tree and peak RSS of Python workers, sampled in a thread."""

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.me = psutil.Process()
        self._stop = threading.Event()
        self.peak_worker_rss = 0
        self.peak_workers_total_rss = 0
        self._seen: dict[int, float] = {}

    def _procs(self) -> list[Any]:
        try:
            return [self.me] + self.me.children(recursive=True)
        except self.psutil.Error:
            return [self.me]

    def cpu_split(self) -> dict[str, float]:
        """CPU seconds so far: ``driver`` (this Python process), ``jvm``, ``python_workers`` (daemon and
        workers; workers that exited are in the daemon's reaped-children times)."""
        out = {"driver": 0.0, "jvm": 0.0, "python_workers": 0.0}
        for p in self._procs():
            try:
                t = p.cpu_times()
                name = p.name().lower()
            except self.psutil.Error:
                continue
            kind = "driver" if p.pid == self.me.pid else "jvm" if "java" in name else "python_workers"
            out[kind] += t.user + t.system
            if kind != "driver":  # the driver's reaped children are the JVM launcher scripts
                out["python_workers"] += t.children_user + t.children_system
        return out

    def cpu_total(self) -> float:
        return sum(self.cpu_split().values())

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            total = 0
            for p in self._procs():
                if p.pid == self.me.pid:
                    continue
                try:
                    if "python" not in p.name().lower():
                        continue
                    rss = p.memory_info().rss
                except self.psutil.Error:
                    continue
                total += rss
                self.peak_worker_rss = max(self.peak_worker_rss, rss)
            self.peak_workers_total_rss = max(self.peak_workers_total_rss, total)

    def __enter__(self) -> TreeMonitor:
        self.split0 = self.cpu_split()
        self.cpu0 = sum(self.split0.values())
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.monotonic() - self.t0
        self._stop.set()
        self._thread.join()
        split = self.cpu_split()
        self.cpu = sum(split.values()) - self.cpu0
        self.cpu_by_kind = {k: round(v - self.split0[k], 1) for k, v in split.items()}


def load_matrix(data: str) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow.parquet as pq

    features = workload.feature_names()
    xs, pins = [], []
    for f in workload.data_files(data):
        t = pq.read_table(f, columns=KEYS + features)
        pins.append(np.array([int(p[1:]) for p in t.column("pin").to_pylist()], dtype=np.int64))
        xs.append(scoring.arrow_to_matrix([t.column(c) for c in features], np.float32, None))
    return np.concatenate(pins), np.ascontiguousarray(np.concatenate(xs))


def load_frame(data: str) -> tuple[np.ndarray, Any]:
    """Pins and the pandas DataFrame of the model's columns (strings as ``str`` objects, nulls ``None``)."""
    import pandas as pd
    import pyarrow.parquet as pq

    columns = workload.frame_columns()
    pins, frames = [], []
    for f in workload.data_files(data):
        t = pq.read_table(f, columns=KEYS + columns)
        pins.append(np.array([int(p[1:]) for p in t.column("pin").to_pylist()], dtype=np.int64))
        frames.append(t.select(columns).to_pandas())
    return np.concatenate(pins), pd.concat(frames, ignore_index=True)


def _predict_frame_slices(model: Any, frame: Any, slice_rows: int) -> np.ndarray:
    return np.concatenate([model.predict_proba(frame.iloc[i:i + slice_rows])
                           for i in range(0, len(frame), slice_rows)])


def run_frame_model(frame: Any, model_path: str, slice_rows: int) -> tuple[dict[str, Any], np.ndarray]:
    """The DataFrame model's own ``predict_proba`` on the in-memory DataFrame, 1 thread, in slices."""
    import joblib
    from threadpoolctl import threadpool_limits

    model = joblib.load(model_path)
    with threadpool_limits(1):
        model.predict_proba(frame.iloc[:100])  # warm-up, not timed
        c0, t0 = time.thread_time(), time.monotonic()
        probs = _predict_frame_slices(model, frame, slice_rows)
        wall, cpu = time.monotonic() - t0, time.thread_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "cores": 1, "model_loads": 1, "peak_worker_rss_mb": None}, probs


def run_lgbm_model(x: np.ndarray, model_path: str) -> tuple[dict[str, Any], np.ndarray]:
    """The LightGBM Booster's own ``predict`` on the in-memory float32 matrix, 1 thread."""
    import lightgbm as lgb

    booster = lgb.Booster(model_file=model_path)
    booster.predict(x[:100], num_threads=1)  # warm-up, not timed
    c0, t0 = time.thread_time(), time.monotonic()
    probs = np.asarray(booster.predict(x, num_threads=1))
    wall, cpu = time.monotonic() - t0, time.thread_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "cores": 1, "model_loads": 1, "peak_worker_rss_mb": None}, probs


def run_model(x: np.ndarray, model_path: str) -> tuple[dict[str, Any], np.ndarray]:
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(model_path)
    booster.set_param({"nthread": 1})
    booster.inplace_predict(x[:100], validate_features=False)  # warm-up (lazy init), not timed
    c0, t0 = time.thread_time(), time.monotonic()
    probs = booster.inplace_predict(x, validate_features=False)
    wall, cpu = time.monotonic() - t0, time.thread_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "cores": 1, "model_loads": 1, "peak_worker_rss_mb": None}, probs


def _predict_half(model_path: str, part: str, barrier: Any, queue: Any, slice_rows: int = 0) -> None:
    """Child process of :func:`run_model_2proc`: predict one half of the rows, 1 thread, timed after a
    barrier so both halves run at the same time. ``slice_rows`` > 0: the half is a pickled DataFrame and
    the model a joblib DataFrame model (``frame_model_2p``), else an ``.npy`` matrix and XGBoost."""
    if slice_rows:
        import joblib
        import pandas as pd
        from threadpoolctl import threadpool_limits

        frame = pd.read_pickle(part)
        model = joblib.load(model_path)
        limits = threadpool_limits(1)
        model.predict_proba(frame.iloc[:100])

        def predict() -> np.ndarray:
            return _predict_frame_slices(model, frame, slice_rows)
    else:
        import xgboost as xgb

        x = np.load(part)
        booster = xgb.Booster()
        booster.load_model(model_path)
        booster.set_param({"nthread": 1})
        booster.inplace_predict(x[:100], validate_features=False)

        def predict() -> np.ndarray:
            return booster.inplace_predict(x, validate_features=False)
    barrier.wait()
    c0, t0 = time.process_time(), time.monotonic()
    probs = predict()
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    if slice_rows:
        limits.restore_original_limits()
    np.save(part + ".probs.npy", probs)
    queue.put((wall, cpu))


def run_model_2proc(x: Any, model_path: str, work: Path, slice_rows: int = 0) -> tuple[dict[str, Any], np.ndarray]:
    """The model's own predict in two processes at once (1 thread each, half the rows each): the per-core
    speed the model itself keeps when both cores are busy (shared caches and memory bandwidth), i.e. the
    ceiling of any 2-core Spark variant. Wall = the slower half. ``x``: the float matrix (XGBoost), or
    the DataFrame with ``slice_rows`` > 0 (the DataFrame model, see :func:`run_frame_model`)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    parts = []
    work.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(x), CORES + 1).astype(int)
    for i in range(CORES):
        half = x[bounds[i]:bounds[i + 1]]
        if slice_rows:
            parts.append(str(work / f"half_{i}.pkl"))
            half.to_pickle(parts[-1])
        else:
            parts.append(str(work / f"half_{i}.npy"))
            np.save(parts[-1], half)
    barrier, queue = ctx.Barrier(CORES), ctx.Queue()
    procs = [ctx.Process(target=_predict_half, args=(model_path, p, barrier, queue, slice_rows)) for p in parts]
    for p in procs:
        p.start()
    got = [queue.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    probs = np.concatenate([np.load(part + ".probs.npy") for part in parts])
    for part in parts:
        os.remove(part)
        os.remove(part + ".probs.npy")
    return {"wall_s": max(w for w, _ in got), "cpu_s": sum(c for _, c in got), "cores": CORES,
            "model_loads": CORES, "peak_worker_rss_mb": None}, probs


def origin_function(model_name: str, features: list[str], counter: Any) -> Any:
    def predict_group(pdf: Any) -> Any:
        import pandas as pd
        import xgboost as xgb
        from pyspark import SparkFiles

        booster = xgb.Booster()  # the origin loads the model inside the function: once per group
        booster.load_model(SparkFiles.get(model_name))
        booster.set_param({"nthread": 1})
        counter.add(1)
        x = pdf[features].to_numpy(dtype=np.float32)
        probs = booster.inplace_predict(x, validate_features=False)
        idx = probs.argmax(axis=1)
        return pd.DataFrame({"pin": pdf["pin"], "prediction": idx.astype(np.int32),
                             "score": probs[np.arange(len(idx)), idx].astype(np.float64)})

    return predict_group


class Bench:
    def __init__(self, spark: Any, wl: Workload, rows: int, work: Path) -> None:
        self.spark = spark
        self.data = wl.data
        self.model = wl.model
        self.flavor = wl.flavor
        self.input_kind = wl.input_kind
        self.rows = rows
        self.work = work
        self.features = wl.features
        self.n_model_copies = 0

    def spec(self) -> ScoringSpec:
        """The job spec of this input (only its input, keys, features and reader matter here)."""
        return ScoringSpec.from_dict({
            "model": {"uri": f"file:{self.model}", "flavor": self.flavor}, "keys": KEYS, "features": self.features,
            "input": {"path": f"file:{self.data}"}, "output": {"path": f"file:{self.work}/out/unused", "partition": {"dt": "unused"}},
        }).validate()

    def ship_model(self) -> str:
        """Ship the model under a fresh name: per-worker caches start empty, like a new job."""
        self.n_model_copies += 1
        name = f"model_{os.getpid()}_{self.n_model_copies}{os.path.splitext(self.model)[1]}"
        local = self.work / "models" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.model, local)
        self.spark.sparkContext.addFile(str(local))
        return name

    def run_spark(self, variant: str, outputs: OutputsSpec | None = None) -> tuple[dict[str, Any], str]:
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        spark = self.spark
        out = str(self.work / "out" / variant)
        shutil.rmtree(out, ignore_errors=True)
        name = self.ship_model()
        counters = scoring.WorkerCounters.create(spark.sparkContext)
        plan = scoring.OutputPlan(outputs or OutputsSpec(), list(range(workload.N_CLASSES)))
        batch_rows = scoring.batch_rows_for(len(self.features), None)
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        facts: dict[str, Any] = {}
        with TreeMonitor() as mon:
            df = spark.read.parquet(self.data)
            if variant.startswith("origin_"):
                n = int(variant.split("_")[1])
                schema = T.StructType([T.StructField("pin", T.StringType()),
                                       T.StructField("prediction", T.IntegerType()),
                                       T.StructField("score", T.DoubleType())])
                scored = (df.groupBy(F.ceil(F.rand() * n).alias("g"))
                          .applyInPandas(origin_function(name, self.features, counters.loads), schema))
            else:
                # as spark_engine.SparkEngine.score: a frame model gets its columns uncast
                dtype = "frame" if self.input_kind == "frame" else reader.feature_dtype(df, self.features)
                if variant.endswith("map"):  # the job's own reader choice: "auto" picks pyarrow here
                    choice = spark_engine.choose_reader(spark, self.spec(), df, self.features, self.input_kind)
                    assert choice.facts["reader"] == "pyarrow" and choice.rows == self.rows, choice.facts
                    scored = scoring.score_splits(
                        spark, choice.files, choice.tasks, key_fields=[df.schema[k] for k in KEYS],
                        model_name=name, flavor=self.flavor, features=self.features, feature_dtype=dtype,
                        fill_value=None, plan=plan, counters=counters, batch_rows=batch_rows)
                    facts = choice.facts
                else:
                    rows_in = df.count()
                    feats = reader.cast_features(df, KEYS, self.features, dtype, "fill", None, "bench input")
                    scored, facts = scoring.score(
                        feats, strategy="map" if variant == "map_spark" else variant, model_name=name,
                        flavor=self.flavor, keys=KEYS, features=self.features, fill_value=None, plan=plan,
                        counters=counters, rows_in=rows_in)
            scored.write.mode("overwrite").parquet(out)
        res = {"wall_s": mon.wall, "cpu_s": mon.cpu, "cpu_s_by_process": mon.cpu_by_kind, "cores": CORES,
               "model_loads": counters.loads.value, "model_predict_s": round(counters.predict_s.value, 1),
               "peak_worker_rss_mb": round(mon.peak_worker_rss / 2**20, 1),
               "peak_workers_total_rss_mb": round(mon.peak_workers_total_rss / 2**20, 1),
               "facts": {k: v for k, v in facts.items() if k != "strategy"}}
        return res, out


def verify(out: str, pins: np.ndarray, probs: np.ndarray, with_probs: bool = False) -> dict[str, Any]:
    import pyarrow.dataset as ds

    t = ds.dataset(out, format="parquet").to_table()
    order = np.array([int(p[1:]) for p in t.column("pin").to_pylist()], dtype=np.int64)
    ref_row = np.empty(len(pins), dtype=np.int64)
    ref_row[pins] = np.arange(len(pins))
    if len(order) != len(pins) or len(np.unique(order)) != len(pins):
        return {"ok": False, "why": f"{len(order)} rows out, {len(np.unique(order))} distinct, {len(pins)} in"}
    rows = ref_row[order]
    ref = probs[rows].astype(np.float64)
    ref_idx = ref.argmax(axis=1)
    pred = t.column("prediction").to_numpy()
    score = t.column("score").to_numpy()
    res = {"rows": len(order), "class_mismatches": int((pred != ref_idx).sum()),
           "score_max_abs_diff": float(np.abs(score - ref[np.arange(len(rows)), ref_idx]).max())}
    ok = res["class_mismatches"] == 0 and np.allclose(score, ref[np.arange(len(rows)), ref_idx], rtol=1e-6,
                                                       atol=1e-7)
    if with_probs:
        got = np.array(t.column("probability").to_pylist(), dtype=np.float64)
        res["probs_max_abs_diff"] = float(np.abs(got - ref).max())
        ok = ok and bool(np.allclose(got, ref, rtol=1e-6, atol=1e-7))
    res["ok"] = bool(ok)
    return res


def summarize(runs: list[dict[str, Any]], rows: int) -> dict[str, dict[str, Any]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["variant"], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for v, rs in by.items():
        ref = by[reference_of(v)]
        ref_rate = rows / float(np.median([r["wall_s"] for r in ref]))
        ref_cpu_rate = rows / float(np.median([r["cpu_s"] for r in ref]))
        wall = float(np.median([r["wall_s"] for r in rs]))
        cpu = float(np.median([r["cpu_s"] for r in rs]))
        per_core = rows / wall / rs[0]["cores"]
        out[v] = {
            "reference": reference_of(v), "runs": len(rs), "wall_s_median": round(wall, 2), "wall_s_all": [round(r["wall_s"], 2) for r in rs],
            "rows_per_s_per_core": round(per_core), "ratio_to_model": round(per_core / ref_rate, 3),
            "cpu_s_median": round(cpu, 1), "rows_per_cpu_s": round(rows / cpu),
            "cpu_ratio_to_model": round(rows / cpu / ref_cpu_rate, 3),
            "model_loads": [r["model_loads"] for r in rs],
            "peak_worker_rss_mb": max((r["peak_worker_rss_mb"] or 0) for r in rs) or None,
            "verified": all(r["verify"]["ok"] for r in rs),
        }
    return out


def table(summary: dict[str, dict[str, Any]]) -> str:
    lines = ["| variant | reference | runs | wall s (median) | rows/s/core | vs reference (wall) | CPU s | "
             "rows/CPU-s | vs reference (CPU) | model loads | peak worker RSS MB | predictions equal |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for v, s in summary.items():
        lines.append(f"| {v} | {s['reference']} | {s['runs']} | {s['wall_s_median']} | {s['rows_per_s_per_core']} | "
                     f"{s['ratio_to_model']:.0%} | {s['cpu_s_median']} | {s['rows_per_cpu_s']} | "
                     f"{s['cpu_ratio_to_model']:.0%} | {s['model_loads']} | {s['peak_worker_rss_mb']} | "
                     f"{'yes' if s['verified'] else 'NO'} |")
    return "\n".join(lines)


def _omp_threads(batches: Any) -> Any:
    """mapInArrow function: the ``OMP_NUM_THREADS`` a Python worker runs with (the threads a model may use)."""
    import pyarrow as pa

    for _ in batches:
        pass
    yield pa.RecordBatch.from_arrays([pa.array([os.environ.get("OMP_NUM_THREADS", "unset")])], names=["omp"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smoke run: 200k rows, 1 rep, origin_10 only")
    ap.add_argument("--variants", default="model,origin_10,origin_1000,map,map_spark,grouped")
    ap.add_argument("--verify-probs", action="store_true", help="extra untimed runs comparing all probabilities")
    ap.add_argument("--frame-slice-rows", type=int, default=100_000,
                    help="rows per predict_proba call of frame_model / frame_model_2p")
    ap.add_argument("--out", default=str(RESULTS / "throughput.json"))
    args = ap.parse_args()
    if args.quick:
        args.rows, args.reps = 200_000, 1
        args.variants = "model,origin_10,map,map_spark,grouped"
        args.verify_probs = True
    variants = args.variants.split(",")
    needed = {workload_of(v) for v in variants}
    variants += [reference_of(v) for v in variants if reference_of(v) not in variants]  # to verify against
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    wls = workloads(args.rows, needed)
    work = Path(workload.BASE) / "work"
    shutil.rmtree(work, ignore_errors=True)

    from pyspark.sql import SparkSession

    def fresh_session() -> Any:
        """A new SparkContext (same JVM) with a started Python daemon: stopping the previous context
        stops its Python daemon and workers, so no variant runs in workers another variant grew (worker
        reuse would otherwise carry e.g. the origin's per-group pandas memory into the next variant's
        peak RSS), and every variant starts like a new job."""
        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()
        session = (SparkSession.builder.master(f"local[{CORES}]").appName("bench-throughput")
                   .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g")
                   .config("spark.sql.shuffle.partitions", str(CORES * 4))
                   .config("spark.sql.warehouse.dir", str(work / "warehouse")).getOrCreate())
        session.sparkContext.setLogLevel("ERROR")
        session.range(10).mapInArrow(lambda it: it, "id long").count()  # start the Python daemon (excluded)
        return session

    load_start = round(os.getloadavg()[0], 2)
    t0 = time.monotonic()
    spark = fresh_session()
    session_s = time.monotonic() - t0
    worker_threads = spark.range(2).mapInArrow(_omp_threads, "omp string").collect()[0][0]
    pins: np.ndarray | None = None
    x: Any = None
    frame: Any = None
    if needed & {"xgb", "lgbm"}:
        pins, x = load_matrix(wls["xgb" if "xgb" in wls else "lgbm"].data)
        print(f"{len(pins)} rows x {x.shape[1]} features in memory", flush=True)
    if "frame" in needed:
        frame_pins, frame = load_frame(wls["frame"].data)
        pins = frame_pins if pins is None else pins
        assert np.array_equal(frame_pins, pins), "the frame workload's rows are not the numeric workload's rows"
        print(f"{len(frame)} rows x {frame.shape[1]} columns (DataFrame) in memory", flush=True)
    print(f"session {session_s:.1f}s (excluded); Python workers' OMP_NUM_THREADS={worker_threads}", flush=True)
    benches = {name: Bench(spark, wl, args.rows, work) for name, wl in wls.items()}
    references = [WORKLOADS[name][0] for name in WORKLOADS if name in needed]

    runs: list[dict[str, Any]] = []
    ref_probs: dict[str, np.ndarray] = {}
    for rep in range(args.reps):
        order = variants[rep % len(variants):] + variants[:rep % len(variants)]
        if rep == 0:  # the reference predictions are needed to verify the others
            order = references + [v for v in order if v not in references]
        for v in order:
            wl_name = workload_of(v)
            wl = wls[wl_name]
            if v in references:
                if wl_name == "frame":
                    res, p = run_frame_model(frame, wl.model, args.frame_slice_rows)
                elif wl_name == "lgbm":
                    res, p = run_lgbm_model(x, wl.model)
                else:
                    res, p = run_model(x, wl.model)
                res["verify"] = {"ok": bool(np.array_equal(p, ref_probs.setdefault(wl_name, p)))}
                res.update(variant=v, rep=rep, loadavg_1m_after=round(os.getloadavg()[0], 2))
                runs.append(res)
                print(f"rep {rep} {v}: wall {res['wall_s']:.1f}s cpu {res['cpu_s']:.1f}s verify {res['verify']}",
                      flush=True)
                continue
            probs = ref_probs[wl_name]
            assert pins is not None
            if v in ("model_2p", "frame_model_2p"):
                slice_rows = args.frame_slice_rows if wl_name == "frame" else 0
                res, p = run_model_2proc(frame if wl_name == "frame" else x, wl.model, work / "halves", slice_rows)
                res["verify"] = {"ok": bool(np.array_equal(p, probs))}
            else:
                bench = benches[wl_name]
                bench.spark = spark = fresh_session()
                res, out = bench.run_spark(v)
                res["verify"] = verify(out, pins, probs)
                shutil.rmtree(out, ignore_errors=True)
            res.update(variant=v, rep=rep, loadavg_1m_after=round(os.getloadavg()[0], 2))
            runs.append(res)
            print(f"rep {rep} {v}: wall {res['wall_s']:.1f}s cpu {res['cpu_s']:.1f}s "
                  f"{res.get('cpu_s_by_process', '')} load {os.getloadavg()[0]:.1f} "
                  f"loads {res['model_loads']} predict_s {res.get('model_predict_s')} rss {res['peak_worker_rss_mb']} verify {res['verify']}", flush=True)

    prob_checks = {}
    if args.verify_probs:
        outputs = OutputsSpec(probability_column="probability")
        for v in [v for v in variants if v in ("map", "map_spark", "grouped", "frame_map", "lgbm_map")]:
            _, out = benches[workload_of(v)].run_spark(v, outputs)
            assert pins is not None
            prob_checks[v] = verify(out, pins, ref_probs[workload_of(v)], with_probs=True)
            shutil.rmtree(out, ignore_errors=True)
            print(f"probabilities {v}: {prob_checks[v]}", flush=True)

    summary = summarize(runs, args.rows)
    md = table(summary)
    print(md)
    load = os.getloadavg()
    result = {
        "command": " ".join(["benchmarks/bench_throughput.py"] + sys.argv[1:]),
        "rows": args.rows, "features": workload.N_FEATURES,
        "models": {"xgb": "xgboost 17 classes x 100 rounds depth 6",
                   "frame": "sklearn Pipeline(ColumnTransformer(OrdinalEncoder on 3 strings, passthrough 100 numeric), "
                            "HistGradientBoostingClassifier 17 classes x 20 iterations depth 6)",
                   "lgbm": "lightgbm Booster multiclass 17 classes x 100 rounds"},
        "frame_slice_rows": args.frame_slice_rows, "python_worker_omp_num_threads": worker_threads,
        "loadavg_1m_at_start": load_start,
        "master": f"local[{CORES}]", "session_start_s_excluded": round(session_s, 1),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_at_end": [round(v, 2) for v in load],
                    "note": "shared machine: other people's tests ran at the same time; compare ratios "
                            "within this run only"},
        "summary": summary, "probability_checks": prob_checks, "runs": runs, "markdown": md,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {args.out}")
    spark.stop()
    return 0 if all(s["verified"] for s in summary.values()) and all(c["ok"] for c in prob_checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
