"""Benchmark (issue 18, points 3 and 4): the ``pyarrow`` reader on ORC and on inputs cut into many pieces.

Workload: the throughput benchmark's (``benchmarks/workload.py``, read-only here): ``pin`` + 100 float32
features with ~6 % nulls, XGBoost 17 classes x 100 rounds. From its parquet folder this script writes, once
per size (cached next to it):

* ``orc``: the same rows as ORC files (one ORC file per parquet file, pyarrow's writer, snappy);
* ``many_files``: the same rows in ``--files`` parquet files (``--file-rows`` rows each);
* ``many_groups``: the same rows in ONE parquet file of ``--groups`` row groups.

Each case (and ``parquet``, the workload folder as it is) is scored by the job itself
(``job.main.run_in_session``: footer job, planning, scoring + write, checks, publish) on a local[2]
session, ``reader="auto"`` (which must pick ``pyarrow``), ``--reps`` times, cases interleaved. Reported
per run: the run report's ``phases_s``, rows/s per core of the scoring phase and of the whole run, both
as % of the model's own single-thread predict speed (``model``: ``inplace_predict`` on the in-memory
float32 matrix, measured in this process), and the share of the run spent in the ``footer job`` phase
(reading the input's metadata, the footer job on the executors, planning the splits).
The 1-minute load average is recorded before and after each run: on a shared machine it explains noise.

    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_inputs.py                 # full size
    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_inputs.py --quick         # small, small model

Every run gets a new SparkContext (``--warm``: one for all runs), so its footer job starts the Python
workers as a job's does; the JVM itself is started once per script (not counted).

Results: ``benchmarks/results/inputs.json`` (``inputs_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import workload  # noqa: E402

CORES = 2
DT = "2026-01-01"
CASES = ("parquet", "orc", "many_files", "many_groups")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def _write_once(folder: Path, write: Any) -> None:
    """Write a case folder once (``_DONE`` marks a complete one)."""
    if (folder / "_DONE").exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    part = folder / f"dt={DT}"
    part.mkdir(parents=True)
    t = time.monotonic()
    write(part)
    (folder / "_DONE").write_text("")
    print(f"wrote {folder} in {time.monotonic() - t:.1f}s", flush=True)


def quick_workload(rows: int) -> dict[str, str]:
    """``--quick``: the workload's data (``workload.write_data``) with the workload's model when it is
    trained already, else a SMALL model of the same shape (17 classes x 5 rounds instead of 100: training
    the real one takes minutes), only to check the script."""
    import xgboost as xgb

    base = os.path.join(workload.BASE, "quick")
    data, model = os.path.join(base, f"data_{rows}"), os.path.join(workload.BASE, "model_17c_100r_d6.json")
    if not os.path.exists(model):
        model = os.path.join(base, "model_17c_5r.json")
    if not os.path.exists(os.path.join(data, "_DONE")):
        shutil.rmtree(data, ignore_errors=True)
        workload.write_data(data, rows)
        Path(data, "_DONE").write_text("")
    if not os.path.exists(model):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((5000, workload.N_FEATURES)).astype(np.float32)
        y = rng.integers(0, workload.N_CLASSES, len(x))
        booster = xgb.train({"objective": "multi:softprob", "num_class": workload.N_CLASSES, "max_depth": 4,
                             "nthread": 1}, xgb.DMatrix(x, label=y, feature_names=workload.feature_names()),
                            num_boost_round=5)
        booster.save_model(model)
    return {"data": data, "model": model}


def prepare(rows: int, files: int, file_rows: int, groups: int, quick: bool = False) -> dict[str, Any]:
    """The workload plus the case folders (each ``<case>/dt=2026-01-01/``); ``{case: folder, "model": ...}``."""
    import pyarrow as pa
    import pyarrow.orc as po
    import pyarrow.parquet as pq

    w = quick_workload(rows) if quick else workload.ensure(rows)
    src = workload.data_files(w["data"])
    base = Path(w["data"] + "_inputs")

    def link_parquet(part: Path) -> None:
        for f in src:
            os.symlink(f, part / os.path.basename(f))

    def orc(part: Path) -> None:
        for f in src:
            po.write_table(pq.read_table(f), str(part / (Path(f).stem + ".orc")), compression="snappy")

    def many_files(part: Path) -> None:
        table = pa.concat_tables(pq.read_table(f) for f in src).slice(0, files * file_rows)
        for i in range(files):
            pq.write_table(table.slice(i * file_rows, file_rows), part / f"part-{i:05d}.parquet", compression="snappy")

    def many_groups(part: Path) -> None:
        table = pa.concat_tables(pq.read_table(f) for f in src)
        pq.write_table(table, part / "part-00000.parquet", row_group_size=-(-table.num_rows // groups),
                       compression="snappy")

    shape = f"{files}x{file_rows}_{groups}g"
    folders = {"parquet": base / "parquet", "orc": base / "orc", "many_files": base / f"many_files_{shape}",
               "many_groups": base / f"many_groups_{shape}"}
    for case, write in (("parquet", link_parquet), ("orc", orc), ("many_files", many_files),
                        ("many_groups", many_groups)):
        _write_once(folders[case], write)
    return {**{k: str(v) for k, v in folders.items()}, "model": w["model"], "data": w["data"]}


def model_rate(data: str, model: str, rows: int) -> float:
    """The model's own single-thread ``inplace_predict`` speed, rows/s, on ``rows`` rows of the input."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xgboost as xgb

    table = pa.concat_tables(pq.read_table(f) for f in workload.data_files(data)).slice(0, rows)
    x = np.column_stack([table.column(f).to_numpy(zero_copy_only=False) for f in workload.feature_names()])
    x = x.astype(np.float32)
    booster = xgb.Booster(model_file=model)
    booster.set_param({"nthread": 1})
    booster.inplace_predict(x[:1000])
    t = time.perf_counter()
    booster.inplace_predict(x)
    return len(x) / (time.perf_counter() - t)


