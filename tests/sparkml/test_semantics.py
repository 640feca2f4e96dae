"""Stage semantics on hand-written saved pipelines (paths the Spark fixtures do not reach)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_spark_predict.exceptions import LocalScoringError
from airflow_provider_spark_predict.sparkml import load_pipeline

INF = float("inf")


def _meta(cls: str, uid: str, params: dict[str, Any], version: str) -> str:
    return json.dumps(
        {
            "class": cls,
            "timestamp": 0,
            "sparkVersion": version,
            "uid": uid,
            "paramMap": params,
            "defaultParamMap": {},
        }
    )


def write_pipeline(
    root: Path, stages: list[tuple[str, dict[str, Any], pa.Table | None]], version: str = "4.3.0"
) -> Path:
    """Write a PipelineModel folder by hand, 4.x layout (or 3.5 layout for version 3.x).

    :param root: target folder.
    :param stages: (short class path under org.apache.spark.ml, params, data table or None).
    :param version: sparkVersion written, also picks the metadata file name.
    :return: root.
    """
    name = "part-00000" if version.startswith("3") else "part-00000-0-c000.txt"
    uids = []
    for i, (cls, params, data) in enumerate(stages):
        uid = f"{cls.rsplit('.', 1)[-1]}_{i:012x}"
        uids.append(uid)
        folder = root / "stages" / f"{i}_{uid}"
        (folder / "metadata").mkdir(parents=True)
        (folder / "metadata" / name).write_text(_meta("org.apache.spark.ml." + cls, uid, params, version))
        if data is not None:
            (folder / "data").mkdir()
            pq.write_table(data, folder / "data" / "part-00000-x.snappy.parquet")
    (root / "metadata").mkdir(parents=True)
    (root / "metadata" / name).write_text(
        _meta("org.apache.spark.ml.PipelineModel", "PipelineModel_1", {"stageUids": uids}, version)
    )
    return root


def bucketizer(handle: str) -> tuple[str, dict[str, Any], None]:
    return (
        "feature.Bucketizer",
        {"inputCol": "x", "outputCol": "b", "splits": ["-Inf", -1.0, 0.0, 1.0, 5.0], "handleInvalid": handle},
        None,
    )


def test_bucketizer_paths(tmp_path: Path) -> None:
    keep = load_pipeline(write_pipeline(tmp_path / "k", [bucketizer("keep")], version="3.5.1"))
    xs = [-INF, -1.0, -0.5, -0.0, 0.0, 1.0, 5.0, math.nan, None]
    got = [r["b"] for r in keep.predict_rows([{"x": x} for x in xs])]
    assert got == [0.0, 1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0, None]
    with pytest.raises(LocalScoringError, match="out of bounds"):
        keep.predict_rows({"x": 5.5})
    skip = load_pipeline(write_pipeline(tmp_path / "s", [bucketizer("skip")]))
    assert [r["x"] for r in skip.predict_rows([{"x": 0.5}, {"x": math.nan}, {"x": None}])] == [0.5]
    err = load_pipeline(write_pipeline(tmp_path / "e", [bucketizer("error")]))
    assert err.predict_rows({"x": None})[0]["b"] is None
    with pytest.raises(LocalScoringError, match="NaN"):
        err.predict_rows({"x": math.nan})


def test_assembler_handle_invalid(tmp_path: Path) -> None:
    def va(handle: str) -> Any:
        return load_pipeline(
            write_pipeline(
                tmp_path / handle,
                [
                    (
                        "feature.VectorAssembler",
                        {"inputCols": ["a", "v"], "outputCol": "f", "handleInvalid": handle},
                        None,
                    )
                ],
            )
        )

    rows = [{"a": -0.0, "v": [1.0, math.nan]}, {"a": None, "v": [0.0, 2.0]}, {"a": math.nan, "v": [1.0, 1.0]}]
    kept = va("keep").predict_rows(rows)
    assert [r["f"][:1] for r in kept][0] == [0.0] and math.copysign(1, kept[0]["f"][0]) == 1.0
    assert math.isnan(kept[1]["f"][0]) and math.isnan(kept[2]["f"][0])
    skipped = va("skip").predict_rows(rows)
    assert len(skipped) == 1 and skipped[0]["f"][:2] == [0.0, 1.0] and math.isnan(skipped[0]["f"][2])
    error = va("error")
    with pytest.raises(LocalScoringError, match="null value"):
        error.predict_rows(rows[1])
    with pytest.raises(LocalScoringError, match="NaN"):
        error.predict_rows(rows[2])
    assert len(error.predict_rows(rows[0])) == 1  # NaN inside a vector passes


def _labels(*lists: list[str]) -> pa.Table:
    return pa.table({"labelsArray": [list(lists)]})


def test_string_indexer_numeric_and_index_to_string_from_upstream(tmp_path: Path) -> None:
    model = load_pipeline(
        write_pipeline(
            tmp_path / "p",
            [
                (
                    "feature.StringIndexerModel",
                    {"inputCol": "n", "outputCol": "i", "handleInvalid": "error"},
                    _labels(["1.0E10", "1", "true", "0.001"]),
                ),
                ("feature.IndexToString", {"inputCol": "i", "outputCol": "back"}, None),
            ],
        )
    )
    out = model.predict_rows([{"n": 1e10}, {"n": 1}, {"n": True}, {"n": 0.001}])
    assert [r["i"] for r in out] == [0.0, 1.0, 2.0, 3.0]
    assert [r["back"] for r in out] == ["1.0E10", "1", "true", "0.001"]
    with pytest.raises(LocalScoringError, match="unseen label"):
        model.predict_rows({"n": 2.0})
    with pytest.raises(LocalScoringError, match="NULL"):
        model.predict_rows({"n": None})


def test_index_to_string_without_labels_refused(tmp_path: Path) -> None:
    path = write_pipeline(
        tmp_path / "p", [("feature.IndexToString", {"inputCol": "p", "outputCol": "s"}, None)]
    )
    with pytest.raises(LocalScoringError, match=r"IndexToString \(uid .*param 'labels'"):
        load_pipeline(path)


def test_one_hot_error_and_imputer_types(tmp_path: Path) -> None:
    model = load_pipeline(
        write_pipeline(
            tmp_path / "p",
            [
                (
                    "feature.OneHotEncoderModel",
                    {"inputCols": ["c"], "outputCols": ["o"], "handleInvalid": "error"},
                    pa.table({"categorySizes": [[3]]}),
                ),
                (
                    "feature.ImputerModel",
                    {"inputCols": ["a", "b"], "outputCols": ["a2", "b2"], "missingValue": -1.0},
                    pa.table({"a": [2.7], "b": [-2.7]}),
                ),
            ],
        ),
        input_types={"a": "int"},
    )
    out = model.predict_rows({"c": 1.0, "a": None, "b": -1.0})[0]
    assert out["o"] == [0.0, 1.0] and out["a2"] == 2 and out["b2"] == -2.7
    assert model.predict_rows({"c": 2.0, "a": -1, "b": math.nan})[0]["a2"] == 2  # int column: truncated
    assert math.isnan(model.predict_rows({"c": 2.0, "a": 3, "b": math.nan})[0]["b2"])
    with pytest.raises(LocalScoringError, match="unseen value"):
        model.predict_rows({"c": 3.0, "a": 1, "b": 1.0})
    with pytest.raises(LocalScoringError, match="negative value"):
        model.predict_rows({"c": -1.0, "a": 1, "b": 1.0})
    frame = model.transform(
        pd.DataFrame({"c": [0.0, 2.0], "a": pd.array([None, 5], dtype="Int64"), "b": [1.5, -1.0]})
    )
    assert frame["a2"].tolist() == [2, 5] and frame["b2"].tolist() == [1.5, -2.7]


def test_transform_accepts_rows(tmp_path: Path) -> None:
    model = load_pipeline(write_pipeline(tmp_path / "p", [bucketizer("keep")]))
    frame = model.transform([{"x": 0.5}, {"x": None}])
    assert list(frame.columns) == ["x", "b"] and frame["b"].tolist() == [2.0, None]


def _dense(values: list[float]) -> dict[str, Any]:
    return {"type": 1, "size": None, "indices": None, "values": values}


def test_min_max_scaler_matches_spark_bits(tmp_path: Path) -> None:
    """Expected bits observed with Spark 4.3.0 (min=0.1, max=0.7; constant column -> (min + max) / 2)."""
    vec = pa.struct(
        [
            ("type", pa.int8()),
            ("size", pa.int32()),
            ("indices", pa.list_(pa.int32())),
            ("values", pa.list_(pa.float64())),
        ]
    )
    data = pa.table(
        {
            "originalMin": pa.array([_dense([1.0, 5.0, 0.3])], vec),
            "originalMax": pa.array([_dense([2.0, 5.0, 0.9])], vec),
        }
    )
    model = load_pipeline(
        write_pipeline(
            tmp_path / "p",
            [
                (
                    "feature.MinMaxScalerModel",
                    {"inputCol": "v", "outputCol": "m", "min": 0.1, "max": 0.7},
                    data,
                )
            ],
        )
    )
    out = model.predict_rows([{"v": [1.5, 5.0, -0.0]}, {"v": [math.nan, 5.0, 0.3]}])
    assert [x.hex() for x in out[0]["m"]] == [
        "0x1.999999999999ap-2",
        "0x1.9999999999999p-2",
        "-0x1.9999999999997p-3",
    ]
    assert [x.hex() for x in out[1]["m"]] == ["nan", "0x1.9999999999999p-2", "0x1.999999999999ap-4"]
