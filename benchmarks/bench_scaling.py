"""Benchmark (issue 18, point 1): does the per-core rate hold when executors are added?

The same input (the throughput workload, ``benchmarks/workload.py``, default 8M rows, cached under
``var/bench/hook/`` (``--data-dir``)) is scored by one task through ``SparkPredictHook.run`` with a real spark-submit in
client mode (``benchmarks/hook_run.py``) on:

* ``1x1``: a real standalone cluster (``tests/spark_cluster.StandaloneCluster``: master + 1 worker with
  1 core on 127.0.0.1), ``spark.cores.max=1``;
* ``2x1``: a standalone cluster of 2 workers with 1 core each, ``spark.cores.max=2``;
* ``local[2]``: for reference;
* ``model``: the model's own single-thread ``inplace_predict`` on the first ``--model-rows`` rows.

The configurations run interleaved (the order rotates every repetition); each cluster is started once and
stopped at the end. Per configuration: rows/s per core of the scoring + write phase (the ``scoring``
phase of the run report) and of the whole task (wall of ``hook.run``), and the scaling efficiency =
per-core rate with 2 cores / per-core rate with 1 core (goal: >= 0.90). The driver runs on this machine
in every configuration; with 1 executor core it has the machine's other core to itself, with 2 it
shares them: the efficiency measured here includes that and is a lower bound for a cluster whose driver
has its own node.

    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_scaling.py                  # 8M rows, 1 rep
    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_scaling.py --rows 200000 --out /tmp/s.json
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import hook_run

from tests.spark_cluster import StandaloneCluster

RESULTS = hook_run.ROOT / "benchmarks" / "results"
CONFIGS = {"1x1": 1, "2x1": 2, "local[2]": 2}  # name -> cores


def cluster_conf(cores: int, executor_memory: str) -> dict[str, str]:
    return {"spark.ui.enabled": "false", "spark.executor.cores": "1", "spark.cores.max": str(cores),
            "spark.executor.memory": executor_memory, "spark.sql.shuffle.partitions": str(cores * 4),
            # start scoring only once every executor is registered (the rate is per executor core)
            "spark.scheduler.minRegisteredResourcesRatio": "1.0",
            "spark.scheduler.maxRegisteredResourcesWaitingTime": "60s"}


def summarize(rows: int, by: dict[str, list[hook_run.TaskRun]], model: list[hook_run.ModelSample]) -> dict[str, Any]:
    model_rate = statistics.median(m.rows_per_s for m in model)
    out: dict[str, Any] = {"model": {"runs": len(model), "rows_per_s_per_core": round(model_rate)}}
    for name, runs in by.items():
        cores = CONFIGS[name]
        wall = statistics.median(r.wall_s for r in runs)
        scoring = statistics.median(r.phases["scoring_write_s"] for r in runs)
        out[name] = {
            "runs": len(runs), "cores": cores, "wall_s_median": round(wall, 1),
            "wall_s_all": [round(r.wall_s, 1) for r in runs],
            "scoring_write_s_median": round(scoring, 1),
            "scoring_rows_per_s_per_core": round(rows / scoring / cores),
            "e2e_rows_per_s_per_core": round(rows / wall / cores),
            "scoring_vs_model": round(rows / scoring / cores / model_rate, 3),
            "e2e_vs_model": round(rows / wall / cores / model_rate, 3),
            "task_cpu_s_median": round(statistics.median(r.cpu_s for r in runs), 1),
            "peak_worker_rss_mb": max(r.peak_worker_rss_mb for r in runs),
            "model_loads": [r.report.get("model_loads") for r in runs],
            "loadavg_1m": [[r.loadavg_before, r.loadavg_after] for r in runs],
        }
    if "1x1" in out and "2x1" in out:
        one, two = out["1x1"], out["2x1"]
        out["scaling_efficiency"] = {
            "scoring": round(two["scoring_rows_per_s_per_core"] / one["scoring_rows_per_s_per_core"], 3),
            "end_to_end": round(two["e2e_rows_per_s_per_core"] / one["e2e_rows_per_s_per_core"], 3),
        }
    return out


def table(summary: dict[str, Any]) -> str:
    lines = ["| configuration | cores | runs | wall s (median) | scoring + write s | rows/s/core (scoring + write) | "
             "rows/s/core (end to end) | vs model (scoring + write) | vs model (end to end) | "
             "peak worker RSS MB | load 1m |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines.append(f"| model alone (1 thread) | 1 | {summary['model']['runs']} | – | – | "
                 f"{summary['model']['rows_per_s_per_core']} | – | 100% | – | – | – |")
    for name in CONFIGS:
        s = summary.get(name)
        if s:
            loads = ", ".join(f"{a}-{b}" for a, b in s["loadavg_1m"])
            lines.append(f"| {name} | {s['cores']} | {s['runs']} | {s['wall_s_median']} | {s['scoring_write_s_median']} | "
                         f"{s['scoring_rows_per_s_per_core']} | {s['e2e_rows_per_s_per_core']} | "
                         f"{s['scoring_vs_model']:.0%} | {s['e2e_vs_model']:.0%} | {s['peak_worker_rss_mb']} | {loads} |")
    eff = summary.get("scaling_efficiency")
    if eff:
        lines.append(f"\nScaling efficiency 1 -> 2 executor cores (per-core rate 2x1 / 1x1): scoring + write "
                     f"{eff['scoring']:.0%}, end to end {eff['end_to_end']:.0%}.")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=8_000_000)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--model-rows", type=int, default=1_000_000)
    ap.add_argument("--data-dir", default=hook_run.DATA_DIR)
    ap.add_argument("--executor-memory", default="1g")
    ap.add_argument("--out", default=str(RESULTS / "scaling.json"))
    args = ap.parse_args()
    configs = args.configs.split(",")
    work = Path(args.data_dir) / "work-scaling"
    shutil.rmtree(work, ignore_errors=True)
    hook_run.setup_env(work)
    paths = hook_run.ensure_data(args.rows, args.data_dir)
    clusters: dict[str, StandaloneCluster] = {}
    by: dict[str, list[hook_run.TaskRun]] = {c: [] for c in configs}
    models: list[hook_run.ModelSample] = []
    runs: list[dict[str, Any]] = []
    ok = True
    try:
        for name in configs:
            if name == "local[2]":
                hook_run.set_connection("bench_local", "local[2]")
                continue
            cluster = StandaloneCluster(work / f"cluster-{name}", n_workers=CONFIGS[name], worker_cores=1,
                                        worker_memory="2g")
            clusters[name] = cluster.start()
            hook_run.set_connection(f"bench_{name}", cluster.master_url)
            print(f"cluster {name}: {cluster.master_url}", flush=True)
        for rep in range(args.reps):
            model = hook_run.model_sample(paths, min(args.rows, args.model_rows))
            models.append(model)
            print(f"rep {rep} model alone: {model.rows_per_s:.0f} rows/s (load {hook_run.loadavg()})", flush=True)
            order = configs[rep % len(configs):] + configs[:rep % len(configs)]
            for name in order:
                out = work / f"out_{name.replace('[', '').replace(']', '')}"
                if name == "local[2]":
                    conn, conf = "bench_local", {"spark.ui.enabled": "false", "spark.driver.memory": "2g",
                                                 "spark.sql.shuffle.partitions": "8"}
                else:
                    conn, conf = f"bench_{name}", cluster_conf(CONFIGS[name], args.executor_memory)
                t0 = time.monotonic()
                run = hook_run.run_task(conn, hook_run.spec_dict(paths, out), work / "store", conf)
                check = hook_run.verify_output(run.report, args.rows, model)
                ok = ok and check["ok"]
                by[name].append(run)
                runs.append({"config": name, "rep": rep, "task": run.to_dict(), "verify": check})
                print(f"rep {rep} {name}: wall {run.wall_s:.1f}s ({time.monotonic() - t0:.0f}s with checks) "
                      f"phases {run.phases} rss {run.peak_worker_rss_mb} MB verify {check}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        for cluster in clusters.values():
            cluster.stop()
    summary = summarize(args.rows, by, models)
    md = table(summary)
    print(md)
    hook_run.write_result(args.out, "bench_scaling.py", {
        "rows": args.rows, "path": "SparkPredictHook.run -> spark-submit, client mode",
        "goal": {"scaling_efficiency_min": 0.90}, "summary": summary,
        "model_runs": [m.to_dict() for m in models], "runs": runs, "markdown": md})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