def session() -> Any:
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{CORES}]").appName("bench-inputs")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    return spark


def run_case(spark: Any, case: str, folder: str, model: str, out: str, rep: int, first: bool) -> dict[str, Any]:
    """Score one case with the job; return the report's numbers. ``first``: the SparkContext's first run,
    whose footer job also starts the Python workers (later runs of a ``--warm`` context reuse them)."""
    from airflow_provider_spark_predict.job.main import run_in_session
    from airflow_provider_spark_predict.spec import ScoringSpec

    run_id = f"20260101T000000000000Z-{case}-{rep}"
    spec = ScoringSpec.from_dict({
        "input": {"path": "file://" + folder, "partition": {"dt": DT}, "format": "orc" if case == "orc" else "parquet"},
        "model": {"uri": "file://" + model, "flavor": "xgboost"},
        "output": {"path": "file://" + os.path.join(out, case), "partition": {"dt": DT}},
        "keys": ["pin"], "features": workload.feature_names(), "run_id": run_id,
    }).validate()
    spec.report_uri = os.path.join(out, "store", f"{run_id}.json")
    before = load()
    report = run_in_session(spark, spec)
    if report["status"] != "succeeded":
        raise RuntimeError(f"{case}: {report.get('error_type')}: {report.get('error')}")
    if report["strategy"].get("reader") != "pyarrow":
        raise RuntimeError(f"{case}: reader {report['strategy']}")
    phases = report["phases_s"]
    total = sum(phases.values())
    rows = report["rows_out"]
    return {"case": case, "rep": rep, "rows": rows, "files": report["strategy"].get("files"),
            "tasks": report["strategy"].get("tasks"), "format": report["strategy"].get("format"),
            "phases_s": phases, "phases_total_s": round(total, 2),
            "footer_share_pct": round(100 * phases.get("footer job", 0.0) / total, 2),
            "scoring_rows_per_s_core": round(rows / phases["scoring"] / CORES, 1),
            "run_rows_per_s_core": round(rows / total / CORES, 1),
            "first_in_session": first, "loadavg_1m_before": before, "loadavg_1m_after": load()}


