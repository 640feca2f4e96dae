"""Unit tests for the executor-side helpers of ``job/scoring.py`` (no JVM needed)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_spark_predict.job import arrow_reader, scoring
from airflow_provider_spark_predict.job.arrow_reader import Split
from airflow_provider_spark_predict.models.base import Prediction
from airflow_provider_spark_predict.models.frames import matrix_dtype
from airflow_provider_spark_predict.spec import OutputsSpec


def test_batch_rows_from_row_width_and_bounds():
    assert scoring.batch_rows_for(100, None) == 32 * 2**20 // 800  # 32 MiB of float64 features
    assert scoring.batch_rows_for(100, 123) == 123
    assert scoring.batch_rows_for(1, None) == 100_000
    assert scoring.batch_rows_for(100_000, None) == 1_000


def test_group_count():
    assert scoring.group_count(2_000_000, None, 200_000) == 10
    assert scoring.group_count(1, None, 200_000) == 1
    assert scoring.group_count(0, None, 200_000) == 1
    assert scoring.group_count(2_000_000, 7, 200_000) == 7


def test_arrow_to_matrix_fills_nan_but_keeps_infinity():
    cols = [pa.array([1.0, np.nan, np.inf], pa.float32()), pa.array([None, 2.0, -np.inf], pa.float32())]
    x = scoring.arrow_to_matrix(cols, np.float32, -1.0)
    assert x.flags.c_contiguous and x.dtype == np.float32
    np.testing.assert_array_equal(x, [[1.0, -1.0], [-1.0, 2.0], [np.inf, -np.inf]])
    y = scoring.arrow_to_matrix(cols, np.float64, None)
    assert np.isnan(y[1, 0]) and np.isnan(y[0, 1])


def test_arrow_to_matrix_nulls_offsets_and_casts():
    f32 = pa.array([1.5, None, 3.0, None, 5.0], type=pa.float32())
    ints = pa.array([1, 2, None, 4, 5], type=pa.int64())
    bools = pa.array([True, False, None, True, False])
    all_null = pa.nulls(5, pa.float32())
    chunked = pa.chunked_array([pa.array([1.0, 2.0], pa.float64()), pa.array([3.0, None, 5.0], pa.float64())])
    x = scoring.arrow_to_matrix([f32, ints, bools, all_null, chunked], np.float64, None)
    assert x.shape == (5, 5) and x.flags.c_contiguous and x.dtype == np.float64
    np.testing.assert_array_equal(x[:, 0], [1.5, np.nan, 3.0, np.nan, 5.0])
    np.testing.assert_array_equal(x[:, 1], [1, 2, np.nan, 4, 5])
    np.testing.assert_array_equal(x[:, 2], [1, 0, np.nan, 1, 0])
    assert np.isnan(x[:, 3]).all()
    np.testing.assert_array_equal(x[:, 4], [1, 2, 3, np.nan, 5])
    # a sliced array (non-zero offset in both the validity bitmap and the values)
    sl = scoring.arrow_to_matrix([f32.slice(1, 3), ints.slice(1, 3)], np.float32, 0.0)
    np.testing.assert_array_equal(sl, [[0.0, 2.0], [3.0, 0.0], [0.0, 4.0]])
    assert sl.dtype == np.float32


def test_arrow_to_matrix_equals_column_stacking_on_random_batch():
    rng = np.random.default_rng(0)
    cols = []
    for _ in range(7):
        v = rng.standard_normal(1000).astype(np.float32)
        cols.append(pa.array(v, mask=rng.random(1000) < 0.1))
    batch = pa.RecordBatch.from_arrays(cols, names=[f"c{i}" for i in range(7)]).slice(13, 900)
    arrays = [batch.column(i) for i in range(7)]
    old = np.column_stack([a.to_numpy(zero_copy_only=False) for a in arrays])
    old[np.isnan(old)] = 9.0
    new = scoring.arrow_to_matrix(arrays, matrix_dtype(arrays), 9.0)
    np.testing.assert_array_equal(old, new)
    assert matrix_dtype(arrays) == np.float32
    assert matrix_dtype(arrays + [pa.array([1.0] * 900)]) == np.float64
    assert scoring.matrix_type(["float", "float"]) == "float" and scoring.matrix_type(["float", "int"]) == "double"
    assert scoring.arrow_to_matrix([], np.float32, None).shape == (0, 0)


def test_output_columns_nan_probabilities_give_null_prediction():
    plan = scoring.OutputPlan(OutputsSpec(probability_column="p", label_column="label",
                                          label_mapping={"0": "no", "1": "yes", "2": "maybe"}), [0, 1, 2])
    probs = np.array([[0.1, 0.7, 0.2], [np.nan, np.nan, np.nan], [0.5, 0.2, 0.3]])
    cols = plan.columns(Prediction(probabilities=probs))
    assert list(cols) == ["prediction", "score", "p", "label"]
    pred, mask = cols["prediction"]
    assert pred.dtype == np.int32 and list(mask) == [False, True, False]
    assert pred[0] == 1 and pred[2] == 0
    score, _ = cols["score"]
    assert score[0] == 0.7 and np.isnan(score[1]) and score[2] == 0.5
    labels, lmask = cols["label"]
    assert labels[0] == "yes" and labels[2] == "no" and list(lmask) == [False, True, False]
    # arrow conversion: masked -> null, 2-d -> list<double>
    arr = scoring._arrow_column(pa, pred, mask)
    assert arr.to_pylist() == [1, None, 0] and arr.type == pa.int32()
    lst = scoring._arrow_column(pa, probs, None)
    assert lst.type == pa.list_(pa.float64()) and lst[0].as_py() == [0.1, 0.7, 0.2]
    assert scoring._arrow_column(pa, labels, lmask).to_pylist() == ["yes", None, "no"]


def test_output_columns_string_classes_and_regression():
    plan = scoring.OutputPlan(OutputsSpec(), ["a", "b"])
    assert plan.prediction_type == "string"
    cols = plan.columns(Prediction(probabilities=np.array([[0.2, 0.8], [0.9, 0.1]])))
    assert list(cols["prediction"][0]) == ["b", "a"] and cols["prediction"][1] is None
    reg = scoring.OutputPlan(OutputsSpec(), None)
    assert reg.prediction_type == "double"
    cols = reg.columns(Prediction(values=np.array([1.5, 2.5])))
    assert list(cols["prediction"][0]) == [1.5, 2.5] and list(cols["score"][0]) == [1.5, 2.5]
    with pytest.raises(ValueError, match="2 classes"):
        plan.columns(Prediction(probabilities=np.zeros((1, 3))))


def test_output_columns_of_a_classifier_without_probabilities():
    outputs = OutputsSpec(score_column=None, label_column="label", label_mapping={"0.0": "zero", "2": "two"})
    outputs.validate()
    plan = scoring.OutputPlan(outputs, [0, 1, 2], has_probabilities=False)
    cols = plan.columns(Prediction(labels=np.array([2, 0, 1, 2])))
    assert list(cols) == ["prediction", "label"]
    values, mask = cols["prediction"]
    assert values.dtype == np.int32 and values.tolist() == [2, 0, 1, 2] and mask is None
    names, mask = cols["label"]
    assert names.tolist() == ["two", "zero", None, "two"] and mask.tolist() == [False, False, True, False]
    strings = scoring.OutputPlan(OutputsSpec(score_column=None), ["no", "yes"], has_probabilities=False)
    assert strings.columns(Prediction(labels=np.array(["yes", "no"])))["prediction"][0].tolist() == ["yes", "no"]
    with pytest.raises(ValueError, match="outside its classes"):
        strings.columns(Prediction(labels=np.array(["maybe"])))
    with pytest.raises(ValueError, match="no class probabilities"):
        scoring.OutputPlan(OutputsSpec(), [0, 1], has_probabilities=False).columns(Prediction(labels=np.array([0])))


def test_pyarrow_reader_unsupported_reason():
    types = {"pin": "string", "a": "float", "b": "bigint", "c": "boolean", "s": "string", "m": "map<string,int>"}
    assert arrow_reader.unsupported_reason(types, ["pin"], ["a", "b", "c"]) is None
    assert "not numeric" in arrow_reader.unsupported_reason(types, ["pin"], ["a", "s"])
    assert arrow_reader.unsupported_reason(types, ["pin"], ["a", "s"], "frame") is None  # strings as they are
    assert "not numeric/boolean/string" in arrow_reader.unsupported_reason(types, ["pin"], ["m"], "frame")
    assert "key column" in arrow_reader.unsupported_reason(types, ["m"], ["a"])
    assert "key column" in arrow_reader.unsupported_reason(types, ["dt_missing"], ["a"])
    stamped = {**types, "ts": "timestamp"}
    assert arrow_reader.unsupported_reason(stamped, ["ts"], ["a"], "matrix", "parquet") is None
    assert "ORC timestamps" in arrow_reader.unsupported_reason(stamped, ["ts"], ["a"], "matrix", "orc")
    assert arrow_reader.unsupported_reason(types, ["pin"], ["a", "s"], "frame", "orc") is None


def _write(tmp_path, name="part-0.parquet", n=10):
    table = pa.table({
        "PIN": pa.array([f"p{i}" for i in range(n)]),
        "a": pa.array([float(i) if i % 3 else None for i in range(n)], pa.float32()),
        "b": pa.array(list(range(n)), pa.int32()),
        "unused": pa.array([0.0] * n),
    })
    path = tmp_path / name
    pq.write_table(table, path, row_group_size=4)
    return path


def test_read_batches_columns_case_missing_and_batch_size(tmp_path):
    path = _write(tmp_path)
    batches = list(arrow_reader.read_batches(f"file:{path}", ["pin"], ["a", "b", "gone"], 3))
    assert sum(b.num_rows for b in batches) == 10 and all(b.num_rows <= 3 for b in batches)
    t = pa.Table.from_batches(batches)
    assert t.num_columns == 4  # keys + features, in that order; "unused" is not read
    assert t.column(0).to_pylist() == [f"p{i}" for i in range(10)]
    assert t.column(3).null_count == 10  # a feature missing from the file is null
    x = scoring.arrow_to_matrix([t.column(j) for j in (1, 2, 3)], np.float64, None)
    assert np.isnan(x[0, 0]) and x[1, 0] == 1.0 and x[9, 1] == 9.0
    assert len(list(arrow_reader.read_batches(str(path), ["pin"], ["a"], 100))) >= 1  # plain local path
    with pytest.raises(ValueError, match="no key column"):
        list(arrow_reader.read_batches(str(path), ["id"], ["a"], 3))


class _Counter:
    def __init__(self) -> None:
        self.value = 0

    def add(self, n: int) -> None:
        self.value += n


def test_split_function_matches_model_predict(tmp_path, monkeypatch):
    xgb = pytest.importorskip("xgboost")
    from pyspark import SparkFiles

    from airflow_provider_spark_predict.models.xgboost import XGBoostAdapter

    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(x, label=rng.integers(0, 3, 200)), num_boost_round=5)
    (tmp_path / "files").mkdir()
    booster.save_model(str(tmp_path / "files" / "m.json"))
    monkeypatch.setattr(SparkFiles, "_is_running_on_worker", True)
    monkeypatch.setattr(SparkFiles, "_root_directory", str(tmp_path / "files"))
    paths = [_write(tmp_path, f"part-{i}.parquet", n) for i, n in enumerate((10, 7))]
    plan = scoring.OutputPlan(OutputsSpec(probability_column="p"), [0, 1, 2])
    counters = scoring.WorkerCounters(_Counter(), _Counter())
    tasks = [[Split(0, 0, paths[0].stat().st_size)], [Split(1, 0, 10), Split(1, 10, paths[1].stat().st_size)]]
    run = scoring.ExecutorScoring("m.json", "xgboost", ["pin"], ["a", "b"], -5.0, plan, counters)
    fn = scoring.make_split_function([f"file://{p}" for p in paths], tasks, run, [pa.string()], "double", 4)
    out = pa.Table.from_batches(list(fn(iter([pa.record_batch([pa.array([1, 0], pa.int64())], names=["id"])]))))
    assert out.column_names == ["pin", "prediction", "score", "p"]
    assert out.num_rows == 17 and out.column("pin").to_pylist()[:7] == [f"p{i}" for i in range(7)]
    model = XGBoostAdapter.load(str(tmp_path / "files" / "m.json"))
    rows = [(float(i) if i % 3 else -5.0, float(i)) for i in range(7)] + [
        (float(i) if i % 3 else -5.0, float(i)) for i in range(10)]
    ref = model.predict(np.array(rows, dtype=np.float64)).probabilities
    np.testing.assert_allclose(np.array(out.column("p").to_pylist()), ref, rtol=1e-6)
    assert out.column("prediction").to_pylist() == list(ref.argmax(axis=1))
    assert counters.loads.value in (0, 1) and counters.predict_s.value > 0


def test_xgboost_adapter_reads_config_once_and_keeps_binary_float32(tmp_path):
    xgb = pytest.importorskip("xgboost")
    from airflow_provider_spark_predict.models.xgboost import XGBoostAdapter

    rng = np.random.default_rng(2)
    x = rng.standard_normal((100, 3)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1},
                        xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)), num_boost_round=3)
    booster.save_model(str(tmp_path / "b.json"))
    model = XGBoostAdapter.load(str(tmp_path / "b.json"))
    assert model.classes == [0, 1]
    calls = []
    real = model.model.save_config
    model.model.save_config = lambda: calls.append(1) or real()
    p = model.predict(x[:, :].copy()).probabilities
    model.predict(np.asfortranarray(x))  # non C-ordered input is copied, not rejected
    assert calls == []  # classes came from the cached config
    raw = booster.inplace_predict(x)
    np.testing.assert_array_equal(p[:, 1], raw.astype(np.float64))
    np.testing.assert_array_equal(p[:, 0], (1.0 - raw).astype(np.float64))


def _covered(tasks, sizes):
    """Every byte of every file in exactly one split."""
    seen = {i: [] for i in range(len(sizes))}
    for task in tasks:
        for s in task:
            seen[s.file].append((s.start, s.start + s.length))
    for i, size in enumerate(sizes):
        ranges = sorted(seen[i])
        assert ranges[0][0] == 0 and ranges[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_plan_tasks_cuts_big_files_and_packs_small_ones_like_spark():
    mb = 2**20
    sizes = [300 * mb, 10 * mb, 10 * mb, 1 * mb]
    tasks = arrow_reader.plan_tasks(sizes, max_partition_bytes=128 * mb, open_cost=4 * mb, parallelism=2)
    _covered(tasks, sizes)
    assert sum(1 for t in tasks for s in t if s.file == 0) == 3  # 128 + 128 + 44 MB
    assert len(tasks) == 3  # the 44 MB range and the three small files share one task
    assert all(sum(s.length for s in t) <= 128 * mb for t in tasks)
    # a small input still gets about `parallelism` tasks (max split = total / parallelism)
    small = [1000] * 8
    tasks = arrow_reader.plan_tasks(small, max_partition_bytes=128 * mb, open_cost=0, parallelism=2)
    _covered(tasks, small)
    assert len(tasks) == 2
    assert arrow_reader.plan_tasks([], 128 * mb, 4 * mb, 2) == []


def test_splits_read_every_row_group_exactly_once(tmp_path):
    n = 5000
    table = pa.table({"pin": pa.array([f"p{i}" for i in range(n)]),
                      "a": pa.array(np.arange(n, dtype=np.float32)),
                      "b": pa.array(np.random.default_rng(0).standard_normal(n))})
    path = tmp_path / "many-groups.parquet"
    pq.write_table(table, path, row_group_size=300)  # 17 row groups
    size = path.stat().st_size
    md = pq.ParquetFile(path).metadata
    assert md.num_row_groups == 17
    # 97 bytes: far smaller than a row group (most splits hold no row group's start); every byte would open the
    # file about 60,000 times for the same result
    for split in (97, 777, 4096, size // 3, size):
        groups = [g for start in range(0, size, split)
                  for g in arrow_reader.row_groups_in_range(md, start, min(split, size - start))]
        assert sorted(groups) == list(range(17)), split
        pins = [p for start in range(0, size, split)
                for b in arrow_reader.read_batches(str(path), ["pin"], ["a"], 128, start, min(split, size - start))
                for p in b.column(0).to_pylist()]
        assert sorted(pins) == sorted(f"p{i}" for i in range(n)), split
    whole = list(arrow_reader.read_batches(str(path), ["pin"], ["b", "a"], 128))
    assert all(b.num_rows <= 128 for b in whole) and sum(b.num_rows for b in whole) == n
    assert pa.Table.from_batches(whole).column(2).to_pylist() == list(range(n))


def test_big_row_groups_are_streamed_in_batches(tmp_path, monkeypatch):
    path = _write(tmp_path, n=50)
    monkeypatch.setattr(arrow_reader, "WHOLE_ROW_GROUP_BYTES", 0)  # every row group "too big to read whole"
    batches = list(arrow_reader.read_batches(str(path), ["pin"], ["a", "b"], 3))
    assert sum(b.num_rows for b in batches) == 50 and max(b.num_rows for b in batches) <= 3


def test_conf_bytes():
    from airflow_provider_spark_predict.job.spark_engine import conf_bytes

    assert conf_bytes("134217728b") == 134217728 == conf_bytes("128m") == conf_bytes("128MB")
    assert conf_bytes("4k") == 4096 and conf_bytes("1g") == 2**30 and conf_bytes("12345") == 12345


def test_pyarrow_inputs_refuses_partition_columns_and_queries():
    """``pyarrow_inputs`` decides from the spec and the DataFrame's column types; a small stand-in for the
    DataFrame (``dtypes`` and ``inputFiles()``) is enough, Spark's side is covered by the integration test."""
    from airflow_provider_spark_predict.job.spark_engine import pyarrow_inputs
    from airflow_provider_spark_predict.spec import ScoringSpec

    class Frame:
        dtypes = [("pin", "string"), ("dt", "string"), ("a", "float")]

        def inputFiles(self) -> list[str]:  # noqa: N802 - Spark's name
            return ["file:/d/dt=1/b.parquet", "file:/d/dt=1/a.parquet"]

    def spec(**overrides):
        base = {"model": {"uri": "file:/m.json", "flavor": "xgboost"}, "keys": ["pin"], "features": ["a"],
                "input": {"path": "file:/d", "partition": {"dt": "1"}},
                "output": {"path": "file:/o", "partition": {"dt": "1"}}}
        base.update(overrides)
        return ScoringSpec.from_dict(base)

    assert pyarrow_inputs(None, spec(), Frame(), ["a"]) == (
        ["file:/d/dt=1/a.parquet", "file:/d/dt=1/b.parquet"], "parquet", None)
    files, _, reason = pyarrow_inputs(None, spec(keys=["pin", "dt"]), Frame(), ["a"])
    assert files == [] and "partition columns" in reason and "dt" in reason
    files, _, reason = pyarrow_inputs(None, spec(input={"path": "file:/d", "partition": {"dt": "1"},
                                                        "filter": "a > 0"}), Frame(), ["a"])
    assert files == [] and "filter" in reason
    # ORC paths are read by pyarrow too (stripes as splits)
    files, fmt, reason = pyarrow_inputs(None, spec(input={"path": "file:/d", "partition": {"dt": "1"},
                                                          "format": "orc"}), Frame(), ["a"])
    assert fmt == "orc" and reason is None and len(files) == 2


