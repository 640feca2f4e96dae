"""Shared by ``bench_scaling.py`` and ``bench_growth.py`` (issue 18): one scoring task through the real hook
path (``SparkPredictHook.run``: preflight, staging, spark-submit, the job, the run report), timed from the
outside and split into phases, with the peak RSS of every Python worker; and the model's own
single-thread rate on a sample of the same input.

The input is the throughput workload (``benchmarks/workload.py``: ``pin`` + 100 float32 features, XGBoost
17 classes x 100 rounds depth 6), cached under ``var/bench/hook/`` (``--data-dir`` or env ``SPARK_PREDICT_BENCH_DATA``). The task reads the
parquet folder as a path input and writes a path output (``<work>/out/dt=2026-01-01``); no Hive metastore
is involved (``SPARK_PREDICT_NO_HIVE=1``, no embedded metastore service), so the numbers are the job's own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT, ROOT / "benchmarks"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import workload  # noqa: E402
from bench_throughput import TreeMonitor, run_model  # noqa: E402

#: where the inputs are generated and cached (big: 32M rows are ~13 GB); env SPARK_PREDICT_BENCH_DATA
DATA_DIR = os.environ.get("SPARK_PREDICT_BENCH_DATA", os.path.join(str(ROOT), "var", "bench", "hook"))
DATE = "2026-01-01"
KEYS = ["pin"]
#: phases of the task, in order (seconds), as reported by :func:`run_task`
PHASES = ("submit_startup_s", "load_model_s", "footer_job_s", "scoring_write_s", "checks_s", "publish_s",
          "job_other_s", "teardown_s")


class WorkerMonitor(TreeMonitor):
    """:class:`TreeMonitor` whose RSS peaks count only Spark's Python workers (``pyspark.daemon`` /
    ``pyspark.worker`` processes), not the job's Python driver, whose peak is kept apart. CPU seconds
    still cover the whole process tree."""

    def __init__(self) -> None:
        super().__init__()
        self.peak_driver_rss = 0
        self.worker_pids: set[int] = set()

    def _procs(self) -> list[Any]:
        procs = super()._procs()
        if threading.current_thread() is not getattr(self, "_thread", None):
            return procs  # CPU seconds: the whole tree
        keep = [self.me]  # the sampling thread (RSS peaks): Python workers only
        for p in procs:
            try:
                cmd = " ".join(p.cmdline())
                if "pyspark.daemon" in cmd or "pyspark.worker" in cmd:
                    self.worker_pids.add(p.pid)
                    keep.append(p)
                elif "main.py" in cmd and "python" in p.name().lower():
                    self.peak_driver_rss = max(self.peak_driver_rss, p.memory_info().rss)
            except self.psutil.Error:
                continue
        return keep

    def cpu_split(self) -> dict[str, float]:
        """:meth:`TreeMonitor.cpu_split` plus ``spark_submit_tree``: the CPU seconds of this process's reaped
        children, i.e. spark-submit and everything under it (JVM, Python driver, local-mode Python
        workers), which have all exited when ``hook.run`` returns."""
        t = self.me.cpu_times()
        return {**super().cpu_split(), "spark_submit_tree": t.children_user + t.children_system}

    def __enter__(self) -> WorkerMonitor:
        super().__enter__()
        return self


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def setup_env(work: Path) -> None:
    """Environment of this benchmark process (inherited by spark-submit): loopback, this interpreter, no
    Hive, a private Airflow/SPARK_PREDICT home under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ["SPARK_PREDICT_NO_HIVE"] = "1"
    os.environ["SPARK_PREDICT_HOME"] = str(work / "home")
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ["SPARK_PREDICT_PROGRESS_S"] = "60"


def set_connection(conn_id: str, master: str) -> None:
    """``AIRFLOW_CONN_<ID>`` for ``local[N]`` or ``spark://127.0.0.1:<port>``."""
    if master.startswith("spark://"):
        host, port = master.rsplit(":", 1)
        conn = {"conn_type": "spark", "host": host, "port": int(port)}
    else:
        conn = {"conn_type": "spark", "host": master}
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)


def spec_dict(paths: dict[str, str], out: Path) -> dict[str, Any]:
    """The scoring spec of the workload: path input, path output partition ``dt=DATE``."""
    return {
        "model": {"uri": f"file://{paths['model']}", "flavor": "xgboost"},
        "keys": KEYS, "features": workload.feature_names(),
        "input": {"path": f"file://{paths['data']}"},
        "output": {"path": f"file://{out}", "partition": {"dt": DATE}, "keep_previous_versions": 0},
    }


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