def summarise(runs: list[dict[str, Any]], own: float) -> dict[str, Any]:
    """Per case: the best (least disturbed) run's numbers, as % of the model's own speed."""
    out: dict[str, Any] = {}
    for case in CASES:
        mine = [r for r in runs if r["case"] == case]
        if not mine:
            continue
        best = max(mine, key=lambda r: r["scoring_rows_per_s_core"])
        out[case] = {"scoring_pct_of_model": round(100 * best["scoring_rows_per_s_core"] / own, 1),
                     "run_pct_of_model": round(100 * best["run_rows_per_s_core"] / own, 1),
                     "footer_share_pct": min(r["footer_share_pct"] for r in mine),
                     "footer_job_s": min(r["phases_s"].get("footer job", 0.0) for r in mine),
                     "tasks": best["tasks"], "files": best["files"]}
    if "parquet" in out and "orc" in out:
        out["orc_minus_parquet_points"] = round(out["orc"]["scoring_pct_of_model"]
                                                - out["parquet"]["scoring_pct_of_model"], 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--files", type=int, default=2000, help="files of the many_files case")
    p.add_argument("--file-rows", type=int, default=1000, help="rows per file of the many_files case")
    p.add_argument("--groups", type=int, default=600, help="row groups of the many_groups case")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--warm", action="store_true",
                   help="one SparkContext for all runs (later runs reuse its Python workers); default: a new "
                        "SparkContext per run, whose footer job starts the Python workers, like a job does")
    p.add_argument("--quick", action="store_true",
                   help="small sizes, one repetition, a small model: checks the script works (numbers mean nothing)")
    p.add_argument("--out", default=None, help="results JSON (default benchmarks/results/inputs[_quick].json)")
    args = p.parse_args()
    if args.quick:
        args.rows, args.files, args.file_rows, args.groups, args.reps = 40_000, 200, 200, 60, 1
    if args.files * args.file_rows > args.rows:
        p.error("--files x --file-rows must not exceed --rows")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    data = prepare(args.rows, args.files, args.file_rows, args.groups, args.quick)
    own = model_rate(data["data"], data["model"], min(args.rows, 200_000))
    print(f"model's own predict: {own:.0f} rows/s (1 thread)", flush=True)
    runs: list[dict[str, Any]] = []
    out = tempfile.mkdtemp(prefix="bench-inputs-")
    spark = None
    try:
        for rep in range(args.reps):
            order = args.cases[rep % len(args.cases):] + args.cases[:rep % len(args.cases)]
            for case in order:
                first = spark is None or not args.warm
                if first and spark is not None:
                    spark.stop()  # a new SparkContext: new Python workers, started by this run's footer job
                spark = spark if not first else session()
                r = run_case(spark, case, data[case], data["model"], out, rep, first)
                print(json.dumps(r), flush=True)
                runs.append(r)
    finally:
        if spark is not None:
            spark.stop()
        shutil.rmtree(out, ignore_errors=True)
    result = {"benchmark": "inputs", "rows": args.rows, "many_files": [args.files, args.file_rows],
              "many_groups": args.groups, "reps": args.reps, "cores": CORES,
              "warm": args.warm, "model_rows_per_s_1_thread": round(own, 1), "summary": summarise(runs, own), "runs": runs,
              "python": platform.python_version(), "loadavg_1m_end": load(),
              "note": ("rates per core of local[2]; % = rate per core / the model's own single-thread rate; "
                       "summary: best run per case (footer share: lowest); a SparkContext's first run "
                       "(first_in_session) also starts the Python workers in its footer job, like a job does; "
                       "the JVM (py4j gateway) is started once per script, so a spark-submit job's JVM start-up "
                       "is not in these numbers")}
    target = args.out or str(ROOT / "benchmarks" / "results" / ("inputs_quick.json" if args.quick else "inputs.json"))
    with open(target, "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result["summary"], indent=2))
    print(f"-> {target}")


if __name__ == "__main__":
    main()
