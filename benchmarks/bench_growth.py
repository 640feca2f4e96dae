"""Benchmark (issue 18, point 2): the phases of one scoring task as the input grows, on ``local[2]``.

For each size (default 2M, 8M, 32M rows of the throughput workload, ``benchmarks/workload.py``, cached
under ``var/bench/hook/`` (``--data-dir``)), one task runs end to end through ``SparkPredictHook.run`` with a real
spark-submit (``benchmarks/hook_run.py``), and its wall time is split into phases: submit + start-up, model
load on the driver, footer job / row count, scoring + write, facts/checks, publish, the rest of the job,
teardown. Each phase is reported in seconds, in % of the wall and in microseconds per row. Before each
task the model's own single-thread ``inplace_predict`` runs on the first ``--model-rows`` rows of the same
input (the speed reference, measured next to the task so both see the same machine load), and the
task's output is checked against it (class and score of those rows; rows out = rows in, no duplicate
keys). The peak RSS of the largest Python worker is recorded at each size (it should be flat).

Goals (issue 18): at the largest size everything except scoring + write <= 10 % of the wall, and the
end-to-end rate per core (rows / wall / 2) >= 85 % of the model's own single-thread rate.

    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_growth.py                       # 2M, 8M, 32M
    SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python benchmarks/bench_growth.py --sizes 200000,800000 --out /tmp/g.json
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import hook_run

from airflow_provider_spark_predict.job.stats import CONF_OBSERVE

CORES = 2
RESULTS = hook_run.ROOT / "benchmarks" / "results"
NON_SCORING = [p for p in hook_run.PHASES if p != "scoring_write_s"]


def summarize(rows: int, run: hook_run.TaskRun, model: hook_run.ModelSample) -> dict[str, Any]:
    """Per-size numbers: phases in s / % of wall / us per row, rates against the model's own."""
    wall = run.wall_s
    e2e_per_core = rows / wall / CORES
    scoring_s = run.phases["scoring_write_s"]
    return {
        "rows": rows, "wall_s": round(wall, 1),
        "phases_s": run.phases,
        "phases_pct_of_wall": {k: round(100 * v / wall, 2) for k, v in run.phases.items()},
        "phases_us_per_row": {k: round(1e6 * v / rows, 3) for k, v in run.phases.items()},
        "non_scoring_pct_of_wall": round(100 * sum(run.phases[k] for k in NON_SCORING) / wall, 2),
        "e2e_rows_per_s_per_core": round(e2e_per_core),
        "scoring_rows_per_s_per_core": round(rows / scoring_s / CORES) if scoring_s else None,
        "model_rows_per_s": round(model.rows_per_s),
        # by CPU seconds (the task's whole process tree vs the model's thread): robust to a busy machine
        "task_cpu_s": round(run.cpu_s, 1), "e2e_rows_per_cpu_s": round(rows / run.cpu_s) if run.cpu_s else None,
        "e2e_cpu_vs_model": round(rows / run.cpu_s / (model.rows / model.cpu_s), 3) if run.cpu_s else None,
        "e2e_vs_model": round(e2e_per_core / model.rows_per_s, 3),
        "scoring_vs_model": round(rows / scoring_s / CORES / model.rows_per_s, 3) if scoring_s else None,
        "peak_worker_rss_mb": run.peak_worker_rss_mb,
        "peak_driver_rss_mb": run.peak_driver_rss_mb,
        "loadavg_1m": [run.loadavg_before, run.loadavg_after],
    }


def table(sizes: list[dict[str, Any]]) -> str:
    cols = ["rows", "facts", "wall s", *[p.removesuffix("_s").replace("_", " ") + " s" for p in hook_run.PHASES],
            "not scoring+write % of wall", "e2e rows/s/core", "model rows/s", "e2e vs model",
            "scoring+write vs model", "peak worker RSS MB", "load 1m"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for s in sizes:
        ph = [f"{s['phases_s'][p]:.1f} ({s['phases_pct_of_wall'][p]:.1f}%)" for p in hook_run.PHASES]
        lines.append("| " + " | ".join(str(v) for v in [
            f"{s['rows']:,}", s["facts"], s["wall_s"], *ph, f"{s['non_scoring_pct_of_wall']:.1f}%",
            s["e2e_rows_per_s_per_core"], s["model_rows_per_s"], f"{s['e2e_vs_model']:.0%}",
            f"{s['scoring_vs_model']:.0%}", s["peak_worker_rss_mb"],
            f"{s['loadavg_1m'][0]}-{s['loadavg_1m'][1]}"]) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000000,8000000,32000000")
    ap.add_argument("--facts", default="observe",
                    help="how the job computes the facts of the written rows, one task per size for each: "
                         "'observe' (during the write, the default) and/or 'query' (re-read, as before), "
                         "e.g. 'observe,query'")
    ap.add_argument("--model-rows", type=int, default=1_000_000,
                    help="rows of the model's own single-thread reference run before each size")
    ap.add_argument("--data-dir", default=hook_run.DATA_DIR)
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--out", default=str(RESULTS / "growth.json"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.data_dir) / "work-growth"
    shutil.rmtree(work, ignore_errors=True)
    hook_run.setup_env(work)
    hook_run.set_connection("bench_local", f"local[{CORES}]")
    results, runs, ok = [], [], True
    for rows in sizes:
        paths = hook_run.ensure_data(rows, args.data_dir)
        model = hook_run.model_sample(paths, min(rows, args.model_rows))
        print(f"{rows} rows: model alone {model.rows_per_s:.0f} rows/s on {model.rows} rows "
              f"(load {hook_run.loadavg()})", flush=True)
        for facts in args.facts.split(","):
            conf = {"spark.ui.enabled": "false", "spark.driver.memory": args.driver_memory,
                    "spark.sql.shuffle.partitions": str(CORES * 4), CONF_OBSERVE: str(facts == "observe").lower()}
            out = work / f"out_{rows}_{facts}"
            t0 = time.monotonic()
            run = hook_run.run_task("bench_local", hook_run.spec_dict(paths, out), work / "store", conf)
            check = hook_run.verify_output(run.report, rows, model)
            ok = ok and check["ok"]
            summary = {"facts": facts, **summarize(rows, run, model), "verify": check}
            results.append(summary)
            runs.append({"rows": rows, "facts": facts, "model": model.to_dict(), "task": run.to_dict(),
                         "verify": check})
            print(f"{rows} rows, facts by {facts}: wall {run.wall_s:.1f}s ({time.monotonic() - t0:.0f}s with "
                  f"checks) phases {run.phases} rss {run.peak_worker_rss_mb} MB e2e/model "
                  f"{summary['e2e_vs_model']} verify {check}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    md = table(results)
    print(md)
    hook_run.write_result(args.out, "bench_growth.py", {
        "master": f"local[{CORES}]", "path": "SparkPredictHook.run -> spark-submit (client, local)",
        "goals": {"non_scoring_pct_of_wall_max": 10, "e2e_vs_model_min": 0.85},
        "sizes": results, "runs": runs, "markdown": md})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