@dataclass
class TaskRun:
    """One task: the report and the phases measured around it.

    :param wall_s: wall time of ``hook.run`` (preflight + staging + spark-submit + job + report read)
    :param phases: seconds per phase (:data:`PHASES`)
    :param report: the run report (dict)
    """

    wall_s: float
    phases: dict[str, float]
    report: dict[str, Any]
    cpu_s: float
    cpu_by_process: dict[str, float]
    peak_worker_rss_mb: float
    peak_workers_total_rss_mb: float
    peak_driver_rss_mb: float
    python_workers_seen: int
    loadavg_before: float
    loadavg_after: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        r = self.report
        keep = ("run_id", "status", "rows_in", "rows_out", "duplicate_keys", "null_predictions", "strategy",
                "model_loads", "model_predict_s", "phases_s", "durations", "wall_s", "master",
                "published_location")
        return {"wall_s": round(self.wall_s, 2), "phases": self.phases, "cpu_s": round(self.cpu_s, 1),
                "cpu_s_by_process": self.cpu_by_process, "peak_worker_rss_mb": self.peak_worker_rss_mb,
                "peak_workers_total_rss_mb": self.peak_workers_total_rss_mb,
                "peak_driver_rss_mb": self.peak_driver_rss_mb, "python_workers_seen": self.python_workers_seen,
                "loadavg_1m_before": self.loadavg_before, "loadavg_1m_after": self.loadavg_after,
                "report": {k: r.get(k) for k in keep}, **self.extra}


def split_phases(t_call: float, t_return: float, report: dict[str, Any]) -> dict[str, float]:
    """Seconds of each phase of one task, from the wall clock around ``hook.run`` and the report.

    ``submit_startup_s``: ``hook.run`` called -> the job's sequence starts (preflight, staging, spark-submit,
    JVM and SparkSession start, spec read); ``load_model_s`` .. ``publish_s``: the job's own phases
    (``durations`` / ``phases_s`` of the report; ``scoring_write_s`` is the ``scoring`` phase: sample
    predict, scoring and the write of the version folder); ``job_other_s``: the rest of the job's
    sequence; ``teardown_s``: the sequence ends -> ``hook.run`` returns (report write, Spark stop, JVM
    exit, report read).
    """
    started, finished = _epoch(report.get("started_at")), _epoch(report.get("finished_at"))
    assert started is not None and finished is not None, "the report has no started_at/finished_at"
    ph, du = report.get("phases_s") or {}, report.get("durations") or {}
    out = {
        "submit_startup_s": started - t_call,
        "load_model_s": du.get("load_model_s", 0.0),
        "footer_job_s": ph.get("footer job", 0.0),
        "scoring_write_s": ph.get("scoring", 0.0),
        "checks_s": ph.get("checks", 0.0),
        "publish_s": ph.get("publish", 0.0),
    }
    out["job_other_s"] = (finished - started) - sum(out[k] for k in PHASES[1:6])
    out["teardown_s"] = t_return - finished
    return {k: round(v, 3) for k, v in out.items()}


def run_task(conn_id: str, spec: dict[str, Any], store: Path, spark_conf: dict[str, str]) -> TaskRun:
    """Run one scoring task through ``SparkPredictHook.run`` (real spark-submit) and time it.

    :param conn_id: Airflow connection id (set with :func:`set_connection`)
    :param spec: the spec dict (:func:`spec_dict`)
    :param store: ``file://`` store folder
    :param spark_conf: extra Spark conf
    """
    from airflow_provider_spark_predict.hooks.predict import SparkPredictHook
    from airflow_provider_spark_predict.spec import ScoringSpec

    hook = SparkPredictHook(conn_id=conn_id, store_uri=f"file://{store}",
                            spark_conf={"spark.hadoop.hive.metastore.uris": "", **spark_conf})
    load0 = loadavg()
    with WorkerMonitor() as mon:
        t_call = time.time()
        report = hook.run(ScoringSpec.from_dict(json.loads(json.dumps(spec))))
        t_return = time.time()
    return TaskRun(
        wall_s=t_return - t_call, phases=split_phases(t_call, t_return, report), report=report,
        cpu_s=mon.cpu, cpu_by_process=mon.cpu_by_kind,
        peak_worker_rss_mb=round(mon.peak_worker_rss / 2**20, 1),
        peak_workers_total_rss_mb=round(mon.peak_workers_total_rss / 2**20, 1),
        peak_driver_rss_mb=round(mon.peak_driver_rss / 2**20, 1), python_workers_seen=len(mon.worker_pids),
        loadavg_before=load0, loadavg_after=loadavg())