def test_arrow_to_matrix_builds_in_a_reused_buffer_when_it_fits():
    arrays = [pa.array([1.0, None, 3.0], pa.float32()), pa.array([4.0, 5.0, None], pa.float32())]
    fresh = scoring.arrow_to_matrix(arrays, np.float32, None)
    buffer = np.full(10, 7.0, dtype=np.float32)
    x = scoring.arrow_to_matrix(arrays, np.float32, None, buffer)
    assert np.shares_memory(x, buffer) and x.shape == (3, 2) and x.flags.c_contiguous
    np.testing.assert_array_equal(x, fresh)  # NaN positions equal too
    y = scoring.arrow_to_matrix([a.slice(1) for a in arrays], np.float32, 0.0, buffer)  # smaller batch
    np.testing.assert_array_equal(y, [[0.0, 5.0], [3.0, 0.0]])
    small = np.empty(3, dtype=np.float32)  # too small, or another dtype: a fresh matrix
    assert not np.shares_memory(scoring.arrow_to_matrix(arrays, np.float32, None, small), small)
    assert not np.shares_memory(scoring.arrow_to_matrix(arrays, np.float64, None, buffer), buffer)


@pytest.mark.parametrize("env, expected", [({}, "system"), ({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}, "mimalloc")])
def test_system_allocator_unless_the_user_chose_a_pool(env, expected):
    import os
    import subprocess
    import sys

    code = ("import pyarrow as pa; from airflow_provider_spark_predict.job import arrow_reader; "
            "arrow_reader.use_system_allocator(); print(pa.default_memory_pool().backend_name)")
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == expected


