"""The Spark engine (``run_in_session`` on a real local[2] SparkSession, no Hive: path input) and the
in-process engine score the same input partition into the same rows and the same report.

The input holds float32 features whose values sit exactly at the split thresholds of the XGBoost model
(and one float32 ulp either side), nulls, and ordinary values; the runs cover a first partition (no
previous one) and the next day (drift against it)."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_spark_predict.in_process import run_in_process
from airflow_provider_spark_predict.spec import ScoringSpec

pytestmark = pytest.mark.spark

FEATURES = ["f0", "f1", "f2", "f3"]
DAYS = ("2026-01-01", "2026-01-02")
#: fields that name the run, its timings or the engine, not what it computed
RUN_FIELDS = {"run_id", "engine", "started_at", "finished_at", "wall_s", "durations", "application_id",
              "tracking_url", "master", "spec", "report_uri", "model_loads", "model_predict_s", "phases_s",
              "rows_per_s"}


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    if shutil.which("java") is None:
        pytest.skip("no java")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("test-engine-parity")
               .config("spark.ui.enabled", "false").getOrCreate())
    yield session
    session.stop()


def thresholds(booster) -> dict[int, list[np.float32]]:  # type: ignore[no-untyped-def]
    """feature index -> the float32 split thresholds of the booster."""
    found: dict[int, set[float]] = {}

    def walk(node: dict) -> None:
        if "split" in node:
            found.setdefault(int(node["split"][1:]), set()).add(float(node["split_condition"]))
            for child in node["children"]:
                walk(child)

    for tree in booster.get_dump(dump_format="json"):
        walk(json.loads(tree))
    return {f: [np.float32(v) for v in sorted(vs)] for f, vs in found.items()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):  # type: ignore[no-untyped-def]
    xgb = pytest.importorskip("xgboost")
    root = tmp_path_factory.mktemp("parity")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((400, len(FEATURES))).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "nthread": 1},
                        xgb.DMatrix(x, label=y, feature_names=FEATURES), num_boost_round=8)
    model = root / "model.json"
    booster.save_model(str(model))
    cuts = thresholds(booster)
    assert cuts, "the model has no splits"
    for d, day in enumerate(DAYS):
        rows = rng.standard_normal((300, len(FEATURES))).astype(np.float32) + np.float32(0.3 * d)
        i = 0
        for f, values in cuts.items():  # exactly at, and one ulp either side of, every threshold
            for v in values:
                for at in (v, np.nextafter(v, np.float32(-np.inf)), np.nextafter(v, np.float32(np.inf))):
                    rows[i % len(rows), f] = at
                    i += 1
        cols = {"pin": pa.array([f"p{d}-{k:04d}" for k in range(len(rows))])}
        for j, f in enumerate(FEATURES):
            cols[f] = pa.array(rows[:, j], type=pa.float32(), mask=rng.random(len(rows)) < 0.03)
        folder = root / "in" / f"dt={day}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table(cols), folder / "part-0.parquet")
    return {"root": root, "model": str(model), "input": str(root / "in")}


def local_path(uri: str) -> str:
    """``file:/x`` (Hadoop's qualified form) or ``file:///x`` -> ``/x``."""
    return "/" + uri.removeprefix("file:").lstrip("/") if uri.startswith("file:") else uri


def spec_for(world, engine: str, day: str, reader: str = "auto") -> ScoringSpec:  # type: ignore[no-untyped-def]
    root = world["root"]
    spec = ScoringSpec.from_dict({
        "input": {"path": world["input"], "partition": {"dt": day}},
        "model": {"uri": world["model"], "flavor": "xgboost"},
        "output": {"path": str(root / f"out-{engine}"), "partition": {"dt": day}},
        "keys": ["pin"], "features": FEATURES,
        "outputs": {"probability_column": "probability"}, "strategy": {"reader": reader},
        "checks": {"drift": {"policy": "warn", "warn_threshold": 0.1, "threshold": 0.25}},
        "run_id": f"20260101T000000000000Z-{engine}-{day}",
    }).validate()
    spec.report_uri = str(root / "store" / engine / day / f"{spec.run_id}.json")
    return spec


def comparable(report: dict, spec: ScoringSpec) -> dict:
    """The report without run names/timings; locations as plain paths with the run id taken out."""
    out = {k: v for k, v in report.items() if k not in RUN_FIELDS}
    for k in ("version_path", "published_location", "replaced_location", "output"):
        if out.get(k):
            out[k] = local_path(out[k]).replace(spec.run_id, "<run>").replace(f"out-{report['engine']}", "out")
    strategy = out.pop("strategy")
    out["strategy"] = {k: strategy[k] for k in ("strategy", "batch_rows", "feature_dtype")}
    out["mean"] = out["score_summary"].pop("mean")
    return out


def test_both_engines_write_the_same_rows_and_report(spark, world) -> None:  # type: ignore[no-untyped-def]
    from airflow_provider_spark_predict.job.main import run_in_session

    # Spark reads the first day with the pyarrow reader (score_splits), the second with its own (mapInArrow)
    for day, reader in zip(DAYS, ("pyarrow", "spark"), strict=True):
        on_spark = run_in_session(spark, spec_for(world, "spark", day, reader))
        assert on_spark["strategy"]["reader"] == reader
        in_proc = run_in_process(spec_for(world, "in_process", day), world["model"],
                                 log=logging.getLogger("parity")).to_dict()
        assert on_spark["status"] == in_proc["status"] == "succeeded", (on_spark.get("error"), in_proc.get("error"))
        assert (on_spark["engine"], in_proc["engine"]) == ("spark", "in_process")
        # the rows: every output column of every row, exactly
        got = {e: pd.read_parquet(local_path(r["published_location"])).sort_values("pin").reset_index(drop=True)
               for e, r in (("spark", on_spark), ("in_process", in_proc))}
        assert len(got["spark"]) == 300 and list(got["spark"].columns) == list(got["in_process"].columns)
        pd.testing.assert_series_equal(got["spark"]["pin"], got["in_process"]["pin"])
        np.testing.assert_array_equal(got["spark"]["prediction"].to_numpy(), got["in_process"]["prediction"].to_numpy())
        np.testing.assert_array_equal(got["spark"]["score"].to_numpy(), got["in_process"]["score"].to_numpy())
        np.testing.assert_array_equal(np.stack(got["spark"]["probability"]), np.stack(got["in_process"]["probability"]))
        # the report: every field but names and timings
        a, b = comparable(on_spark, spec_for(world, "spark", day)), comparable(in_proc, spec_for(world, "in_process", day))
        assert a.pop("mean") == pytest.approx(b.pop("mean"), rel=1e-12)  # summation order differs
        assert a == b
        assert a["strategy"]["feature_dtype"] == "float"
    assert on_spark["previous_partition"] == {"dt": DAYS[0]} and on_spark["psi"] is not None