@dataclass
class ModelSample:
    """The model's own predictions on the first rows of the input (the reference for speed and values)."""

    rows: int
    wall_s: float
    cpu_s: float
    probs: np.ndarray

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "wall_s": round(self.wall_s, 2), "cpu_s": round(self.cpu_s, 2),
                "rows_per_s": round(self.rows_per_s), "rows_per_cpu_s": round(self.rows / self.cpu_s),
                "loadavg_1m_after": loadavg()}


def first_rows_matrix(data: str, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``pin`` numbers and the float32 feature matrix of the first ``max_rows`` rows (whole files) of the
    workload folder: pins are ``P<row number>``, so the sample is rows ``0 .. n-1``."""
    import pyarrow.parquet as pq

    from airflow_provider_spark_predict.job import scoring

    features = workload.feature_names()
    xs, pins, n = [], [], 0
    for f in workload.data_files(data):
        if n >= max_rows:
            break
        t = pq.read_table(f, columns=KEYS + features)
        pins.append(pin_numbers(t.column("pin")))
        xs.append(scoring.arrow_to_matrix([t.column(c) for c in features], np.float32, None))
        n += t.num_rows
    return np.concatenate(pins), np.ascontiguousarray(np.concatenate(xs))


def pin_numbers(col: Any) -> np.ndarray:
    """``P0000000012`` -> 12, vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pc.utf8_slice_codeunits(col, 1), pa.int64()).to_numpy(zero_copy_only=False)


def model_sample(paths: dict[str, str], max_rows: int) -> ModelSample:
    """The model's own single-thread ``inplace_predict`` on the first ``max_rows`` rows (whole files)."""
    pins, x = first_rows_matrix(paths["data"], max_rows)
    assert np.array_equal(pins, np.arange(len(pins))), "the first files do not hold rows 0..n-1"
    res, probs = run_model(x, paths["model"])
    return ModelSample(rows=len(pins), wall_s=res["wall_s"], cpu_s=res["cpu_s"], probs=probs)


def verify_output(report: dict[str, Any], rows: int, sample: ModelSample) -> dict[str, Any]:
    """The task's output against the input: ``rows`` rows, no duplicate keys (report), and for the rows of
    the model sample the same class and score (probability of that class) as the model's own predict."""
    import pyarrow.dataset as ds

    location = str(report.get("published_location") or "").removeprefix("file://").removeprefix("file:")
    t = ds.dataset(location, format="parquet").to_table(columns=["pin", "prediction", "score"])
    idx = pin_numbers(t.column("pin"))
    mine = idx < sample.rows
    ref = sample.probs[idx[mine]].astype(np.float64)
    ref_idx = ref.argmax(axis=1)
    pred = t.column("prediction").to_numpy()[mine]
    score = t.column("score").to_numpy()[mine]
    res = {"rows_out_read": t.num_rows, "sample_rows_checked": int(mine.sum()),
           "class_mismatches": int((pred != ref_idx).sum()),
           "score_max_abs_diff": float(np.abs(score - ref[np.arange(len(ref)), ref_idx]).max())
           if len(ref) else None}
    res["ok"] = bool(
        report.get("status") == "succeeded" and t.num_rows == rows and report.get("rows_in") == rows
        and report.get("duplicate_keys") == 0 and res["sample_rows_checked"] == sample.rows
        and res["class_mismatches"] == 0
        and np.allclose(score, ref[np.arange(len(ref)), ref_idx], rtol=1e-6, atol=1e-7))
    return res


def ensure_data(rows: int, data_dir: str) -> dict[str, str]:
    """The cached workload of ``rows`` rows under ``data_dir`` (generated with numpy per file if missing)."""
    return workload.ensure(rows, base=data_dir)


def write_result(out: str, script: str, result: dict[str, Any]) -> None:
    """Write a benchmark's result JSON with its command line, the workload's model and the machine."""
    import platform

    result = {"command": " ".join([f"benchmarks/{script}", *sys.argv[1:]]),
              "model": "xgboost 17 classes x 100 rounds depth 6", "features": workload.N_FEATURES,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(),
                          "loadavg_at_end": [round(v, 2) for v in os.getloadavg()],
                          "note": "shared machine unless stated: compare ratios within one run"},
              **result}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {out}")