def test_resolve_outputs_omits_or_refuses_a_score_without_probabilities():
    from airflow_provider_spark_predict.exceptions import ModelError
    from airflow_provider_spark_predict.run.engine import LoadedModel, resolve_outputs
    from airflow_provider_spark_predict.spec import InputSpec, ModelSpec, ScoringSpec, TargetSpec

    def spec(**outputs):
        return ScoringSpec(input=InputSpec(path="/in"), model=ModelSpec(uri="/m/svc.pkl"),
                           output=TargetSpec(path="/out", partition={"dt": "2026-01-01"}), keys=["k"],
                           outputs=OutputsSpec(**outputs)).validate()

    svc = LoadedModel("sklearn", None, ["a"], [0, 1], has_probabilities=False)
    lines: list[str] = []
    resolved = resolve_outputs(spec(), svc, lines.append)
    assert resolved.outputs.score_column is None and resolved.outputs.columns() == ["prediction"]
    assert lines == ["model /m/svc.pkl (sklearn) predicts classes without probabilities: score column 'score' omitted"]
    with pytest.raises(ModelError, match=r"/m/svc.pkl .*score_column='score' cannot be written"):
        resolve_outputs(spec(score_column_explicit=True), svc, lines.append)
    with pytest.raises(ModelError, match=r"probability_column='p' cannot be written"):
        resolve_outputs(spec(probability_column="p"), svc, lines.append)
    same = spec()
    assert resolve_outputs(same, LoadedModel("sklearn", None, ["a"], [0, 1]), lines.append) is same
    assert resolve_outputs(same, LoadedModel("sklearn", None, ["a"], None, has_probabilities=False),
                           lines.append) is same  # a regressor's score is its value
